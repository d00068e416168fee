/**
 * Test program — several instances on PostgreSQL, around the multi-instance proof (instances.test.ts):
 * - the PostgreSQL password comes from PAMDROP_DB_PASSWORD or PAMDROP_DB_PASSWORD_FILE, never from the config;
 * - fencing: a processFile whose source lease was taken over rolls its transaction back (LeaseLostError);
 * - `run` on PostgreSQL takes the free source leases and exits 3 when a `watch` holds them all;
 * - SQLite keeps one writer: a second `watch` on the same store exits 3.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dbKinds, makeTarget } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { resolveConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { acquireLock } from '../../src/store/ledger.js';
import { processFile } from '../../src/pipeline/process-file.js';
import { LeaseLostError, SourceLeases, sourceLeaseName } from '../../src/pipeline/lease.js';
import { a28File } from '../intake/site.js';

const BIN = resolve('bin/pamdrop.js');
const hasPg = dbKinds().includes('pg');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { while (cleanups.length) await cleanups.pop()!(); });

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pamdrop-lease-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A site with `sources` local sources (inbox/<name>), config at root/config.json. */
function site(database: string, sources: string[], extra: object = {}): { root: string; config: string } {
  const root = tmp();
  for (const n of sources) mkdirSync(join(root, 'inbox', n), { recursive: true });
  const config = join(root, 'config.json');
  writeFileSync(config, JSON.stringify({ database, lockTtlMs: 3000, ...extra,
    sources: sources.map((n) => ({ name: n, inbox: `inbox/${n}`, ackDir: 'outbox', archiveDir: 'archive', errorDir: 'archive/error', stableMs: 0, pollMs: 100 })) }));
  return { root, config };
}

function cli(root: string, config: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, '--config', config, '--log-level', 'warn', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

function watch(root: string, config: string) {
  const child = spawn(process.execPath, [BIN, '--config', config, '--log-level', 'info', 'watch'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  cleanups.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return { child, log: () => log, exit };
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('PostgreSQL password: from the environment or a file, never the config', () => {
  it('a password in the configured URL is refused (exit 2)', () => {
    const s = site('postgres://pamdrop:secret@127.0.0.1:5432/db', ['a']);
    const r = cli(s.root, s.config, ['run']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/holds a password .*: remove it: the password comes from PGPASSWORD, a ~\/\.pgpass passfile, PAMDROP_DB_PASSWORD or PAMDROP_DB_PASSWORD_FILE/);
    expect(r.stderr).not.toMatch(/secret/);
  });

  it.skipIf(!hasPg)('PAMDROP_DB_PASSWORD_FILE, then PAMDROP_DB_PASSWORD (which wins), reach the connection', async () => {
    const t = makeTarget('pg');
    cleanups.push(() => t.dispose());
    const file = join(tmp(), 'pw');
    writeFileSync(file, 'from-file\n');
    const password = (db: { knex: { client: { config: { connection: { password?: string } } } } }) => db.knex.client.config.connection.password;
    // The test server trusts local connections: the password is checked where it is handed to the driver.
    const a = await openDb(t.target, { env: { PAMDROP_DB_PASSWORD_FILE: file } });
    expect(password(a as never)).toBe('from-file');
    await a.close();
    const b = await openDb(t.target, { env: { PAMDROP_DB_PASSWORD_FILE: file, PAMDROP_DB_PASSWORD: 'from-env' } });
    expect(password(b as never)).toBe('from-env');
    await b.close();
  });
});

describe.skipIf(!hasPg)('source leases on PostgreSQL', () => {
  it('fencing: a group transaction after the lease was taken over rolls back with LeaseLostError', async () => {
    const t = makeTarget('pg');
    cleanups.push(() => t.dispose());
    const db = await openDb(t.target);
    cleanups.push(() => db.close());
    const root = tmp();
    const config = resolveConfig({ groupSize: 2 }, root);
    const log = createLogger({ level: 'silent' });
    const mine = new SourceLeases({ db, owner: 'host-a:1:watch', ttlMs: 60_000, log, share: false }, ['s']);
    expect((await mine.tryAcquire('s')).ok).toBe(true);
    const path = join(root, 'adt_1.hl7');
    writeFileSync(path, a28File(1, 5), 'latin1');
    const job = { source: 's', path, ackDir: join(root, 'outbox'), archiveDir: join(root, 'archive'), errorDir: join(root, 'archive', 'error') };
    // Another instance takes the lease over (ours expired while we were paused).
    await db.run("UPDATE locks SET expires_at = '2000-01-01T00:00:00.000Z' WHERE name = ?", [sourceLeaseName('s')]);
    expect((await acquireLock(db, sourceLeaseName('s'), 'host-b:2:watch', new Date(), 60_000)).ok).toBe(true);
    await expect(processFile(job, { db, config, log, clock: systemClock, owner: mine.owner, fence: mine.fence('s') })).rejects.toBeInstanceOf(LeaseLostError);
    expect(mine.holds('s')).toBe(false);
    expect(mine.takeLost('s')).toBe(true);
    expect(await db.all('SELECT id FROM files')).toEqual([]);
    expect(await db.all('SELECT id FROM messages')).toEqual([]);
    expect(await db.all('SELECT id FROM patients')).toEqual([]);
    // The new holder processes the file normally.
    const theirs = new SourceLeases({ db, owner: 'host-b:2:watch', ttlMs: 60_000, log, share: false }, ['s']);
    expect((await theirs.tryAcquire('s')).ok).toBe(true);
    const r = await processFile(job, { db, config, log, clock: systemClock, owner: theirs.owner, fence: theirs.fence('s') });
    expect(r.state).toBe('done');
    expect(r.summary.AA).toBe(5);
  });

  it('`run` processes the sources whose lease is free; exit 3 when a `watch` holds them all', async () => {
    const t = makeTarget('pg');
    cleanups.push(() => t.dispose());
    const s = site(t.target, ['a', 'b']);
    const w = watch(s.root, s.config);
    await until(() => (w.log().match(/"msg":"source lease taken"/g) ?? []).length === 2, 20_000, 'watch to take both leases');
    const r = cli(s.root, s.config, ['run']);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/another pamdrop instance holds the store lock \(source a: .*:watch.*source b: .*:watch/);
    w.child.kill('SIGTERM');
    expect(await w.exit).toEqual({ code: 0, signal: null });
    writeFileSync(join(s.root, 'inbox', 'b', 'adt_1.hl7'), a28File(1, 2), 'latin1');
    const again = cli(s.root, s.config, ['run']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/total: 1 files, 2 messages: 2 AA/);
  }, 60_000);
});

describe('SQLite keeps one writer', () => {
  it('a second `watch` on the same SQLite store exits 3', async () => {
    const s = site('data/pamdrop.sqlite', ['a']);
    const first = watch(s.root, s.config);
    await until(() => first.log().includes('"msg":"watching"'), 20_000, 'the first watch to start');
    const second = watch(s.root, s.config);
    expect(await second.exit).toEqual({ code: 3, signal: null });
    expect(second.log()).toMatch(/another pamdrop instance holds the store lock \(.*:watch/);
    first.child.kill('SIGTERM');
    expect(await first.exit).toEqual({ code: 0, signal: null });
  }, 30_000);
});
