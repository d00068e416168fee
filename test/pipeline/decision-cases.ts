/**
 * The decisions matrix of docs/behaviour.md as data: the §8 messages edited one field at a time, and one row per rule
 * (`given` messages, the message under test, the expected ACK, the stored state). decisions.test.ts runs every row end
 * to end; test/store/group-modes.test.ts replays the same messages to compare the group modes.
 */
import { expect } from 'vitest';
import { A28_BAD_NIR_KEY, A28_CREATE, A31_DOWNGRADE, A31_UPDATE, A40_MERGE, A47_INS_DELETE, A47_IPP_CHANGE } from '../fixtures/examples.js';
import type { Workspace } from '../helpers/workspace.js';
import {
  append, DEMO_NIR_OID, edit, event, ipp, IPP_OID, nia, nir, NIR_OID, prod, TEST_NIR_OID, without, type AckExpectation,
} from '../helpers/messages.js';
import { openDb } from '../../src/store/db.js';
import { lookupPatient } from '../../src/observe/read.js';
import { renderPatientPage } from '../../src/observe/page.js';

// ---------------------------------------------------------------------------------------------------------
// Messages (the §8 examples with the production INS authority)

export const P81 = prod(A28_CREATE);        // A28 100234 CASANOVA, VALI + INS-NIR
export const P82 = prod(A31_UPDATE);        // A31 100234: usage name BONAPARTE, new home address, marital status
export const P83A = prod(A31_DOWNGRADE);    // A31 100234: PROV~DOUT, no INS
export const P83B = prod(A47_INS_DELETE);   // A47 MRG-1 = the INS, PID-3 INS ""
export const P84 = prod(A40_MERGE);         // A40 100777 → 100500
export const P85 = prod(A47_IPP_CHANGE);    // A47 100900 → 200900
export const MARIE_NIR = '285032A00412371';
export const MARIE_NIR_2 = '285032A00412470';  // another valid NIR coherent with her traits
export const MARIE_NIA = '285039935012344';
export const DURAND_NIR = '167114410908956';
export const OTHER_NIR = '167114410912322';
export const BENALI_NIR = '155049935001242';

/** A28 creating 100900 (the §8.5 patient) before its IPP changes. */
export const S100900 = append(without(edit(P85, {
  'MSH-9': 'ADT^A28^ADT_A05', 'MSH-10': 'S100900', 'MSH-7': '20250301000000', 'PID-3': `${ipp('100900')}~${nir(BENALI_NIR)}`,
}), 'MRG'), 'PV1|1|N');
/** A28 creating 200900, another person. */
export const S200900 = edit(S100900, { 'MSH-10': 'S200900', 'PID-3': ipp('200900'), 'PID-5': 'AUTRE^JEAN^JEAN^^M.^^L', 'PID-32': 'PROV' });
/** A28 creating the §8.4 survivor 100500 (with its INS) and the retired 100777 (provisional, no INS). */
export const S100500 = append(without(edit(P84, { 'MSH-9': 'ADT^A28^ADT_A05', 'MSH-10': 'S100500', 'MSH-7': '20250301000000' }), 'MRG'), 'PV1|1|N');
export const S100777 = edit(S100500, { 'MSH-10': 'S100777', 'PID-3': ipp('100777'), 'PID-5': 'DURAND^PAUL^^^M.^^L', 'PID-32': 'PROV' });
/** A24 / A37 between 100500 and 100777 (HL7 2.5 ADT_A24: two PID groups). */
export const A24 = [
  'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250402120000||ADT^A24^ADT_A24|GAM000300|P|2.5^FRA^2.11|||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM',
  'EVN||20250402120000', `PID|1||${ipp('100500')}`, 'PV1|1|N', `PID|2||${ipp('100777')}`, 'PV1|1|N',
].map((s) => `${s}\r`).join('');
export const A37 = event(A24, 'ADT^A37^ADT_A37', 'GAM000301', '20250402130000');

export const latest = (p: any) => p.history[p.history.length - 1];
export const fieldsOf = (h: any): string[] => h.changes.map((c: any) => c.field);

