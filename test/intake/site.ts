/**
 * Throw-away sites for the intake suites: real folders under mkdtemp, a real store (SQLite by default, or a
 * private PostgreSQL schema with `db: 'pg'`), a config file, and three ways to run intake — in-process
 * (`runIntake`, `watchIntake`: the same service the CLI uses, with observation hooks, under the writer lock on
 * SQLite and the source leases on PostgreSQL, as the CLI) and the built CLI as a child process (`cli`,
 * `spawnCli`) for signals, locks and SIGKILL.
 */
import { expect } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { resolveConfig } from '../../src/config/load.js';
import type { ImporterConfig, ResolvedConfig } from '../../src/config/types.js';
import { openDb } from '../../src/store/db.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { withWriterLock, type RunReport } from '../../src/pipeline/runner.js';
import { usesSourceLeases, withAvailableSourceLeases, withSourceLeases, type SourceLeases } from '../../src/pipeline/lease.js';
import { makeTarget, type DbKind } from '../helpers/db.js';
import { runOnce, watchSources, Wake, type ServiceContext } from '../../src/pipeline/service.js';

export const BIN = resolve('bin/pamdrop.js');

/** A minimal valid A28 (PROV identity, accepted with AA). */
export function a28(ipp: string, controlId: string): string {
  return `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312080000||ADT^A28^ADT_A05|${controlId}|P|2.5^FRA^2.11|||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM\r`
    + `EVN||20250312080000\rPID|1||${ipp}^^^CHEX&1.2.250.1.999999.1&ISO^PI||MOREL^CLAIRE^^^Mme^^L||19920915|F||||||||||||||||||||||||PROV\rPV1|1|N\r`;
}

/** A file of `n` A28 messages whose IPPs and control ids start at `from`. */
export function a28File(from: number, n: number, prefix = 'F'): string {
  let s = '';
  for (let i = from; i < from + n; i++) s += a28(String(100000 + i), `${prefix}${i}`);
  return s;
}

export interface Site {
  root: string;
  inbox: string;
  outbox: string;
  archive: string;
  error: string;
  db: string;
  configPath: string;
  config: ResolvedConfig;
  /** Writes a file into `dir` (default the inbox). */
  drop(name: string, content: string | Buffer, dir?: string): string;
  /** Removes the folders (and the PostgreSQL schema). */
  cleanup(): Promise<void>;
}

/**
 * A site whose config has one local source (`local`) by default; `user` is merged over it. `db: 'pg'` puts the
 * store in a private schema of PAMDROP_TEST_PG_URL (its `database` in the config file; `Site.db` is the target).
 */
export function makeSite(user: ImporterConfig & { source?: Record<string, unknown>; db?: DbKind } = {}): Site {
  const root = mkdtempSync(join(tmpdir(), 'pamdrop-intake-'));
  const inbox = join(root, 'inbox'), outbox = join(root, 'outbox'), archive = join(root, 'archive'), error = join(archive, 'error');
  for (const d of [inbox, outbox, archive]) mkdirSync(d, { recursive: true });
  const { source, db: kind, ...rest } = user;
  const pg = kind === 'pg' ? makeTarget('pg') : null;
  const cfg: ImporterConfig = {
    database: pg ? pg.target : 'data/pamdrop.sqlite',
    sources: [{ name: 'local', inbox: 'inbox', ackDir: 'outbox', archiveDir: 'archive', errorDir: 'archive/error', stableMs: 300, pollMs: 100, ...(source ?? {}) }],
    ...rest,
  };
  const configPath = join(root, 'config.json');
  writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  return {
    root, inbox, outbox, archive, error, db: pg ? pg.target : join(root, 'data', 'pamdrop.sqlite'), configPath,
    config: resolveConfig(cfg, root),
    drop(name, content, dir = inbox) {
      const p = join(dir, name);
      writeFileSync(p, typeof content === 'string' ? Buffer.from(content, 'latin1') : content);
      return p;
    },
    cleanup: async () => {
      rmSync(root, { recursive: true, force: true });
      await pg?.dispose();
    },
  };
}

/** Collects log records (JSON) of an in-process run. */
export function memoryLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(JSON.parse(l)) }) };
}

type Hooks = Partial<Pick<ServiceContext, 'onTransfer' | 'log' | 'sources' | 'fault'>>;

