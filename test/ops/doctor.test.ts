/**
 * Test program — `pamdrop doctor`: every check prints OK / WARN / FAIL / SKIP with a hint, exit 1 on any FAIL.
 * - a healthy site passes (folders writable, same file system, disk, database reachable and migrated, lock free);
 * - planted problems each FAIL with their hint: a folder that is a file, a folder that cannot be created, an
 *   unwritable folder (only when not running as root: root writes anywhere), an unmigrated database (and doctor
 *   does not migrate it), a database one migration behind, a newer database, an unreachable PostgreSQL server;
 * - warnings do not fail: folders not created yet, a database not created yet;
 * - SFTP sources against a real sshd (test/helpers/sshd.ts): reachable with the pinned host key, remote folders,
 *   clock in step (probe file); a wrong pin FAILs without connecting. Skipped visibly without sshd.
 */
import { describe, it, expect, beforeEach, afterEach, afterAll } from 'vitest';
import { chmodSync, existsSync, mkdirSync, rmSync, utimesSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDb } from '../../src/store/db.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { json, makeSite, siteConfig, type Site } from './helpers.js';

const status = (out: any, name: string) => out.checks.find((c: any) => c.name === name)?.status;

describe('pamdrop doctor (local checks)', () => {
  let s: Site;
  beforeEach(async () => {
    s = await makeSite('sqlite');
    mkdirSync(s.error, { recursive: true });
    await (await openDb(s.db)).close(); // creates and migrates the store
  });
  afterEach(async () => { await s.cleanup(); });

  it('a healthy site passes every check', async () => {
    const r = await s.cli('doctor', '--json');
    expect(r.code, r.stdout).toBe(0);
    const out = json(r);
    expect(out.checks.filter((c: any) => c.status !== 'OK')).toEqual([]);
    expect(out.checks.map((c: any) => c.name)).toEqual(expect.arrayContaining([
      'source local: inbox', 'source local: ACK folder', 'source local: archive', 'source local: error folder',
      'source local: inbox → archive', 'source local: inbox → error folder', 'database reachable', 'database migrated', 'writer lock',
    ]));
    expect(out.checks.some((c: any) => c.name.startsWith('disk space'))).toBe(true);
    const text = await s.cli('doctor');
    expect(text.stdout).toMatch(/^OK {4}source local: inbox: .+: folder, writable$/m);
    expect(text.stdout).toContain('all checks passed');
    // Probe files are gone.
    for (const d of [s.inbox, s.outbox, s.archive, s.error]) expect(readdirSync(d).filter((f) => f.startsWith('.pamdrop-doctor'))).toEqual([]);
  });

  it('ACK files the sender has not fetched for over a day are a warning (exit 0), with how many and how old', async () => {
    writeFileSync(join(s.outbox, 'adt.M1.ack.hl7'), 'MSH|^~\\&\r');
    const fresh = json(await s.cli('doctor', '--json'));
    expect(fresh.checks.find((c: any) => c.name === 'source local: ACK files waiting')).toMatchObject({ status: 'OK', detail: '1 ACK file(s) waiting, the oldest 0 min old' });
    writeFileSync(join(s.outbox, 'adt.M2.ack.hl7'), 'MSH|^~\\&\r');
    const twoDaysAgo = new Date(Date.now() - 49 * 3600_000);
    utimesSync(join(s.outbox, 'adt.M2.ack.hl7'), twoDaysAgo, twoDaysAgo);
    const r = await s.cli('doctor');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^WARN {2}source local: ACK files waiting: 2 ACK file\(s\) waiting, the oldest 49 h old: the sender does not seem to fetch its ACK files\n {6}→ check the sender's ACK pickup/m);
  });

  it('a folder that is a file, or cannot be created, FAILs with a hint', async () => {
    rmSync(s.outbox, { recursive: true });
    writeFileSync(s.outbox, 'not a folder');
    const blocker = join(s.root, 'blocker');
    writeFileSync(blocker, 'a file');
    s.setConfig(siteConfig({}, { errorDir: 'blocker/error' }));
    const r = await s.cli('doctor');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}source local: ACK folder: .*outbox exists but is not a folder\n {6}→ remove or rename it/m);
    expect(r.stdout).toMatch(/^FAIL {2}source local: error folder: .*blocker\/error cannot be created: .*blocker is not a folder/m);
    expect(r.stdout).toContain('2 check(s) FAILED');
  });

  it.skipIf(process.getuid?.() === 0)('an unwritable folder FAILs (not as root: root writes anywhere)', async () => {
    chmodSync(s.archive, 0o555);
    try {
      const out = json(await s.cli('doctor', '--json'));
      expect(status(out, 'source local: archive')).toBe('FAIL');
    } finally {
      chmodSync(s.archive, 0o755);
    }
  });

  it('folders not created yet are warnings; a store that does not exist is exit 2, and nothing is created', async () => {
    s.setConfig(siteConfig({}, { archiveDir: 'later/archive' }));
    const r = await s.cli('doctor', '--json');
    expect(r.code, r.stdout).toBe(0);
    expect(status(json(r), 'source local: archive')).toBe('WARN');
    expect(existsSync(join(s.root, 'later'))).toBe(false);
    // doctor is read-only: a database path where there is no store is a mistake to report, not a store to create.
    s.setConfig(siteConfig({ database: 'fresh/pamdrop.sqlite' }, { archiveDir: 'later/archive' }));
    const fresh = await main(s, ['doctor', '--json']);
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toMatch(/no pamdrop store at .*fresh\/pamdrop\.sqlite/);
    expect(existsSync(join(s.root, 'fresh'))).toBe(false);
    expect(existsSync(join(s.root, 'later'))).toBe(false);
  });

  it('an ACK, archive or error folder that is the inbox or inside it FAILs', async () => {
    s.setConfig(siteConfig({}, { ackDir: 'inbox', errorDir: 'inbox/errors' }));
    const r = await s.cli('doctor', '--json');
    expect(r.code).toBe(1);
    const fails = json(r).checks.filter((c: any) => c.name === 'source local: folders');
    expect(fails.map((c: any) => [c.status, c.detail])).toEqual([
      ['FAIL', expect.stringMatching(/ackDir .*inbox is the inbox/)],
      ['FAIL', expect.stringMatching(/errorDir .*inbox\/errors is inside the inbox/)],
    ]);
  });

  it('an unmigrated database FAILs, and doctor does not migrate it', async () => {
    const path = join(s.root, 'empty.sqlite');
    new Database(path).close(); // an empty SQLite file: no tables
    const r = await main(s, ['doctor', '--json', '--db', path]);
    expect(r.code).toBe(1);
    const c = json(r).checks.find((x: any) => x.name === 'database migrated');
    expect(c).toMatchObject({ status: 'FAIL', detail: '0 of 6 migrations applied; pending: 0001_init, 0002_sequence_number, 0003_authorities, 0004_acks_durable, 0005_received_messages, 0006_pruned_at' });
    const raw = new Database(path);
    expect(raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all()).toEqual([]);
    raw.close();
  });

  it('a database one migration behind, or ahead, FAILs', async () => {
    const db = await openDb(s.db);
    await db.run(`DELETE FROM knex_migrations WHERE name = '0002_sequence_number'`);
    await db.close();
    let c = json(await s.cli('doctor', '--json')).checks.find((x: any) => x.name === 'database migrated');
    expect(c).toMatchObject({ status: 'FAIL', detail: '5 of 6 migrations applied; pending: 0002_sequence_number' });
    const db2 = new Database(s.db);
    db2.prepare(`INSERT INTO knex_migrations (name, batch, migration_time) VALUES ('0002_sequence_number', 2, CURRENT_TIMESTAMP), ('0099_future', 3, CURRENT_TIMESTAMP)`).run();
    db2.close();
    c = json(await s.cli('doctor', '--json')).checks.find((x: any) => x.name === 'database migrated');
    expect(c).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('migrations this pamdrop does not know (0099_future)') });
  });

  it('an unreachable PostgreSQL server FAILs', async () => {
    const r = await main(s, ['doctor', '--json', '--db', 'postgres://pamdrop@127.0.0.1:1/pamdrop']);
    expect(r.code).toBe(1);
    expect(json(r).checks.find((x: any) => x.name === 'database reachable')).toMatchObject({
      status: 'FAIL', detail: expect.stringContaining('ECONNREFUSED'), hint: expect.stringContaining('PAMDROP_DB_PASSWORD'),
    });
  });

  it('--min-free-mb above the free space FAILs the disk check', async () => {
    const r = await s.cli('doctor', '--json', '--min-free-mb', String(1024 * 1024 * 1024));
    expect(r.code).toBe(1);
    expect(json(r).checks.find((x: any) => x.name.startsWith('disk space')).status).toBe('FAIL');
  });
});