export interface Row {
  /** The docs/behaviour.md rule, quoted or paraphrased. */
  rule: string;
  config?: object;
  given?: string[];
  when: string;
  ack: AckExpectation;
  /** Each ERR-8 (human detail) must match, in order. */
  detail?: RegExp[];
  /** Stored state afterwards (rows with an AE/AR also get the generic "nothing changed" check). */
  then?: (ws: Workspace) => Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// The table

export const identityModel: Row[] = [
  {
    rule: 'records are keyed by authority OID (CX-4.2): the same IPP value under another OID is another record',
    given: [P81],
    when: edit(P81, { 'MSH-10': 'K1', 'PID-3': ipp('100234', '1.2.250.1.999999.2') }),
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(2);
      expect((await ws.cli('patient', '100234', '--json')).code).toBe(2); // ambiguous: narrow with --authority
      const other = await ws.patient('100234', '--authority', '1.2.250.1.999999.2');
      expect(other.identifiers).toEqual([{ value: '100234', authority: 'CHEX', oid: '1.2.250.1.999999.2', type: 'PI' }]);
      expect(other.ins).toBeNull();
    },
  },
  {
    rule: 'the authority falls back to CX-4.1 when CX-4.2 is empty',
    given: [edit(P81, { 'PID-3': '100234^^^CHEX^PI', 'PID-32': 'PROV' })],
    when: edit(P82, { 'PID-3': '100234^^^CHEX^PI', 'PID-32': 'PROV' }),
    ack: { code: 'AA' }, // known patient: no "created" warning
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(1);
      const p = await ws.patient('100234');
      expect(p.identifiers).toEqual([{ value: '100234', authority: 'CHEX', oid: null, type: 'PI' }]);
      expect(p.usedName).toBe('BONAPARTE');
    },
  },
  {
    rule: 'the identifier type (CX-5) is part of the key',
    given: [P81],
    when: edit(P82, { 'PID-3': `100234^^^CHEX&${'1.2.250.1.999999.1'}&ISO^MR`, 'PID-32': 'PROV' }),
    ack: { code: 'AA', errors: [['PID^1^3', 204, 'W']] }, // unknown → created
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(2);
      const types = (await ws.patients()).map((p: any) => p.identifiers.map((i: any) => `${i.value}^${i.type}`));
      expect(types).toEqual([['100234^PI'], ['100234^MR']]);
    },
  },
  {
    rule: 'one record holds several identifiers (domains); any of them addresses it',
    given: [edit(P81, { 'PID-3': `${ipp('100234')}~A55^^^LABO&1.2.250.1.999999.7&ISO^PI~${nir(MARIE_NIR)}` })],
    when: edit(P82, { 'PID-3': 'A55^^^LABO&1.2.250.1.999999.7&ISO^PI', 'PID-32': '' }),
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(1);
      const p = await ws.patient('A55');
      expect(p.identifiers.map((i: any) => `${i.value}/${i.oid}/${i.type}`)).toEqual(['100234/1.2.250.1.999999.1/PI', 'A55/1.2.250.1.999999.7/PI']);
      expect(p.usedName).toBe('BONAPARTE');
      expect(p.ins.value).toBe(MARIE_NIR); // PID-32 absent: the INS is kept
    },
  },
  {
    rule: 'qualified identity = PID-32 VALI and a valid INS in PID-3',
    when: P81,
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ status: 'VALI', qualified: true, ins: { value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' } });
    },
  },
  {
    rule: 'VALI without an INS is validated, not qualified',
    when: edit(P81, { 'PID-3': ipp('100234') }),
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ status: 'VALI', qualified: false, ins: null }),
  },
  {
    rule: 'status map (config default): QUAL is understood as qualified',
    when: edit(P81, { 'PID-32': 'QUAL' }),
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ status: 'VALI', qualified: true, ins: { value: MARIE_NIR } }),
  },
  {
    rule: 'status map (config default): RECUP is like PROV (INS not integrated)',
    when: edit(P81, { 'PID-32': 'RECUP' }),
    ack: { code: 'AA', errors: [['PID^1^3^2', 103, 'W']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ status: 'PROV', qualified: false, ins: null }),
  },
  {
    rule: 'status map (config): a site-specific code',
    config: { pam: { statusMap: { VALIDE: 'VALI' } } },
    when: edit(P81, { 'PID-32': 'VALIDE' }),
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ status: 'VALI', qualified: true }),
  },
  {
    rule: 'INS authorities are matched on the OID, not on the namespace text',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${MARIE_NIR}^^^WHATEVER&${NIR_OID}&ISO^INS` }),
    ack: { code: 'AA' },
    then: async (ws) => expect((await ws.patient('100234')).ins).toEqual({ value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' }),
  },
  {
    rule: 'an INS-type identifier whose OID is no INS authority is ignored with a warning',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${MARIE_NIR}^^^ASIP-SANTE-INS-NIR&1.2.250.1.999999.8&ISO^INS` }),
    ack: { code: 'AA', errors: [['PID^1^3^2^4', 103, 'W']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, qualified: false }),
  },
  {
    rule: 'test INS authority (.10) refused by default: identity stored without it, W at PID-3',
    when: A28_CREATE,
    ack: { code: 'AA', errors: [['PID^1^3^2', 103, 'W']] },
    detail: [/test/],
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, qualified: false, birthName: 'CASANOVA' }),
  },
  {
    rule: 'demonstration INS authority (.11) refused by default',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${nir(MARIE_NIR, DEMO_NIR_OID)}` }),
    ack: { code: 'AA', errors: [['PID^1^3^2', 103, 'W']] },
    detail: [/demonstration/],
    then: async (ws) => expect((await ws.patient('100234')).ins).toBeNull(),
  },
  {
    rule: 'test INS authority accepted with acceptTestIns (config)',
    config: { pam: { acceptTestIns: true } },
    when: A28_CREATE,
    ack: { code: 'AA' },
    then: async (ws) => expect((await ws.patient('100234')).ins).toEqual({ value: MARIE_NIR, oid: TEST_NIR_OID, kind: 'NIR' }),
  },
  {
    rule: 'a .8 OID with CX-5 NH is the billing NIR: an ordinary identifier, not an INS',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${MARIE_NIR}^^^ASIP-SANTE-NIR&${NIR_OID}&ISO^NH` }),
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p.ins).toBeNull();
      expect(p.qualified).toBe(false);
      expect(p.identifiers).toContainEqual({ value: MARIE_NIR, authority: 'ASIP-SANTE-NIR', oid: NIR_OID, type: 'NH' });
    },
  },
  {
    rule: 'when both an NIR and an NIA are present, the NIR wins',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${nia(MARIE_NIA)}~${nir(MARIE_NIR)}` }),
    ack: { code: 'AA' },
    then: async (ws) => expect((await ws.patient('100234')).ins).toEqual({ value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' }),
  },
  {
    rule: 'an NIA alone with VALI is the INS',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${nia(MARIE_NIA)}` }),
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ qualified: true, ins: { value: MARIE_NIA, kind: 'NIA' } }),
  },
  {
    rule: 'every change is kept in history: message, event, field, before → after',
    given: [P81],
    when: P82,
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p.history.map((h: any) => [h.controlId, h.event])).toEqual([['GAM000101', 'A28'], ['GAM000102', 'A31']]);
      const h = latest(p);
      expect(h).toMatchObject({ sendingApp: 'GAM', sendingFacility: 'CHEX', messageTime: expect.stringMatching(/^20250320143000/) });
      expect(h.changes).toContainEqual({ field: 'usedName', before: null, after: 'BONAPARTE' });
      expect(h.changes).toContainEqual({ field: 'maritalStatus', before: null, after: 'M' });
      expect(h.changes).toContainEqual(expect.objectContaining({ field: 'addresses.H', before: expect.objectContaining({ city: 'AJACCIO' }), after: expect.objectContaining({ city: 'BASTIA' }) }));
    },
  },
];

