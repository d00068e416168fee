/**
 * Test program — the §8 example messages (test/fixtures/examples.ts) through `pamdrop import`.
 * The examples use the test INS authority (.10), so the site runs with `{"pam":{"acceptTestIns":true}}`;
 * the last block shows what the default configuration does with them (INS refused, W in the ACK).
 *
 * 1. §8.1 → §8.8 in order, one file per example, on one site: after each file, its ACK (exactly, against the
 *    inbound message and, where the examples hold one, against the §8.8/§8.9 sample ACK) and the stored record.
 *    §8.4 and §8.5 name patients nobody created before them: in this sequence they are answered AE 204.
 * 2. §8.4 and §8.5 once their patients exist (A28 built from the example itself): merge and IPP change.
 * 3. §8.3b as the canonical INS deletion (right after §8.2, without §8.3a).
 * 4. The same examples sent as one §8.6-style batch (FHS/BHS/…/BTS/FTS) end in the very same store.
 * 5. Default configuration: a test-authority INS is not stored and the ACK carries a W at PID-3.
 * Everything runs on SQLite and, when PAMDROP_TEST_PG_URL is set, on PostgreSQL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  A28_8859_15, A28_BAD_NIR_KEY, A28_BAD_NIR_KEY_EXPECTED_ACK, A28_CREATE, A31_DOWNGRADE, A31_UPDATE, A40_MERGE, A47_INS_DELETE,
  A47_IPP_CHANGE, ACK_AA, BATCH,
} from '../fixtures/examples.js';
import { BATCH_MESSAGES, FIXTURES } from '../fixtures/make-fixtures.js';
import { dbKinds } from '../helpers/db.js';
import { ackSegments, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { append, edit, expectAck, ipp, TEST_NIR_OID, without } from '../helpers/messages.js';

const CONFIG = { pam: { acceptTestIns: true } };
/** §8.7 as the ISO-8859-15 bytes a sender would write (fixture latin9.hl7: Œ 0xBC, Ÿ 0xBE, È 0xC8, É 0xC9). */
const A28_8859_15_BYTES = FIXTURES.find((f) => f.name === 'latin9.hl7')!.bytes;
/** `A28_8859_15` as read byte for byte (latin1), to compare with ACK fields. */
const A28_8859_15_RAW = A28_8859_15_BYTES.toString('latin1');

const MARIE_INS = { value: '285032A00412371', oid: TEST_NIR_OID, kind: 'NIR' };
const CLAIRE_INS = { value: '292093155504523', oid: TEST_NIR_OID, kind: 'NIR' };

/** Imports one file and returns the parsed report and the ACK files it produced (name → bytes). */
async function importOne(ws: Workspace, name: string, content: string | Buffer) {
  const before = new Set(ws.acks().keys());
  ws.drop(name, content);
  const run = await ws.importFiles(name);
  const acks = new Map([...ws.acks()].filter(([k]) => !before.has(k)));
  return { code: run.code, report: JSON.parse(run.stdout), acks };
}

/** MSH fields of an ACK that do not depend on the time or on our counter (MSH-7, MSH-10 left out). */
const stableMsh = (ack: Buffer | string): string[] => {
  const msh = ackSegments(typeof ack === 'string' ? Buffer.from(ack, 'latin1') : ack)[0]!;
  return msh.filter((_, i) => i !== 6 && i !== 9);
};

/** A record as shown by `patients --json`, without the wall-clock parts (history recordedAt). */
const stable = (p: any) => ({ ...p, history: p.history.map(({ recordedAt: _r, ...h }: any) => h) });

