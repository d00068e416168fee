/**
 * Test program — the command line refuses a mistake before it acts (docs/behaviour.md "Exit codes"), as a hospital's
 * scripts run it: `node bin/pamdrop.js …` in a child process (the compiled dist/), on SQLite and PostgreSQL.
 * 1. Every command with a mistyped flag: exit 2, one line on stderr, and the site unchanged — the inbox file still
 *    there, no ACK, no archive, no store created (no SQLite file, no PostgreSQL schema).
 * 2. Store targets: read-only commands open, never create (exit 2 "no pamdrop store at …"); only watch/run/import/
 *    reimport create, and only from a plain SQLite path or a postgres:// URL; other URL schemes, keyword/value
 *    strings, a missing folder and a password in the URL are exit 2.
 * 3. Folders: an ACK, archive or error folder that is the inbox or inside it (or the reverse): exit 2, nothing moved.
 *    Ignored names (`.gitkeep`) are neither pending nor "never taken".
 * 4. Exit 5 for the system's fault (PostgreSQL down): one line on stderr, the stack only at --log-level debug;
 *    `watch` does not exit: it retries with backoff, says so in the log and in /healthz, and starts once the store
 *    answers.
 * 5. `import` shows run's progress line on a terminal (a pseudo-terminal from script(1)); nothing without one, nor
 *    with --json.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import knexFactory from 'knex';
import { A28_CREATE } from '../fixtures/examples.js';
import { dbKinds, makeTarget, type DbKind } from '../helpers/db.js';
import { edit, ipp } from '../helpers/messages.js';
import { describeTarget } from '../../src/store/db.js';

const BIN = resolve('bin/pamdrop.js');
const PG = process.env.PAMDROP_TEST_PG_URL;

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `node bin/pamdrop.js args` in `cwd`; a process that never ends is killed (and fails its test). */
function pamdrop(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, PAMDROP_FAULT: '', ...env }, timeout: 20_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Every file under `root` with its size and mtime: equal snapshots = nothing touched. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) { out[`${p}/`] = 'dir'; walk(p); } else out[p] = `${st.size}@${st.mtimeMs}`;
    }
  };
  walk(root);
  return out;
}

