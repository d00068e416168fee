/**
 * Test program — the behaviour reference (docs/behaviour.md), end to end through `pamdrop import`:
 * one row per rule. Each row starts a fresh site (real folders, real store), imports
 * the `given` messages, then the message under test, and asserts
 *   - the exact ACK: MSH swapped, MSH-9 `ACK^<event>^ACK`, own MSH-10, MSH-12/MSH-18 echoed, MSA-1/MSA-2, and
 *     ERR-2/ERR-3/ERR-4 of every finding (test/helpers/messages.ts `expectAck`);
 *   - the stored state through `pamdrop patient --json`; an AE/AR row also asserts that nothing at all changed
 *     (`pamdrop patients --json` before and after);
 *   - the exit code (0 when the message is accepted, 1 otherwise).
 * The rules on files, duplicates, order and ACK naming need several files or runs: they follow as plain tests.
 * Messages are the §8 examples (test/fixtures/examples.ts) edited one field at a time, with the production INS
 * authority (.8) so that the default configuration applies (the test authority is refused by default, see
 * examples.test.ts).
 * Every row runs on SQLite and, when PAMDROP_TEST_PG_URL is set, on PostgreSQL.
 */
import { describe, it, expect, vi, afterEach } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { A28_BAD_NIR_KEY } from '../fixtures/examples.js';
import { FIXTURES, SHAPE_A28 } from '../fixtures/make-fixtures.js';
import { dbKinds, type DbKind } from '../helpers/db.js';
import { ackSegments, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { checkLedgerAcks } from '../helpers/ack-property.js';
import { edit, expectAck, get, ipp, NIR_OID, prod } from '../helpers/messages.js';
import {
  P81, P82, P83A, identityModel, perEvent, insRules, decodingRules, revisedRules, a47AndAuthorities, type Row,
} from './decision-cases.js';

// ---------------------------------------------------------------------------------------------------------
// Site helpers

/** Imports each message as its own file (g_1.hl7, g_2.hl7…, natural order = list order); all must be accepted. */
async function given(ws: Workspace, msgs: readonly (string | Buffer)[]): Promise<void> {
  if (msgs.length === 0) return;
  const names = msgs.map((m, i) => { const n = `g_${i + 1}.hl7`; ws.drop(n, m); return n; });
  const r = await ws.importFiles(...names);
  expect(r.code, `given messages must be accepted: ${r.stdout}${r.stderr}`).toBe(0);
}

/** Imports `content` as `<name>` and returns the run, its JSON report and the ACK of the message with that MSH-10. */
async function when(ws: Workspace, content: string | Buffer, name = 'w.hl7') {
  ws.drop(name, content);
  const run = await ws.importFiles(name);
  const report = JSON.parse(run.stdout);
  const text = typeof content === 'string' ? content : content.toString('latin1');
  const ctl = get(text.slice(text.indexOf('MSH')), 'MSH-10');
  const ack = ws.acks().get(`${name.replace(/\.hl7$/, '')}.${ctl}.ack.hl7`);
  return { run, report, ack };
}

/** Runs `fn` on a fresh site, removed afterwards. */
async function onSite(kind: DbKind, config: object | undefined, fn: (ws: Workspace) => Promise<void>): Promise<void> {
  const ws = await makeWorkspace(kind, config ? { config } : {});
  try {
    await fn(ws);
    // The ACK property (validate --ack): every ACK this site made is well formed against its inbound message.
    if (ws.archived().length > 0) expect((await checkLedgerAcks(ws.db)).problems).toEqual([]);
  } finally {
    await ws.cleanup();
  }
}
const ALL: Array<[string, Row[]]> = [
  ['Identity model', identityModel], ['Per event', perEvent], ['INS rules', insRules], ['Files: charsets', decodingRules],
];

describe.each(dbKinds())('docs/behaviour.md on %s', (kind) => {
  describe.each(ALL)('%s', (_section, rows) => {
    // Rows are independent sites (own folders, own database): they run concurrently.
    it.concurrent.each(rows.map((r) => [r.rule, r] as const))('%s', async (_rule, row) => {
      const ws = await makeWorkspace(kind, row.config ? { config: row.config } : {});
      try {
        await given(ws, row.given ?? []);
        const before = row.ack.code === 'AA' ? [] : await ws.patients();
        const { run, ack } = await when(ws, row.when);
        const details = expectAck(ack, row.when, row.ack);
        expect(run.code, run.stderr).toBe(row.ack.code === 'AA' ? 0 : 1);
        for (const [i, re] of (row.detail ?? []).entries()) expect(details[i]).toMatch(re);
        // Findings never carry patient data beyond the field location.
        for (const d of details) expect(d).not.toMatch(/CASANOVA|BONAPARTE|DURAND|BENALI|MARIE|\d{15}/);
        if (row.ack.code !== 'AA') expect(await ws.patients(), 'nothing applied').toEqual(before);
        await row.then?.(ws);
        // The ACK property (validate --ack): every ACK of the row is well formed against its inbound message.
        expect((await checkLedgerAcks(ws.db)).problems).toEqual([]);
      } finally {
        await ws.cleanup();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Messages, duplicates and order

const summaryOf = (report: any, i = 0) => report.files[i].summary;

describe.each(dbKinds())('docs/behaviour.md "Duplicates and order" on %s', (kind) => {
  it.concurrent('the same key with the same content is a duplicate: nothing applied again, the original ACK replayed byte for byte', async () => {
    await onSite(kind, undefined, async (ws) => {
      await given(ws, [P81]);
      const original = ws.acks().get('g_1.GAM000101.ack.hl7')!;
      const again = await when(ws, P81, 'resent.hl7');
      expect(again.run.code).toBe(0);
      expect(summaryOf(again.report)).toEqual({ messages: 1, AA: 1, AE: 0, AR: 0, duplicates: 1, stale: 0 });
      expect(again.ack!.equals(original)).toBe(true);
      expect((await ws.patient('100234')).history).toHaveLength(1);
    });
  });

  it.concurrent('a rejected message sent again is a duplicate too: its AE is replayed', async () => {
    await onSite(kind, undefined, async (ws) => {
      const first = await when(ws, prod(A28_BAD_NIR_KEY), 'a.hl7');
      const again = await when(ws, prod(A28_BAD_NIR_KEY), 'b.hl7');
      expect(again.run.code).toBe(1);
      expect(summaryOf(again.report)).toMatchObject({ AE: 1, duplicates: 1 });
      expect(again.ack!.equals(first.ack!)).toBe(true);
    });
  });

  it.concurrent('the same key with other content → AE 205 at MSH-10, nothing applied', async () => {
    await onSite(kind, undefined, async (ws) => {
      await given(ws, [P81]);
      const other = edit(P81, { 'PID-5': 'BONAPARTE^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' });
      const { run, ack } = await when(ws, other);
      expectAck(ack, other, { code: 'AE', errors: [['MSH^1^10', 205, 'E']] });
      expect(run.code).toBe(1);
      expect((await ws.patient('100234')).usedName).toBeNull();
    });
  });

  it.concurrent('the key includes the sender: the same MSH-10 from another facility (MSH-4) is a new message', async () => {
    await onSite(kind, undefined, async (ws) => {
      await given(ws, [P81]);
      const other = edit(P82, { 'MSH-4': 'CHEY', 'MSH-10': 'GAM000101' });
      const { run, ack } = await when(ws, other);
      expectAck(ack, other, { code: 'AA' });
      expect(run.code).toBe(0);
      expect((await ws.patient('100234')).usedName).toBe('BONAPARTE');
    });
  });

  it.concurrent('files are taken in natural name order (adt_2 before adt_10)', async () => {
    await onSite(kind, undefined, async (ws) => {
      ws.drop('adt_10.hl7', P82);
      ws.drop('adt_2.hl7', P81);
      const r = await ws.importFiles('adt_10.hl7', 'adt_2.hl7');
      expect(JSON.parse(r.stdout).files.map((f: any) => f.file)).toEqual(['adt_2.hl7', 'adt_10.hl7']);
      // In name order the A28 creates and the A31 updates: no warning on either.
      expectAck(ws.acks().get('adt_2.GAM000101.ack.hl7'), P81, { code: 'AA' });
      expectAck(ws.acks().get('adt_10.GAM000102.ack.hl7'), P82, { code: 'AA' });
    });
  });

  it.concurrent('within a file, file order by default: an A31 before the A28 creates, and the older A28 is then stale', async () => {
    await onSite(kind, undefined, async (ws) => {
      const { run, report } = await when(ws, P82 + P81);
      expect(run.code).toBe(0);
      expect(summaryOf(report)).toEqual({ messages: 2, AA: 2, AE: 0, AR: 0, duplicates: 0, stale: 1 });
      expectAck(ws.acks().get('w.GAM000102.ack.hl7'), P82, { code: 'AA', errors: [['PID^1^3', 204, 'W']] });
      const details = expectAck(ws.acks().get('w.GAM000101.ack.hl7'), P81, { code: 'AA', errors: [['', 0, 'W']] });
      expect(details[0]).toMatch(/stale/);
      expect((await ws.patient('100234')).history.map((h: any) => h.controlId)).toEqual(['GAM000102']);
    });
  });

  it.concurrent('order "timestamp" (config) sorts a file by MSH-7', async () => {
    await onSite(kind, { order: 'timestamp' }, async (ws) => {
      const { run, report } = await when(ws, P82 + P81);
      expect(run.code).toBe(0);
      expect(summaryOf(report)).toMatchObject({ AA: 2, stale: 0 });
      expectAck(ws.acks().get('w.GAM000101.ack.hl7'), P81, { code: 'AA' });
      expectAck(ws.acks().get('w.GAM000102.ack.hl7'), P82, { code: 'AA' });
      expect((await ws.patient('100234')).history.map((h: any) => h.controlId)).toEqual(['GAM000101', 'GAM000102']);
    });
  });

  it.concurrent('order "timestamp": equal MSH-7 keep file order', async () => {
    await onSite(kind, { order: 'timestamp' }, async (ws) => {
      const t = '20250320143000';
      const first = edit(P82, { 'MSH-10': 'T1', 'PID-5': 'PREMIER^MARIE^^^Mme^^D' });
      const second = edit(P82, { 'MSH-10': 'T2', 'PID-5': 'SECOND^MARIE^^^Mme^^D' });
      const { run } = await when(ws, P81 + edit(first, { 'MSH-7': t }) + edit(second, { 'MSH-7': t }));
      expect(run.code).toBe(0);
      const p = await ws.patient('100234');
      expect(p.history.map((h: any) => h.controlId)).toEqual(['GAM000101', 'T1', 'T2']);
      expect(p.usedName).toBe('SECOND');
    });
  });

  it.concurrent('a message older than the last applied to the patient is stale: skipped, AA with W, counted', async () => {
    await onSite(kind, undefined, async (ws) => {
      await given(ws, [P81, P82]);
      const old = edit(P82, { 'MSH-10': 'OLD1', 'MSH-7': '20250315000000', 'PID-5': 'ANCIEN^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' });
      const { run, report, ack } = await when(ws, old);
      expect(run.code).toBe(0);
      expect(summaryOf(report)).toMatchObject({ AA: 1, stale: 1 });
      expect(JSON.parse(run.stdout).totals.stale).toBe(1);
      const [detail] = expectAck(ack, old, { code: 'AA', errors: [['', 0, 'W']] });
      expect(detail).toMatch(/stale/);
      const p = await ws.patient('100234');
      expect(p.usedName).toBe('BONAPARTE');
      expect(p.history).toHaveLength(2);
    });
  });

  it.concurrent('staleUpdates "apply" (config): the older message is applied', async () => {
    await onSite(kind, { staleUpdates: 'apply' }, async (ws) => {
      await given(ws, [P81, P82]);
      const old = edit(P82, { 'MSH-10': 'OLD1', 'MSH-7': '20250315000000', 'PID-5': 'ANCIEN^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' });
      const { run, report, ack } = await when(ws, old);
      expect(run.code).toBe(0);
      expect(summaryOf(report)).toMatchObject({ AA: 1, stale: 0 });
      expectAck(ack, old, { code: 'AA' });
      expect((await ws.patient('100234')).usedName).toBe('ANCIEN');
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Files

/** Envelopes around the §8.1 message, each broken in one way. */
const BROKEN_ENVELOPES: Array<[string, string, RegExp]> = [
  ['FHS without FTS', `FHS|^~\\&|GAM|CHEX\rBHS|^~\\&|GAM|CHEX\r${P81}BTS|1\r`, /FHS at line 1 has no FTS/],
  ['BHS without BTS', `BHS|^~\\&|GAM|CHEX\r${P81}`, /BHS at line 1 has no BTS/],
  ['BTS-1 count wrong', `BHS|^~\\&|GAM|CHEX\r${P81}${P82}BTS|3\r`, /BTS-1 says 3 messages, batch has 2/],
  ['FTS-1 count wrong', `FHS|^~\\&|GAM|CHEX\rBHS|^~\\&|GAM|CHEX\r${P81}BTS|1\rFTS|2\r`, /FTS-1 says 2 batches, file has 1/],
];

describe.each(dbKinds())('docs/behaviour.md "Files, framing and characters" on %s', (kind) => {
  it.concurrent.each(BROKEN_ENVELOPES)('%s → the whole file is quarantined with <name>.reason.txt, nothing applied', async (_what, content, reason) => {
    await onSite(kind, undefined, async (ws) => {
      const { run, report } = await when(ws, content, 'batch.hl7');
      expect(run.code).toBe(1);
      expect(report.files[0]).toMatchObject({ state: 'quarantined', reason: expect.stringMatching(reason) });
      expect(report.totals.quarantined).toBe(1);
      expect(ws.quarantined()).toEqual(['batch.hl7', 'batch.hl7.reason.txt']);
      expect(readFileSync(join(ws.error, 'batch.hl7.reason.txt'), 'utf8')).toMatch(reason);
      expect(readFileSync(join(ws.error, 'batch.hl7'), 'latin1')).toBe(content);
      expect(ws.archived()).toEqual([]);
      expect([...ws.acks().keys()]).toEqual([]);
      expect(await ws.patients()).toEqual([]);
    });
  });

  it.concurrent('undeclared charset → 8859/15 by default (Œ 0xBC, Ÿ 0xBE), and the ACK leaves MSH-18 empty', async () => {
    await onSite(kind, undefined, async (ws) => {
      const latin9 = FIXTURES.find((f) => f.name === 'latin9.hl7')!.bytes;
      const bytes = Buffer.from(latin9.toString('latin1').replace('|8859/15|', '||'), 'latin1');
      const { run, ack } = await when(ws, bytes);
      expect(run.code).toBe(0);
      expectAck(ack, bytes.toString('latin1'), { code: 'AA' });
      const p = await ws.patient('100950');
      expect(p).toMatchObject({ usedName: 'LEFÈVRE', usedFirstName: 'HÉLÈNE', birthName: 'DUBOIS' });
      expect(p.addresses.H).toMatchObject({ street: '3 RUE DU CŒUR VOLANT', city: "L'HAŸ-LES-ROSES" });
    });
  });

  it.concurrent('undeclared charset with charset.default "UNICODE UTF-8" (config): the same 8859-15 bytes are undecodable → AE', async () => {
    await onSite(kind, { charset: { default: 'UNICODE UTF-8' } }, async (ws) => {
      const latin9 = FIXTURES.find((f) => f.name === 'latin9.hl7')!.bytes;
      const bytes = Buffer.from(latin9.toString('latin1').replace('|8859/15|', '||'), 'latin1');
      const { run, ack } = await when(ws, bytes);
      expect(run.code).toBe(1);
      expectAck(ack, bytes.toString('latin1'), { code: 'AE', errors: [['MSH^1^18', 102, 'E']] });
      expect(await ws.patients()).toEqual([]);
    });
  });

  it.concurrent('an undecodable message fails alone: the others of the file are applied', async () => {
    await onSite(kind, undefined, async (ws) => {
      const bad = edit(P82, { 'MSH-18': 'UNICODE UTF-8', 'PID-5': 'BONAPARTE\xc3^MARIE^^^Mme^^D' });
      const { run, report } = await when(ws, P81 + bad + P83A);
      expect(run.code).toBe(1);
      expect(summaryOf(report)).toMatchObject({ messages: 3, AA: 2, AE: 1 });
      const ack = ws.acks().get('w.GAM000102.ack.hl7')!;
      expectAck(ack, bad, { code: 'AE', errors: [['MSH^1^18', 102, 'E']] });
      expect(ack.includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(false);
      expect(await ws.patient('100234')).toMatchObject({ usedName: 'BONAPARTE', status: 'PROV' }); // P83A applied, `bad` not
      expect((await ws.patient('100234')).history.map((h: any) => h.controlId)).toEqual(['GAM000101', 'GAM000103']);
    });
  });

  it.concurrent('a UTF-8 BOM is ignored', async () => {
    await onSite(kind, undefined, async (ws) => {
      const msg = edit(P81, { 'MSH-18': 'UNICODE UTF-8' });
      const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(msg, 'latin1')]);
      const { run, ack } = await when(ws, bytes);
      expect(run.code).toBe(0);
      expectAck(ack, msg, { code: 'AA' });
      expect(ack!.subarray(0, 4).toString('latin1')).toBe('MSH|');
      expect(await ws.patient('100234')).toMatchObject({ birthName: 'CASANOVA', qualified: true });
    });
  });

  it.concurrent('quarantine never overwrites either', async () => {
    await onSite(kind, undefined, async (ws) => {
      await when(ws, BROKEN_ENVELOPES[1]![1], 'b.hl7');
      await when(ws, BROKEN_ENVELOPES[2]![1], 'b.hl7');
      expect(ws.quarantined()).toEqual(['b-1.hl7', 'b-1.hl7.reason.txt', 'b.hl7', 'b.hl7.reason.txt']);
      expect(readFileSync(join(ws.error, 'b-1.hl7.reason.txt'), 'utf8')).toMatch(/BTS-1 says 3/);
    });
  });
});

describe.each(dbKinds())('docs/behaviour.md "Files, framing and characters", dated archive on %s', (kind) => {
  // The clock is pinned (PAMDROP_FIXED_TIME, read by the in-process CLI) so that the dated folder is known.
  afterEach(() => { vi.unstubAllEnvs(); });

  it('archive folders are dated and never overwritten: a second file of the same name gets a suffix', async () => {
    vi.stubEnv('PAMDROP_FIXED_TIME', '2026-03-01T10:00:00.000Z');
    await onSite(kind, undefined, async (ws) => {
      const d = new Date('2026-03-01T10:00:00.000Z');
      const day = [String(d.getFullYear()), String(d.getMonth() + 1).padStart(2, '0'), String(d.getDate()).padStart(2, '0')].join('/');
      await when(ws, P81, 'adt.hl7');
      await when(ws, P82, 'adt.hl7');
      await when(ws, P83A, 'adt.hl7');
      expect(ws.archived()).toEqual([`${day}/adt-1.hl7`, `${day}/adt-2.hl7`, `${day}/adt.hl7`]);
      expect(readFileSync(join(ws.archive, day, 'adt.hl7'), 'latin1')).toBe(P81);
      expect(readFileSync(join(ws.archive, day, 'adt-1.hl7'), 'latin1')).toBe(P82);
      expect(readFileSync(join(ws.archive, day, 'adt-2.hl7'), 'latin1')).toBe(P83A);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// ACK files

describe.each(dbKinds())('docs/behaviour.md "ACK files" on %s', (kind) => {
  it.concurrent('one ACK per message, named <base>.<MSH-10>.ack.hl7, each with its own MSH-10; no temporary file left', async () => {
    await onSite(kind, undefined, async (ws) => {
      const msgs = [P81, P82, prod(A28_BAD_NIR_KEY)];
      const { run } = await when(ws, msgs.join(''), 'adt_20250312.hl7');
      expect(run.code).toBe(1);
      const acks = ws.acks();
      expect([...acks.keys()]).toEqual(['adt_20250312.GAM000101.ack.hl7', 'adt_20250312.GAM000102.ack.hl7', 'adt_20250312.GAM000109.ack.hl7']);
      expectAck(acks.get('adt_20250312.GAM000101.ack.hl7'), P81, { code: 'AA' });
      expectAck(acks.get('adt_20250312.GAM000102.ack.hl7'), P82, { code: 'AA' });
      expectAck(acks.get('adt_20250312.GAM000109.ack.hl7'), prod(A28_BAD_NIR_KEY), { code: 'AE', errors: [['PID^1^3^2^1', 102, 'E']] });
      const ids = [...acks.values()].map((a) => ackSegments(a)[0]![9]);
      expect(new Set(ids).size).toBe(3);
      // A second run's ACKs get other control ids still.
      await when(ws, P83A, 'next.hl7');
      const all = [...ws.acks().values()].map((a) => ackSegments(a)[0]![9]);
      expect(new Set(all).size).toBe(4);
    });
  });

  it.concurrent('unsafe characters of the file base and MSH-10 are replaced in the ACK name', async () => {
    await onSite(kind, undefined, async (ws) => {
      const msg = edit(P81, { 'MSH-10': 'GAM/01:A*1' });
      await when(ws, msg, 'feed 01 (copy).hl7');
      expect([...ws.acks().keys()]).toEqual(['feed_01__copy_.GAM_01_A_1.ack.hl7']);
      expectAck(ws.acks().get('feed_01__copy_.GAM_01_A_1.ack.hl7'), msg, { code: 'AA' });
    });
  });

  it.concurrent('two messages of one file with the same MSH-10 still get one ACK file each', async () => {
    await onSite(kind, undefined, async (ws) => {
      const other = edit(P82, { 'MSH-10': 'GAM000101' }); // same key, other content → AE 205
      await when(ws, P81 + P81 + other, 'x.hl7');
      const acks = ws.acks();
      expect(acks.size).toBe(3);
      const codes = [...acks.values()].map((a) => ackSegments(a)[1]!.slice(1).join('|'));
      expect(codes.sort()).toEqual(['AA|GAM000101', 'AA|GAM000101', 'AE|GAM000101']);
    });
  });

  it.concurrent('the ACK is written in the inbound charset (8859/15 vs UTF-8 bytes for the echoed É)', async () => {
    await onSite(kind, undefined, async (ws) => {
      const latin = edit(P81, { 'MSH-4': 'CH\xc9X' }); // 8859/15: É = 0xC9
      await when(ws, latin, 'l.hl7');
      const la = ws.acks().get('l.GAM000101.ack.hl7')!;
      expect(ackSegments(la)[0]![5]).toBe('CH\xc9X');
      const utf = edit(P81, { 'MSH-4': 'CH\xc3\x89X', 'MSH-10': 'U1', 'MSH-18': 'UNICODE UTF-8' }); // UTF-8: É = C3 89
      await when(ws, utf, 'u.hl7');
      const ua = ws.acks().get('u.U1.ack.hl7')!;
      expect(ackSegments(ua)[0]![5]).toBe('CH\xc3\x89X');
      expect(ackSegments(ua)[0]![17]).toBe('UNICODE UTF-8');
    });
  });

  it.concurrent('MSH-12 and MSH-18 are echoed as received, sender and receiver swapped', async () => {
    await onSite(kind, undefined, async (ws) => {
      const msg = edit(P81, { 'MSH-12': '2.5^FRA^2.9', 'MSH-18': '8859/1', 'MSH-3': 'GAM^1.2.3^ISO', 'MSH-6': 'EDITEUR&X' });
      const { ack } = await when(ws, msg);
      expectAck(ack, msg, { code: 'AA' });
      expect(ackSegments(ack!)[0]!.slice(2, 6)).toEqual(['TLSV', 'EDITEUR&X', 'GAM^1.2.3^ISO', 'CHEX']);
    });
  });

  it.concurrent('when the sender leaves MSH-5/MSH-6 empty, the ACK names us (config self)', async () => {
    await onSite(kind, { self: { app: 'TLSV', facility: 'CHX' } }, async (ws) => {
      const msg = edit(P81, { 'MSH-5': '', 'MSH-6': '' });
      const { ack } = await when(ws, msg);
      expect(ackSegments(ack!)[0]!.slice(2, 6)).toEqual(['TLSV', 'CHX', 'GAM', 'CHEX']);
    });
  });
});

describe.each(dbKinds())('docs/behaviour.md revised against PAM FR 2.11.2 / DTFR 1.8.2, and public sample shapes, on %s', (kind) => {
  it.concurrent.each(revisedRules.map((r) => [r.rule, r] as const))('%s', async (_rule, row) => {
    const ws = await makeWorkspace(kind, row.config ? { config: row.config } : {});
    try {
      await given(ws, row.given ?? []);
      const before = row.ack.code === 'AA' ? [] : await ws.patients();
      const { run, ack } = await when(ws, row.when);
      const details = expectAck(ack, row.when, row.ack);
      expect(run.code, run.stderr).toBe(row.ack.code === 'AA' ? 0 : 1);
      for (const [i, re] of (row.detail ?? []).entries()) expect(details[i]).toMatch(re);
      for (const d of details) expect(d).not.toMatch(/CASANOVA|BONAPARTE|DURAND|BENALI|MARIE|MOREL|\d{15}/);
      if (row.ack.code !== 'AA') expect(await ws.patients(), 'nothing applied').toEqual(before);
      await row.then?.(ws);
      // The ACK property (validate --ack): every ACK of the row is well formed against its inbound message.
      expect((await checkLedgerAcks(ws.db)).problems).toEqual([]);
    } finally {
      await ws.cleanup();
    }
  });

  /** A fixture file of test/fixtures/hl7 (public-sample shapes). */
  const shape = (name: string): Buffer => FIXTURES.find((f) => f.name === name)!.bytes;

  it.concurrent('separators |$%*#& (five encoding characters): read with them, the qualified A28 stored as with ^~\\&', async () => {
    await onSite(kind, undefined, async (ws) => {
      const { run, ack } = await when(ws, shape('separators-5.hl7'), 's.hl7');
      expect(run.code, run.stdout).toBe(0);
      const [msh, msa, ...errs] = ack!.toString('latin1').split('\r').filter((x) => x !== '');
      expect(msh!.split('|')[8]).toBe('ACK$A28$ACK');
      expect(msa).toBe('MSA|AA|SHP0001');
      expect(errs).toEqual([]);
      expect(await ws.patient('300100')).toMatchObject({
        qualified: true, ins: { value: '290023155508863', oid: NIR_OID, kind: 'NIR' }, birthName: 'ROUSSEL', firstName: 'ELISE',
        birthGivenNames: 'ELISE JEANNE', birthDate: '1990-02-15', sex: 'F', birthPlace: '31555',
      });
    });
  });

  it.concurrent('PID-32 PROV~FICT with an INS: AA, W 103 at PID-3, integrated without the INS, status PROV + FICT', async () => {
    await onSite(kind, undefined, async (ws) => {
      const bytes = shape('prov-fict.hl7');
      const { run, ack } = await when(ws, bytes, 'f.hl7');
      expect(run.code).toBe(0);
      expectAck(ack, bytes.toString('latin1'), { code: 'AA', errors: [['PID^1^3^2', 103, 'W']] });
      expect(await ws.patient('300100')).toMatchObject({ status: 'PROV', attributes: ['FICT'], ins: null, qualified: false });
    });
  });

  it.concurrent('A40 with two MRG-1 repetitions: the first is retired, W 100 at the second', async () => {
    await onSite(kind, undefined, async (ws) => {
      await given(ws, [SHAPE_A28, edit(SHAPE_A28, { 'MSH-10': 'SHP0009', 'PID-3': ipp('300199'), 'PID-32': 'PROV' })]);
      const bytes = shape('a40-two-mrg.hl7');
      const { run, ack } = await when(ws, bytes, 'm.hl7');
      expect(run.code).toBe(0);
      expectAck(ack, bytes.toString('latin1'), { code: 'AA', errors: [['MRG^1^1^2', 100, 'W']] });
      expect(await ws.patient('300199')).toMatchObject({ active: false, mergedInto: { value: '300100' } });
      expect(await ws.patient('B7731')).toBeNull();
      expect(await ws.patient('300100')).toMatchObject({ active: true, qualified: true, ins: { value: '290023155508863' } });
    });
  });

  it.concurrent('8859/1 with a windows-1252-only byte (0x8C): undecodable for the declared charset → AE 102 at MSH-18, nothing applied', async () => {
    await onSite(kind, undefined, async (ws) => {
      const bytes = shape('latin1-cp1252.hl7');
      const { run, ack } = await when(ws, bytes, 'c.hl7');
      expect(run.code).toBe(1);
      expectAck(ack, bytes.toString('latin1'), { code: 'AE', errors: [['MSH^1^18', 102, 'E']] });
      expect(ack!.includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(false);
      expect(await ws.patients()).toEqual([]);
    });
  });

  it.concurrent('the same with charset.latin1AsCp1252 (config): read as windows-1252, AA with W 102 at MSH-18', async () => {
    await onSite(kind, { charset: { latin1AsCp1252: true } }, async (ws) => {
      const bytes = shape('latin1-cp1252.hl7');
      const { run, ack } = await when(ws, bytes, 'c.hl7');
      expect(run.code).toBe(0);
      expectAck(ack, bytes.toString('latin1'), { code: 'AA', errors: [['MSH^1^18', 102, 'W']] });
      expect((await ws.patient('300100')).addresses.H).toMatchObject({ street: '9 RUE DU CŒUR' });
    });
  });

  it.concurrent('PAM FR §4.4.1 shape (A31 NIA → NIR, VALI) with the example\'s wrong-key NIR → AE 102 at PID-3[3], nothing applied', async () => {
    await onSite(kind, undefined, async (ws) => {
      const bytes = shape('pamfr-4-4-1.hl7');
      const { run, ack } = await when(ws, bytes, 'p1.hl7');
      expect(run.code).toBe(1);
      expectAck(ack, bytes.toString('latin1'), { code: 'AE', errors: [['PID^1^3^3^1', 102, 'E']] });
      expect(await ws.patients()).toEqual([]);
    });
  });

  it.concurrent('the §4.4.1 shape with PID-32 PROV: integrated without either INS (W 102 for the NIR, W 103 for the NIA), created (W 204)', async () => {
    await onSite(kind, undefined, async (ws) => {
      const text = shape('pamfr-4-4-1.hl7').toString('utf8').replace('||||VALI\r', '||||PROV\r');
      const { run, ack } = await when(ws, Buffer.from(text, 'utf8'), 'p1.hl7');
      expect(run.code).toBe(0);
      expectAck(ack, Buffer.from(text, 'utf8').toString('latin1'), { code: 'AA', errors: [['PID^1^3^3^1', 102, 'W'], ['PID^1^3^2', 103, 'W'], ['PID^1^3', 204, 'W']] });
      expect(await ws.patient('300200')).toMatchObject({ ins: null, status: 'PROV', birthName: 'LAMBERT', firstName: 'HÉLOÏSE' });
    });
  });

  it.concurrent.each(['pamfr-4-4-3.hl7', 'pamfr-4-4-4.hl7'])('PAM FR §4.4.3/§4.4.4 shape %s: MRG-1 holds the wrong-key NIR, which no record can hold → AE 204', async (name) => {
    await onSite(kind, undefined, async (ws) => {
      const bytes = shape(name);
      const { run, ack } = await when(ws, bytes, 'p3.hl7');
      expect(run.code).toBe(1);
      expectAck(ack, bytes.toString('latin1'), { code: 'AE', errors: [['MRG^1^1', 204, 'E']] });
      expect(await ws.patients()).toEqual([]);
    });
  });
});

describe.each(dbKinds())('docs/behaviour.md A47 INS deletion, authority spellings, on %s', (kind) => {
  it.concurrent.each(a47AndAuthorities.map((r) => [r.rule, r] as const))('%s', async (_rule, row) => {
    const ws = await makeWorkspace(kind, row.config ? { config: row.config } : {});
    try {
      await given(ws, row.given ?? []);
      const before = row.ack.code === 'AA' ? [] : await ws.patients();
      const { run, ack } = await when(ws, row.when);
      const details = expectAck(ack, row.when, row.ack);
      expect(run.code, run.stderr).toBe(row.ack.code === 'AA' ? 0 : 1);
      for (const [i, re] of (row.detail ?? []).entries()) expect(details[i]).toMatch(re);
      for (const d of details) expect(d).not.toMatch(/CASANOVA|BONAPARTE|DURAND|BENALI|MARIE|\d{15}/);
      if (row.ack.code !== 'AA') expect(await ws.patients(), 'nothing applied').toEqual(before);
      await row.then?.(ws);
      // The ACK property (validate --ack): every ACK of the row is well formed against its inbound message.
      expect((await checkLedgerAcks(ws.db)).problems).toEqual([]);
    } finally {
      await ws.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// MSH-7 instants, files without MSH, ACK names never replaced (docs/behaviour.md "Duplicates and order",
// "Files, framing and characters", "ACK files")

/** The night clocks go back (26 October 2025, Paris): 02:50 summer time is 00:50 UTC, 02:10 winter time 01:10 UTC. */
const BEFORE_CHANGE = edit(P82, { 'MSH-10': 'DST1', 'MSH-7': '20251026025000+0200', 'PID-5': 'ANCIEN^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' });
const AFTER_CHANGE = edit(P82, { 'MSH-10': 'DST2', 'MSH-7': '20251026021000+0100', 'PID-5': 'NOUVEAU^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' });
/** Envelope segments around a PID that no MSH frames. */
const NO_MSH = `FHS|^~\\&|GAM|CHEX\rEVN||20250312101500\r${P81.split('\r').find((s) => s.startsWith('PID|'))!}\rFTS|1\r`;

/** Imports `content` as `<name>` (a file with no MSH: no ACK to look up) and returns the run and its JSON report. */
async function importOnly(ws: Workspace, content: string, name: string) {
  ws.drop(name, content);
  const run = await ws.importFiles(name);
  return { run, report: JSON.parse(run.stdout) };
}

describe.each(dbKinds())('docs/behaviour.md: MSH-7 instants, files without MSH, ACK files never replaced (%s)', (kind) => {
  it.concurrent('order "timestamp" sorts by the MSH-7 instant, offsets honoured: the night clocks go back, 02:50+0200 comes before 02:10+0100 (staleUpdates "apply")', async () => {
    await onSite(kind, { order: 'timestamp', staleUpdates: 'apply' }, async (ws) => {
      await given(ws, [P81]);
      // File order (and digit order) would apply the newer message first and let the older overwrite it.
      const { run, report } = await when(ws, AFTER_CHANGE + BEFORE_CHANGE);
      expect(run.code).toBe(0);
      expect(summaryOf(report)).toMatchObject({ AA: 2, stale: 0 });
      const p = await ws.patient('100234');
      expect(p.history.map((h: any) => h.controlId)).toEqual(['GAM000101', 'DST1', 'DST2']);
      expect(p.usedName).toBe('NOUVEAU');
    });
  });

  it.concurrent('order "timestamp" with the stale guard: both messages of the night apply in instant order, none is stale', async () => {
    await onSite(kind, { order: 'timestamp' }, async (ws) => {
      await given(ws, [P81]);
      const { run, report } = await when(ws, AFTER_CHANGE + BEFORE_CHANGE);
      expect(run.code).toBe(0);
      expect(summaryOf(report)).toMatchObject({ AA: 2, stale: 0 });
      expect((await ws.patient('100234')).usedName).toBe('NOUVEAU');
    });
  });

  it.concurrent('the stale rule compares the same instants: 02:50+0200 after 02:10+0100 is stale', async () => {
    await onSite(kind, undefined, async (ws) => {
      await given(ws, [P81, AFTER_CHANGE]);
      const { run, report, ack } = await when(ws, BEFORE_CHANGE);
      expect(run.code).toBe(0);
      expect(summaryOf(report)).toMatchObject({ AA: 1, stale: 1 });
      const [detail] = expectAck(ack, BEFORE_CHANGE, { code: 'AA', errors: [['', 0, 'W']] });
      expect(detail).toMatch(/stale/);
      expect((await ws.patient('100234')).usedName).toBe('NOUVEAU');
    });
  });

  it.concurrent('a file of HL7 segments without MSH (FHS, EVN, PID, FTS) is quarantined with a reason, nothing applied, exit 1', async () => {
    await onSite(kind, undefined, async (ws) => {
      const { run, report } = await importOnly(ws, NO_MSH, 'nomsh.hl7');
      expect(run.code).toBe(1);
      expect(report.files[0]).toMatchObject({ state: 'quarantined', reason: expect.stringMatching(/^HL7 segments but no MSH/) });
      expect(ws.quarantined()).toEqual(['nomsh.hl7', 'nomsh.hl7.reason.txt']);
      expect(readFileSync(join(ws.error, 'nomsh.hl7.reason.txt'), 'utf8')).toMatch(/HL7 segments but no MSH: segment before the first MSH \(2 lines\) at line 2/);
      expect(ws.archived()).toEqual([]);
      expect([...ws.acks().keys()]).toEqual([]);
      expect(await ws.patients()).toEqual([]);
    });
  });

  it.concurrent.each([
    ['FHS/BHS, BTS-1 = 0, FTS-1 = 1', 'FHS|^~\\&|GAM|CHEX\rBHS|^~\\&|GAM|CHEX\rBTS|0\rFTS|1\r'],
    ['BHS, BTS-1 = 0 (no file header)', 'BHS|^~\\&|GAM|CHEX\rBTS|0\r'],
    ['FHS, FTS-1 = 0 (no batch)', 'FHS|^~\\&|GAM|CHEX\rFTS|0\r'],
  ])('an explicit empty batch (%s) is archived as done, exit 0, no ACK', async (_what, content) => {
    await onSite(kind, undefined, async (ws) => {
      const { run, report } = await importOnly(ws, content, 'empty.hl7');
      expect(run.code).toBe(0);
      expect(report.files[0]).toMatchObject({ state: 'done', summary: { messages: 0 } });
      expect(ws.archived()).toHaveLength(1);
      expect(ws.quarantined()).toEqual([]);
      expect([...ws.acks().keys()]).toEqual([]);
    });
  });

  it.concurrent('an envelope without messages that does not state its counts (BTS-1, FTS-1 empty) is quarantined', async () => {
    await onSite(kind, undefined, async (ws) => {
      const { run, report } = await importOnly(ws, 'FHS|^~\\&|GAM|CHEX\rBHS|^~\\&|GAM|CHEX\rBTS\rFTS\r', 'unstated.hl7');
      expect(run.code).toBe(1);
      expect(report.files[0]).toMatchObject({ state: 'quarantined', reason: expect.stringMatching(/does not state an empty batch/) });
      expect(ws.quarantined()).toEqual(['unstated.hl7', 'unstated.hl7.reason.txt']);
    });
  });

  it.concurrent('an ACK file is never replaced by different bytes: the same base name and MSH-10 again gets <base>.<MSH-10>.2.ack.hl7, then .3', async () => {
    await onSite(kind, undefined, async (ws) => {
      const first = await when(ws, P81, 'adt.hl7');
      expect(first.run.code).toBe(0);
      const original = ws.acks().get('adt.GAM000101.ack.hl7')!;
      // Another facility's counter gives the same MSH-10: another message, another ACK.
      const second = edit(P82, { 'MSH-4': 'CHEY', 'MSH-10': 'GAM000101' });
      const third = edit(P82, { 'MSH-4': 'CHEZ', 'MSH-10': 'GAM000101', 'MSH-7': '20250321000000' });
      expect((await when(ws, second, 'adt.hl7')).run.code).toBe(0);
      expect((await when(ws, third, 'adt.hl7')).run.code).toBe(0);
      const acks = ws.acks();
      expect([...acks.keys()]).toEqual(['adt.GAM000101.2.ack.hl7', 'adt.GAM000101.3.ack.hl7', 'adt.GAM000101.ack.hl7']);
      expect(acks.get('adt.GAM000101.ack.hl7')!.equals(original)).toBe(true);
      expectAck(acks.get('adt.GAM000101.2.ack.hl7'), second, { code: 'AA' });
      expectAck(acks.get('adt.GAM000101.3.ack.hl7'), third, { code: 'AA' });
    });
  });

  it.concurrent('identical ACK bytes (a replay) are rewritten in place; once the sender fetched an ACK, its name is free again', async () => {
    await onSite(kind, undefined, async (ws) => {
      await when(ws, P81, 'adt.hl7');
      const original = ws.acks().get('adt.GAM000101.ack.hl7')!;
      const replay = await when(ws, P81, 'adt.hl7');
      expect(summaryOf(replay.report)).toMatchObject({ duplicates: 1 });
      expect([...ws.acks().keys()]).toEqual(['adt.GAM000101.ack.hl7']);
      expect(ws.acks().get('adt.GAM000101.ack.hl7')!.equals(original)).toBe(true);
      // Fetched (removed by the sender): the next ACK of that name takes the plain name.
      rmSync(join(ws.outbox, 'adt.GAM000101.ack.hl7'));
      const other = edit(P82, { 'MSH-4': 'CHEY', 'MSH-10': 'GAM000101' });
      await when(ws, other, 'adt.hl7');
      expect([...ws.acks().keys()]).toEqual(['adt.GAM000101.ack.hl7']);
      expectAck(ws.acks().get('adt.GAM000101.ack.hl7'), other, { code: 'AA' });
    });
  });
});

describe.each(dbKinds())('docs/behaviour.md: MSH-7 without an offset is the importer\'s local time (%s)', (kind) => {
  // Pinned to a zone with daylight saving time; the CLI runs in-process, so it reads the same TZ.
  afterEach(() => { vi.unstubAllEnvs(); });

  it('order "timestamp": 01:30 local (Paris, summer time: 23:30 UTC the day before) comes before 00:00+0000', async () => {
    vi.stubEnv('TZ', 'Europe/Paris');
    await onSite(kind, { order: 'timestamp', staleUpdates: 'apply' }, async (ws) => {
      await given(ws, [P81]);
      const local = edit(P82, { 'MSH-10': 'LOC1', 'MSH-7': '20251026013000', 'PID-5': 'ANCIEN^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' });
      const utc = edit(P82, { 'MSH-10': 'UTC1', 'MSH-7': '20251026000000+0000', 'PID-5': 'NOUVEAU^MARIE^^^Mme^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L' });
      const { run } = await when(ws, utc + local);
      expect(run.code).toBe(0);
      const p = await ws.patient('100234');
      expect(p.history.map((h: any) => h.controlId)).toEqual(['GAM000101', 'LOC1', 'UTC1']);
      expect(p.usedName).toBe('NOUVEAU');
    });
  });
});
