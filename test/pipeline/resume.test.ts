/**
 * Test program — resuming a file after a kill rewrites only the ACK files not known to be durable.
 * `pamdrop import` of a 450-message file in groups of 50 is killed (SIGKILL, PAMDROP_FAULT) right after the 5th
 * group's commit; the ledger then counts the ACK files already synced (`files.acks_durable`). One of those is taken
 * away as a sender fetching it would. The rerun must end as one clean run (store, archive, every other ACK byte for
 * byte), leave every confirmed ACK file untouched (same inode and mtime), not recreate the fetched one, and rewrite
 * no more than the last two groups' ACK files. Runs on SQLite and PostgreSQL. Speed is measured by `npm run bench`
 * (resume stage), never here.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds } from '../helpers/db.js';
import { KillSites } from '../helpers/kill-site.js';
import { openDb } from '../../src/store/db.js';

const GROUP = 50;
let work: string;
let batch: string;

const sites = new KillSites(() => work, GROUP, () => ({ 'adt_001.hl7': batch }));
const site = sites.site.bind(sites);
const pamdropImport = sites.import.bind(sites);

/** ACK names of the file's message rows in ledger order, and the ledger's count of durable ones. */
async function ledger(db: string): Promise<{ names: string[]; durable: number }> {
  const store = await openDb(db);
  try {
    const names = (await store.all<{ ack_name: string }>('SELECT ack_name FROM messages ORDER BY id')).map((r) => r.ack_name);
    const f = await store.get<{ acks_durable: number | null }>('SELECT acks_durable FROM files');
    return { names, durable: Number(f?.acks_durable ?? 0) };
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pamdrop-resume-'));
  batch = join(work, 'batch.hl7');
  await generateFile(batch, { messages: 450, seed: 11, envelope: false });
}, 120_000);

afterAll(async () => {
  await sites.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe.each(dbKinds())('resume after a kill (%s)', (kind) => {
  let clean: Record<string, unknown>;
  let cleanCode: number | null;
  beforeAll(async () => {
    const s = site(kind, 'clean');
    cleanCode = pamdropImport(s.root).status;
    clean = await dumpSite(s.root, s.db);
  }, 120_000);

  it('rewrites only the unconfirmed groups\' ACK files; confirmed ones untouched, a fetched one not recreated', async () => {
    const s = site(kind, 'killed');
    expect(pamdropImport(s.root, 'after-commit:5').signal).toBe('SIGKILL');

    const before = await ledger(s.db);
    expect(before.names).toHaveLength(5 * GROUP);
    // Groups 1–3 were synced and counted by the time group 5 committed; group 4's batch was in flight, group 5's not written.
    expect(before.durable).toBe(3 * GROUP);
    const outbox = join(s.root, 'outbox');
    const confirmed = before.names.slice(0, before.durable);
    const fetched = confirmed[7]!;
    unlinkSync(join(outbox, fetched));
    const stamp = new Map(confirmed.filter((n) => n !== fetched).map((n) => {
      const st = statSync(join(outbox, n));
      return [n, `${st.ino}:${st.mtimeMs}`] as const;
    }));

    const rerun = pamdropImport(s.root);
    expect(rerun.status, rerun.stderr).toBe(cleanCode);

    for (const [n, st] of stamp) {
      const now = statSync(join(outbox, n));
      expect(`${now.ino}:${now.mtimeMs}`, n).toBe(st);
    }
    expect(existsSync(join(outbox, fetched))).toBe(false);
    // Everything else as after one clean run: every other ACK exactly once with the same bytes, each message applied once.
    const after = await dumpSite(s.root, s.db);
    const cleanOutbox = { ...(clean.outbox as Record<string, string>) };
    delete cleanOutbox[`outbox/${fetched}`];
    expect(after.outbox).toEqual(cleanOutbox);
    expect({ ...after, outbox: null }).toEqual({ ...clean, outbox: null });
    expect((after.messages as unknown[]).length).toBe(450);
  }, 120_000);
});