async function pgSchemaExists(target: string): Promise<boolean> {
  const schema = new URL(target).searchParams.get('schema')!;
  const k = knexFactory({ client: 'pg', connection: PG! });
  try {
    return (await k.raw('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema])).rows.length > 0;
  } finally {
    await k.destroy();
  }
}

/** A fresh site: inbox with one complete file, a config, a store target that does not exist yet. */
function makeSite(kind: DbKind, config: object = { pam: { acceptTestIns: true } }) {
  const root = mkdtempSync(join(tmpdir(), 'pamdrop-contract-'));
  mkdirSync(join(root, 'inbox'));
  writeFileSync(join(root, 'inbox', 'adt_1.hl7'), A28_CREATE, 'latin1');
  writeFileSync(join(root, 'config.json'), JSON.stringify({ ...config, sources: [{ name: 'local', inbox: 'inbox', ackDir: 'outbox', archiveDir: 'archive', errorDir: 'archive/error', stableMs: 0 }] }));
  const target = kind === 'sqlite' ? { target: join(root, 'data', 'pamdrop.sqlite'), dispose: async () => {} } : makeTarget(kind);
  return {
    root, db: target.target,
    run: (...args: string[]) => pamdrop(['--config', join(root, 'config.json'), '--db', target.target, ...args], root),
    storeExists: async () => (kind === 'sqlite' ? existsSync(target.target) : pgSchemaExists(target.target)),
    cleanup: async () => { await target.dispose(); rmSync(root, { recursive: true, force: true }); },
  };
}

// ---------------------------------------------------------------------------------------------------------

/** Each command with one mistyped flag (the file arguments are the site's inbox file). */
const MISTYPED: ReadonlyArray<readonly [string, (f: string) => string[], RegExp]> = [
  ['import', (f) => ['import', f, '--dry-rn'], /dry-rn/],
  ['import (folder flag)', (f) => ['import', f, '--ack-dri', 'x'], /ack-dri/],
  ['preview', (f) => ['preview', f, '--jsn'], /jsn/],
  ['reimport', (f) => ['reimport', f, '--forse'], /forse/],
  ['validate', (f) => ['validate', f, '--quite'], /quite/],
  ['reconcile', (f) => ['reconcile', '--snapshot', f, '--aply'], /aply/],
  ['report', () => ['report', '--sinse', '7d'], /sinse/],
  ['status', () => ['status', '--jsn'], /jsn/],
  ['doctor', () => ['doctor', '--ofline'], /ofline/],
  ['errors', () => ['errors', '--limt', '3'], /limt/],
  ['patient', () => ['patient', '100234', '--authorty', 'CHEX'], /authorty/],
  ['patients', () => ['patients', '--jsn'], /jsn/],
  ['history', () => ['history', '100234', '--jsn'], /jsn/],
  ['watch', () => ['watch', '--http-prot', '9464'], /http-prot/],
  ['run', () => ['run', '--sourse', 'local'], /sourse/],
  ['sftp-keyscan', () => ['sftp-keyscan', '--hots', 'example.org'], /hots/],
  ['validate --ack', (f) => ['validate', '--ack', f, '--inbond', f], /inbond/],
  ['evidence', () => ['evidence', 'GAM000101', '--out', 'ev', '--pfd'], /pfd/],
  ['scenarios run', () => ['scenarios', 'run', '--out', 'sc', '--stor', 'x.sqlite'], /stor/],
];

describe.each(dbKinds())('a mistyped flag on %s: exit 2 and nothing touched', (kind) => {
  // Regression: `import FILE --dry-rn` imported the file (ACK written, file archived), then complained; `watch
  // --http-prot` ran the daemon without its HTTP server. The arguments are now checked before any handler runs.
  it.concurrent.each(MISTYPED)('%s', async (_what, args, flag) => {
    const site = makeSite(kind);
    try {
      const before = snapshot(site.root);
      const r = await site.run(...args(join(site.root, 'inbox', 'adt_1.hl7')));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(flag);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
      expect(snapshot(site.root)).toEqual(before);
      expect(await site.storeExists()).toBe(false);
    } finally {
      await site.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

const READ_ONLY: ReadonlyArray<readonly [string, (f: string) => string[]]> = [
  ['status', () => ['status']], ['report', () => ['report']], ['errors', () => ['errors']], ['patients', () => ['patients']],
  ['patient', () => ['patient', '100234']], ['history', () => ['history', '100234']], ['doctor', () => ['doctor', '--offline']],
  ['reconcile', (f) => ['reconcile', '--snapshot', f]], ['preview', (f) => ['preview', f]], ['import --dry-run', (f) => ['import', f, '--dry-run']],
  ['reimport --dry-run', (f) => ['reimport', f, '--dry-run']], ['evidence', () => ['evidence', 'GAM000101', '--out', 'ev']],
];

describe.each(dbKinds())('store targets on %s', (kind) => {
  // Regression: `--db /nonexistent/dir/x.sqlite status` created that folder and an empty store and answered "last
  // run: never", exit 0: a mistyped production path looked like a healthy empty store.
  it.concurrent.each(READ_ONLY)('%s where there is no store: exit 2 "no pamdrop store", nothing created', async (_what, args) => {
    const site = makeSite(kind);
    try {
      const before = snapshot(site.root);
      const r = await site.run(...args(join(site.root, 'inbox', 'adt_1.hl7')));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^pamdrop: no pamdrop store at /);
      expect(snapshot(site.root)).toEqual(before);
      expect(await site.storeExists()).toBe(false);
    } finally {
      await site.cleanup();
    }
  });

  it('import creates the store; the read-only commands then open it', async () => {
    const site = makeSite(kind);
    try {
      const r = await site.run('import', join(site.root, 'inbox', 'adt_1.hl7'));
      expect(r.code, r.stderr).toBe(0);
      expect(await site.storeExists()).toBe(true);
      expect((await site.run('patients', '--json')).code).toBe(0);
      expect((await site.run('status')).code).toBe(0);
    } finally {
      await site.cleanup();
    }
  });
});

describe('store targets that are not plainly SQLite or PostgreSQL', () => {
  let root: string;
  beforeAll(() => { root = mkdtempSync(join(tmpdir(), 'pamdrop-targets-')); mkdirSync(join(root, 'inbox')); });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.concurrent.each([
    ['a read-only command on a folder that does not exist', ['--db', 'nonexistent/dir/x.sqlite', 'status'], /no pamdrop store at .*\/nonexistent\/dir\/x\.sqlite/],
    ['another URL scheme', ['--db', 'mysql://x@y/z', 'status'], /mysql:\/\/ is not a store/],
    ['another URL scheme, creating command', ['--db', 'mysql://x@y/z', 'run'], /mysql:\/\/ is not a store/],
    ['a keyword/value PostgreSQL string', ['--db', 'host=db1 dbname=pam password=secret', 'run'], /keyword\/value/],
    ['a plain name in a folder that does not exist', ['--db', 'nowhere/store', 'run'], /folder .*nowhere does not exist/],
    ['a folder', ['--db', '.', 'run'], /is a folder/],
    ['a password in the URL', ['--db', 'postgres://pam:s3cret@127.0.0.1:5432/pam', 'run'], /holds a password \(postgres:\/\/pam:\*\*\*@127\.0\.0\.1:5432\/pam\).*PGPASSWORD/],
    ['a password in the query', ['--db', 'postgres://pam@127.0.0.1:5432/pam?password=s3cret', 'status'], /holds a password .*password=\*\*\*/],
  ] as const)('%s → exit 2, nothing created', async (_what, args, message) => {
    const before = snapshot(root);
    const r = await pamdrop([...args], root);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain('s3cret');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(snapshot(root)).toEqual(before);
  });

  it('a password in the configuration file is refused too', async () => {
    const dir = mkdtempSync(join(root, 'pw-'));
    writeFileSync(join(dir, 'pw.json'), JSON.stringify({ database: 'postgres://pam:s3cret@db1/pam' }));
    const r = await pamdrop(['--config', join(dir, 'pw.json'), 'status'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^pamdrop: config: database: the PostgreSQL URL holds a password \(postgres:\/\/pam:\*\*\*@db1\/pam\)/);
  });

  it('a database URL is shown redacted wherever it is shown', () => {
    expect(describeTarget('postgres://pam:s3cret@db1:5432/pam')).toBe('postgres://pam:***@db1:5432/pam');
    expect(describeTarget('postgres://pam@db1/pam?password=s3cret&schema=x')).toBe('postgres://pam@db1/pam?password=***&schema=x');
    expect(describeTarget('postgres://pam@db1/pam')).toBe('postgres://pam@db1/pam');
  });

  it('a SQLite name ending .sqlite is created with its folder; a plain name in an existing folder too', async () => {
    const dir = mkdtempSync(join(root, 'create-'));
    const folders = ['--inbox', 'inbox', '--ack-dir', 'out', '--archive-dir', 'arc', '--error-dir', 'err'];
    const a = await pamdrop(['--db', 'new/site.sqlite', 'run', ...folders], dir);
    expect(a.code, a.stderr).toBe(0);
    expect(existsSync(join(dir, 'new', 'site.sqlite'))).toBe(true);
    const b = await pamdrop(['--db', 'plainstore', 'run', ...folders], dir);
    expect(b.code, b.stderr).toBe(0);
    expect(existsSync(join(dir, 'plainstore'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe.each(dbKinds())('folders on %s', (kind) => {
  // Regression: ackDir equal to the inbox was accepted; `watch` then took its own ACK and reason files as input.
  it.concurrent.each([
    ['ackDir is the inbox', { ackDir: 'inbox' }, /ackDir .*inbox is the inbox/],
    ['errorDir inside the inbox', { errorDir: 'inbox/errors' }, /errorDir .*inbox\/errors is inside the inbox/],
    ['the inbox inside archiveDir', { inbox: 'archive/in', archiveDir: 'archive' }, /the inbox .*archive\/in is inside archiveDir/],
  ] as const)('run with %s → exit 2, nothing moved', async (_what, folders, message) => {
    const site = makeSite(kind);
    try {
      writeFileSync(join(site.root, 'config.json'), JSON.stringify({ pam: { acceptTestIns: true },
        sources: [{ name: 'local', inbox: 'inbox', ackDir: 'outbox', archiveDir: 'arch', errorDir: 'arch/error', stableMs: 0, ...folders }] }));
      const before = snapshot(site.root);
      for (const cmd of [['run'], ['import', join(site.root, 'inbox', 'adt_1.hl7')]]) {
        const r = await site.run(...cmd);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(message);
      }
      expect(snapshot(site.root)).toEqual(before);
      expect(await site.storeExists()).toBe(false);
    } finally {
      await site.cleanup();
    }
  });

  // Regression: the repository's own inbox/.gitkeep made `report` raise "1 inbox file that will never be taken".
  it('an ignored name (.gitkeep) is neither pending nor never taken', async () => {
    const site = makeSite(kind);
    try {
      expect((await site.run('run')).code).toBe(0);
      writeFileSync(join(site.root, 'inbox', '.gitkeep'), '');
      writeFileSync(join(site.root, 'inbox', 'upload.hl7.part'), 'MSH|^~\\&|partial upload of some length');
      const status = JSON.parse((await site.run('status', '--json')).stdout);
      expect(status.pending.inboxFiles).toBe(0);
      expect(status.sources[0].inbox).toMatchObject({ files: 0, pending: 0, notTaken: [] });
      expect(status.healthy).toBe(true);
      const report = JSON.parse((await site.run('report', '--json')).stdout);
      expect(report.sources[0].inbox).toEqual([]);
      expect(report.alerts.filter((a: string) => a.includes('never be taken'))).toEqual([]);
    } finally {
      await site.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

/** A TCP port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe.skipIf(!PG)('the system\'s fault: PostgreSQL unreachable', () => {
  let root: string;
  beforeAll(() => { root = mkdtempSync(join(tmpdir(), 'pamdrop-down-')); mkdirSync(join(root, 'inbox')); });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  // Regression: exit 1 meant both "a message got AE" and "PostgreSQL is down", and the latter printed a JSON log line
  // with a stack trace.
  it('run: exit 5 with one line on stderr; the stack trace only at --log-level debug', async () => {
    const port = await freePort();
    const r = await pamdrop(['--db', `postgres://postgres@127.0.0.1:${port}/test`, 'run'], root);
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^pamdrop: .*ECONNREFUSED.*system's fault/)]);
    const debug = await pamdrop(['--db', `postgres://postgres@127.0.0.1:${port}/test`, '--log-level', 'debug', 'run'], root);
    expect(debug.code).toBe(5);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  // Regression: `watch` with PostgreSQL down at start-up exited at once instead of retrying.
  it('watch: retries with backoff, /healthz says "starting", then serves once PostgreSQL answers', async () => {
    const port = await freePort();
    const base = new URL(PG!);
    const target = makeTarget('pg');
    const url = new URL(target.target);
    url.port = String(port);
    url.hostname = '127.0.0.1';
    const child = spawn(process.execPath, [BIN, '--db', url.toString(), '--log-level', 'info', 'watch', '--inbox', 'inbox', '--ack-dir', 'out',
      '--archive-dir', 'arc', '--error-dir', 'err', '--http-port', '0'], { cwd: root, env: { ...process.env, PAMDROP_FAULT: '' } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    let proxy: Server | null = null;
    try {
      const until = async (re: RegExp) => {
        for (let i = 0; i < 200 && !re.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
        return re.exec(stderr);
      };
      const listening = await until(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      expect(listening, stderr).not.toBeNull();
      const health = await fetch(`${listening![1]}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'starting', waitingFor: 'store unreachable', attempt: expect.any(Number) });
      await until(/"attempt":2/);
      expect(stderr).toMatch(/store unreachable at start-up: retrying/);
      // PostgreSQL "comes back": a TCP relay to the real server on the port watch keeps trying.
      proxy = createServer((c) => {
        const up = connect(Number(base.port || 5432), base.hostname);
        c.pipe(up).pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
      });
      await new Promise<void>((r) => proxy!.listen(port, '127.0.0.1', () => r()));
      await until(/status page, metrics and health check listening/);
      const ok = await fetch(`${listening![1]}/healthz`);
      expect(ok.status, stderr).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      proxy?.close();
      await target.dispose();
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------

const hasScript = (() => { try { execFileSync('script', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();

describe.skipIf(!hasScript)('import progress', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'pamdrop-progress-'));
    mkdirSync(join(root, 'inbox'));
    // Enough messages, in small groups, that the import lasts well over one redraw interval (200 ms).
    let text = '';
    for (let i = 0; i < 6000; i++) text += edit(A28_CREATE, { 'MSH-10': `P${i}`, 'PID-3': ipp(String(500000 + i)) });
    for (const n of ['a', 'b', 'c']) writeFileSync(join(root, 'inbox', `${n}.hl7`), text, 'latin1');
    writeFileSync(join(root, 'config.json'), JSON.stringify({ groupSize: 20, pam: { acceptTestIns: true } }));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const importArgs = (name: string, db: string, extra: string[] = []) => ['--config', 'config.json', '--db', db, 'import', `inbox/${name}.hl7`,
    '--ack-dir', 'out', '--archive-dir', 'arc', '--error-dir', 'err', ...extra];
  /** Runs pamdrop under a pseudo-terminal (script(1)): stdout and stderr are the terminal. */
  const onTty = (args: string[]) => new Promise<Run>((done) => {
    const cmd = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: root, env: { ...process.env, PAMDROP_FAULT: '' } });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.on('close', (code) => done({ code, stdout, stderr: '' }));
  });

  it('on a terminal: the progress line of run (done/total, msg/s), cleared before the report', async () => {
    const r = await onTty(importArgs('a', 'a.sqlite'));
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\r\x1b\[K\[local\] a\.hl7: \d+\/6000 messages \d+%, \d+ msg\/s/);
    expect(r.stdout).toMatch(/\r\x1b\[Ka\.hl7: 6000 messages: 6000 AA/);
  }, 60_000);

  it('with --json on a terminal, and without a terminal: no progress', async () => {
    const json = await onTty(importArgs('b', 'b.sqlite', ['--json']));
    expect(json.code).toBe(0);
    expect(json.stdout).not.toContain('\x1b[K');
    const plain = await pamdrop(importArgs('c', 'c.sqlite'), root);
    expect(plain.code).toBe(0);
    expect(plain.stdout + plain.stderr).not.toContain('\x1b[K');
  }, 60_000);
});