describe.each(dbKinds())('the §8 examples on %s', (kind) => {
  describe('§8.1 → §8.8 in sequence, one file each', () => {
    let ws: Workspace;
    beforeAll(async () => { ws = await makeWorkspace(kind, { config: CONFIG }); });
    afterAll(async () => { await ws.cleanup(); });

    it('§8.1 A28: creates 100234 with its INS and traits; ACK AA as in the §8.9 sample', async () => {
      const r = await importOne(ws, '01_a28.hl7', A28_CREATE);
      expect(r.code).toBe(0);
      const ack = r.acks.get('01_a28.GAM000101.ack.hl7');
      expectAck(ack, A28_CREATE, { code: 'AA' });
      expect(stableMsh(ack!)).toEqual(stableMsh(ACK_AA));
      expect(ackSegments(ack!).slice(1)).toEqual(ackSegments(Buffer.from(ACK_AA, 'latin1')).slice(1));
      expect(await ws.patient('100234')).toMatchObject({
        identifiers: [{ value: '100234', authority: 'CHEX', oid: '1.2.250.1.999999.1', type: 'PI' }],
        ins: MARIE_INS, status: 'VALI', attributes: [], qualified: true,
        birthName: 'CASANOVA', firstName: 'MARIE', birthGivenNames: 'MARIE LAETITIA ANNE', usedName: null,
        birthDate: '1985-03-17', sex: 'F', birthPlace: '2A004', active: true, mergedInto: null,
      });
    });

    it('§8.2 A31: usage name, new home address, marital status; INS and birth traits kept', async () => {
      const r = await importOne(ws, '02_a31.hl7', A31_UPDATE);
      expect(r.code).toBe(0);
      expectAck(r.acks.get('02_a31.GAM000102.ack.hl7'), A31_UPDATE, { code: 'AA' });
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ usedName: 'BONAPARTE', usedFirstName: 'MARIE', birthName: 'CASANOVA', ins: MARIE_INS, qualified: true, birthPlace: '2A004' });
      expect(p.addresses.H).toMatchObject({ street: '4 RUE FESCH', city: 'BASTIA', zip: '20200' });
      expect(p.history.at(-1).changes).toContainEqual({ field: 'maritalStatus', before: null, after: 'M' });
    });

    it('§8.3a A31 PROV~DOUT: traits updated, status PROV + DOUT, the stored INS removed', async () => {
      const r = await importOne(ws, '03_a31.hl7', A31_DOWNGRADE);
      expect(r.code).toBe(0);
      expectAck(r.acks.get('03_a31.GAM000103.ack.hl7'), A31_DOWNGRADE, { code: 'AA' });
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ status: 'PROV', attributes: ['DOUT'], ins: null, qualified: false, usedName: 'BONAPARTE' });
      expect(p.history.at(-1).changes).toContainEqual({ field: 'ins', before: MARIE_INS, after: null });
    });

    it('§8.3b A47 after §8.3a: the INS is already gone; applied to the PID-3 record with a W at MRG-1', async () => {
      const r = await importOne(ws, '04_a47.hl7', A47_INS_DELETE);
      expect(r.code).toBe(0);
      expectAck(r.acks.get('04_a47.GAM000104.ack.hl7'), A47_INS_DELETE, { code: 'AA', errors: [['MRG^1^1', 204, 'W']] });
      expect(await ws.patient('100234')).toMatchObject({ status: 'PROV', attributes: [], ins: null });
    });

    it('§8.4 A40 with neither record known → AE 204, nothing created', async () => {
      const r = await importOne(ws, '05_a40.hl7', A40_MERGE);
      expect(r.code).toBe(1);
      expectAck(r.acks.get('05_a40.GAM000105.ack.hl7'), A40_MERGE, { code: 'AE', errors: [['MRG^1^1', 204, 'E']] });
      expect(await ws.patient('100500')).toBeNull();
      expect(await ws.patient('100777')).toBeNull();
    });

    it('§8.5 A47 with MRG-1 unknown → AE 204, nothing created', async () => {
      const r = await importOne(ws, '06_a47.hl7', A47_IPP_CHANGE);
      expect(r.code).toBe(1);
      expectAck(r.acks.get('06_a47.GAM000106.ack.hl7'), A47_IPP_CHANGE, { code: 'AE', errors: [['MRG^1^1', 204, 'E']] });
      expect(await ws.patient('200900')).toBeNull();
    });

    // The §8.6 A40 sends no PID-11: without the birthplace code (a strict trait) its INS is not integrated (W 101),
    // and a VALI A40 keeps the survivor's own INS.
    it('§8.6 batch: A28, A31 adding the INS, A40 whose MRG-1 was never seen (recorded as a retired alias, W)', async () => {
      const r = await importOne(ws, '07_batch.hl7', BATCH);
      expect(r.code).toBe(0);
      expect(r.report.files[0].summary).toEqual({ messages: 3, AA: 3, AE: 0, AR: 0, duplicates: 0, stale: 0 });
      expect([...r.acks.keys()]).toEqual(['07_batch.GAM000201.ack.hl7', '07_batch.GAM000202.ack.hl7', '07_batch.GAM000203.ack.hl7']);
      expectAck(r.acks.get('07_batch.GAM000201.ack.hl7'), BATCH_MESSAGES[0]!, { code: 'AA' });
      expectAck(r.acks.get('07_batch.GAM000202.ack.hl7'), BATCH_MESSAGES[1]!, { code: 'AA' });
      expectAck(r.acks.get('07_batch.GAM000203.ack.hl7'), BATCH_MESSAGES[2]!, { code: 'AA', errors: [['PID^1^11', 101, 'W'], ['MRG^1^1', 204, 'W']] });
      expect(await ws.patient('100300')).toMatchObject({
        active: true, status: 'VALI', qualified: true, ins: CLAIRE_INS,
        birthName: 'MOREL', firstName: 'CLAIRE', birthGivenNames: 'CLAIRE SOPHIE', birthDate: '1992-09-15', sex: 'F', birthPlace: '31555',
      });
      expect(await ws.patient('100301')).toMatchObject({ active: false, mergedInto: { value: '100300' }, ins: null });
    });

    it('§8.7 A28 in ISO-8859-15: accents and Œ / Ÿ decoded; provisional identity', async () => {
      const r = await importOne(ws, '08_a28.hl7', A28_8859_15_BYTES);
      expect(r.code).toBe(0);
      expectAck(r.acks.get('08_a28.GAM000108.ack.hl7'), A28_8859_15_RAW, { code: 'AA' });
      const p = await ws.patient('100950');
      expect(p).toMatchObject({
        usedName: 'LEFÈVRE', usedFirstName: 'HÉLÈNE', birthName: 'DUBOIS', firstName: 'HELENE', birthGivenNames: 'HELENE',
        birthDate: '1970-01-01', sex: 'F', status: 'PROV', ins: null, qualified: false,
      });
      expect(p.addresses.H).toMatchObject({ street: '3 RUE DU CŒUR VOLANT', city: "L'HAŸ-LES-ROSES", zip: '94240' });
    });

    it('§8.8 bad NIR key → AE 102 at PID-3 repetition 2, nothing applied; ACK as the §8.8 sample', async () => {
      const r = await importOne(ws, '09_a28.hl7', A28_BAD_NIR_KEY);
      expect(r.code).toBe(1);
      const ack = r.acks.get('09_a28.GAM000109.ack.hl7');
      const [detail] = expectAck(ack, A28_BAD_NIR_KEY, { code: 'AE', errors: [['PID^1^3^2^1', 102, 'E']] });
      expect(detail).toMatch(/key/);
      const sample = ackSegments(Buffer.from(A28_BAD_NIR_KEY_EXPECTED_ACK, 'latin1'));
      const got = ackSegments(ack!);
      expect(stableMsh(ack!)).toEqual(stableMsh(A28_BAD_NIR_KEY_EXPECTED_ACK));
      expect(got[1]).toEqual(sample[1]);
      expect(got[2]!.slice(0, 5)).toEqual(sample[2]!.slice(0, 5)); // ERR-8 wording is ours
      expect(await ws.patient('101000')).toBeNull();
    });

    it('the store holds exactly the records the sequence implies', async () => {
      const all = await ws.patients();
      expect(all.map((p: any) => [p.identifiers.map((i: any) => i.value).join(','), p.active])).toEqual([
        ['100234', true], ['100300', true], ['100301', false], ['100950', true],
      ]);
    });
  });

  describe('§8.4 and §8.5 once their patients exist', () => {
    let ws: Workspace;
    beforeAll(async () => { ws = await makeWorkspace(kind, { config: CONFIG }); });
    afterAll(async () => { await ws.cleanup(); });

    it('§8.4 A40: 100777 is retired into 100500 and still resolves, to the retired record', async () => {
      const survivor = append(without(edit(A40_MERGE, { 'MSH-9': 'ADT^A28^ADT_A05', 'MSH-10': 'S1', 'MSH-7': '20250301000000' }), 'MRG'), 'PV1|1|N');
      const retired = edit(survivor, { 'MSH-10': 'S2', 'PID-3': ipp('100777'), 'PID-5': 'DURAND^PAUL^^^M.^^L', 'PID-32': 'PROV' });
      expect((await importOne(ws, 'a.hl7', survivor + retired)).code).toBe(0);
      const r = await importOne(ws, 'b.hl7', A40_MERGE);
      expect(r.code).toBe(0);
      expectAck(r.acks.get('b.GAM000105.ack.hl7'), A40_MERGE, { code: 'AA' });
      expect(await ws.patient('100777')).toMatchObject({ active: false, mergedInto: { value: '100500', type: 'PI' }, identifiers: [{ value: '100777' }] });
      expect(await ws.patient('100500')).toMatchObject({
        active: true, ins: { value: '167114410908956', kind: 'NIR' }, birthName: 'DURAND', birthGivenNames: 'PAUL HENRI', birthPlace: '44109',
      });
    });

    it('§8.5 A47: 100900 becomes 200900, its INS unchanged', async () => {
      const before = append(without(edit(A47_IPP_CHANGE, {
        'MSH-9': 'ADT^A28^ADT_A05', 'MSH-10': 'S3', 'MSH-7': '20250301000000',
        'PID-3': `${ipp('100900')}~155049935001242^^^ASIP-SANTE-INS-NIR&${TEST_NIR_OID}&ISO^INS`,
      }), 'MRG'), 'PV1|1|N');
      expect((await importOne(ws, 'c.hl7', before)).code).toBe(0);
      const r = await importOne(ws, 'd.hl7', A47_IPP_CHANGE);
      expect(r.code).toBe(0);
      expectAck(r.acks.get('d.GAM000106.ack.hl7'), A47_IPP_CHANGE, { code: 'AA' });
      expect(await ws.patient('100900')).toBeNull();
      expect(await ws.patient('200900')).toMatchObject({
        identifiers: [{ value: '200900', type: 'PI' }], ins: { value: '155049935001242' }, birthPlace: '99350', birthName: 'BENALI',
      });
    });
  });

  it('§8.3b as the canonical INS deletion (after §8.1 and §8.2): found by the MRG-1 INS, INS deleted, PID-32 PROV applied', async () => {
    const ws = await makeWorkspace(kind, { config: CONFIG });
    try {
      expect((await importOne(ws, 'a.hl7', A28_CREATE + A31_UPDATE)).code).toBe(0);
      const r = await importOne(ws, 'b.hl7', A47_INS_DELETE);
      expect(r.code).toBe(0);
      expectAck(r.acks.get('b.GAM000104.ack.hl7'), A47_INS_DELETE, { code: 'AA' });
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ ins: null, status: 'PROV', qualified: false, usedName: 'BONAPARTE' });
      expect(p.history.at(-1)).toMatchObject({ controlId: 'GAM000104', event: 'A47' });
      // PAM FR 2.11.2 §4.4.3: the A47 deletion erases the INS from the history too.
      expect(p.history.at(-1).changes).toContainEqual({ field: 'ins', before: { ...MARIE_INS, value: '[INS supprimé]' }, after: null });
    } finally {
      await ws.cleanup();
    }
  });

  it('the examples sent as one §8.6-style batch end in the same store as one file each', async () => {
    const each = await makeWorkspace(kind, { config: CONFIG });
    const batch = await makeWorkspace(kind, { config: CONFIG });
    try {
      const messages: Buffer[] = [A28_CREATE, A31_UPDATE, A31_DOWNGRADE, A47_INS_DELETE, A40_MERGE, A47_IPP_CHANGE, ...BATCH_MESSAGES]
        .map((m) => Buffer.from(m, 'latin1'));
      messages.push(A28_8859_15_BYTES, Buffer.from(A28_BAD_NIR_KEY, 'latin1'));
      for (const [i, m] of messages.entries()) each.drop(`m_${i + 1}.hl7`, m);
      const r1 = await each.importFiles(...messages.map((_, i) => `m_${i + 1}.hl7`));
      const head = 'FHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250405230000||all.hl7||F0002\rBHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250405230000||||B0002\r';
      const tail = `BTS|${messages.length}\rFTS|1\r`;
      batch.drop('all.hl7', Buffer.concat([Buffer.from(head, 'latin1'), ...messages, Buffer.from(tail, 'latin1')]));
      const r2 = await batch.importFiles('all.hl7');
      expect(r1.code).toBe(1);
      expect(r2.code).toBe(1);
      const t1 = JSON.parse(r1.stdout).totals;
      const t2 = JSON.parse(r2.stdout).totals;
      expect(t2).toMatchObject({ messages: 11, AA: 8, AE: 3, AR: 0, files: 1 });
      expect({ ...t1, files: 1 }).toEqual(t2);
      expect((await batch.patients()).map(stable)).toEqual((await each.patients()).map(stable));
      // Same ACK per message (MSA and ERR), whatever the file.
      const byCtl = (ws: Workspace) => new Map([...ws.acks().values()].map((a) => [ackSegments(a)[1]![2], ackSegments(a).slice(1)]));
      expect(byCtl(batch)).toEqual(byCtl(each));
    } finally {
      await each.cleanup();
      await batch.cleanup();
    }
  });

  it('default configuration: a test-authority INS is NOT stored, the ACK carries a W at PID-3', async () => {
    const ws = await makeWorkspace(kind);
    try {
      const r = await importOne(ws, 'a.hl7', A28_CREATE);
      expect(r.code).toBe(0);
      const [detail] = expectAck(r.acks.get('a.GAM000101.ack.hl7'), A28_CREATE, { code: 'AA', errors: [['PID^1^3^2', 103, 'W']] });
      expect(detail).toMatch(/test/);
      expect(await ws.patient('100234')).toMatchObject({ ins: null, qualified: false, status: 'VALI', birthName: 'CASANOVA' });
      expect((await ws.cli('patient', '--ins', MARIE_INS.value, '--json')).code).toBe(4);
    } finally {
      await ws.cleanup();
    }
  });
});
