/**
 * Test program — local folder intake, real folders and a real store, no mocks:
 * - completeness: a slow writer is not taken before its file is stable; a `.part` name is taken only after
 *   the rename; a done-marker source waits for its marker (and removes it after);
 * - start-up: a file already in the inbox is processed (the periodic listing is the truth, not events);
 * - order: 200 files dropped at once are processed in natural name order (ledger order);
 * - one writer: `run` exits 3 while `watch` holds the store lock;
 * - service: SIGTERM during a long file → exit 0, the file stays claimed and resumable, and a second run
 *   ends exactly as one clean run (store, ACK folder, archive).
 * Start-up, order, the store lock, SIGTERM, in-process runs and recovery run on SQLite and PostgreSQL (on
 * PostgreSQL under the source lease and its fence instead of the writer lock); completeness and configuration are
 * intake logic that does not touch the store, and run on SQLite only.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openDb } from '../../src/store/db.js';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds } from '../helpers/db.js';
import { a28, a28File, cli, files, ledgerFiles, makeSite, memoryLogger, runIntake, sleep, spawnCli, until, watchIntake, type Site } from './site.js';

const sites: Site[] = [];
const site = (...a: Parameters<typeof makeSite>) => { const s = makeSite(...a); sites.push(s); return s; };
afterAll(async () => { for (const s of sites) await s.cleanup(); });

describe('completeness', () => {
  it('a file written in slow chunks is not taken before it has been stable for stableMs', async () => {
    const s = site({ source: { stableMs: 800, pollMs: 100 } });
    const w = watchIntake(s);
    try {
      const path = join(s.inbox, 'adt_slow.hl7');
      writeFileSync(path, a28('200000', 'S0'));
      let lastWrite = Date.now();
      for (let i = 1; i < 12; i++) {
        await sleep(200);
        appendFileSync(path, a28(String(200000 + i), `S${i}`));
        lastWrite = Date.now();
        // While the writer is busy the file is never claimed, archived or moved.
        expect(files(s.archive)).toEqual([]);
        expect(existsSync(path)).toBe(true);
      }
      await until(() => files(s.archive).length > 0, 10_000, 'the file to be archived');
      expect(Date.now() - lastWrite).toBeGreaterThanOrEqual(800 - 50);
    } finally {
      await w.stop();
    }
    const rows = await ledgerFiles(s);
    expect(rows.map((r) => [r.name, r.state, r.message_count])).toEqual([['adt_slow.hl7', 'done', 12]]);
    expect(readdirSync(s.outbox)).toHaveLength(12);
  });

  it('a .part file is taken only after it is renamed to its final name', async () => {
    const s = site({ source: { stableMs: 200, pollMs: 100 } });
    writeFileSync(join(s.inbox, 'adt_1.hl7.part'), a28File(1, 3));
    const w = watchIntake(s);
    try {
      await sleep(800);
      expect(files(s.inbox)).toEqual(['adt_1.hl7.part']);
      expect(await ledgerFiles(s)).toEqual([]);
      renameSync(join(s.inbox, 'adt_1.hl7.part'), join(s.inbox, 'adt_1.hl7'));
      await until(() => files(s.archive).length > 0, 5000, 'the renamed file to be archived');
    } finally {
      await w.stop();
    }
    expect((await ledgerFiles(s)).map((r) => [r.name, r.state])).toEqual([['adt_1.hl7', 'done']]);
    expect(files(s.inbox)).toEqual([]);
  });

  it('a done-marker source waits for <name>.done, then removes the marker', async () => {
    const s = site({ source: { stableMs: 100, pollMs: 100, doneMarker: '.done' } });
    const w = watchIntake(s);
    try {
      s.drop('adt_1.hl7', a28File(1, 2));
      await sleep(700);
      expect(await ledgerFiles(s)).toEqual([]);
      s.drop('adt_1.hl7.done', '');
      await until(() => files(s.archive).length > 0, 5000, 'the marked file to be archived');
      await until(() => files(s.inbox).length === 0, 2000, 'the marker to be removed');
    } finally {
      await w.stop();
    }
    expect((await ledgerFiles(s)).map((r) => r.name)).toEqual(['adt_1.hl7']);
  });
});

describe.each(dbKinds())('start-up and order (%s)', (db) => {
  it('processes a file that was already in the inbox before the daemon started', async () => {
    const s = site({ db, source: { stableMs: 100, pollMs: 10000 } });
    s.drop('adt_early.hl7', a28File(1, 2));
    const w = watchIntake(s);
    try {
      await until(() => files(s.archive).length > 0, 5000, 'the pre-existing file to be archived');
    } finally {
      await w.stop();
    }
    expect((await ledgerFiles(s)).map((r) => [r.name, r.state])).toEqual([['adt_early.hl7', 'done']]);
  });

  it('200 files dropped at once are all processed, in natural name order', async () => {
    const s = site({ db, source: { stableMs: 500, pollMs: 100 } });
    const names = Array.from({ length: 200 }, (_, i) => `adt_${i + 1}.hl7`);
    // Prepared beside the inbox, then moved in all at once in a scrambled order, as `mv *` or a copy tool would.
    const side = join(s.root, 'side');
    mkdirSync(side);
    for (const n of names) s.drop(n, a28(String(300000 + Number(n.slice(4, -4))), `M${n.slice(4, -4)}`), side);
    const scrambled = [...names].sort((a, b) => ((a.length * 7919 + a.charCodeAt(4) * 31 + a.charCodeAt(5)) % 97) - ((b.length * 7919 + b.charCodeAt(4) * 31 + b.charCodeAt(5)) % 97) || a.localeCompare(b));
    expect(scrambled).not.toEqual(names);
    const w = watchIntake(s);
    try {
      await sleep(150);
      for (const n of scrambled) renameSync(join(side, n), join(s.inbox, n));
      await until(() => files(s.archive).length === 200, 60_000, 'all 200 files to be archived');
    } finally {
      await w.stop();
    }
    const rows = await ledgerFiles(s);
    expect(rows.map((r) => r.name)).toEqual(names);
    expect(rows.every((r) => r.state === 'done')).toBe(true);
    expect(readdirSync(s.outbox)).toHaveLength(200);
  }, 90_000);

  it('run: processes what is pending, prints a report, exits 0; --json report', async () => {
    const s = site({ db, source: { stableMs: 100 } });
    s.drop('adt_2.hl7', a28File(10, 2));
    s.drop('adt_10.hl7', a28File(20, 3));
    const r = cli(s, ['run', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.files.map((f: { file: string }) => f.file)).toEqual(['adt_2.hl7', 'adt_10.hl7']);
    expect(report.totals).toMatchObject({ files: 2, messages: 5, AA: 5, AE: 0, AR: 0, duplicates: 0, stale: 0, quarantined: 0, failed: 0 });
    expect(report.exitCode).toBe(0);
    // Same content under another name: recognised, every message a duplicate, ACKs replayed byte for byte.
    s.drop('adt_11.hl7', a28File(20, 3));
    const again = cli(s, ['run']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/adt_11\.hl7: 3 messages: 3 AA, 0 AE, 0 AR, 3 duplicates/);
    expect(again.stdout).toMatch(/total: 1 files/);
  });
});

describe.each(dbKinds())('one writer per store (%s)', (db) => {
  it('run exits 3 with a message while watch holds the lock; watch stops on SIGTERM with 0', async () => {
    const s = site({ db, source: { stableMs: 100, pollMs: 200 } });
    const w = spawnCli(s, ['watch']);
    try {
      await until(() => w.stderr().includes('"msg":"watching"'), 15_000, 'watch to start');
      const r = cli(s, ['run']);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/another pamdrop instance holds the store lock \(.*:watch/);
      s.drop('adt_1.hl7', a28File(1, 1));
      await until(() => files(s.archive).length === 1, 10_000, 'watch to process a file');
    } finally {
      w.child.kill('SIGTERM');
    }
    expect(await w.exit).toEqual({ code: 0, signal: null });
    // The lock is released: run works again.
    expect(cli(s, ['run']).status).toBe(0);
  }, 30_000);
});

describe.each(dbKinds())('SIGTERM during a long file (%s)', (db) => {
  const FIXED = '2026-03-01T10:00:00.000Z';
  // Fewer messages on PostgreSQL (a round trip per statement): still hundreds of groups, so the stop lands mid-file.
  const N = db === 'pg' ? 2000 : 5000;
  let work: string;
  let big: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pamdrop-sigterm-'));
    big = join(work, 'big.hl7');
    await generateFile(big, { messages: N, seed: 11, envelope: false });
  }, 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('exit 0, file left claimed and resumable; the next run ends as one clean run', async () => {
    const cfg = { groupSize: 20, source: { stableMs: 200, pollMs: 100 } };
    const env = { PAMDROP_FIXED_TIME: FIXED };

    const clean = site({ db, ...cfg });
    copyFileSync(big, join(clean.inbox, 'adt_big.hl7'));
    const c = cli(clean, ['run'], env);
    expect(c.status, c.stderr).toBe(0);
    const want = await dumpSite(clean.root, clean.db);

    const s = site({ db, ...cfg });
    copyFileSync(big, join(s.inbox, 'adt_big.hl7'));
    const w = spawnCli(s, ['watch'], env);
    await until(() => readdirSync(s.outbox).length > 0, 30_000, 'the first ACK files');
    w.child.kill('SIGTERM');
    expect(await w.exit).toEqual({ code: 0, signal: null });
    expect(w.stderr()).toMatch(/stop requested/);

    const rows = await ledgerFiles(s);
    expect(rows.map((r) => [r.name, r.state])).toEqual([['adt_big.hl7', 'claimed']]);
    expect(files(s.inbox)).toEqual(['adt_big.hl7']);
    const acked = readdirSync(s.outbox).length;
    expect(acked).toBeGreaterThan(0);
    expect(acked).toBeLessThan(N);
    expect(acked % 20).toBe(0); // stopped between two groups: every committed message has its ACK file

    const r = cli(s, ['run'], env);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`adt_big\\.hl7: ${N} messages.*\\(resumed\\)`));
    expect(await dumpSite(s.root, s.db)).toEqual(want);
  }, 120_000);
});

describe.each(dbKinds())('run in-process (%s)', (db) => {
  it('a failed source does not stop the others, and is reported', async () => {
    const s = site({ db, source: { stableMs: 0 } });
    s.drop('adt_1.hl7', a28File(1, 1));
    const r = await runIntake(s, { sources: [{ ...s.config.sources[0]!, name: 'broken', type: 'sftp', sftp: { host: '127.0.0.1', port: 1, username: 'x', passwordEnv: 'PATH', hostKeySha256: ['SHA256:' + 'A'.repeat(43)], remoteInbox: '/x', afterProcessing: 'delete', timeoutMs: 2000 } }, s.config.sources[0]!] });
    expect(r.totals.failed).toBe(1);
    expect(r.files.map((f) => [f.file, f.state])).toEqual([['(source broken)', 'failed'], ['adt_1.hl7', 'done']]);
  });
});

describe('configuration and start-up', () => {
  it('npm start: `watch` with zero configuration uses ./inbox, ./outbox, ./archive/YYYY/MM/DD and ./data/pamdrop.sqlite', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pamdrop-zero-'));
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(process.cwd(), 'bin/pamdrop.js'), 'watch'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const exit = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
    try {
      await until(() => err.includes('"msg":"file events ready"'), 15_000, 'watch to start');
      expect(existsSync(join(root, 'inbox'))).toBe(true); // created, ready for the first drop
      const dropped = Date.now();
      writeFileSync(join(root, 'inbox', 'adt_1.hl7'), a28File(1, 2), 'latin1');
      await until(() => files(join(root, 'archive')).length === 1, 15_000, 'the file to be archived');
      // Defaults: stableMs 2000, pollMs 5000 — taken ~2 s after the drop because the file event brought the
      // listing forward (without it: next listing at 5 s, stable at 7 s).
      expect(Date.now() - dropped).toBeLessThan(4500);
      const d = new Date();
      const p = (x: number) => String(x).padStart(2, '0');
      expect(files(join(root, 'archive'))).toEqual([`${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())}/adt_1.hl7`]);
      expect(files(join(root, 'outbox'))).toHaveLength(2);
      expect(existsSync(join(root, 'data', 'pamdrop.sqlite'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await exit;
      rmSync(root, { recursive: true, force: true });
    }
    expect(await exit).toEqual({ code: 0, signal: null });
  }, 30_000);

  it('run --inbox --ack-dir --archive-dir --error-dir --db: one local source by flags', () => {
    const s = site();
    const inbox = join(s.root, 'drop'), acks = join(s.root, 'acks'), arch = join(s.root, 'arch'), err = join(s.root, 'err'), db = join(s.root, 'other.sqlite');
    s.drop('adt_1.hl7', a28File(1, 1), (mkdirSync(inbox), inbox));
    const r = cli(s, ['run', '--inbox', inbox, '--ack-dir', acks, '--archive-dir', arch, '--error-dir', err, '--db', db]);
    expect(r.status, r.stderr).toBe(0);
    expect(files(acks)).toHaveLength(1);
    expect(files(arch)).toHaveLength(1);
    expect(existsSync(db)).toBe(true);
    expect(files(s.outbox)).toEqual([]);
  });

  it('several sources in one config, each with its own folders; two sources on one inbox are refused', () => {
    const s = site({ sources: [
      { name: 'a', inbox: 'in-a', ackDir: 'ack-a', archiveDir: 'arc-a', errorDir: 'err-a', stableMs: 0 },
      { name: 'b', inbox: 'in-b', ackDir: 'ack-b', archiveDir: 'arc-b', errorDir: 'err-b', stableMs: 0, pattern: '*.hl7' },
    ] });
    mkdirSync(join(s.root, 'in-a')); mkdirSync(join(s.root, 'in-b'));
    s.drop('x.hl7', a28File(1, 1), join(s.root, 'in-a'));
    s.drop('y.hl7', a28File(2, 2), join(s.root, 'in-b'));
    s.drop('z.txt', a28File(5, 1), join(s.root, 'in-b'));
    const r = cli(s, ['run', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).files.map((f: { source: string; file: string }) => `${f.source}/${f.file}`)).toEqual(['a/x.hl7', 'b/y.hl7']);
    expect(files(join(s.root, 'ack-a'))).toHaveLength(1);
    expect(files(join(s.root, 'ack-b'))).toHaveLength(2);
    expect(files(join(s.root, 'in-b'))).toEqual(['z.txt']);
    writeFileSync(s.configPath, JSON.stringify({ sources: [{ name: 'a', inbox: 'same' }, { name: 'b', inbox: 'same' }] }));
    const dup = cli(s, ['run']);
    expect(dup.status).toBe(2);
    expect(dup.stderr).toMatch(/sources\[1\]\.inbox: .* is already the inbox of source a/);
  });
});

describe.each(dbKinds())('recovery (%s)', (db) => {
  it('a file changed after it was claimed (crash, then rewritten) is quarantined, never half-processed', async () => {
    const s = site({ db, source: { stableMs: 0 } });
    const path = s.drop('adt_1.hl7', a28File(1, 3));
    expect(cli(s, ['run'], { PAMDROP_FAULT: 'after-claim:1' }).signal).toBe('SIGKILL');
    appendFileSync(path, a28File(50, 1));
    const r = cli(s, ['run']);
    expect(r.status).toBe(1);
    expect(files(s.error)).toEqual(['adt_1.hl7', 'adt_1.hl7.reason.txt']);
    expect(readFileSync(join(s.error, 'adt_1.hl7.reason.txt'), 'utf8')).toMatch(/changed after it was claimed/);
    expect(files(s.outbox)).toEqual([]);
  });

  it('finishes a move the ledger did not record (crash between the rename and the state change)', async () => {
    const s = site({ db, source: { stableMs: 0 } });
    s.drop('adt_1.hl7', a28File(1, 2));
    expect(cli(s, ['run']).status).toBe(0);
    const store = await openDb(s.db, { migrate: false });
    await store.run(`UPDATE files SET state = 'archiving', finished_at = NULL`);
    await store.close();
    expect(cli(s, ['run']).status).toBe(0);
    expect((await ledgerFiles(s)).map((f) => f.state)).toEqual(['done']);
  });

  it('removes a done marker left behind by a crash after its file was archived, without reprocessing', async () => {
    const s = site({ db, source: { stableMs: 0, doneMarker: '.ok' } });
    s.drop('adt_1.hl7', a28File(1, 2));
    s.drop('adt_1.hl7.ok', '');
    s.drop('adt_9.hl7.ok', ''); // a marker whose file never came: left alone
    expect(cli(s, ['run']).status).toBe(0);
    s.drop('adt_1.hl7.ok', '');
    expect(cli(s, ['run']).status).toBe(0);
    expect(files(s.inbox)).toEqual(['adt_9.hl7.ok']);
    expect(await ledgerFiles(s)).toHaveLength(1);
  });

  it('a file that keeps failing is retried with backoff, not in a tight loop, and goes through once fixed', async () => {
    const s = site({ db, source: { stableMs: 0, pollMs: 100 } });
    rmSync(s.archive, { recursive: true });
    writeFileSync(s.archive, 'not a folder'); // the archive move fails (ENOTDIR) after the messages are applied
    const m = memoryLogger();
    const w = watchIntake(s, { log: m.log });
    const failures = () => m.lines.filter((l) => String(l.msg).startsWith('file failed')).length;
    try {
      s.drop('adt_1.hl7', a28File(1, 2));
      // A busy inbox (file events all the time) must not shorten the backoff either.
      for (let i = 0; i < 50; i++) { writeFileSync(join(s.inbox, `.noise${i % 5}`), String(i)); await sleep(50); }
      expect(failures()).toBeGreaterThanOrEqual(1);
      expect(failures()).toBeLessThanOrEqual(3); // 1 s, 2 s, 4 s… never every 100 ms
      expect(m.lines.some((l) => l.msg === 'source backs off')).toBe(true);
      rmSync(s.archive);
      await until(() => files(s.archive).length === 1, 10_000, 'the file to go through after the fix');
    } finally {
      await w.stop();
    }
    expect((await ledgerFiles(s)).map((f) => f.state)).toEqual(['done']);
    expect(files(s.outbox)).toHaveLength(2);
  }, 30_000);
});
