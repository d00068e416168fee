/**
 * Test program: interpret() (src/pam/interpret.ts) against docs/behaviour.md and PAM FR.
 * 1. Every §8 example (acceptTestIns on) → the command docs/behaviour.md expects; §8.8 → AE 102 at PID-3[2].
 * 2. Acceptance through interpret → AR with the header.
 * 3. Required segments and fields → AE 100/101 with locations.
 * 4. INS rules (docs/behaviour.md "Qualified identity (INS)", PAM FR §4.4, §6.6.1, §6.6.15), one row per rule,
 *    each built from a §8 example with one irregularity.
 * 5. NIR coherence warnings (W 102 at PID-8/PID-7/PID-11).
 * 6. Per-event rules: A40 merge, A47 identifier change, A47 INS change/deletion, A24/A37 link/unlink.
 * 7. Header facts, and no patient data in any finding text.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/hl7/errors.js';
import type { InsAction, PamCommand, PatientData } from '../../src/pam/types.js';
import {
  A28_8859_15, A28_BAD_NIR_KEY, A28_CREATE, A31_DOWNGRADE, A31_UPDATE, A40_MERGE, A47_INS_DELETE, A47_IPP_CHANGE, BATCH,
} from '../fixtures/examples.js';
import { addSegment, command, dropSegment, edit, expectNoPatientData, rejection, run, setField, where } from './helpers.js';

// --- identifiers and INS of the §8 examples ---
const CHEX = { authority: 'CHEX', oid: '1.2.250.1.999999.1', type: 'PI' };
const ipp = (value: string) => ({ value, ...CHEX });
const TEST_NIR = '1.2.250.1.213.1.4.10';
const PROD_NIR = '1.2.250.1.213.1.4.8';
const PROD_NIA = '1.2.250.1.213.1.4.9';
const nirSet = (value: string, oid = TEST_NIR): InsAction => ({ action: 'set', ins: { value, oid, kind: 'NIR' } });
const REMOVE_NOT_QUALIFIED: InsAction = { action: 'remove', reason: 'not-qualified' };
const REMOVE_EXPLICIT_NULL: InsAction = { action: 'remove', reason: 'explicit-null' };
const KEEP: InsAction = { action: 'keep' };

/** CX of an INS with the given OID. */
const insCx = (value: string, oid: string, kind = oid === PROD_NIA ? 'NIA' : 'NIR') => `${value}^^^ASIP-SANTE-INS-${kind}&${oid}&ISO^INS`;
const A28_PID3 = '100234^^^CHEX&1.2.250.1.999999.1&ISO^PI~285032A00412371^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS';
/** A28_CREATE with PID-3 replaced. */
const a28WithPid3 = (pid3: string) => setField(A28_CREATE, 'PID', 3, pid3);
/** A28_CREATE with PID-32 replaced. */
const a28WithStatus = (pid32: string) => setField(A28_CREATE, 'PID', 32, pid32);

const PID3_REP = (n: number) => ({ segment: 'PID', sequence: 1, field: 3, repetition: n });
const PID3_REP_C1 = (n: number) => ({ ...PID3_REP(n), component: 1 });

/** Every patient value of the §8 examples: none of them may appear in a finding text. */
const PATIENT_VALUES = [
  '100234', '100500', '100777', '100900', '200900', '100300', '100301', '101000',
  '285032A00412371', '167114410908956', '155049935001242', '292093155504523', '292093155504524',
  'CASANOVA', 'BONAPARTE', 'MARIE', 'DURAND', 'BENALI', 'MOREL', 'CLAIRE', '1985', '2A004', '31555',
];

/** Message `index` (0-based) of the §8.6 batch. */
const batchMessage = (index: number): string => {
  const messages = BATCH.split(/\r(?=MSH\|)/).slice(1).map((m) => m.split('\rBTS|')[0]!);
  expect(messages).toHaveLength(3);
  return messages[index]!;
};

function commandOf(text: string, overrides = {}): PamCommand {
  return command(text, overrides);
}

function insOf(c: PamCommand): InsAction {
  if (!('ins' in c)) throw new Error('link commands carry no INS');
  return c.ins;
}

function dataOf(c: PamCommand): PatientData {
  if (!('data' in c)) throw new Error('link commands carry no data');
  return c.data;
}

