/**
 * Test program — several importer instances on one feed, PostgreSQL only (with
 * PAMDROP_TEST_REQUIRE_PG=1 a missing server fails instead of skipping).
 *
 * Three `pamdrop watch` processes share one inbox folder (a subfolder per source), one ACK folder, one archive and
 * one PostgreSQL store. 300 generated files are dropped; one instance SIGKILLs itself in the middle of a file
 * (PAMDROP_FAULT=after-commit:n: a group committed, its ACK files not written). The survivors take its lease over
 * (dead pid on this host), resume its claimed file and finish the feed. Then:
 * - every message applied exactly once: one ledger row per (file, position), no duplicate or conflict, the same
 *   outcomes, patients, identifiers, INS and history as a single-instance clean import of the same files;
 * - every ACK written once (ACK count = message count, no temporary file left);
 * - every file archived once (300 in the archive, inbox empty, one done ledger row per file).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dbKinds, makeTarget } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { makeFeed, type FeedFile } from './feed.js';

const BIN = resolve('bin/pamdrop.js');
const hasPg = dbKinds().includes('pg');
const SOURCES = ['a', 'b', 'c'];
const FILES = 300;

/** Files under `dir`, recursively (relative paths). */
function walk(dir: string, base = dir): string[] {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, base)); else out.push(p.slice(base.length + 1));
  }
  return out.sort();
}

