/**
 * Test program — `pamdrop import` / `reimport` beside `watch` instances on one PostgreSQL store,
 * PostgreSQL only (with PAMDROP_TEST_REQUIRE_PG=1 a missing server fails instead of skipping).
 *
 * On PostgreSQL, import and reimport take no store-wide lock: they take the lease of the sources they touch (the
 * file's `--source`, and the source whose inbox holds the file) and every group transaction is fenced by it, as
 * `watch` does (runner.ts `runJobsClaimed`). Checked here, with a `watch --source a` running:
 * 1. an import of a file of source b runs while the watch applies a file of source a: both finish, and the store,
 *    the ACK files (bytes, clock pinned) and the archive are exactly those of two clean sequential imports;
 * 2. an import of a file of source a (given by `--source a`, or lying in a's inbox whatever `--source` says) is
 *    refused with exit 3 and a message naming the instance serving the source; nothing is claimed, and the watch
 *    applies the file once when it is complete; a reimport of a file of source a is refused the same way;
 * 3. once the watch has stopped, the same reimport runs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dbKinds, makeTarget } from '../helpers/db.js';
import { dumpSite } from '../helpers/dump.js';
import { openDb } from '../../src/store/db.js';
import { makeFeed, type FeedFile } from './feed.js';

const BIN = resolve('bin/pamdrop.js');
const hasPg = dbKinds().includes('pg');
const FIXED = '2026-03-01T10:00:00.000Z';
const env = { PAMDROP_FIXED_TIME: FIXED, PAMDROP_FAULT: '' };

function config(root: string, target: string): string {
  const path = join(root, 'config.json');
  for (const d of ['outbox', 'archive', 'inbox/a', 'inbox/b', 'drop']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(path, JSON.stringify({
    // A TTL far above any stall of a loaded CI machine: the watch's lease must not expire under the refused commands.
    database: target, groupSize: 20, lockTtlMs: 30_000,
    sources: ['a', 'b'].map((n) => ({ name: n, inbox: `inbox/${n}`, pattern: `${n}_*.hl7`, ackDir: 'outbox', archiveDir: 'archive', errorDir: 'archive/error', stableMs: 200, pollMs: 200 })),
  }));
  return path;
}

function pamdrop(root: string, args: string[]) {
  return spawnSync(process.execPath, [BIN, '--config', join(root, 'config.json'), '--log-level', 'warn', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 90_000 });
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!hasPg)('import and reimport beside a `watch` instance (PostgreSQL)', () => {
  let work: string;
  let feed: FeedFile[];
  const targets: Array<{ target: string; dispose(): Promise<void> }> = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pamdrop-multi-import-'));
    // a_0000 (watch), b_0001 (import beside it), a_0002 (the refused import).
    // Independent files (own IPP range each): the end state must not depend on how the two commands interleave.
    feed = await makeFeed(3, 1200, (i) => (i === 1 ? 'b' : 'a'), 1_000_000);
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const t of targets) await t.dispose().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  });

  it('import of another source runs beside watch; a source watch serves is refused (exit 3) and applied once by watch', async () => {
    const [fa, fb, fa2] = feed as [FeedFile, FeedFile, FeedFile];

    // Reference: the two first files imported one after the other, each as its own source, nothing else running.
    const ref = join(work, 'ref');
    const refTarget = makeTarget('pg');
    targets.push(refTarget);
    config(ref, refTarget.target);
    for (const f of [fa, fb]) {
      writeFileSync(join(ref, 'drop', f.name), f.bytes);
      const r = pamdrop(ref, ['import', join(ref, 'drop', f.name), '--source', f.name.slice(0, 1)]);
      expect([0, 1], r.stderr).toContain(r.status); // the generated feed has a few AE by design
    }
    const expected = await dumpSite(ref, refTarget.target);

    const root = join(work, 'site');
    const target = makeTarget('pg');
    targets.push(target);
    config(root, target.target);
    await (await openDb(target.target)).close();
    const child = spawn(process.execPath, [BIN, '--config', join(root, 'config.json'), '--log-level', 'info', 'watch', '--source', 'a'], {
      cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let log = '';
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
    await until(() => log.includes('"msg":"source lease taken"'), 20_000, 'watch to take the lease of source a');

    const db = await openDb(target.target, { migrate: false });
    try {
      const state = async (name: string) => (await db.get<{ state: string }>('SELECT state FROM files WHERE name = ? ORDER BY id DESC LIMIT 1', [name]))?.state;
      // 1. watch takes a_0000; while it works the file, b_0001 is imported as source b.
      writeFileSync(join(root, 'inbox', 'a', `.${fa.name}.part`), fa.bytes);
      renameSync(join(root, 'inbox', 'a', `.${fa.name}.part`), join(root, 'inbox', 'a', fa.name));
      await until(async () => (await state(fa.name)) === 'claimed', 20_000, 'watch to claim a_0000');
      writeFileSync(join(root, 'drop', fb.name), fb.bytes);
      const imp = pamdrop(root, ['import', join(root, 'drop', fb.name), '--source', 'b', '--json']);
      expect([0, 1], imp.stderr).toContain(imp.status);
      expect(JSON.parse(imp.stdout).totals).toMatchObject({ files: 1, messages: fb.messages, duplicates: 0, quarantined: 0, failed: 0 });
      await until(async () => (await state(fa.name)) === 'done', 60_000, 'watch to finish a_0000');
      const got = await dumpSite(root, target.target);
      for (const k of Object.keys(expected)) expect(got[k], k).toEqual(expected[k]);

      // 2. A file of source a: refused while watch serves a, whether named by --source or by lying in a's inbox.
      writeFileSync(join(root, 'drop', fa2.name), fa2.bytes);
      const bySource = pamdrop(root, ['import', join(root, 'drop', fa2.name), '--source', 'a']);
      expect(bySource.status, bySource.stdout + bySource.stderr).toBe(3);
      expect(bySource.stderr).toMatch(/import refused: source a is being served by [^ ]+:\d+:watch \(lease since .*\)\. The files of a source are applied in order by one instance at a time/);
      const hidden = join(root, 'inbox', 'a', `.${fa2.name}.part`); // ignored by watch (dot file) until renamed
      writeFileSync(hidden, fa2.bytes);
      const byInbox = pamdrop(root, ['import', hidden, '--source', 'b']);
      expect(byInbox.status).toBe(3);
      expect(byInbox.stderr).toMatch(/source a is being served by/);
      const reimp = pamdrop(root, ['reimport', join(root, 'archive', '2026', '03', '01', fa.name)]);
      expect(reimp.status).toBe(3);
      expect(reimp.stderr).toMatch(/reimport refused: source a is being served by/);
      expect(await state(fa2.name)).toBeUndefined(); // nothing claimed by the refused commands
      renameSync(hidden, join(root, 'inbox', 'a', fa2.name));
      await until(async () => (await state(fa2.name)) === 'done', 60_000, 'watch to apply a_0002');
      const rows = await db.all<{ owner: string; state: string }>('SELECT owner, state FROM files WHERE name = ?', [fa2.name]);
      expect(rows.map((r) => [r.state, r.owner.split(':').pop()])).toEqual([['done', 'watch']]);
      const counts = await db.get<{ n: unknown; dup: unknown }>(`SELECT COUNT(*) AS n, SUM(CASE WHEN m.status IN ('duplicate', 'conflict') THEN 1 ELSE 0 END) AS dup
        FROM messages m JOIN files f ON f.id = m.file_id WHERE f.name = ?`, [fa2.name]);
      expect([Number(counts!.n), Number(counts!.dup)]).toEqual([fa2.messages, 0]);
      expect(readdirSync(join(root, 'outbox'))).toHaveLength(fa.messages + fb.messages + fa2.messages);
    } finally {
      await db.close();
      child.kill('SIGTERM');
    }
    expect(await exit).toEqual({ code: 0, signal: null });

    // 3. watch stopped: the lease is free, the reimport runs (every message already AA: replayed as duplicates).
    const reimp = pamdrop(root, ['reimport', join(root, 'archive', '2026', '03', '01', fa.name), '--json']);
    expect([0, 1], reimp.stderr).toContain(reimp.status);
    expect(JSON.parse(reimp.stdout).totals).toMatchObject({ messages: fa.messages, duplicates: fa.messages });
    const after = await openDb(target.target, { migrate: false });
    try {
      expect(await after.all("SELECT name FROM locks WHERE name LIKE 'source:%'")).toEqual([]);
    } finally {
      await after.close();
    }
  }, 180_000);
});