// ------------------------------------------------------------------------------------------------------------
describe('1. §8 examples', () => {
  it.each<[string, string, Record<string, unknown>]>([
    ['8.1 A28 creation, qualified (Corsica NIR)', A28_CREATE,
      { kind: 'upsert', event: 'A28', identifiers: [ipp('100234')], ins: nirSet('285032A00412371') }],
    ['8.2 A31 update, still qualified', A31_UPDATE,
      { kind: 'upsert', event: 'A31', identifiers: [ipp('100234')], ins: nirSet('285032A00412371') }],
    ['8.3a A31 downgrade PROV+DOUT: INS removed', A31_DOWNGRADE,
      { kind: 'upsert', event: 'A31', identifiers: [ipp('100234')], ins: REMOVE_NOT_QUALIFIED }],
    ['8.3b A47 INS deletion', A47_INS_DELETE,
      { kind: 'change-ins', event: 'A47', old: { value: '285032A00412371', oid: TEST_NIR }, identifiers: [ipp('100234')], ins: REMOVE_EXPLICIT_NULL }],
    ['8.4 A40 merge', A40_MERGE,
      { kind: 'merge', event: 'A40', survivor: [ipp('100500')], retired: ipp('100777'), ins: nirSet('167114410908956') }],
    ['8.5 A47 IPP change', A47_IPP_CHANGE,
      { kind: 'change-id', event: 'A47', old: ipp('100900'), replacement: ipp('200900'), identifiers: [ipp('200900')], ins: nirSet('155049935001242') }],
    ['8.7 A28 with accents, PROV without INS', A28_8859_15,
      { kind: 'upsert', event: 'A28', identifiers: [ipp('100950')], ins: REMOVE_NOT_QUALIFIED }],
  ])('%s', (_label, text, expected) => {
    const c = commandOf(text);
    expect(c).toMatchObject(expected);
    expect(c.warnings).toEqual([]);
  });

  it.each<[string, number, Record<string, unknown>]>([
    ['8.6 message 1: A28 PROV', 0, { kind: 'upsert', event: 'A28', identifiers: [ipp('100300')], ins: REMOVE_NOT_QUALIFIED }],
    ['8.6 message 2: A31 INS attributed', 1, { kind: 'upsert', event: 'A31', identifiers: [ipp('100300')], ins: nirSet('292093155504523') }],
  ])('%s', (_label, index, expected) => {
    const c = commandOf(batchMessage(index));
    expect(c).toMatchObject(expected);
    expect(c.warnings).toEqual([]);
  });

  it('8.6 message 3: A40 without PID-11 → no birthplace code, its INS not integrated (W 101 at PID-11), the survivor\'s kept', () => {
    const c = commandOf(batchMessage(2));
    expect(c).toMatchObject({ kind: 'merge', event: 'A40', survivor: [ipp('100300')], retired: ipp('100301'), ins: KEEP, retiredInsDropped: [] });
    expect(where(c.warnings)).toEqual([{ code: ErrorCode.RequiredFieldMissing, severity: 'W', location: { segment: 'PID', sequence: 1, field: 11 } }]);
  });

  it('8.1 data: traits from the L name, PID-7, PID-8 and the BDL code', () => {
    expect(dataOf(commandOf(A28_CREATE))).toEqual({
      names: { L: { family: 'CASANOVA', given: 'MARIE', givenNames: 'MARIE LAETITIA ANNE', prefix: 'Mme' } },
      addresses: {
        H: { street: '12 COURS NAPOLEON', other: null, city: 'AJACCIO', state: null, zip: '20000', country: 'FRA', countyCode: null },
        BDL: { street: null, other: null, city: 'AJACCIO', state: null, zip: null, country: 'FRA', countyCode: '2A004' },
      },
      birthDate: '1985-03-17',
      sex: 'F',
      phone: '^PRN^CP^^^^^^^^^0612345678',
      status: 'VALI',
      attributes: [],
    });
  });

  it('8.3b data: PID-32 PROV applied, no address sent', () => {
    const d = dataOf(commandOf(A47_INS_DELETE));
    expect(d.status).toBe('PROV');
    expect(Object.prototype.hasOwnProperty.call(d, 'addresses')).toBe(false);
  });

  it('8.8 bad NIR key → AE 102 at PID-3 repetition 2, nothing applied', () => {
    const r = rejection(A28_BAD_NIR_KEY);
    expect(r.ack).toBe('AE');
    expect(where(r.findings)).toEqual([{ code: ErrorCode.DataType, severity: 'E', location: PID3_REP_C1(2) }]);
    expect(r.findings[0]!.text).toBe('PID-3[2]: INS-NIR key check failed');
  });

  it('with the default options (test INS refused) 8.1 is integrated without its INS', () => {
    const r = run(A28_CREATE, { acceptTestIns: false });
    expect(r.ok && r.command).toMatchObject({ kind: 'upsert', ins: REMOVE_NOT_QUALIFIED });
    expect(r.ok && where(r.command.warnings)).toEqual([{ code: ErrorCode.TableValueNotFound, severity: 'W', location: PID3_REP(2) }]);
  });
});

// ------------------------------------------------------------------------------------------------------------
describe('2. acceptance → AR with the header', () => {
  const MSH9 = { segment: 'MSH', sequence: 1, field: 9, repetition: 1 };
  it.each([
    ['HL7 version 3', setField(A28_CREATE, 'MSH', 12, '3.0'), 'A28', 'GAM000101', ErrorCode.UnsupportedVersion, { segment: 'MSH', sequence: 1, field: 12 }],
    ['not ADT', setField(A28_CREATE, 'MSH', 9, 'ORU^R01^ORU_R01'), 'R01', 'GAM000101', ErrorCode.UnsupportedMessageType, { ...MSH9, component: 1 }],
    ['A29', setField(A28_CREATE, 'MSH', 9, 'ADT^A29^ADT_A21'), 'A29', 'GAM000101', ErrorCode.UnsupportedEvent, { ...MSH9, component: 2 }],
    ['A08', setField(A28_CREATE, 'MSH', 9, 'ADT^A08^ADT_A01'), 'A08', 'GAM000101', ErrorCode.UnsupportedEvent, { ...MSH9, component: 2 }],
    ['ITI-31 A02', setField(A28_CREATE, 'MSH', 9, 'ADT^A02^ADT_A02'), 'A02', 'GAM000101', ErrorCode.UnsupportedEvent, { ...MSH9, component: 2 }],
    ['MSH-10 missing', setField(A28_CREATE, 'MSH', 10, ''), 'A28', '', ErrorCode.RequiredFieldMissing, { segment: 'MSH', sequence: 1, field: 10 }],
  ])('%s', (_label, text, event, controlId, code, location) => {
    const r = run(text);
    expect(r).toEqual({
      ok: false,
      ack: 'AR',
      header: { sendingApp: 'GAM', sendingFacility: 'CHEX', controlId, event, messageTime: '20250312101500.0000' },
      findings: [{ code, severity: 'E', location, text: expect.any(String) }],
    });
  });

  it('A24 is refused when Link/Unlink is off', () => {
    const text = setField(addSegment(A28_CREATE, 'PID', 'PID|2||100235^^^CHEX&1.2.250.1.999999.1&ISO^PI'), 'MSH', 9, 'ADT^A24^ADT_A24');
    expect(rejection(text, { linkUnlink: false })).toMatchObject({ ack: 'AR', findings: [{ code: ErrorCode.UnsupportedEvent }] });
  });
});