/** What must not depend on how the work was spread: identities, history and outcomes, without ids and times. */
async function snapshot(target: string) {
  const db = await openDb(target);
  try {
    const count = async (t: string) => Number((await db.get<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${t}`))!.n);
    return {
      counts: { patients: await count('patients'), identifiers: await count('identifiers'), ins: await count('ins'), history: await count('history'),
        links: await count('links'), messages: await count('messages') },
      identities: await db.all(`SELECT i.auth_key, i.value, i.type, p.active, p.status, p.attributes, p.birth_name, p.first_name,
          p.birth_given_names, p.used_name, p.used_first_name, p.birth_date, p.sex, p.birth_place, p.names, p.addresses, p.other,
          (SELECT MIN(s.value) FROM identifiers s WHERE s.patient_id = p.merged_into AND s.type = 'PI') AS merged_into,
          (SELECT MIN(n.value) FROM ins n WHERE n.patient_id = p.id) AS ins
        FROM identifiers i JOIN patients p ON p.id = i.patient_id ORDER BY i.auth_key, i.value, i.type`),
      history: await db.all('SELECT control_id, event, message_time, changes FROM history ORDER BY control_id, id'),
      outcomes: await db.all(`SELECT f.name, m.idx, m.control_id, m.status, m.outcome, m.error_code, m.ack_name
        FROM messages m JOIN files f ON f.id = m.file_id ORDER BY f.name, m.idx`),
    };
  } finally {
    await db.close();
  }
}

interface Instance { child: ChildProcess; log: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

function startWatch(root: string, config: string, env: Record<string, string> = {}): Instance {
  const child = spawn(process.execPath, [BIN, '--config', config, '--log-level', 'info', 'watch'], {
    cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, log: () => log, exit };
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!hasPg)('three `watch` instances on one feed and one PostgreSQL store', () => {
  let work: string;
  let feed: FeedFile[];
  const targets: Array<{ target: string; dispose(): Promise<void> }> = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pamdrop-multi-'));
    feed = await makeFeed(FILES, 8, (i) => SOURCES[i % SOURCES.length]!);
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const t of targets) await t.dispose().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  });

  it('SIGKILL of one instance mid-file: every message applied once, every ACK written once, every file archived once', async () => {
    const totalMessages = feed.reduce((n, f) => n + f.messages, 0);

    // Reference: one clean single-instance import of the same files.
    const ref = join(work, 'ref');
    const refTarget = makeTarget('pg');
    targets.push(refTarget);
    for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(ref, d), { recursive: true });
    for (const f of feed) writeFileSync(join(ref, 'inbox', f.name), f.bytes);
    writeFileSync(join(ref, 'config.json'), JSON.stringify({ database: refTarget.target }));
    const imp = spawnSync(process.execPath, [BIN, '--config', join(ref, 'config.json'), '--log-level', 'warn', 'import',
      ...feed.map((f) => join(ref, 'inbox', f.name)), '--ack-dir', join(ref, 'outbox'), '--archive-dir', join(ref, 'archive'), '--error-dir', join(ref, 'archive', 'error')],
    { cwd: ref, encoding: 'utf8', timeout: 60_000 });
    expect([0, 1], imp.stderr).toContain(imp.status);
    const expected = await snapshot(refTarget.target);
    expect(expected.counts.messages).toBe(totalMessages);

    // The site: three sources on one inbox, one ACK folder, one archive, one store.
    const root = join(work, 'site');
    const target = makeTarget('pg');
    targets.push(target);
    for (const d of ['outbox', 'archive', ...SOURCES.map((n) => `inbox/${n}`)]) mkdirSync(join(root, d), { recursive: true });
    const config = join(root, 'config.json');
    writeFileSync(config, JSON.stringify({
      database: target.target, groupSize: 3, lockTtlMs: 3000,
      sources: SOURCES.map((n) => ({ name: n, inbox: `inbox/${n}`, pattern: `${n}_*.hl7`, ackDir: 'outbox', archiveDir: 'archive', errorDir: 'archive/error', stableMs: 200, pollMs: 200 })),
    }));
    // Migrate once up front (three instances migrating a fresh schema at once is covered by db.ts's retry).
    await (await openDb(target.target)).close();

    // The victim kills itself (SIGKILL) right after its 40th group commit: in the middle of a file, ACKs not written.
    const victim = startWatch(root, config, { PAMDROP_FAULT: 'after-commit:40' });
    const others = [startWatch(root, config), startWatch(root, config)];
    children.push(victim.child, ...others.map((o) => o.child));
    await until(() => [victim, ...others].every((i) => i.log().includes('"msg":"watching"')), 20_000, 'three instances to start')
      .catch((err) => { throw new Error(`${(err as Error).message}\n${[victim, ...others].map((i) => i.log()).join('\n---\n')}`); });

    const inbox = join(root, 'inbox');
    for (const f of feed) {
      const dir = join(inbox, f.name.slice(0, 1));
      writeFileSync(join(dir, `.${f.name}.part`), f.bytes);
      renameSync(join(dir, `.${f.name}.part`), join(dir, f.name));
    }

    const db = await openDb(target.target, { migrate: false });
    try {
      const unfinished = async () => Number((await db.get<{ n: unknown }>("SELECT COUNT(*) AS n FROM files WHERE state <> 'done'"))!.n);
      const rows = async () => Number((await db.get<{ n: unknown }>('SELECT COUNT(*) AS n FROM files'))!.n);
      expect(await victim.exit).toEqual({ code: null, signal: 'SIGKILL' });
      await until(async () => walk(inbox).length === 0 && await rows() >= FILES && await unfinished() === 0, 75_000, 'the feed to be processed');

      // Files: one done row each, each archived once.
      const files = await db.all<{ name: string; state: string; owner: string }>('SELECT name, state, owner FROM files ORDER BY name');
      expect(files.map((f) => f.name)).toEqual(feed.map((f) => f.name).sort());
      expect(new Set(files.map((f) => f.state))).toEqual(new Set(['done']));
      expect(walk(join(root, 'archive')).map((p) => p.split('/').pop()).sort()).toEqual(feed.map((f) => f.name).sort());
      expect(walk(join(root, 'archive', 'error'))).toEqual([]);
      expect(walk(inbox)).toEqual([]);
      // The work was spread: the victim and at least one survivor claimed files.
      const owners = new Set(files.map((f) => f.owner.split(':')[1]));
      expect(owners.has(String(victim.child.pid))).toBe(true);
      expect(owners.size).toBeGreaterThanOrEqual(2);

      // Messages: one row per (file, position), none a duplicate, same outcomes and store as the single-instance import.
      const dup = await db.all('SELECT file_id, idx FROM messages GROUP BY file_id, idx HAVING COUNT(*) > 1');
      expect(dup).toEqual([]);
      const statuses = await db.all<{ status: string }>("SELECT status FROM messages WHERE status IN ('duplicate', 'conflict')");
      expect(statuses).toEqual([]);
      const got = await snapshot(target.target);
      expect(got.counts).toEqual(expected.counts);
      expect(got.outcomes).toEqual(expected.outcomes);
      expect(got.identities).toEqual(expected.identities);
      expect(got.history).toEqual(expected.history);

      // ACK files: one per message, the same names as the reference, no temporary file left.
      const acks = readdirSync(join(root, 'outbox')).sort();
      expect(acks.length).toBe(totalMessages);
      expect(acks).toEqual(readdirSync(join(ref, 'outbox')).sort());

      // A survivor took the victim's source over and resumed its interrupted file.
      expect(others.some((o) => o.log().includes('resuming an interrupted file'))).toBe(true);
    } finally {
      await db.close();
      for (const o of others) o.child.kill('SIGTERM');
    }
    for (const o of others) expect(await o.exit).toEqual({ code: 0, signal: null });
    // Leases and heartbeats are given back on a graceful stop.
    const after = await openDb(target.target, { migrate: false });
    try {
      expect(await after.all("SELECT name FROM locks WHERE name LIKE 'source:%' OR name LIKE 'instance:%'")).toEqual([]);
    } finally {
      await after.close();
    }
  }, 120_000);
});
