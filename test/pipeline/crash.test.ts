/**
 * Test program — crash consistency of `pamdrop import` (issue 2, part 4): the process is killed with SIGKILL
 * at each named step of the pipeline (PAMDROP_FAULT), then the same command is run again. The store (every
 * table), the ACK folder (bytes) and the archive must end exactly as after one clean run. The clock is pinned
 * (PAMDROP_FIXED_TIME) so that ACK timestamps are comparable.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';

const BIN = resolve('bin/pamdrop.js');
const FIXED = '2026-03-01T10:00:00.000Z';
let work: string;
let batch: string;
let broken: string;

function site(name: string): string {
  const root = join(work, name);
  for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'config.json'), JSON.stringify({ groupSize: 100, database: 'data/pamdrop.sqlite' }));
  copyFileSync(batch, join(root, 'inbox', 'adt_001.hl7'));
  copyFileSync(broken, join(root, 'inbox', 'adt_002.hl7'));
  return root;
}

function pamdropImport(root: string, fault?: string) {
  return spawnSync(process.execPath, [BIN, '--config', join(root, 'config.json'), '--log-level', 'silent', 'import',
    join(root, 'inbox', 'adt_001.hl7'), join(root, 'inbox', 'adt_002.hl7'),
    '--ack-dir', join(root, 'outbox'), '--archive-dir', join(root, 'archive'), '--error-dir', join(root, 'archive', 'error')], {
    cwd: root, encoding: 'utf8', env: { ...process.env, PAMDROP_FIXED_TIME: FIXED, ...(fault ? { PAMDROP_FAULT: fault } : {}) },
  });
}

let clean: Record<string, unknown>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pamdrop-crash-'));
  batch = join(work, 'batch.hl7');
  await generateFile(batch, { messages: 450, seed: 7, envelope: false });
  broken = join(work, 'broken.hl7');
  // Envelope with a wrong BTS-1: quarantined whole.
  writeFileSync(broken, 'BHS|^~\\&|GAM|CHEX\rMSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101||ADT^A28^ADT_A05|X1|P|2.5\rPID|1||9^^^CHEX&1.2.3&ISO^PI\rBTS|2\r');
  const root = site('clean');
  const r = pamdropImport(root);
  expect(r.status, r.stderr).toBe(1); // the quarantined file makes the run exit 1
  clean = await dumpSite(root, join(root, 'data', 'pamdrop.sqlite'));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('SIGKILL at a pipeline step, then rerun', () => {
  it.each([
    'after-claim:1', 'after-commit:1', 'after-commit:3', 'after-acks:2', 'after-acks:5',
    'before-archive:1', 'after-archive-mark:1', 'before-quarantine-move:1',
  ])('%s ends as one clean run', async (fault) => {
    const root = site(`crash-${fault.replace(':', '-')}`);
    const killed = pamdropImport(root, fault);
    expect(killed.signal).toBe('SIGKILL');
    const rerun = pamdropImport(root);
    expect(rerun.status, rerun.stderr).toBe(1);
    const after = await dumpSite(root, join(root, 'data', 'pamdrop.sqlite'));
    expect(after).toEqual(clean);
  }, 60_000);

  it('the clean run really applied, acknowledged and archived the batch', () => {
    expect(Object.keys(clean.outbox as object)).toHaveLength(450);
    expect(Object.keys(clean.archive as object)).toEqual(['archive/2026/03/01/adt_001.hl7', 'archive/error/adt_002.hl7', 'archive/error/adt_002.hl7.reason.txt']);
    expect((clean.messages as unknown[]).length).toBe(450);
    expect(clean.inbox).toEqual({});
  });
});
