/**
 * Test program — `preview` and `reconcile` say what `import` does, message by message, on every fixture of
 * test/fixtures/hl7 and on messages whose reading fails early (undecodable bytes, an unreadable MSH, an oversized
 * message, a reused MSH-10, an event a snapshot does not hold). Both read messages through the importer's reader
 * (pipeline/reading.ts): preview runs the pipeline itself, reconcile calls `readMessage`.
 *
 * On a fresh store (SQLite and PostgreSQL), for each file: preview it, reconcile it as a snapshot, then import it.
 * - preview = import: the file's verdict (done / quarantined, reason) and, per message, position, control id,
 *   outcome, status and every ERR of the ACK;
 * - reconcile lists a message as invalid exactly when import refuses it before the store, with import's outcome
 *   and first error code; it lists as "not an A28/A31" only messages import accepts. What only the store knows
 *   (AE 204 unknown record, AE 205 identity collision, a key already seen in the file) is not a refusal of the reader.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load.js';
import { processFile } from '../../src/pipeline/process-file.js';
import { previewFiles } from '../../src/ops/preview.js';
import { reconcile } from '../../src/ops/reconcile.js';
import { readAck } from '../../src/ops/ack-read.js';
import { messagesOfFile } from '../../src/store/ledger.js';
import { createLogger } from '../../src/shared/logger.js';
import { fixedClock } from '../../src/shared/clock.js';
import { A28_CREATE, A31_UPDATE } from '../fixtures/examples.js';
import { dbKinds, openTestDb } from '../helpers/db.js';
import { agreeCases, EARLY_FAILURES, STORE_ONLY_CODES } from './agree-cases.js';

const NOW = '2026-03-01T10:00:00.000Z';

/** A message over the cap of 2048 bytes set below, beside one under it. */
const OVERSIZED: [string, Buffer] = ['oversized.hl7', Buffer.from(A28_CREATE.replace('CASANOVA', 'C'.repeat(3000)) + A31_UPDATE, 'latin1')];
const cases = () => agreeCases([OVERSIZED]);
const EXTRA = [...EARLY_FAILURES, OVERSIZED];

let work: string;
beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'pamdrop-readers-agree-')); });
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(dbKinds())('preview and reconcile agree with import (%s)', (kind) => {
  it.each(cases())('%s', async (name, bytes) => {
    const root = mkdtempSync(join(work, `${kind}-`));
    for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d));
    const path = join(root, 'inbox', name);
    writeFileSync(path, bytes);
    // A small message cap so that oversized.hl7 has one message over it (and only that one).
    const config = resolveConfig({ maxMessageBytes: 2048 }, root);
    const log = createLogger({ level: 'silent' });
    const clock = fixedClock(NOW);

    const t = await openTestDb(kind);
    try {
      const [preview] = await previewFiles([path], { db: t.db, config, log, clock });
      const snapshot = await reconcile(t.db, path, config, clock.now());
      const report = await processFile({ source: 'local', path, ackDir: join(root, 'outbox'), archiveDir: join(root, 'archive'), errorDir: join(root, 'archive', 'error') },
        { db: t.db, config, log, clock, owner: 'test:readers-agree' });

      expect({ state: preview!.state, reason: preview!.reason }, 'file verdict').toEqual({ state: report.state, reason: report.reason });
      const rows = report.fileId === null ? [] : await messagesOfFile(t.db, report.fileId);
      expect(preview!.messages, 'preview: message by message').toEqual(rows.map((r) => expect.objectContaining({
        position: Number(r.idx) + 1, controlId: r.control_id, outcome: r.outcome, status: r.status, findings: readAck(Buffer.from(r.ack)).findings,
      })));
      if (report.state === 'quarantined') return;

      expect(snapshot.counts.snapshotMessages, 'reconcile reads every message').toBe(rows.length);
      const item = (position: number) => snapshot.items.find((i) => i.position === position && (i.kind === 'invalid-in-snapshot' || i.kind === 'ignored-in-snapshot'));
      for (const r of rows) {
        const position = Number(r.idx) + 1;
        const code = r.error_code === null ? null : Number(r.error_code);
        // What the reader alone decides: an AE/AR that is not the store's (unknown record, collision, reused key).
        const refusedByReader = r.outcome !== 'AA' && !(code !== null && STORE_ONLY_CODES.has(code)) && r.status !== 'duplicate' && r.status !== 'conflict';
        const it = item(position);
        if (refusedByReader) {
          expect(it?.kind, `message ${position} (${r.control_id}): import says ${r.outcome} ${code}`).toBe('invalid-in-snapshot');
          expect(it!.detail, `message ${position}`).toMatch(new RegExp(`^${r.outcome} ${code}\\b`));
        } else if (r.status !== 'duplicate' && r.status !== 'conflict') {
          expect(it?.kind ?? 'read', `message ${position} (${r.control_id}): import says ${r.outcome} ${code ?? ''}`).not.toBe('invalid-in-snapshot');
        }
      }
    } finally {
      await t.cleanup();
    }
  });
});

describe('the cases above say what they are meant to', () => {
  it('reconcile: undecodable → AE, unreadable MSH → AR, oversized → AE, an A08 → AR, the rest read', async () => {
    const t = await openTestDb('sqlite');
    const root = mkdtempSync(join(work, 'meant-'));
    try {
      const config = resolveConfig({ maxMessageBytes: 2048 }, root);
      const kinds = async (name: string) => {
        const path = join(root, name);
        writeFileSync(path, EXTRA.find(([n]) => n === name)![1]);
        const r = await reconcile(t.db, path, config, new Date(NOW));
        return r.items.filter((i) => i.kind.endsWith('-in-snapshot') && i.kind !== 'missing-in-snapshot')
          .map((i) => `${i.position} ${i.kind} ${i.detail?.split(':')[0]}`);
      };
      expect(await kinds('undecodable.hl7')).toEqual([expect.stringMatching(/^1 invalid-in-snapshot AE \d+/)]);
      expect(await kinds('unreadable-msh.hl7')).toEqual([expect.stringMatching(/^1 invalid-in-snapshot AR \d+/)]);
      expect(await kinds('oversized.hl7')).toEqual([expect.stringMatching(/^1 invalid-in-snapshot AE \d+ MSH/)]);
      expect(await kinds('reused-msh10.hl7')).toEqual([expect.stringMatching(/^4 invalid-in-snapshot AR 201 MSH-9\.2/)]);
    } finally {
      await t.cleanup();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