/** doctor with the site's config but without the workspace's --db (the config names the database). */
async function main(s: Site, args: string[]) {
  const { main: run } = await import('../../src/cli/main.js');
  let stdout = '', stderr = '';
  const code = await run([...args, '--config', join(s.root, 'config.json'), '--log-level', 'silent'], (t) => { stdout += t; }, (t) => { stderr += t; });
  return { code, stdout, stderr };
}

const sshd: Sshd | null = await startSshd();
afterAll(async () => { await sshd?.close(); });

describe.skipIf(!sshd)('pamdrop doctor (SFTP, real sshd)', () => {
  let s: Site;
  afterEach(async () => { await s.cleanup(); });
  /** The site with its store created (doctor opens a store, never creates one). */
  const siteWithStore = async (config: Record<string, unknown>) => {
    const site = await makeSite('sqlite', config);
    await (await openDb(site.db)).close();
    return site;
  };

  function sftpConfig(pin: string, extra: Record<string, unknown> = {}) {
    const base = join(sshd!.root, `doctor-${Math.random().toString(36).slice(2)}`);
    for (const d of ['in', 'ack', 'archive']) mkdirSync(join(base, d), { recursive: true });
    return {
      base,
      config: siteConfig({}, {
        name: 'chu', type: 'sftp',
        sftp: {
          host: sshd!.host, port: sshd!.port, username: sshd!.username, privateKeyFile: sshd!.clientKey, hostKeySha256: [pin],
          remoteInbox: join(base, 'in'), remoteAckDir: join(base, 'ack'), remoteArchiveDir: join(base, 'archive'), timeoutMs: 5000, ...extra,
        },
      }),
    };
  }

  it('reachable with the pinned key, remote folders present, clock in step; the probe file is removed', async () => {
    const { base, config } = sftpConfig(sshd!.fingerprint);
    s = await siteWithStore(config);
    mkdirSync(s.error, { recursive: true });
    const r = await s.cli('doctor', '--json');
    const out = json(r);
    const sftp = out.checks.filter((c: any) => c.name.startsWith('source chu: sftp'));
    expect(sftp.map((c: any) => [c.name, c.status])).toEqual([
      ['source chu: sftp secrets', 'OK'], ['source chu: sftp connection', 'OK'], ['source chu: sftp remote inbox', 'OK'],
      ['source chu: sftp remote archive', 'OK'], ['source chu: sftp write and clock', 'OK'],
    ]);
    expect(sftp[4].detail).toContain('in step with ours');
    expect(readdirSync(join(base, 'ack'))).toEqual([]);
    const offline = json(await s.cli('doctor', '--json', '--offline'));
    expect(offline.checks.find((c: any) => c.name === 'source chu: sftp')).toMatchObject({ status: 'SKIP' });
  });

  it('a host key that does not match the pin FAILs, naming the offered key', async () => {
    const { config } = sftpConfig('SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    s = await siteWithStore(config);
    const r = await s.cli('doctor', '--json');
    expect(r.code).toBe(1);
    expect(json(r).checks.find((c: any) => c.name === 'source chu: sftp host key')).toMatchObject({
      status: 'FAIL', detail: expect.stringContaining(sshd!.fingerprint), hint: expect.stringContaining('administrator'),
    });
  });

  it('a missing remote archive folder FAILs', async () => {
    const { base, config } = sftpConfig(sshd!.fingerprint);
    rmSync(join(base, 'archive'), { recursive: true });
    s = await siteWithStore(config);
    const out = json(await s.cli('doctor', '--json'));
    expect(status(out, 'source chu: sftp remote archive')).toBe('FAIL');
  });
});