// ------------------------------------------------------------------------------------------------------------
describe('3. required segments and fields → AE', () => {
  const TWO_PIDS = addSegment(A28_CREATE, 'PID', 'PID|2||100235^^^CHEX&1.2.250.1.999999.1&ISO^PI');
  it.each([
    ['A28 without PID', dropSegment(A28_CREATE, 'PID'), ErrorCode.SegmentSequence, { segment: 'PID', sequence: 1 }],
    ['A28 with two PIDs', TWO_PIDS, ErrorCode.SegmentSequence, { segment: 'PID', sequence: 2 }],
    ['A40 without MRG', dropSegment(A40_MERGE, 'MRG'), ErrorCode.SegmentSequence, { segment: 'MRG', sequence: 1 }],
    ['A47 without MRG', dropSegment(A47_IPP_CHANGE, 'MRG'), ErrorCode.SegmentSequence, { segment: 'MRG', sequence: 1 }],
    ['A40 with two patient groups', `${A40_MERGE}PID|2||100600^^^CHEX&1.2.250.1.999999.1&ISO^PI\rMRG|100601^^^CHEX&1.2.250.1.999999.1&ISO^PI\r`,
      ErrorCode.SegmentSequence, { segment: 'PID', sequence: 2 }],
    ['A40 with two MRG', `${A40_MERGE}MRG|100601^^^CHEX&1.2.250.1.999999.1&ISO^PI\r`, ErrorCode.SegmentSequence, { segment: 'MRG', sequence: 2 }],
    ['A24 with one PID', setField(A28_CREATE, 'MSH', 9, 'ADT^A24^ADT_A24'), ErrorCode.SegmentSequence, { segment: 'PID', sequence: 2 }],
    ['A24 with three PIDs', setField(addSegment(TWO_PIDS, 'PID', 'PID|3||100236^^^CHEX^PI'), 'MSH', 9, 'ADT^A24^ADT_A24'),
      ErrorCode.SegmentSequence, { segment: 'PID', sequence: 3 }],
    ['PID-3 empty', a28WithPid3(''), ErrorCode.RequiredFieldMissing, { segment: 'PID', sequence: 1, field: 3 }],
    ['PID-3 with the INS only', a28WithPid3(insCx('285032A00412371', TEST_NIR)), ErrorCode.RequiredFieldMissing, { segment: 'PID', sequence: 1, field: 3 }],
    ['PID-3 with an IPP without value', a28WithPid3('^^^CHEX&1.2.250.1.999999.1&ISO^PI'), ErrorCode.RequiredFieldMissing, { segment: 'PID', sequence: 1, field: 3 }],
    ['MRG-1 empty (A40)', setField(A40_MERGE, 'MRG', 1, ''), ErrorCode.RequiredFieldMissing, { segment: 'MRG', sequence: 1, field: 1 }],
    ['MRG-1 empty (A47)', setField(A47_IPP_CHANGE, 'MRG', 1, ''), ErrorCode.RequiredFieldMissing, { segment: 'MRG', sequence: 1, field: 1 }],
    ['A24 PID(2)-3 without identifier', setField(setField(TWO_PIDS, 'PID', 3, '', 2), 'MSH', 9, 'ADT^A24^ADT_A24'),
      ErrorCode.RequiredFieldMissing, { segment: 'PID', sequence: 2, field: 3 }],
    ['PID-7 not a date', setField(A28_CREATE, 'PID', 7, '19850230'), ErrorCode.DataType, { segment: 'PID', sequence: 1, field: 7 }],
  ])('%s', (_label, text, code, location) => {
    const r = rejection(text);
    expect(r.ack).toBe('AE');
    expect(where(r.findings)[0]).toEqual({ code, severity: 'E', location });
    expect(r.findings.filter((f) => f.severity === 'E')).toHaveLength(1);
  });

  it('every content error is reported at once: bad INS key and bad PID-7', () => {
    const r = rejection(setField(A28_BAD_NIR_KEY, 'PID', 7, '19920931'));
    expect(where(r.findings)).toEqual([
      { code: ErrorCode.DataType, severity: 'E', location: PID3_REP_C1(2) },
      { code: ErrorCode.DataType, severity: 'E', location: { segment: 'PID', sequence: 1, field: 7 } },
    ]);
  });

  it('warnings found before the error are kept after the errors', () => {
    const r = rejection(setField(a28WithPid3(`~${insCx('285032A00412371', TEST_NIR)}`), 'PID', 5, 'CASANOVA^MARIE^^^^^^L'));
    expect(where(r.findings).map((f) => [f.code, f.severity])).toEqual([[ErrorCode.RequiredFieldMissing, 'E'], [ErrorCode.DataType, 'W']]);
  });
});