/** `pamdrop run`, in-process: under the writer lock (SQLite) or the free source leases (PostgreSQL), as the CLI. */
export async function runIntake(site: Site, hooks: Hooks = {}): Promise<RunReport & { stopped: boolean }> {
  const db = await openDb(site.db);
  const log = hooks.log ?? createLogger({ level: 'silent' });
  const sources = hooks.sources ?? site.config.sources;
  const serve = (owner: string, leases?: SourceLeases) => runOnce({
    db, config: site.config, clock: systemClock, log, sources: leases ? sources.filter((s) => leases.holds(s.name)) : sources,
    shouldStop: () => false, wake: new Wake(), onTransfer: hooks.onTransfer, fault: hooks.fault, leases,
  }, owner);
  try {
    return usesSourceLeases(db)
      ? await withAvailableSourceLeases({ db, ttlMs: site.config.lockTtlMs, log, tag: 'test-run' }, sources.map((s) => s.name), (leases) => serve(leases.owner, leases))
      : await withWriterLock({ db, clock: systemClock, config: site.config }, 'test-run', (owner) => serve(owner));
  } finally {
    await db.close();
  }
}

/** `pamdrop watch`, in-process (writer lock or source leases, as the CLI); `stop()` asks for a graceful stop and resolves when it has stopped. */
export function watchIntake(site: Site, hooks: Hooks = {}): { stop(): Promise<void>; done: Promise<void> } {
  let stopping = false;
  const wake = new Wake();
  const done = (async () => {
    const db = await openDb(site.db);
    const log = hooks.log ?? createLogger({ level: 'silent' });
    const sources = hooks.sources ?? site.config.sources;
    const serve = (owner: string, leases?: SourceLeases) => watchSources({
      db, config: site.config, clock: systemClock, log, sources, shouldStop: () => stopping, wake, onTransfer: hooks.onTransfer, leases,
    }, owner);
    try {
      if (usesSourceLeases(db)) await withSourceLeases({ db, ttlMs: site.config.lockTtlMs, log, tag: 'test-watch' }, sources.map((s) => s.name), (leases) => serve(leases.owner, leases));
      else await withWriterLock({ db, clock: systemClock, config: site.config }, 'test-watch', (owner) => serve(owner));
    } finally {
      await db.close();
    }
  })();
  return { done, stop: async () => { stopping = true; wake.notify(); await done; } };
}

export interface CliRun { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs the built CLI to completion against the site's config. */
export function cli(site: Site, args: string[], env: Record<string, string> = {}): CliRun {
  const r = spawnSync(process.execPath, [BIN, '--config', site.configPath, '--log-level', 'warn', ...args], {
    cwd: site.root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the built CLI (e.g. `watch`) in the background; logs are JSON lines on stderr. */
export function spawnCli(site: Site, args: string[], env: Record<string, string> = {}): { child: ChildProcess; stderr: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [BIN, '--config', site.configPath, '--log-level', 'info', ...args], {
    cwd: site.root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, stderr: () => err, exit };
}

/** Polls `cond` every 25 ms until it is true; throws after `ms` with `what`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Files under `dir`, recursively, as relative paths (sorted). */
export function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try { entries = readdirSync(d); } catch { return; }
    for (const e of entries) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p); else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** name → bytes of the files of a folder (one level). */
export function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files(dir)) out[f] = readFileSync(join(dir, f)).toString('latin1');
  return out;
}

/** Ledger rows (files), in claim order. */
export async function ledgerFiles(site: Site): Promise<Array<{ id: number; name: string; state: string; size: number; message_count: number; summary: string | null }>> {
  const db = await openDb(site.db, { migrate: false });
  try {
    // size is a bigint: a string on PostgreSQL.
    return (await db.all<{ id: number; name: string; state: string; size: number; message_count: number; summary: string | null }>(
      'SELECT id, name, state, size, message_count, summary FROM files ORDER BY id')).map((r) => ({ ...r, size: Number(r.size) }));
  } finally {
    await db.close();
  }
}

/**
 * A remote file of a 254-byte name delivered twice (SFTP and FTP alike): processed and archived whole; the second
 * delivery's archive name, `-1` added, passes 255 bytes and is shortened (`~` and a hash) instead of failing.
 */
export async function longNameArchivedTwice(s: Site, remote: { inbox: string; archive: string }): Promise<void> {
  const name = `${'r'.repeat(250)}.hl7`;
  writeFileSync(join(remote.inbox, name), a28File(1, 1), 'latin1');
  expect((await runIntake(s)).files.map((f) => [f.file, f.state])).toEqual([[name, 'done']]);
  writeFileSync(join(remote.inbox, name), a28File(2, 1), 'latin1');
  expect((await runIntake(s)).files.map((f) => [f.file, f.state])).toEqual([[name, 'done']]);
  expect(files(remote.inbox)).toEqual([]);
  const archived = Object.entries(contents(remote.archive));
  expect(archived).toHaveLength(2);
  expect(archived.find(([n]) => n === name)?.[1]).toBe(a28File(1, 1));
  const [again, bytes] = archived.find(([n]) => n !== name)!;
  expect(bytes).toBe(a28File(2, 1));
  expect(Buffer.byteLength(again)).toBeLessThanOrEqual(255);
  expect(again).toMatch(/^r+~[0-9a-f]{12}\.hl7$/);
  expect(files(join(s.inbox, '.staging'))).toEqual([]);
}
