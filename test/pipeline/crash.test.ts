/**
 * Test program — crash consistency of `pamdrop import`: the process is killed with SIGKILL
 * at each named step of the pipeline (PAMDROP_FAULT), then the same command is run again. The store (every
 * table), the ACK folder (bytes) and the archive must end exactly as after one clean run. The clock is pinned
 * (PAMDROP_FIXED_TIME) so that ACK timestamps are comparable. Runs on SQLite and on PostgreSQL: the
 * dump (test/helpers/dump.ts) compares content, not row ids, and every site has its own database (a PostgreSQL
 * schema per site).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds, makeTarget, type DbKind } from '../helpers/db.js';

const BIN = resolve('bin/pamdrop.js');
const FIXED = '2026-03-01T10:00:00.000Z';
let work: string;
let batch: string;
let broken: string;

const disposers: Array<() => Promise<void>> = [];

/** A site (folders, config) with its own database of `kind`; `db` is the --db target of dumpSite. */
function site(kind: DbKind, name: string): { root: string; db: string } {
  const root = join(work, kind, name);
  for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d), { recursive: true });
  const target = kind === 'sqlite' ? { target: join(root, 'data', 'pamdrop.sqlite'), dispose: async () => {} } : makeTarget(kind);
  disposers.push(target.dispose);
  writeFileSync(join(root, 'config.json'), JSON.stringify({ groupSize: 100, database: target.target }));
  copyFileSync(batch, join(root, 'inbox', 'adt_001.hl7'));
  copyFileSync(broken, join(root, 'inbox', 'adt_002.hl7'));
  return { root, db: target.target };
}

function pamdropImport(root: string, fault?: string) {
  return spawnSync(process.execPath, [BIN, '--config', join(root, 'config.json'), '--log-level', 'silent', 'import',
    join(root, 'inbox', 'adt_001.hl7'), join(root, 'inbox', 'adt_002.hl7'),
    '--ack-dir', join(root, 'outbox'), '--archive-dir', join(root, 'archive'), '--error-dir', join(root, 'archive', 'error')], {
    cwd: root, encoding: 'utf8', env: { ...process.env, PAMDROP_FIXED_TIME: FIXED, ...(fault ? { PAMDROP_FAULT: fault } : {}) },
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pamdrop-crash-'));
  batch = join(work, 'batch.hl7');
  await generateFile(batch, { messages: 450, seed: 7, envelope: false });
  broken = join(work, 'broken.hl7');
  // Envelope with a wrong BTS-1: quarantined whole.
  writeFileSync(broken, 'BHS|^~\\&|GAM|CHEX\rMSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101||ADT^A28^ADT_A05|X1|P|2.5\rPID|1||9^^^CHEX&1.2.3&ISO^PI\rBTS|2\r');
}, 120_000);

afterAll(async () => {
  for (const d of disposers) await d();
  rmSync(work, { recursive: true, force: true });
});

describe.each(dbKinds())('SIGKILL at a pipeline step, then rerun (%s)', (kind) => {
  let clean: Record<string, unknown>;
  beforeAll(async () => {
    const s = site(kind, 'clean');
    const r = pamdropImport(s.root);
    expect(r.status, r.stderr).toBe(1); // the quarantined file makes the run exit 1
    clean = await dumpSite(s.root, s.db);
  }, 120_000);

  it.each([
    'after-claim:1', 'after-commit:1', 'after-commit:3', 'after-acks:2', 'after-acks:5',
    'before-archive:1', 'after-archive-mark:1', 'before-quarantine-move:1',
  ])('%s ends as one clean run', async (fault) => {
    const s = site(kind, `crash-${fault.replace(':', '-')}`);
    const killed = pamdropImport(s.root, fault);
    expect(killed.signal).toBe('SIGKILL');
    const rerun = pamdropImport(s.root);
    expect(rerun.status, rerun.stderr).toBe(1);
    const after = await dumpSite(s.root, s.db);
    expect(after).toEqual(clean);
  }, 60_000);

  it('the clean run really applied, acknowledged and archived the batch', () => {
    expect(Object.keys(clean.outbox as object)).toHaveLength(450);
    expect(Object.keys(clean.archive as object)).toEqual(['archive/2026/03/01/adt_001.hl7', 'archive/error/adt_002.hl7', 'archive/error/adt_002.hl7.reason.txt']);
    expect((clean.messages as unknown[]).length).toBe(450);
    expect(clean.inbox).toEqual({});
  });
});
