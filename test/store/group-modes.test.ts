/**
 * Group processing leaves exactly what one message per transaction leaves: the same store (every table), the same ACK
 * files and the same totals, over the whole decisions matrix (test/pipeline/decision-cases.ts, replayed as files) and
 * over a 20,000-message generated batch (bench/generate.ts).
 * - PostgreSQL: pgGroupMode "batched" (the unit of work of src/store/pg/) against "per-message".
 * - SQLite: groupSize 2000 (7 for the matrix) against groupSize 1; for the 20,000 messages against groupSize 50, as
 *   20,000 one-message groups are 20,000 synced commits and ACK batches (over ten minutes on a small machine).
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../../bench/generate.js';
import { main } from '../../src/cli/main.js';
import { openDb } from '../../src/store/db.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds, makeTarget, type DbKind } from '../helpers/db.js';
import { DECISION_ROWS } from '../pipeline/decision-cases.js';

type Mode = 'group' | 'single';

/** The config of each mode on each database. */
function config(kind: DbKind, mode: Mode, groupSize: number, single: number): object {
  if (kind === 'pg') return { groupSize, pgGroupMode: mode === 'group' ? 'batched' : 'per-message' };
  return { groupSize: mode === 'group' ? groupSize : single };
}

/** Imports the files in order on a fresh site; returns the totals of each run, the patient ids and the dumped site. */
async function run(kind: DbKind, mode: Mode, files: ReadonlyArray<string | Buffer>, groupSize: number, single: number) {
  const root = mkdtempSync(join(tmpdir(), 'pamdrop-modes-'));
  const t = makeTarget(kind);
  const time = process.env.PAMDROP_FIXED_TIME;
  process.env.PAMDROP_FIXED_TIME = '2026-01-02T03:04:05.000Z';
  try {
    for (const d of ['inbox', 'outbox', 'archive', 'error']) mkdirSync(join(root, d));
    writeFileSync(join(root, 'config.json'), JSON.stringify(config(kind, mode, groupSize, single)));
    const totals: unknown[] = [];
    for (const [i, f] of files.entries()) {
      const p = join(root, 'inbox', `adt_${i}.hl7`);
      writeFileSync(p, typeof f === 'string' ? Buffer.from(f, 'latin1') : f);
      let out = '';
      await main(['--config', join(root, 'config.json'), '--db', t.target, '--log-level', 'silent', '--json', 'import', p,
        '--ack-dir', join(root, 'outbox'), '--archive-dir', join(root, 'archive'), '--error-dir', join(root, 'error')], (x) => { out += x; });
      totals.push(JSON.parse(out).totals);
    }
    const db = await openDb(t.target);
    const ids = await db.all('SELECT id FROM patients ORDER BY id').finally(() => db.close());
    return { totals, ids, dump: await dumpSite(root, t.target) };
  } finally {
    if (time === undefined) delete process.env.PAMDROP_FIXED_TIME; else process.env.PAMDROP_FIXED_TIME = time;
    await t.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

/** `single`: SQLite's group size to compare with (PostgreSQL compares the modes at the same group size). */
async function expectSame(kind: DbKind, files: ReadonlyArray<string | Buffer>, groupSize: number, single = 1) {
  const group = await run(kind, 'group', files, groupSize, single);
  const plain = await run(kind, 'single', files, groupSize, single);
  expect(group.totals).toEqual(plain.totals);
  expect(group.ids).toEqual(plain.ids);
  expect(group.dump).toEqual(plain.dump);
  return group;
}

/** Every message of the matrix, row by row (its `given` messages, then the one under test). */
const matrix: string[] = DECISION_ROWS.flatMap(([, rows]) => rows.flatMap((r) => [...(r.given ?? []), r.when]));

describe.each(dbKinds())('group processing = one message per transaction (%s)', (kind) => {
  it('the decisions matrix, replayed as one file then again as a second (duplicates), in groups of 7', async () => {
    expect(matrix.length).toBeGreaterThan(150);
    const g = await expectSame(kind, [matrix.join(''), matrix.join('')], 7);
    const [first, second] = g.totals as Array<Record<string, number>>;
    // The matrix reuses MSH-10s on purpose: applied, rejected, duplicates and conflicts all occur.
    expect(first!.AA).toBeGreaterThan(50);
    expect(first!.AE).toBeGreaterThan(10);
    expect(second!.duplicates).toBeGreaterThan(50);
  }, 300_000);

  it('a generated batch of 20,000 messages, in groups of 2000', async () => {
    const text = [...generate({ messages: 20_000, seed: 7, charset: 'latin9', envelope: false })].join('');
    const g = await expectSame(kind, [text], 2000, 50);
    expect((g.totals[0] as Record<string, number>).messages).toBe(20_000);
  }, 600_000);
});