export const perEvent: Row[] = [
  {
    rule: 'A28, identifier unknown → create; AA',
    when: P81,
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patient('100234')).toMatchObject({
        active: true, birthName: 'CASANOVA', firstName: 'MARIE', birthGivenNames: 'MARIE LAETITIA ANNE', birthDate: '1985-03-17',
        sex: 'F', birthPlace: '2A004', usedName: null, mergedInto: null,
      });
    },
  },
  {
    rule: 'A28, identifier already known → applied as an update; AA with a W',
    given: [P81],
    when: edit(P81, { 'MSH-10': 'GAM000199', 'MSH-7': '20250313000000', 'PID-5': 'BONAPARTE^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' }),
    ack: { code: 'AA', errors: [['PID^1^3', 205, 'W']] },
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(1);
      expect(await ws.patient('100234')).toMatchObject({ usedName: 'BONAPARTE', birthName: 'CASANOVA', ins: { value: MARIE_NIR } });
    },
  },
  {
    rule: 'A31, known: repetitions matched by type (PID-5 by XPN-7, PID-11 by XAD-7); absent kept; present replaced',
    given: [P81],
    // Without the INS and PID-32 (kept): a VALI message with the INS but no L name / BDL would not be qualified.
    when: edit(P82, { 'PID-3': ipp('100234'), 'PID-32': '', 'PID-5': 'BONAPARTE^MARIE^^^Mme^^D', 'PID-11': '4 RUE FESCH^^BASTIA^^20200^FRA^H' }),
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ birthName: 'CASANOVA', firstName: 'MARIE', birthGivenNames: 'MARIE LAETITIA ANNE', usedName: 'BONAPARTE', birthPlace: '2A004', sex: 'F' });
      expect(p.addresses.H).toMatchObject({ street: '4 RUE FESCH', city: 'BASTIA' });
      expect(p.addresses.BDL).toMatchObject({ city: 'AJACCIO', countyCode: '2A004' });
      const changed = fieldsOf(latest(p));
      expect(changed).toContain('maritalStatus');
      expect(changed).not.toContain('phone'); // PID-13 absent: kept
      expect(changed).not.toContain('names.L');
    },
  },
  {
    rule: 'A31, known: "" clears (PID-8, PID-16, a typed PID-5 repetition `""^first^^^^^D`)',
    given: [P81, P82],
    // Without the INS and PID-32 (kept): a VALI message with the INS but PID-8 "" would not be qualified.
    when: edit(P82, { 'MSH-10': 'GAM000150', 'MSH-7': '20250321000000', 'PID-3': ipp('100234'), 'PID-32': '', 'PID-5': '""^MARIE^^^^^D', 'PID-8': '""', 'PID-16': '""' }),
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ usedName: null, usedFirstName: 'MARIE', birthName: 'CASANOVA', sex: null });
      expect(latest(p).changes).toContainEqual({ field: 'maritalStatus', before: 'M', after: null });
    },
  },
  {
    rule: 'A31, identifier unknown → create; AA with a W',
    when: P82,
    ack: { code: 'AA', errors: [['PID^1^3', 204, 'W']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ usedName: 'BONAPARTE', qualified: true }),
  },
  {
    rule: 'A31 no longer qualified, patient holds an INS → INS removed (kept in history); AA',
    given: [P81, P82],
    when: P83A,
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ ins: null, qualified: false, status: 'PROV', attributes: ['DOUT'] });
      expect(latest(p).changes).toContainEqual({ field: 'ins', before: { value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' }, after: null });
    },
  },
  {
    rule: 'A28 no longer qualified, patient holds an INS → INS removed; AA (W: known patient)',
    given: [P81],
    when: edit(P81, { 'MSH-10': 'GAM000198', 'MSH-7': '20250313000000', 'PID-3': ipp('100234'), 'PID-32': 'PROV' }),
    ack: { code: 'AA', errors: [['PID^1^3', 205, 'W']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, status: 'PROV' }),
  },
  {
    rule: 'A47, MRG-1 is an IPP → rename the identifier',
    given: [S100900],
    when: P85,
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patient('100900')).toBeNull();
      const p = await ws.patient('200900');
      expect(p.identifiers).toEqual([{ value: '200900', authority: 'CHEX', oid: '1.2.250.1.999999.1', type: 'PI' }]);
      expect(p.ins).toEqual({ value: BENALI_NIR, oid: NIR_OID, kind: 'NIR' });
      expect(latest(p).changes).toContainEqual({
        field: 'identifier', before: expect.objectContaining({ value: '100900' }), after: expect.objectContaining({ value: '200900' }),
      });
    },
  },
  {
    rule: 'A47, MRG-1 is an IPP, new identifier held by another record → AE 205, nothing applied',
    given: [S100900, S200900],
    when: P85,
    ack: { code: 'AE', errors: [['PID^1^3', 205, 'E']] },
    detail: [/A40/],
    then: async (ws) => expect((await ws.patient('100900')).birthName).toBe('BENALI'),
  },
  {
    rule: 'A47, MRG-1 is an INS, PID-3 INS "" → the patient found by that INS loses every INS; PID-32 applied',
    given: [P81, P82],
    when: P83B,
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, status: 'PROV', qualified: false, usedName: 'BONAPARTE' }),
  },
  {
    rule: 'A47, MRG-1 is an INS, PID-3 a new INS → replaced',
    given: [P81],
    // §8.3b sends no PID-11: the birthplace (a strict trait) is added so that the new INS can be integrated.
    when: edit(P83B, { 'MSH-10': 'GAM000160', 'PID-3': `${ipp('100234')}~${nir(MARIE_NIR_2)}`, 'PID-32': 'VALI', 'PID-11': '^^AJACCIO^^^FRA^BDL^^2A004' }),
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patient('100234')).toMatchObject({ ins: { value: MARIE_NIR_2, kind: 'NIR' }, qualified: true });
      expect((await ws.cli('patient', '--ins', MARIE_NIR)).code).toBe(4);
    },
  },
  {
    rule: 'A47, MRG-1 is an INS-NIA, PID-3 INS "" → every INS deleted (NIA included)',
    given: [edit(P81, { 'PID-3': `${ipp('100234')}~${nia(MARIE_NIA)}` })],
    when: edit(P83B, { 'MRG-1': nia(MARIE_NIA) }),
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, status: 'PROV' }),
  },
  {
    rule: 'A31, NIA → NIR transition (both sent, VALI): the NIR becomes the INS, the NIA is kept beside it',
    given: [edit(P81, { 'PID-3': `${ipp('100234')}~${nia(MARIE_NIA)}` })],
    when: edit(P82, { 'PID-3': `${ipp('100234')}~${nia(MARIE_NIA)}~${nir(MARIE_NIR)}` }),
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p.ins).toEqual({ value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' });
      expect(latest(p).changes).toContainEqual({
        field: 'ins', before: expect.objectContaining({ kind: 'NIA' }), after: [expect.objectContaining({ kind: 'NIR' }), expect.objectContaining({ kind: 'NIA' })],
      });
      const byNia = await ws.cli('patient', '--ins', MARIE_NIA, '--json');
      expect(byNia.code).toBe(0);
      expect(JSON.parse(byNia.stdout).ins.value).toBe(MARIE_NIR);
    },
  },
  {
    rule: 'A47, MRG-1 is an unknown INS → AE 204',
    when: P83B,
    ack: { code: 'AE', errors: [['MRG^1^1', 204, 'E']] },
  },
  {
    rule: 'A40 → retired record inactive, mergedInto the survivor, its identifiers still resolve to it',
    given: [S100500, S100777],
    when: P84,
    ack: { code: 'AA' },
    then: async (ws) => {
      const retired = await ws.patient('100777');
      expect(retired).toMatchObject({ active: false, mergedInto: { value: '100500', type: 'PI' } });
      expect(retired.identifiers.map((i: any) => i.value)).toEqual(['100777']);
      const survivor = await ws.patient('100500');
      expect(survivor).toMatchObject({ active: true, mergedInto: null, ins: { value: DURAND_NIR } });
      expect(latest(survivor).changes).toContainEqual({ field: 'mergedFrom', before: null, after: expect.objectContaining({ value: '100777' }) });
    },
  },
  {
    rule: 'A40, survivor unknown, retired known → the retired record takes the survivor identifier and the PID data',
    given: [S100777],
    when: P84,
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(1);
      expect(await ws.patient('100777')).toBeNull();
      expect(await ws.patient('100500')).toMatchObject({
        active: true, identifiers: [{ value: '100500' }], birthGivenNames: 'PAUL HENRI', status: 'VALI', ins: { value: DURAND_NIR },
      });
    },
  },
  {
    rule: 'A40, both unknown → AE 204',
    when: P84,
    ack: { code: 'AE', errors: [['MRG^1^1', 204, 'E']] },
  },
  {
    rule: 'A40, survivor and retired hold different INS → AE, nothing applied',
    given: [S100500, edit(S100777, { 'PID-3': `${ipp('100777')}~${nir(OTHER_NIR)}`, 'PID-32': 'VALI' })],
    when: P84,
    ack: { code: 'AE', errors: [['MRG^1^1', 205, 'E']] },
    then: async (ws) => expect((await ws.patient('100777')).active).toBe(true),
  },
  {
    rule: 'a later message addressing a retired identifier → AE 204 naming the survivor',
    given: [S100500, S100777, P84],
    when: edit(S100777, { 'MSH-9': 'ADT^A31^ADT_A05', 'MSH-10': 'LATE1', 'MSH-7': '20250403000000', 'PID-8': 'F' }),
    ack: { code: 'AE', errors: [['PID^1^3', 204, 'E']] },
    detail: [/100500/],
  },
  {
    rule: 'A24 → the two records are linked; AA',
    given: [S100500, S100777],
    when: A24,
    ack: { code: 'AA' },
    then: async (ws) => {
      expect((await ws.patient('100500')).links).toEqual([expect.objectContaining({ value: '100777' })]);
      expect((await ws.patient('100777')).links).toEqual([expect.objectContaining({ value: '100500' })]);
    },
  },
  {
    rule: 'A37 → the two records are unlinked; AA',
    given: [S100500, S100777, A24],
    when: A37,
    ack: { code: 'AA' },
    then: async (ws) => expect((await ws.patient('100500')).links).toEqual([]),
  },
  ...(['ADT^A29^ADT_A21', 'ADT^A08^ADT_A01', 'ADT^A01^ADT_A01', 'ADT^A02^ADT_A02'] as const).map((msh9): Row => ({
    rule: `${msh9.split('^')[1]} (unsupported: not ITI-30) → AR 201, nothing applied`,
    given: [P81],
    when: event(P82, msh9, 'X1'),
    ack: { code: 'AR', errors: [['MSH^1^9^1^2', 201, 'E']] },
  })),
  {
    rule: 'message type not ADT → AR 200',
    given: [P81],
    when: event(P82, 'ORU^R01^ORU_R01', 'X2'),
    ack: { code: 'AR', errors: [['MSH^1^9^1^1', 200, 'E']] },
  },
  {
    rule: 'HL7 major version not 2 → AR 203',
    given: [P81],
    when: edit(P82, { 'MSH-12': '3.0' }),
    ack: { code: 'AR', errors: [['MSH^1^12', 203, 'E']] },
  },
];

