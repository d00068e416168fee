/**
 * Test program — `validate` and `import` agree on every file (docs/behaviour.md "Files, framing and characters").
 * Both read through the importer's own reading (src/pipeline/reading.ts); this suite runs the two over the same
 * bytes and compares:
 *   - the file: processed (archived as done) or quarantined, and the quarantine reason;
 *   - each message, in file order: the answer (AA / AE / AR) and its control id. The only difference allowed is what
 *     only the store can know, and validate says "offline": a message validate accepts may get AE 204 (unknown or
 *     retired record) or AE 205 (identity collision) from the store.
 * Files: every fixture of test/fixtures/hl7, plus the cases the two used to disagree on — a file of segments without
 * MSH, explicit empty batches (and one that does not state its counts) — and messages whose reading fails early
 * (undecodable bytes, an unreadable MSH, a reused MSH-10 in one file). Every import runs on SQLite and PostgreSQL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load.js';
import { processFile } from '../../src/pipeline/process-file.js';
import { validateBuffer } from '../../src/ops/validate.js';
import { messagesOfFile } from '../../src/store/ledger.js';
import { createLogger } from '../../src/shared/logger.js';
import { fixedClock } from '../../src/shared/clock.js';
import { dbKinds, openTestDb } from '../helpers/db.js';
import { agreeCases, EARLY_FAILURES, STORE_ONLY_CODES } from './agree-cases.js';

/** The cases beyond the fixtures and the early failures: envelopes and files without a message. */
const EXTRA: Array<[string, Buffer]> = [
  ['segments-without-msh.hl7', Buffer.from('FHS|^~\\&|GAM|CHEX\rEVN||20250312101500\rPID|1||100234^^^CHEX&1.2.250.1.999999.1&ISO^PI||CASANOVA^MARIE\rFTS|1\r', 'latin1')],
  ['pid-alone.hl7', Buffer.from('PID|1||100234^^^CHEX&1.2.250.1.999999.1&ISO^PI||CASANOVA^MARIE\r', 'latin1')],
  ['empty-batch.hl7', Buffer.from('FHS|^~\\&|GAM|CHEX\rBHS|^~\\&|GAM|CHEX\rBTS|0\rFTS|1\r', 'latin1')],
  ['empty-batch-bare.hl7', Buffer.from('BHS|^~\\&|GAM|CHEX\rBTS|0\r', 'latin1')],
  ['empty-file-envelope.hl7', Buffer.from('FHS|^~\\&|GAM|CHEX\rFTS|0\r', 'latin1')],
  ['empty-batch-unstated.hl7', Buffer.from('FHS|^~\\&|GAM|CHEX\rBHS|^~\\&|GAM|CHEX\rBTS\rFTS\r', 'latin1')],
  ['empty.hl7', Buffer.alloc(0)],
];
const cases = () => agreeCases(EXTRA);
const byName = (name: string): Buffer => [...EARLY_FAILURES, ...EXTRA].find(([n]) => n === name)![1];

let work: string;
beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'pamdrop-agree-')); });
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(dbKinds())('validate and import agree on every file (%s)', (kind) => {
  it.each(cases())('%s', async (name, bytes) => {
    const root = mkdtempSync(join(work, `${kind}-`));
    for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d));
    const path = join(root, 'inbox', name);
    writeFileSync(path, bytes);
    const config = resolveConfig({}, root);

    const v = validateBuffer(bytes, name, path, config);

    const t = await openTestDb(kind);
    try {
      const report = await processFile({ source: 'local', path, ackDir: join(root, 'outbox'), archiveDir: join(root, 'archive'), errorDir: join(root, 'archive', 'error') },
        { db: t.db, config, log: createLogger({ level: 'silent' }), clock: fixedClock('2026-03-01T10:00:00.000Z'), owner: 'test:agree' });
      expect({ outcome: v.outcome, reason: v.reason }, 'file verdict').toEqual({ outcome: report.state, reason: report.reason });
      if (report.state === 'quarantined') {
        expect(v.errors, 'validate reports the quarantine as an error').toBeGreaterThan(0);
        return;
      }
      const rows = await messagesOfFile(t.db, report.fileId!);
      expect(v.messages.map((m) => m.position - 1), 'one summary per message').toEqual(rows.map((r) => Number(r.idx)));
      for (const [i, row] of rows.entries()) {
        const m = v.messages[i]!;
        const storeOnly = m.outcome === 'AA' && row.outcome === 'AE' && STORE_ONLY_CODES.has(Number(row.error_code));
        expect(storeOnly ? 'AA (store: AE 204/205)' : row.outcome, `message ${i + 1} (${row.control_id})`).toBe(storeOnly ? 'AA (store: AE 204/205)' : m.outcome);
        if (m.controlId !== null) expect(m.controlId).toBe(row.control_id);
      }
    } finally {
      await t.cleanup();
    }
  });
});

describe('the cases above say what they are meant to', () => {
  const config = resolveConfig({}, tmpdir());
  const verdictOf = (name: string) => {
    const bytes = byName(name);
    const v = validateBuffer(bytes, name, name, config);
    return { outcome: v.outcome, reason: v.reason, outcomes: v.messages.map((m) => m.outcome) };
  };

  it.each([
    ['segments-without-msh.hl7', 'quarantined', /^HL7 segments but no MSH: segment before the first MSH \(2 lines\) at line 2/],
    ['pid-alone.hl7', 'quarantined', /^no HL7 message in the file \(no MSH segment\): segment before the first MSH at line 1/],
    ['empty-batch-unstated.hl7', 'quarantined', /does not state an empty batch/],
    ['empty.hl7', 'quarantined', /empty file/],
  ] as const)('%s → %s', (name, outcome, reason) => {
    const v = verdictOf(name);
    expect(v.outcome).toBe(outcome);
    expect(v.reason).toMatch(reason);
  });

  it.each(['empty-batch.hl7', 'empty-batch-bare.hl7', 'empty-file-envelope.hl7'])('%s → an explicit empty batch: done, no error', (name) => {
    const bytes = byName(name);
    const v = validateBuffer(bytes, name, name, config);
    expect({ outcome: v.outcome, reason: v.reason, errors: v.errors, messages: v.messages }).toEqual({ outcome: 'done', reason: null, errors: 0, messages: [] });
  });

  it('messages read early: undecodable → AE, unreadable MSH → AR, reused MSH-10 → duplicate (AA) then AE 205 whatever the message', () => {
    expect(verdictOf('undecodable.hl7').outcomes).toEqual(['AE']);
    expect(verdictOf('unreadable-msh.hl7').outcomes).toEqual(['AR', 'AA']);
    expect(verdictOf('reused-msh10.hl7').outcomes).toEqual(['AA', 'AA', 'AE', 'AR']);
  });
});