// ------------------------------------------------------------------------------------------------------------
describe('4. INS rules', () => {
  const NIA_VALUE = '285032A00412470';
  it.each<[string, string, Record<string, unknown>, InsAction, Array<{ code: number; location: object }>]>([
    ['PID-32 absent, INS sent → keep, INS dropped with a warning at PID-3', a28WithStatus(''), {}, KEEP,
      [{ code: ErrorCode.RequiredFieldMissing, location: PID3_REP(2) }]],
    ['PID-32 absent, no INS → keep', setField(a28WithStatus(''), 'PID', 3, '100234^^^CHEX&1.2.250.1.999999.1&ISO^PI'), {}, KEEP, []],
    ['PROV with INS → remove not-qualified, INS dropped', a28WithStatus('PROV'), {}, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['VALI + FICT → remove, INS dropped', a28WithStatus('VALI~FICT'), {}, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['VALI + DOUT → remove, INS dropped', a28WithStatus('VALI~DOUT'), {}, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['VALI + HOMA → set', a28WithStatus('VALI~HOMA'), {}, nirSet('285032A00412371'), []],
    ['PID-32 "" → remove, INS dropped', a28WithStatus('""'), {}, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['VALI without INS → remove (qualified = VALI and INS)', setField(A28_CREATE, 'PID', 3, '100234^^^CHEX&1.2.250.1.999999.1&ISO^PI'), {},
      REMOVE_NOT_QUALIFIED, []],
    ['QUAL (status map) with INS → set', a28WithStatus('QUAL'), {}, nirSet('285032A00412371'), []],
    ['RECUP (status map → PROV) with INS → remove, INS dropped', a28WithStatus('RECUP'), {}, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['QUAL without a status map → not qualified', a28WithStatus('QUAL'), { statusMap: {} }, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['explicit-null INS in an A31 → remove explicit-null', setField(A31_DOWNGRADE, 'PID', 3, `100234^^^CHEX^PI~${insCx('""', TEST_NIR)}`), {},
      REMOVE_EXPLICIT_NULL, []],
    ['explicit-null INS, PID-32 absent → remove explicit-null', setField(a28WithStatus(''), 'PID', 3, `100234^^^CHEX^PI~${insCx('""', TEST_NIR)}`), {},
      REMOVE_EXPLICIT_NULL, []],
    ['explicit-null NIA with VALI → remove explicit-null', a28WithPid3(`100234^^^CHEX^PI~${insCx('""', PROD_NIA)}`), {}, REMOVE_EXPLICIT_NULL, []],
    ['explicit null and a new qualified INS → set (replaces every INS)', a28WithPid3(`${A28_PID3}~${insCx('""', PROD_NIA)}`), {},
      nirSet('285032A00412371'), []],
    ['NIR and NIA → NIR wins, whatever the order; the NIA is kept beside it', a28WithPid3(`100234^^^CHEX^PI~${insCx(NIA_VALUE, PROD_NIA)}~${insCx('285032A00412371', PROD_NIR)}`), {},
      { action: 'set', ins: { value: '285032A00412371', oid: PROD_NIR, kind: 'NIR' }, nia: { value: NIA_VALUE, oid: PROD_NIA, kind: 'NIA' } }, []],
    ['NIA only → set NIA', a28WithPid3(`100234^^^CHEX^PI~${insCx(NIA_VALUE, PROD_NIA)}`), {},
      { action: 'set', ins: { value: NIA_VALUE, oid: PROD_NIA, kind: 'NIA' } }, []],
    ['NIR and NIA not qualified → both dropped with a warning each', setField(
      a28WithPid3(`100234^^^CHEX^PI~${insCx(NIA_VALUE, PROD_NIA)}~${insCx('285032A00412371', PROD_NIR)}`), 'PID', 32, 'PROV'), {},
      REMOVE_NOT_QUALIFIED, [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(3) }, { code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['same NIR twice → one INS', a28WithPid3(`${A28_PID3}~${insCx('285032A00412371', TEST_NIR)}`), {}, nirSet('285032A00412371'), []],
    ['production NIR with test INS refused → set', a28WithPid3(`100234^^^CHEX^PI~${insCx('285032A00412371', PROD_NIR)}`), { acceptTestIns: false },
      nirSet('285032A00412371', PROD_NIR), []],
    ['test NIR (.10) refused → ignored with W 103; VALI without INS → remove', A28_CREATE, { acceptTestIns: false }, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['demo NIR (.11) refused → ignored with W 103', a28WithPid3(`100234^^^CHEX^PI~${insCx('285032A00412371', '1.2.250.1.213.1.4.11')}`),
      { acceptTestIns: false }, REMOVE_NOT_QUALIFIED, [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['demo NIR (.11) accepted in test configs', a28WithPid3(`100234^^^CHEX^PI~${insCx('285032A00412371', '1.2.250.1.213.1.4.11')}`), {},
      nirSet('285032A00412371', '1.2.250.1.213.1.4.11'), []],
    ['test NIR with a bad key refused → ignored, not AE', A28_BAD_NIR_KEY, { acceptTestIns: false }, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['test explicit null refused → ignored with W 103; PROV → remove not-qualified',
      setField(A31_DOWNGRADE, 'PID', 3, `100234^^^CHEX^PI~${insCx('""', TEST_NIR)}`), { acceptTestIns: false }, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: PID3_REP(2) }]],
    ['billing NIR (.8 + NH) is an identifier, not an INS', a28WithPid3(`100234^^^CHEX^PI~285032A00412371^^^ASIP-SANTE-NIR&${PROD_NIR}&ISO^NH`), {},
      REMOVE_NOT_QUALIFIED, []],
    ['INS-C is an identifier, not an INS', a28WithPid3('100234^^^CHEX^PI~1234567890123456789012^^^ASIP-SANTE-INS-C&1.2.250.1.213.1.4.2&ISO^INS-C'), {},
      REMOVE_NOT_QUALIFIED, []],
    ['CX-5 INS with a non-INS OID → ignored with W 103', a28WithPid3('100234^^^CHEX^PI~285032A00412371^^^X&1.2.3&ISO^INS'), {}, REMOVE_NOT_QUALIFIED,
      [{ code: ErrorCode.TableValueNotFound, location: { ...PID3_REP(2), component: 4 } }]],
  ])('%s', (_label, text, overrides, ins, warnings) => {
    const c = commandOf(text, overrides);
    expect(insOf(c)).toEqual(ins);
    expect(c.warnings.map((w) => ({ code: w.code, location: w.location }))).toEqual(warnings);
    expect(c.warnings.every((w) => w.severity === 'W')).toBe(true);
  });

  it.each([
    ['PID-32 absent', a28WithStatus(''), 'PID-3[2]: INS not integrated: PID-32 absent, identity not declared qualified'],
    ['not VALI', a28WithStatus('PROV'), 'PID-3[2]: INS not integrated: identity not qualified (PID-32 without VALI, or FICT/DOUT)'],
  ])('the dropped-INS warning names PID-3 (%s)', (_label, text, expected) => {
    expect(commandOf(text).warnings.map((w) => w.text)).toEqual([expected]);
  });

  it.each([
    ['billing NIR kept as an identifier', a28WithPid3(`100234^^^CHEX^PI~285032A00412371^^^ASIP-SANTE-NIR&${PROD_NIR}&ISO^NH`),
      [{ value: '100234', authority: 'CHEX', oid: null, type: 'PI' }, { value: '285032A00412371', authority: 'ASIP-SANTE-NIR', oid: PROD_NIR, type: 'NH' }]],
    ['IPP first, other identifiers in message order', a28WithPid3('X9^^^OTHER^NH~100234^^^CHEX&1.2.250.1.999999.1&ISO^PI~Y8^^^THIRD^AN'),
      [ipp('100234'), { value: 'X9', authority: 'OTHER', oid: null, type: 'NH' }, { value: 'Y8', authority: 'THIRD', oid: null, type: 'AN' }]],
  ])('identifiers: %s', (_label, text, expected) => {
    const c = commandOf(text);
    expect(c.kind === 'upsert' && c.identifiers).toEqual(expected);
  });

  it.each([
    ['wrong key (§8.8 value on the production OID)', a28WithPid3(`100234^^^CHEX^PI~${insCx('292093155504524', PROD_NIR)}`), 2,
      'PID-3[2]: INS-NIR key check failed'],
    ['wrong key on the NIA', a28WithPid3(`100234^^^CHEX^PI~${insCx('285032A00412471', PROD_NIA)}`), 2, 'PID-3[2]: INS-NIA key check failed'],
    ['spec sample 276037510669380 is not key-valid', a28WithPid3(`100234^^^CHEX^PI~${insCx('276037510669380', PROD_NIR)}`), 2,
      'PID-3[2]: INS-NIR key check failed'],
    ['malformed: 14 characters', a28WithPid3(`100234^^^CHEX^PI~${insCx('28503200412371', TEST_NIR)}`), 2, 'malformed'],
    ['malformed: empty value', a28WithPid3(`100234^^^CHEX^PI~${insCx('', TEST_NIR)}`), 2, 'malformed'],
    ['wrong key in repetition 3', a28WithPid3(`100234^^^CHEX^PI~X^^^Y^NH~${insCx('292093155504524', TEST_NIR)}`), 3, 'key check failed'],
    ['two different NIR', a28WithPid3(`${A28_PID3}~${insCx('292093155504523', TEST_NIR)}`), 3, 'second INS-NIR'],
  ])('AE 102 at the PID-3 repetition: %s', (_label, text, repetition, textPart) => {
    const r = rejection(text);
    expect(r.ack).toBe('AE');
    expect(where(r.findings)).toEqual([{ code: ErrorCode.DataType, severity: 'E', location: PID3_REP_C1(repetition) }]);
    expect(r.findings[0]!.text).toContain(textPart);
  });
});

// ------------------------------------------------------------------------------------------------------------
describe('5. NIR coherence → W 102, never a rejection', () => {
  it.each([
    ['sex M vs digit 2', setField(A28_CREATE, 'PID', 8, 'M'), [{ segment: 'PID', sequence: 1, field: 8 }]],
    ['birth year vs NIR', setField(A28_CREATE, 'PID', 7, '19860317'), [{ segment: 'PID', sequence: 1, field: 7 }]],
    ['birth month vs NIR', setField(A28_CREATE, 'PID', 7, '19850417'), [{ segment: 'PID', sequence: 1, field: 7 }]],
    ['BDL code vs NIR', edit(A28_CREATE, '^BDL^^2A004', '^BDL^^2B033'), [{ segment: 'PID', sequence: 1, field: 11, repetition: 2, component: 9 }]],
    ['BDL code in XAD-8 form vs NIR', edit(A28_CREATE, '^BDL^^2A004', '^^BDL^2B033'), [{ segment: 'PID', sequence: 1, field: 11, repetition: 2, component: 9 }]],
    ['all three', edit(setField(setField(A28_CREATE, 'PID', 8, 'M'), 'PID', 7, '19900101'), '^BDL^^2A004', '^BDL^^44109'), [
      { segment: 'PID', sequence: 1, field: 8 }, { segment: 'PID', sequence: 1, field: 7 },
      { segment: 'PID', sequence: 1, field: 11, repetition: 2, component: 9 }]],
  ])('%s', (_label, text, locations) => {
    const c = commandOf(text);
    expect(insOf(c)).toEqual(nirSet('285032A00412371'));
    expect(where(c.warnings)).toEqual(locations.map((location) => ({ code: ErrorCode.DataType, severity: 'W', location })));
  });

  it.each([
    ['INS not set (PROV): no coherence check', setField(a28WithStatus('PROV'), 'PID', 8, 'M'), [ErrorCode.TableValueNotFound]],
    ['NIA: no coherence check', setField(a28WithPid3(`100234^^^CHEX^PI~${insCx('285032A00412470', PROD_NIA)}`), 'PID', 8, 'M'), []],
  ])('%s', (_label, text, codes) => {
    expect(commandOf(text).warnings.map((w) => w.code)).toEqual(codes);
  });
});

// ------------------------------------------------------------------------------------------------------------
describe('6. events', () => {
  describe('A28 / A31 → upsert', () => {
    it.each([
      ['A28', A28_CREATE, 'A28'],
      ['A31 built from the A28', setField(A28_CREATE, 'MSH', 9, 'ADT^A31^ADT_A05'), 'A31'],
    ])('%s', (_label, text, event) => {
      expect(commandOf(text)).toMatchObject({ kind: 'upsert', event, identifiers: [ipp('100234')] });
    });

    it('an A28 carrying an MRG is still an upsert (MRG ignored)', () => {
      expect(commandOf(addSegment(A28_CREATE, 'PID', 'MRG|999^^^CHEX^PI')).kind).toBe('upsert');
    });
  });

  describe('A40 → merge', () => {
    it.each<[string, string, Record<string, unknown>, Array<{ code: number; location: object }>]>([
      ['several MRG-1 repetitions: first used, W at the second', setField(A40_MERGE, 'MRG', 1, '100777^^^CHEX&1.2.250.1.999999.1&ISO^PI~100778^^^CHEX&1.2.250.1.999999.1&ISO^PI'),
        { retired: ipp('100777') }, [{ code: ErrorCode.SegmentSequence, location: { segment: 'MRG', sequence: 1, field: 1, repetition: 2 } }]],
      ['leading empty MRG-1 repetition skipped', setField(A40_MERGE, 'MRG', 1, '~100777^^^CHEX&1.2.250.1.999999.1&ISO^PI'), { retired: ipp('100777') }, []],
      ['survivor = every non-INS PID-3 identifier', setField(A40_MERGE, 'PID', 3, '100500^^^CHEX&1.2.250.1.999999.1&ISO^PI~X1^^^OTHER^NH'),
        { survivor: [ipp('100500'), { value: 'X1', authority: 'OTHER', oid: null, type: 'NH' }], ins: KEEP, retiredInsDropped: null }, []],
    ])('%s', (_label, text, expected, warnings) => {
      const c = commandOf(text);
      expect(c).toMatchObject({ kind: 'merge', event: 'A40', ...expected });
      expect(c.warnings.map((w) => ({ code: w.code, location: w.location }))).toEqual(warnings);
    });

    it.each([
      ['MRG-1 is an INS', setField(A40_MERGE, 'MRG', 1, insCx('167114410908956', TEST_NIR)), ErrorCode.RequiredFieldMissing,
        { segment: 'MRG', sequence: 1, field: 1, repetition: 1, component: 1 }],
      ['MRG-1 is the survivor itself', setField(A40_MERGE, 'MRG', 1, '100500^^^CHEX&1.2.250.1.999999.1&ISO^PI'), ErrorCode.DuplicateKey,
        { segment: 'MRG', sequence: 1, field: 1, repetition: 1, component: 1 }],
      ['MRG-1 without value', setField(A40_MERGE, 'MRG', 1, '^^^CHEX&1.2.250.1.999999.1&ISO^PI'), ErrorCode.RequiredFieldMissing,
        { segment: 'MRG', sequence: 1, field: 1, repetition: 1, component: 1 }],
    ])('%s → AE', (_label, text, code, location) => {
      const r = rejection(text);
      expect(r.ack).toBe('AE');
      expect(where(r.findings)).toEqual([{ code, severity: 'E', location }]);
    });
  });

  describe('A47 with an identifier in MRG-1 → change-id', () => {
    it.each<[string, string, Record<string, unknown>]>([
      ['PID-3 repeating the old IPP: old left out of identifiers',
        setField(A47_IPP_CHANGE, 'PID', 3, '100900^^^CHEX&1.2.250.1.999999.1&ISO^PI~200900^^^CHEX&1.2.250.1.999999.1&ISO^PI'),
        { old: ipp('100900'), replacement: ipp('200900'), identifiers: [ipp('200900')] }],
      ['replacement chosen by authority and type, other identifiers kept',
        setField(A47_IPP_CHANGE, 'PID', 3, 'X1^^^OTHER^PI~200900^^^CHEX&1.2.250.1.999999.1&ISO^PI'),
        { replacement: ipp('200900'), identifiers: [{ value: 'X1', authority: 'OTHER', oid: null, type: 'PI' }, ipp('200900')] }],
      ['authority matched on OID even when the namespaces differ',
        setField(A47_IPP_CHANGE, 'PID', 3, '200900^^^CHEX-NEW&1.2.250.1.999999.1&ISO^PI'),
        { replacement: { value: '200900', authority: 'CHEX-NEW', oid: '1.2.250.1.999999.1', type: 'PI' } }],
      ['billing NIR in MRG-1 is an identifier (change-id, not change-ins)',
        setField(setField(A47_IPP_CHANGE, 'MRG', 1, `185032B00412351^^^ASIP-SANTE-NIR&${PROD_NIR}&ISO^NH`), 'PID', 3,
          `200900^^^CHEX^PI~285032A00412371^^^ASIP-SANTE-NIR&${PROD_NIR}&ISO^NH`),
        { old: { value: '185032B00412351', authority: 'ASIP-SANTE-NIR', oid: PROD_NIR, type: 'NH' },
          replacement: { value: '285032A00412371', authority: 'ASIP-SANTE-NIR', oid: PROD_NIR, type: 'NH' } }],
    ])('%s', (_label, text, expected) => {
      expect(commandOf(text)).toMatchObject({ kind: 'change-id', event: 'A47', ...expected });
    });

    it.each([
      ['no PID-3 identifier of the MRG-1 authority', setField(A47_IPP_CHANGE, 'MRG', 1, '100900^^^OTHER&1.2.3&ISO^PI'),
        ErrorCode.RequiredFieldMissing, { segment: 'PID', sequence: 1, field: 3 }],
      ['same authority, other type', setField(A47_IPP_CHANGE, 'MRG', 1, '100900^^^CHEX&1.2.250.1.999999.1&ISO^AN'),
        ErrorCode.RequiredFieldMissing, { segment: 'PID', sequence: 1, field: 3 }],
      ['PID-3 carries the old IPP unchanged', setField(A47_IPP_CHANGE, 'MRG', 1, '200900^^^CHEX&1.2.250.1.999999.1&ISO^PI'),
        ErrorCode.RequiredFieldMissing, { segment: 'PID', sequence: 1, field: 3 }],
      ['MRG-1 explicit null INS', setField(A47_IPP_CHANGE, 'MRG', 1, insCx('""', TEST_NIR)),
        ErrorCode.DataType, { segment: 'MRG', sequence: 1, field: 1, repetition: 1, component: 1 }],
      ['MRG-1 CX-5 INS with a non-INS OID', setField(A47_IPP_CHANGE, 'MRG', 1, '155049935001242^^^X&1.2.3&ISO^INS'),
        ErrorCode.DataType, { segment: 'MRG', sequence: 1, field: 1, repetition: 1, component: 1 }],
    ])('%s → AE', (_label, text, code, location) => {
      const r = rejection(text);
      expect(r.ack).toBe('AE');
      expect(where(r.findings)).toEqual([{ code, severity: 'E', location }]);
    });
  });

  describe('A47 with an INS in MRG-1 → change-ins', () => {
    const NEW_NIR = '285032A00412569';
    // §8.3b sends no PID-11: the birthplace (a strict trait) is added so that a VALI message can qualify.
    const withNewIns = (pid32: string) => setField(setField(setField(A47_INS_DELETE, 'PID', 3,
      `100234^^^CHEX&1.2.250.1.999999.1&ISO^PI~${insCx(NEW_NIR, TEST_NIR)}`), 'PID', 32, pid32), 'PID', 11, '^^AJACCIO^^^FRA^BDL^^2A004');
    it.each<[string, string, Record<string, unknown>, InsAction, number[]]>([
      ['new INS, VALI → set the new INS (replace)', withNewIns('VALI'), {}, nirSet(NEW_NIR), []],
      ['new INS, PROV → remove, new INS dropped', withNewIns('PROV'), {}, REMOVE_NOT_QUALIFIED, [ErrorCode.TableValueNotFound]],
      ['new INS, PID-32 absent → remove (the old INS ends anyway)', withNewIns(''), {}, REMOVE_NOT_QUALIFIED, [ErrorCode.RequiredFieldMissing]],
      ['no INS in PID-3, PID-32 absent → remove', setField(setField(A47_INS_DELETE, 'PID', 3, '100234^^^CHEX^PI'), 'PID', 32, ''), {},
        REMOVE_NOT_QUALIFIED, []],
      ['explicit null, PID-32 absent → remove explicit-null', setField(A47_INS_DELETE, 'PID', 32, ''), {}, REMOVE_EXPLICIT_NULL, []],
      ['old INS with a wrong key is still used to find the patient', setField(A47_INS_DELETE, 'MRG', 1, insCx('285032A00412372', TEST_NIR)),
        { old: { value: '285032A00412372', oid: TEST_NIR } }, REMOVE_EXPLICIT_NULL, []],
      ['old INS on the production NIA authority', setField(setField(A47_INS_DELETE, 'MRG', 1, insCx('285032A00412470', PROD_NIA)), 'PID', 3,
        `100234^^^CHEX^PI~${insCx('""', PROD_NIA)}`), { old: { value: '285032A00412470', oid: PROD_NIA } }, REMOVE_EXPLICIT_NULL, []],
    ])('%s', (_label, text, expected, ins, warningCodes) => {
      const c = commandOf(text);
      expect(c).toMatchObject({ kind: 'change-ins', event: 'A47', ...expected });
      expect(insOf(c)).toEqual(ins);
      expect(c.warnings.map((w) => w.code)).toEqual(warningCodes);
    });

    it.each([
      ['malformed old INS', setField(A47_INS_DELETE, 'MRG', 1, insCx('28503200412371', TEST_NIR)), {},
        ErrorCode.DataType, { segment: 'MRG', sequence: 1, field: 1, repetition: 1, component: 1 }],
      ['test old INS while test INS are refused', A47_INS_DELETE, { acceptTestIns: false },
        ErrorCode.TableValueNotFound, { segment: 'MRG', sequence: 1, field: 1, repetition: 1, component: 4 }],
    ])('%s → AE', (_label, text, overrides, code, location) => {
      const r = rejection(text, overrides);
      expect(r.ack).toBe('AE');
      expect(where(r.findings).filter((f) => f.severity === 'E')).toEqual([{ code, severity: 'E', location }]);
    });
  });

  describe('A24 / A37 → link / unlink', () => {
    const linkOf = (event: string, pid2: string) =>
      setField(addSegment(A28_CREATE, 'PID', pid2), 'MSH', 9, `ADT^${event}^ADT_${event}`);
    it.each([
      ['A24 → link', 'A24', 'PID|2||100235^^^CHEX&1.2.250.1.999999.1&ISO^PI', 'link', [ipp('100235')]],
      ['A37 → unlink', 'A37', 'PID|2||100235^^^CHEX&1.2.250.1.999999.1&ISO^PI', 'unlink', [ipp('100235')]],
      ['INS ignored, even with a bad key', 'A24', `PID|2||100235^^^CHEX&1.2.250.1.999999.1&ISO^PI~${insCx('292093155504524', PROD_NIR)}`, 'link', [ipp('100235')]],
    ])('%s', (_label, event, pid2, kind, second) => {
      const c = commandOf(linkOf(event, pid2));
      expect(c).toEqual({
        kind, event, header: expect.objectContaining({ event }), warnings: [], first: [ipp('100234')], second,
      });
    });
  });
});

// ------------------------------------------------------------------------------------------------------------
describe('7. header and texts', () => {
  it.each([
    ['MSH-7 with an offset', setField(A28_CREATE, 'MSH', 7, '20250312101500+0100'), '20250312091500.0000', []],
    ['MSH-7 missing → W 101', setField(A28_CREATE, 'MSH', 7, ''), null, [{ code: ErrorCode.RequiredFieldMissing, location: { segment: 'MSH', sequence: 1, field: 7 } }]],
    ['MSH-7 invalid → W 102', setField(A28_CREATE, 'MSH', 7, '20251332'), null, [{ code: ErrorCode.DataType, location: { segment: 'MSH', sequence: 1, field: 7 } }]],
  ])('%s', (_label, text, messageTime, warnings) => {
    const c = commandOf(text);
    expect(c.header).toEqual({ sendingApp: 'GAM', sendingFacility: 'CHEX', controlId: 'GAM000101', event: 'A28', messageTime });
    expect(c.warnings.map((w) => ({ code: w.code, location: w.location }))).toEqual(warnings);
  });

  it.each([
    ['8.8 bad key', A28_BAD_NIR_KEY, {}],
    ['test INS refused', A28_CREATE, { acceptTestIns: false }],
    ['INS not qualified', a28WithStatus('PROV'), {}],
    ['PID-32 absent', a28WithStatus(''), {}],
    ['coherence', edit(setField(setField(A28_CREATE, 'PID', 8, 'M'), 'PID', 7, '19900101'), '^BDL^^2A004', '^BDL^^31555'), {}],
    ['two NIR', a28WithPid3(`${A28_PID3}~${insCx('292093155504523', TEST_NIR)}`), {}],
    ['bad PID-7', setField(A28_CREATE, 'PID', 7, '19850230'), {}],
    ['A47 no replacement', setField(A47_IPP_CHANGE, 'MRG', 1, '100900^^^OTHER&1.2.3&ISO^PI'), {}],
    ['A40 self-merge', setField(A40_MERGE, 'MRG', 1, '100500^^^CHEX&1.2.250.1.999999.1&ISO^PI'), {}],
  ])('no patient data in finding texts: %s', (_label, text, overrides) => {
    const r = run(text, overrides);
    const findings = r.ok ? r.command.warnings : r.findings;
    expect(findings.length).toBeGreaterThan(0);
    expectNoPatientData(findings, PATIENT_VALUES);
  });
});

// ------------------------------------------------------------------------------------------------------------
// Regression: the rules revised after checking pamdrop against PAM FR 2.11.2 and DTFR 1.8.2. Before, a wrong-key INS
// was AE 102 whatever PID-32 said, a VALI message missing a strict trait was qualified all the same, and an A40 moved
// the retired record's INS onto any survivor.
describe('8. PAM FR §6.6.15: a wrong-key or malformed INS without a qualified claim is integrated without it', () => {
  const BAD_KEY = insCx('292093155504524', PROD_NIR);
  it.each<[string, string, InsAction]>([
    ['PID-32 absent', setField(a28WithPid3(`100234^^^CHEX^PI~${BAD_KEY}`), 'PID', 32, ''), KEEP],
    ['PROV', setField(a28WithPid3(`100234^^^CHEX^PI~${BAD_KEY}`), 'PID', 32, 'PROV'), REMOVE_NOT_QUALIFIED],
    ['VIDE', setField(a28WithPid3(`100234^^^CHEX^PI~${BAD_KEY}`), 'PID', 32, 'VIDE'), REMOVE_NOT_QUALIFIED],
    ['VALI~FICT', setField(a28WithPid3(`100234^^^CHEX^PI~${BAD_KEY}`), 'PID', 32, 'VALI~FICT'), REMOVE_NOT_QUALIFIED],
    ['malformed, PROV', setField(a28WithPid3(`100234^^^CHEX^PI~${insCx('28503200412371', PROD_NIR)}`), 'PID', 32, 'PROV'), REMOVE_NOT_QUALIFIED],
  ])('%s → W 102 at the PID-3 repetition carrying the key error, INS dropped', (_label, text, ins) => {
    const c = commandOf(text);
    expect(insOf(c)).toEqual(ins);
    expect(where(c.warnings)).toEqual([{ code: ErrorCode.DataType, severity: 'W', location: PID3_REP_C1(2) }]);
    expect(c.warnings[0]!.text).toMatch(/^PID-3\[2\]: INS-NIR (key check failed|malformed).*; INS not integrated$/);
    expectNoPatientData(c.warnings, PATIENT_VALUES);
  });

  it('VALI with a wrong key stays AE 102 (the sender claims a qualification it cannot have)', () => {
    expect(where(rejection(a28WithPid3(`100234^^^CHEX^PI~${BAD_KEY}`)).findings))
      .toEqual([{ code: ErrorCode.DataType, severity: 'E', location: PID3_REP_C1(2) }]);
  });

  it('the warning keeps its place among the others (message order)', () => {
    const text = setField(a28WithPid3(`100234^^^CHEX^PI~${insCx('285032A00412371', '1.2.250.1.213.1.4.11')}~${BAD_KEY}`), 'PID', 32, 'PROV');
    expect(where(commandOf(text, { acceptTestIns: false }).warnings).map((w) => [w.code, w.location])).toEqual([
      [ErrorCode.TableValueNotFound, PID3_REP(2)], [ErrorCode.DataType, PID3_REP_C1(3)],
    ]);
  });

  it('with a bad PID-7 too and VALI, every error is still reported at once, the INS first', () => {
    const r = rejection(setField(a28WithPid3(`100234^^^CHEX^PI~${BAD_KEY}`), 'PID', 7, '1985X'));
    expect(where(r.findings).map((f) => [f.code, f.location])).toEqual([
      [ErrorCode.DataType, PID3_REP_C1(2)], [ErrorCode.DataType, { segment: 'PID', sequence: 1, field: 7 }],
    ]);
  });
});

describe('9. DTFR 1.8.2: a qualified identity needs the strict traits', () => {
  const PID = (field: number) => ({ segment: 'PID', sequence: 1, field });
  it.each<[string, string, number[]]>([
    ['no L name (only a used name)', setField(A28_CREATE, 'PID', 5, 'BONAPARTE^MARIE^^^Mme^^D'), [5, 5]],
    ['L name without XPN-1', setField(A28_CREATE, 'PID', 5, '^MARIE^MARIE LAETITIA ANNE^^Mme^^L'), [5]],
    ['L name without a first given name', setField(A28_CREATE, 'PID', 5, 'CASANOVA^^MARIE LAETITIA ANNE^^Mme^^L'), [5]],
    ['PID-7 absent', setField(A28_CREATE, 'PID', 7, ''), [7]],
    ['PID-7 at month precision', setField(A28_CREATE, 'PID', 7, '198503'), [7]],
    ['PID-8 U', setField(A28_CREATE, 'PID', 8, 'U'), [8]],
    ['PID-8 ""', setField(A28_CREATE, 'PID', 8, '""'), [8]],
    ['no BDL repetition', setField(A28_CREATE, 'PID', 11, '12 COURS NAPOLEON^^AJACCIO^^20000^FRA^H'), [11]],
    ['BDL without XAD-9', edit(A28_CREATE, '^BDL^^2A004', '^BDL'), [11]],
    ['PID-7 and PID-11 missing', setField(setField(A28_CREATE, 'PID', 7, ''), 'PID', 11, ''), [7, 11]],
  ])('VALI + valid INS, %s → integrated without the INS, W 101 at the field', (_label, text, fields) => {
    const c = commandOf(text);
    expect(insOf(c)).toEqual(REMOVE_NOT_QUALIFIED);
    expect(where(c.warnings)).toEqual(fields.map((f) => ({ code: ErrorCode.RequiredFieldMissing, severity: 'W', location: PID(f) })));
    for (const w of c.warnings) expect(w.text).toMatch(/missing; INS not integrated/);
    expectNoPatientData(c.warnings, PATIENT_VALUES);
  });

  it.each([
    ['L type shifted into XPN-8 still counts', edit(A28_CREATE, 'Mme^^L|', 'Mme^^^L|')],
    ['BDL in XAD-8 still counts', edit(A28_CREATE, '^BDL^^2A004', '^^BDL^2A004')],
    ['sex M with a coherent NIR', setField(setField(A28_CREATE, 'PID', 8, 'M'), 'PID', 3, `100234^^^CHEX^PI~${insCx('185032A00412324', TEST_NIR)}`)],
  ])('%s → set', (_label, text) => {
    expect(insOf(commandOf(text)).action).toBe('set');
  });

  it('without an INS, nothing is asked of the traits', () => {
    expect(commandOf(setField(setField(A28_CREATE, 'PID', 3, '100234^^^CHEX^PI'), 'PID', 11, '')).warnings).toEqual([]);
  });
});

describe('10. A40: the retired record\'s INS moves only onto a survivor that ends qualified', () => {
  const noIns = setField(A40_MERGE, 'PID', 3, '100500^^^CHEX&1.2.250.1.999999.1&ISO^PI');
  const merged = (text: string) => {
    const c = commandOf(text);
    if (c.kind !== 'merge') throw new Error('not a merge');
    return c;
  };
  it.each<[string, string, InsAction, Array<number | string> | null]>([
    ['VALI, the traits, PID-3 with the INS → set, may move', A40_MERGE, nirSet('167114410908956'), null],
    ['VALI, the traits, no INS in PID-3 → keep the survivor\'s own, may move', noIns, KEEP, null],
    ['PID-32 absent → keep, dropped (W 101 at PID-32)', setField(noIns, 'PID', 32, ''), KEEP, [32]],
    ['PROV → remove, dropped', setField(noIns, 'PID', 32, 'PROV'), REMOVE_NOT_QUALIFIED, [32]],
    ['VALI~FICT → remove, dropped', setField(noIns, 'PID', 32, 'VALI~FICT'), REMOVE_NOT_QUALIFIED, [32]],
    ['VALI, no INS, no BDL → keep, dropped (W 101 at PID-11)', setField(noIns, 'PID', 11, ''), KEEP, [11]],
    ['VALI, no INS, PID-7 and PID-8 missing → dropped, W at each', setField(setField(noIns, 'PID', 7, ''), 'PID', 8, ''), KEEP, [7, 8]],
    ['VALI, INS sent, no BDL → keep (as if no INS), dropped: its own W 101 said it already', setField(A40_MERGE, 'PID', 11, ''), KEEP, []],
    ['PID-3 INS "" → remove, dropped (W 101 at PID-3)', setField(noIns, 'PID', 3, `100500^^^CHEX^PI~${insCx('""', TEST_NIR)}`),
      REMOVE_EXPLICIT_NULL, [3]],
  ])('%s', (_label, text, ins, dropped) => {
    const c = merged(text);
    expect(c.ins).toEqual(ins);
    if (dropped === null) expect(c.retiredInsDropped).toBeNull();
    else {
      expect(where(c.retiredInsDropped!)).toEqual(dropped.map((f) => ({ code: ErrorCode.RequiredFieldMissing, severity: 'W', location: { segment: 'PID', sequence: 1, field: f } })));
      for (const w of c.retiredInsDropped!) expect(w.text).toMatch(/not moved to the survivor/);
      expectNoPatientData(c.retiredInsDropped!, PATIENT_VALUES);
    }
  });
});