export const insRules: Row[] = [
  {
    rule: 'INS present while the status is not VALI → integrated without the INS; AA with W naming PID-3',
    when: edit(P81, { 'PID-32': 'PROV' }),
    ack: { code: 'AA', errors: [['PID^1^3^2', 103, 'W']] },
    detail: [/^PID-3\[2\]: INS not integrated/],
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, status: 'PROV', birthName: 'CASANOVA' }),
  },
  {
    rule: 'INS with a FICT attribute (even VALI) → integrated without the INS; AA with W',
    when: edit(P81, { 'PID-32': 'VALI~FICT' }),
    ack: { code: 'AA', errors: [['PID^1^3^2', 103, 'W']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, qualified: false, status: 'VALI', attributes: ['FICT'] }),
  },
  {
    rule: 'NIR with a wrong key → AE 102 at the PID-3 repetition, nothing applied',
    when: prod(A28_BAD_NIR_KEY),
    ack: { code: 'AE', errors: [['PID^1^3^2^1', 102, 'E']] },
  },
  {
    rule: 'NIR with a malformed value → AE 102 at the PID-3 repetition',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${nir('28503A0041237')}` }),
    ack: { code: 'AE', errors: [['PID^1^3^2^1', 102, 'E']] },
  },
  {
    rule: 'INS already held by another active record → AE 205 (identity collision), nothing applied',
    given: [P81],
    when: edit(P81, { 'MSH-10': 'C1', 'PID-3': `${ipp('100999')}~${nir(MARIE_NIR)}` }),
    ack: { code: 'AE', errors: [['PID^1^3', 205, 'E']] },
  },
  {
    rule: 'NIR incoherent with the traits (sex, birth date, birthplace) → W per mismatch, never a rejection',
    when: edit(P81, { 'PID-8': 'M', 'PID-7': '19860317', 'PID-11': '^^NANTES^^^FRA^BDL^^44109' }),
    ack: { code: 'AA', errors: [['PID^1^8', 102, 'W'], ['PID^1^7', 102, 'W'], ['PID^1^11^1^9', 102, 'W']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: { value: MARIE_NIR }, qualified: true, sex: 'M' }),
  },
];

export const decodingRules: Row[] = [
  {
    rule: 'an undecodable byte for the declared charset (UTF-8) → AE, never a silent U+FFFD',
    when: edit(P81, { 'MSH-18': 'UNICODE UTF-8', 'PID-5': 'CASANOVA\xff^MARIE^^^Mme^^L' }),
    ack: { code: 'AE', errors: [['MSH^1^18', 102, 'E']] },
  },
  {
    rule: 'C1 bytes (0x80-0x9F) in a 8859/15 message → AE',
    when: edit(P81, { 'PID-5': 'CASANOVA\x85^MARIE^^^Mme^^L' }),
    ack: { code: 'AE', errors: [['MSH^1^18', 102, 'E']] },
  },
  {
    rule: 'an unsupported MSH-18 → AE 103',
    when: edit(P81, { 'MSH-18': 'EBCDIC' }),
    ack: { code: 'AE', errors: [['MSH^1^18', 103, 'E']] },
  },
];

// ---------------------------------------------------------------------------------------------------------
// Rules revised after checking pamdrop against PAM FR 2.11.2 and DTFR 1.8.2, and the shapes of public HL7 v2 ADT
// samples (test/fixtures/hl7, README there). Regression rows: before, a wrong-key INS was AE 102 whatever PID-32
// said, a VALI message missing a strict trait was qualified, an A40 moved the retired INS onto any survivor, and an
// NIA sent beside the NIR was dropped (so another record could take it).

/** The §8.8 message (wrong NIR key) on the production authority, with another PID-32. */
export const BAD_KEY_WITH = (pid32: string) => edit(prod(A28_BAD_NIR_KEY), { 'PID-32': pid32 });
/** §8.4 patients for the A40 rows: a provisional survivor without INS, a qualified retired record with one. */
export const S100500_PROV = edit(S100500, { 'MSH-10': 'S100500P', 'PID-3': ipp('100500'), 'PID-32': 'PROV' });
export const S100777_INS = edit(S100777, { 'MSH-10': 'S100777Q', 'PID-3': `${ipp('100777')}~${nir(DURAND_NIR)}`, 'PID-32': 'VALI' });
/** §8.4 without the INS in PID-3. */
export const P84_NO_INS = edit(P84, { 'PID-3': ipp('100500') });
export const insHolders = async (ws: Workspace, value: string) => (await ws.cli('patient', '--ins', value)).code;

export const revisedRules: Row[] = [
  // PAM FR 2.11.2 §6.6.15: "intégrer le message mais sans l'INS".
  ...(['', 'PROV', 'VIDE', 'VALI~FICT'] as const).map((pid32): Row => ({
    rule: `wrong-key NIR with PID-32 ${pid32 === '' ? 'absent' : pid32} → integrated without the INS: AA, W 102 at the PID-3 repetition`,
    when: BAD_KEY_WITH(pid32),
    ack: { code: 'AA', errors: [['PID^1^3^2^1', 102, 'W']] },
    detail: [/^PID-3\[2\]: INS-NIR key check failed; INS not integrated$/],
    then: async (ws) => expect(await ws.patient('101000')).toMatchObject({ ins: null, qualified: false, birthName: 'MOREL', birthPlace: '31555' }),
  })),
  {
    rule: 'malformed INS with PID-32 PROV → integrated without the INS: AA, W 102',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${nir('28503A0041237')}`, 'PID-32': 'PROV' }),
    ack: { code: 'AA', errors: [['PID^1^3^2^1', 102, 'W']] },
    detail: [/malformed/],
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, status: 'PROV', birthName: 'CASANOVA' }),
  },
  {
    rule: 'wrong-key NIR without VALI on a known qualified patient: identity applied, the stored INS removed (PROV)',
    given: [P81],
    when: edit(P82, { 'PID-3': `${ipp('100234')}~${nir('285032A00412372')}`, 'PID-32': 'PROV' }),
    ack: { code: 'AA', errors: [['PID^1^3^2^1', 102, 'W']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, status: 'PROV', usedName: 'BONAPARTE' }),
  },
  {
    rule: 'VALI with a wrong-key NIR stays AE 102, nothing applied (on a known patient too)',
    given: [P81],
    when: edit(P82, { 'PID-3': `${ipp('100234')}~${nir('285032A00412372')}` }),
    ack: { code: 'AE', errors: [['PID^1^3^2^1', 102, 'E']] },
  },
  // DTFR 1.8.2 (XPN-1/XPN-2, XAD-9) and PAM FR §6.6.4/§6.6.5: the strict traits of a qualified identity.
  ...([
    ['no birth name (no PID-5 repetition of type L)', { 'PID-5': 'CASANOVA^MARIE^^^Mme^^D' }, ['PID^1^5', 'PID^1^5'], /birth name/],
    ['no first given name', { 'PID-5': 'CASANOVA^^MARIE LAETITIA ANNE^^Mme^^L' }, ['PID^1^5'], /first given name/],
    ['PID-7 not at day precision', { 'PID-7': '198503' }, ['PID^1^7'], /day precision/],
    ['PID-8 not M/F', { 'PID-8': 'U' }, ['PID^1^8'], /sex M or F/],
    ['no BDL birthplace code (XAD-9)', { 'PID-11': '12 COURS NAPOLEON^^AJACCIO^^20000^FRA^H~^^AJACCIO^^^FRA^BDL' }, ['PID^1^11'], /birthplace code/],
  ] as const).map(([what, fields, locations, detail]): Row => ({
    rule: `VALI + valid INS but ${what} → integrated without the INS: AA, W 101 at the trait's field`,
    when: edit(P81, fields),
    ack: { code: 'AA', errors: locations.map((l) => [l, 101, 'W'] as [string, number, 'W']) },
    detail: [detail],
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, qualified: false, status: 'VALI' }),
  })),
  {
    rule: 'an A31 VALI + INS missing a strict trait on a qualified patient: the stored INS is removed (kept in history)',
    given: [P81],
    when: edit(P82, { 'PID-11': '4 RUE FESCH^^BASTIA^^20200^FRA^H' }),
    ack: { code: 'AA', errors: [['PID^1^11', 101, 'W']] },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ ins: null, qualified: false, usedName: 'BONAPARTE', birthPlace: '2A004' });
      expect(latest(p).changes).toContainEqual({ field: 'ins', before: { value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' }, after: null });
    },
  },
  // docs/behaviour.md "Per event", A40.
  {
    rule: 'A40 with PID-32 absent: the retired record\'s INS is not moved (W 101 at PID-32); the survivor ends without INS',
    given: [S100500_PROV, S100777_INS],
    when: edit(P84_NO_INS, { 'PID-32': '' }),
    ack: { code: 'AA', errors: [['PID^1^32', 101, 'W']] },
    detail: [/not moved to the survivor/],
    then: async (ws) => {
      expect(await ws.patient('100500')).toMatchObject({ status: 'PROV', ins: null, qualified: false });
      expect(await ws.patient('100777')).toMatchObject({ active: false, ins: null });
      expect(await insHolders(ws, DURAND_NIR)).toBe(4);
    },
  },
  {
    rule: 'A40 with PID-32 PROV: the retired record\'s INS is dropped, W 101',
    given: [S100500_PROV, S100777_INS],
    when: edit(P84_NO_INS, { 'PID-32': 'PROV' }),
    ack: { code: 'AA', errors: [['PID^1^32', 101, 'W']] },
    then: async (ws) => expect(await ws.patient('100500')).toMatchObject({ status: 'PROV', ins: null }),
  },
  {
    rule: 'A40 VALI, no INS in PID-3, strict traits all there: the retired record\'s INS moves; the survivor ends qualified',
    given: [S100500_PROV, S100777_INS],
    when: P84_NO_INS,
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100500')).toMatchObject({ status: 'VALI', qualified: true, ins: { value: DURAND_NIR } }),
  },
  {
    rule: 'A40 VALI with the retired record\'s INS in PID-3 and the strict traits: it moves',
    given: [S100500_PROV, S100777_INS],
    when: P84,
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100500')).toMatchObject({ qualified: true, ins: { value: DURAND_NIR } }),
  },
  {
    rule: 'A40 VALI, no INS in PID-3, no BDL birthplace code: the retired record\'s INS is dropped, W 101 at PID-11',
    given: [S100500_PROV, S100777_INS],
    when: edit(P84_NO_INS, { 'PID-11': '8 RUE DES LILAS^^PARIS^^75011^FRA^H' }),
    ack: { code: 'AA', errors: [['PID^1^11', 101, 'W']] },
    then: async (ws) => expect(await ws.patient('100500')).toMatchObject({ ins: null, qualified: false }),
  },
  {
    rule: 'A40 VALI whose PID-3 carries no INS keeps the survivor\'s own INS',
    given: [S100500, S100777],
    when: P84_NO_INS,
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100500')).toMatchObject({ qualified: true, ins: { value: DURAND_NIR } }),
  },
  {
    rule: 'A40 with a non-VALI PID-32 removes the survivor\'s own INS, as any message',
    given: [S100500, S100777],
    when: edit(P84_NO_INS, { 'PID-32': 'PROV' }),
    ack: { code: 'AA' },
    then: async (ws) => expect(await ws.patient('100500')).toMatchObject({ status: 'PROV', ins: null }),
  },
  {
    rule: 'A40 survivor unknown, retired known with an INS, PID-32 absent: the record takes PID-3 but loses the INS, W 101',
    given: [S100777_INS],
    when: edit(P84_NO_INS, { 'PID-32': '' }),
    ack: { code: 'AA', errors: [['PID^1^32', 101, 'W']] },
    then: async (ws) => expect(await ws.patient('100500')).toMatchObject({ ins: null, active: true }),
  },
  // docs/behaviour.md "Qualified identity (INS)": NIR + NIA.
  {
    rule: 'NIR + NIA sent: the NIR is the INS, the NIA kept beside it (found by patient --ins)',
    when: edit(P81, { 'PID-3': `${ipp('100234')}~${nia(MARIE_NIA)}~${nir(MARIE_NIR)}` }),
    ack: { code: 'AA' },
    then: async (ws) => {
      expect((await ws.patient('100234')).ins).toEqual({ value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' });
      const byNia = await ws.cli('patient', '--ins', MARIE_NIA, '--json');
      expect(JSON.parse(byNia.stdout).identifiers).toEqual([expect.objectContaining({ value: '100234' })]);
    },
  },
  {
    rule: 'the NIA kept beside an NIR, sent on another record → AE 205 (identity collision), nothing applied',
    given: [edit(P81, { 'PID-3': `${ipp('100234')}~${nia(MARIE_NIA)}~${nir(MARIE_NIR)}` })],
    when: edit(P81, { 'MSH-10': 'C2', 'PID-3': `${ipp('100999')}~${nia(MARIE_NIA)}` }),
    ack: { code: 'AE', errors: [['PID^1^3', 205, 'E']] },
  },
];

// ---------------------------------------------------------------------------------------------------------
// A47 INS deletion and history, A47 on an INS held by nobody, one assigning authority under two spellings

export const ERASED = '[INS supprimé]';
/** The §8.1 IPP spelled with its namespace only (DTFR 1.8.2 N.1: the same domain as `CHEX&<OID>&ISO`). */
export const IPP_NS_ONLY = '100234^^^CHEX^PI';

/** What the status page shows for a lookup (identities on), read from the site's store. */
export async function statusPageLookup(ws: Workspace, value: string): Promise<{ found: number; html: string }> {
  const db = await openDb(ws.db, { migrate: false });
  try {
    const found = await lookupPatient(db, value);
    return { found: found.length, html: renderPatientPage(value, found) };
  } finally {
    await db.close();
  }
}

export const a47AndAuthorities: Row[] = [
  {
    rule: 'A47 INS deletion erases the INS from history (PAM FR 2.11.2 §4.4.3): entries kept, value [INS supprimé] everywhere',
    given: [P81, P82],
    when: P83B,
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p.history).toHaveLength(3);
      expect(p.history[0].changes).toContainEqual({ field: 'ins', before: null, after: { value: ERASED, oid: NIR_OID, kind: 'NIR' } });
      expect(latest(p).changes).toContainEqual({ field: 'ins', before: { value: ERASED, oid: NIR_OID, kind: 'NIR' }, after: null });
      expect(JSON.stringify(p)).not.toContain(MARIE_NIR);
      for (const args of [['history', '100234', '--json'], ['history', '100234']]) {
        const h = await ws.cli(...args);
        expect(h.code).toBe(0);
        expect(h.stdout).toContain(ERASED);
        expect(h.stdout).not.toContain(MARIE_NIR);
      }
      const page = await statusPageLookup(ws, '100234');
      expect(page.found).toBe(1);
      expect(page.html).not.toContain(MARIE_NIR);
      expect((await statusPageLookup(ws, MARIE_NIR)).found).toBe(0);
      const snapshot = ws.drop('snapshot.txt', edit(P82, { 'MSH-10': 'SNAP1', 'PID-32': 'PROV' }));
      const rec = await ws.cli('reconcile', '--snapshot', snapshot, '--json');
      expect(rec.stdout).toContain('"matched": 1');
      expect(rec.stdout).not.toContain(MARIE_NIR);
    },
  },
  {
    rule: 'an A31 downgrade (status no longer VALI) removes the INS and keeps it in history',
    given: [P81],
    when: P83A,
    ack: { code: 'AA' },
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p.ins).toBeNull();
      expect(latest(p).changes).toContainEqual({ field: 'ins', before: { value: MARIE_NIR, oid: NIR_OID, kind: 'NIR' }, after: null });
    },
  },
  {
    // Regression: the PID-3 record took the never-seen INS of PID-3 and became qualified.
    rule: 'A47 on an INS held by nobody, the PID-3 record never held it → AE 204, nothing applied',
    given: [edit(P81, { 'PID-3': ipp('100234'), 'PID-32': 'PROV' })],
    when: edit(P83B, { 'PID-3': `${ipp('100234')}~${nir(MARIE_NIR_2)}`, 'PID-11': '^^AJACCIO^^^FRA^BDL^^2A004', 'PID-32': 'VALI' }),
    ack: { code: 'AE', errors: [['MRG^1^1', 204, 'E']] },
    then: async (ws) => expect(await ws.patient('100234')).toMatchObject({ ins: null, status: 'PROV', qualified: false }),
  },
  {
    rule: 'A47 on an INS a downgrade already removed from the PID-3 record → AA, W 204 "already removed", INS erased from its history',
    given: [P81, P83A],
    when: P83B,
    ack: { code: 'AA', errors: [['MRG^1^1', 204, 'W']] },
    detail: [/already removed/],
    then: async (ws) => {
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ ins: null, status: 'PROV' });
      expect(JSON.stringify(p.history)).not.toContain(MARIE_NIR);
      expect(JSON.stringify(p.history)).toContain(ERASED);
    },
  },
  {
    // Regression: the two spellings made two records, and `patient 100234` exited 2 (ambiguous).
    rule: 'one assigning authority, two spellings (DTFR 1.8.2 N.1): CHEX^PI and CHEX&OID&ISO^PI are one record',
    given: [P81],
    when: edit(P82, { 'PID-3': `${IPP_NS_ONLY}~${nir(MARIE_NIR)}` }),
    ack: { code: 'AA' }, // known patient: no "created" warning
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(1);
      const r = await ws.cli('patient', '100234', '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ usedName: 'BONAPARTE', identifiers: [{ value: '100234', authority: 'CHEX', oid: IPP_OID, type: 'PI' }] });
      // reconcile matches a snapshot's identifiers as the importer does, whatever their spelling.
      const snapshot = ws.drop('snapshot.txt', edit(P82, { 'MSH-10': 'SNAP1', 'PID-3': `${IPP_NS_ONLY}~${nir(MARIE_NIR)}` }));
      const rec = JSON.parse((await ws.cli('reconcile', '--snapshot', snapshot, '--json')).stdout);
      expect(rec.counts).toMatchObject({ matched: 1, missingInStore: 0, missingInSnapshot: 0 });
    },
  },
  {
    rule: 'a namespace-only authority gains its OID when a full spelling arrives (the most complete spelling is stored)',
    given: [edit(P81, { 'PID-3': `${IPP_NS_ONLY}~${nir(MARIE_NIR)}` })],
    when: P82,
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(1);
      expect((await ws.patient('100234')).identifiers).toEqual([{ value: '100234', authority: 'CHEX', oid: IPP_OID, type: 'PI' }]);
    },
  },
  {
    rule: 'two universal IDs under one namespace are two authorities; a namespace-only identifier that could mean either → AE 204 naming both',
    given: [P81, edit(P81, { 'MSH-10': 'K1', 'PID-3': ipp('100234', '1.2.250.1.999999.2'), 'PID-32': 'PROV' })],
    when: edit(P82, { 'PID-3': IPP_NS_ONLY }),
    ack: { code: 'AE', errors: [['PID^1^3', 204, 'E']] },
    detail: [/CHEX \(1\.2\.250\.1\.999999\.1\) or CHEX \(1\.2\.250\.1\.999999\.2\)/],
  },
  {
    rule: 'config pam.authorityAliases: a sender that renamed its domain reaches the records of the old name',
    config: { pam: { authorityAliases: { OLDCHEX: 'CHEX' } } },
    given: [edit(P81, { 'PID-3': `100234^^^OLDCHEX^PI~${nir(MARIE_NIR)}` })],
    when: edit(P82, { 'PID-3': `${IPP_NS_ONLY}~${nir(MARIE_NIR)}` }),
    ack: { code: 'AA' },
    then: async (ws) => {
      expect(await ws.patients()).toHaveLength(1);
      expect(await ws.patient('100234')).toMatchObject({ usedName: 'BONAPARTE', ins: { value: MARIE_NIR } });
    },
  },
  {
    rule: 'A47 whose MRG-1 spells the domain without its OID renames the PID-3 identifier of that domain',
    given: [S100900],
    when: edit(P85, { 'MRG-1': '100900^^^CHEX^PI' }),
    ack: { code: 'AA' },
    then: async (ws) => {
      expect((await ws.patient('200900')).identifiers.map((i: any) => i.value)).toEqual(['200900']);
      expect((await ws.cli('patient', '100900')).code).toBe(4);
    },
  },
];


/** Every row of the matrix, section by section. */
export const DECISION_ROWS: ReadonlyArray<readonly [string, readonly Row[]]> = [
  ['Identity model', identityModel], ['Per event', perEvent], ['INS rules', insRules], ['Files: charsets', decodingRules],
  ['Revised rules', revisedRules], ['A47 and authorities', a47AndAuthorities],
];
