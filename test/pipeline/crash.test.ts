/**
 * Test program — crash consistency of `pamdrop import`: the process is killed with SIGKILL
 * at each named step of the pipeline (PAMDROP_FAULT), then the same command is run again. The store (every
 * table), the ACK folder (bytes) and the archive must end exactly as after one clean run. The clock is pinned
 * (PAMDROP_FIXED_TIME) so that ACK timestamps are comparable. Runs on SQLite and on PostgreSQL: the
 * dump (test/helpers/dump.ts) compares content, not row ids, and every site has its own database (a PostgreSQL
 * schema per site).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds } from '../helpers/db.js';
import { KillSites } from '../helpers/kill-site.js';

let work: string;
let batch: string;
let broken: string;

const sites = new KillSites(() => work, 100, () => ({ 'adt_001.hl7': batch, 'adt_002.hl7': broken }));
const site = sites.site.bind(sites);
const pamdropImport = sites.import.bind(sites);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pamdrop-crash-'));
  batch = join(work, 'batch.hl7');
  await generateFile(batch, { messages: 450, seed: 7, envelope: false });
  broken = join(work, 'broken.hl7');
  // Envelope with a wrong BTS-1: quarantined whole.
  writeFileSync(broken, 'BHS|^~\\&|GAM|CHEX\rMSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101||ADT^A28^ADT_A05|X1|P|2.5\rPID|1||9^^^CHEX&1.2.3&ISO^PI\rBTS|2\r');
}, 120_000);

afterAll(async () => {
  await sites.dispose();
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
