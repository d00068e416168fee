/**
 * Test program — SFTP intake against a real OpenSSH sshd (test/helpers/sshd.ts), no mocks:
 * - a remote file is downloaded to local staging, processed like a local file, its ACK files uploaded to
 *   the remote ACK folder (identical to the local ones), then moved to the remote archive — or deleted;
 * - host key pinning: a mismatching pin refuses the connection with a message naming the offered key, and
 *   nothing is downloaded; no pin at all refuses too; `sftp-keyscan` prints what ssh-keygen prints;
 * - the server killed mid-transfer: nothing half-read is processed, nothing is lost, the next cycle after
 *   the restart takes the file whole;
 * - a file still growing on the server is not taken until it has been stable for stableMs;
 * - names with "..", or control characters are refused (path traversal);
 * - SIGKILL of `run` at every step of a remote file (download, claim, ACKs, archive, remote disposition),
 *   then `run` again: local store/ACKs/archive and the remote folders end as after one clean run.
 * Without sshd the suite is skipped with a visible message, unless PAMDROP_TEST_REQUIRE_SSHD=1 (CI): then it fails.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds, type DbKind } from '../helpers/db.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { readSecrets, SftpSource } from '../../src/intake/sftp.js';
import { HostKeyError } from '../../src/intake/source.js';
import { preflight } from '../../src/pipeline/service.js';
import { createLogger } from '../../src/shared/logger.js';
import { a28, a28File, cli, contents, files, ledgerFiles, longNameArchivedTwice, makeSite, memoryLogger, runIntake, sleep, until, watchIntake, type Site } from './site.js';

const sshd: Sshd | null = await startSshd();
const sites: Site[] = [];
let work: string;
let n = 0;

afterAll(async () => {
  for (const s of sites) await s.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  await sshd?.close();
});

interface Remote { base: string; inbox: string; ack: string; archive: string }

/** A site with one sftp source `chu-sftp` on its own remote folders. */
function sftpSite(opts: { sftp?: Record<string, unknown>; source?: Record<string, unknown>; groupSize?: number; db?: DbKind } = {}): { s: Site; remote: Remote } {
  const base = join(sshd!.root, `site${++n}`);
  const remote = { base, inbox: join(base, 'in'), ack: join(base, 'ack'), archive: join(base, 'archive') };
  mkdirSync(remote.inbox, { recursive: true });
  const s = makeSite({
    ...(opts.groupSize ? { groupSize: opts.groupSize } : {}),
    ...(opts.db ? { db: opts.db } : {}),
    source: {
      name: 'chu-sftp', type: 'sftp', stableMs: 0, pollMs: 100, ...opts.source,
      sftp: {
        host: sshd!.host, port: sshd!.port, username: sshd!.username, privateKeyFile: sshd!.clientKey,
        hostKeySha256: [sshd!.fingerprint], remoteInbox: remote.inbox, remoteAckDir: remote.ack, remoteArchiveDir: remote.archive,
        timeoutMs: 3000, ...opts.sftp,
      },
    },
  });
  sites.push(s);
  return { s, remote };
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const staging = (s: Site) => files(join(s.inbox, '.staging'));

describe.skipIf(!sshd)('SFTP intake (real sshd)', () => {
  let big: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pamdrop-sftp-'));
    big = join(work, 'big.hl7');
    await generateFile(big, { messages: 6000, seed: 5, envelope: false });
  }, 60_000);

  it('downloads, processes, uploads the ACK files, archives the remote file', async () => {
    const { s, remote } = sftpSite();
    writeFileSync(join(remote.inbox, 'adt_10.hl7'), a28File(10, 3), 'latin1');
    writeFileSync(join(remote.inbox, 'adt_2.hl7'), a28File(1, 2), 'latin1');
    const r = await runIntake(s);
    expect(r.files.map((f) => [f.file, f.state])).toEqual([['adt_2.hl7', 'done'], ['adt_10.hl7', 'done']]);
    expect(r.totals).toMatchObject({ files: 2, messages: 5, AA: 5, failed: 0 });
    // Remote: inbox empty, files archived byte for byte, ACK files identical to the local ones, no temp names.
    expect(files(remote.inbox)).toEqual([]);
    expect(contents(remote.archive)).toEqual({ 'adt_10.hl7': a28File(10, 3), 'adt_2.hl7': a28File(1, 2) });
    expect(Object.keys(contents(s.outbox))).toHaveLength(5);
    expect(contents(remote.ack)).toEqual(contents(s.outbox));
    // Local: the staged copies were archived like local files; staging is empty.
    expect(files(s.archive).map((p) => p.split('/').pop())).toEqual(['adt_10.hl7', 'adt_2.hl7']);
    expect(staging(s)).toEqual([]);
    expect((await ledgerFiles(s)).map((f) => [f.name, f.state])).toEqual([['adt_2.hl7', 'done'], ['adt_10.hl7', 'done']]);
  });

  it('afterProcessing "delete" removes the remote file once the local outcome is durable', async () => {
    const { s, remote } = sftpSite({ sftp: { afterProcessing: 'delete', remoteArchiveDir: undefined, remoteAckDir: undefined } });
    writeFileSync(join(remote.inbox, 'adt_1.hl7'), a28File(1, 2), 'latin1');
    const r = await runIntake(s);
    expect(r.totals).toMatchObject({ files: 1, AA: 2 });
    expect(files(remote.base)).toEqual([]);
    expect(Object.keys(contents(s.outbox))).toHaveLength(2); // kept locally even without a remote ACK folder
  });

  it('refuses a server whose host key does not match the pin; nothing is downloaded', async () => {
    const other = 'SHA256:' + createHash('sha256').update('another key').digest('base64').replace(/=+$/, '');
    const { s, remote } = sftpSite({ sftp: { hostKeySha256: [other] } });
    writeFileSync(join(remote.inbox, 'adt_1.hl7'), a28File(1, 2), 'latin1');
    const r = await runIntake(s);
    expect(r.totals.failed).toBe(1);
    const f = r.files[0] as { state: string; error: string };
    expect(f.state).toBe('failed');
    expect(f.error).toMatch(/HostKeyError: .*does not match the pinned fingerprint/);
    expect(f.error).toContain(`offered ${sshd!.fingerprint}`);
    expect(staging(s)).toEqual([]);
    expect(await ledgerFiles(s)).toEqual([]);
    expect(files(remote.inbox)).toEqual(['adt_1.hl7']);
    // Through the CLI: exit 5 (the system's fault, nothing of the data refused), the reason in the report.
    const c = cli(s, ['run']);
    expect(c.status).toBe(5);
    expect(c.stdout).toMatch(/\(source chu-sftp\): FAILED \(HostKeyError: .*refusing to connect/);
  });

  it('with no pin at all: refused at start-up (exit 2) and at connection time', async () => {
    const { s } = sftpSite({ sftp: { hostKeySha256: [] } });
    expect(() => preflight(s.config.sources)).toThrow(/no host key pinned; run `pamdrop sftp-keyscan --source chu-sftp`/);
    const c = cli(s, ['run']);
    expect(c.status).toBe(2);
    const src = new SftpSource(s.config.sources[0]!, { log: createLogger({ level: 'silent' }) });
    await expect(src.begin()).rejects.toThrow(HostKeyError);
    await expect(src.begin()).rejects.toThrow(`The server offers ${sshd!.fingerprint}`);
  });

  it('authenticates with a passphrase-protected key whose passphrase comes from the environment; secrets never from the JSON', async () => {
    const { s, remote } = sftpSite({ sftp: { privateKeyFile: sshd!.clientKeyWithPassphrase, passphraseEnv: 'PAMDROP_TEST_PASSPHRASE' } });
    writeFileSync(join(remote.inbox, 'adt_1.hl7'), a28File(1, 1), 'latin1');
    const log = createLogger({ level: 'silent' });
    const ok = new SftpSource(s.config.sources[0]!, { log, env: { PAMDROP_TEST_PASSPHRASE: sshd!.passphrase } });
    await ok.begin();
    expect((await ok.list()).entries.map((e) => e.name)).toEqual(['adt_1.hl7']);
    await ok.end();
    const wrong = new SftpSource(s.config.sources[0]!, { log, env: { PAMDROP_TEST_PASSPHRASE: 'nope' } });
    await expect(wrong.begin()).rejects.toThrow(/sftp connect/);
    const unset = new SftpSource(s.config.sources[0]!, { log, env: {} });
    await expect(unset.begin()).rejects.toThrow(/passphraseEnv: environment variable PAMDROP_TEST_PASSPHRASE is not set/);
    // A password from a file named in the config (trailing newline dropped) or from the environment.
    const pw = join(s.root, 'pw.txt');
    writeFileSync(pw, 's3cret\n');
    expect(readSecrets({ ...s.config.sources[0]!.sftp!, privateKeyFile: undefined, passphraseEnv: undefined, passwordFile: pw }, 'k')).toEqual({ password: 's3cret' });
    expect(readSecrets({ ...s.config.sources[0]!.sftp!, privateKeyFile: undefined, passphraseEnv: undefined, passwordEnv: 'PW' }, 'k', { PW: 'x' })).toEqual({ password: 'x' });
    expect(() => readSecrets({ ...s.config.sources[0]!.sftp!, privateKeyFile: undefined, passphraseEnv: undefined, passwordEnv: 'PW' }, 'k', {})).toThrow(/PW is not set/);
  });

  it('sftp-keyscan prints the fingerprint ssh-keygen prints, and says whether it is pinned', () => {
    const { s } = sftpSite();
    const byHost = cli(s, ['sftp-keyscan', '--host', sshd!.host, '--port', String(sshd!.port)]);
    expect(byHost.status, byHost.stderr).toBe(0);
    expect(byHost.stdout.split(' ')[0]).toBe(sshd!.fingerprint);
    expect(byHost.stdout).toContain('ssh-ed25519');
    const bySource = cli(s, ['sftp-keyscan', '--source', 'chu-sftp', '--json']);
    expect(JSON.parse(bySource.stdout)).toMatchObject({ fingerprint: sshd!.fingerprint, type: 'ssh-ed25519', pinned: true, source: 'chu-sftp' });
  });

  it('server killed mid-transfer: nothing half-read, nothing lost; retried whole after the restart', async () => {
    const { s, remote } = sftpSite({ groupSize: 500 });
    copyFileSync(big, join(remote.inbox, 'adt_big.hl7'));
    const original = readFileSync(big);
    let killedAt = 0;
    const r1 = await runIntake(s, { onTransfer: (_src, _name, bytes) => { if (!killedAt) { killedAt = bytes; sshd!.kill(); } } });
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(original.length);
    expect(r1.totals.failed).toBe(1);
    expect(r1.totals.messages).toBe(0);
    expect(staging(s)).toEqual([]); // the partial download is gone
    expect(await ledgerFiles(s)).toEqual([]); // never claimed
    expect(sha(readFileSync(join(remote.inbox, 'adt_big.hl7')))).toBe(sha(original));

    // While the server is down, a cycle fails fast and cleanly too.
    const down = await runIntake(s);
    expect(down.files.map((f) => f.state)).toEqual(['failed']);

    await sshd!.start();
    const r2 = await runIntake(s);
    expect(r2.files.map((f) => [f.file, f.state])).toEqual([['adt_big.hl7', 'done']]);
    expect(r2.totals.messages).toBe(6000);
    const rows = await ledgerFiles(s);
    expect(rows.map((f) => [f.name, f.state, f.size, f.message_count])).toEqual([['adt_big.hl7', 'done', original.length, 6000]]);
    expect(sha(readFileSync(join(s.archive, files(s.archive)[0]!)))).toBe(sha(original));
    expect(files(remote.archive)).toEqual(['adt_big.hl7']);
    expect(files(remote.inbox)).toEqual([]);
  }, 120_000);

  it('a file still growing on the server is not taken until it is stable', async () => {
    const { s, remote } = sftpSite({ source: { stableMs: 1200, pollMs: 100 } });
    const w = watchIntake(s);
    const path = join(remote.inbox, 'adt_grow.hl7');
    try {
      writeFileSync(path, a28('400000', 'G0'), 'latin1');
      let last = Date.now();
      for (let i = 1; i < 10; i++) {
        await sleep(300);
        appendFileSync(path, a28(String(400000 + i), `G${i}`), 'latin1');
        last = Date.now();
        expect(files(remote.archive)).toEqual([]);
      }
      await until(() => files(remote.archive).length === 1, 15_000, 'the grown file to be archived remotely');
      expect(Date.now() - last).toBeGreaterThanOrEqual(1200 - 50);
    } finally {
      await w.stop();
    }
    expect((await ledgerFiles(s)).map((f) => [f.name, f.state, f.message_count])).toEqual([['adt_grow.hl7', 'done', 10]]);
  }, 60_000);

  it('refuses names with ".." or control characters; takes the others', async () => {
    const { s, remote } = sftpSite();
    writeFileSync(join(remote.inbox, 'a..b.hl7'), a28File(1, 1), 'latin1');
    writeFileSync(join(remote.inbox, 'bad\x01name.hl7'), a28File(2, 1), 'latin1');
    writeFileSync(join(remote.inbox, 'ok.hl7'), a28File(3, 1), 'latin1');
    const m = memoryLogger();
    const r = await runIntake(s, { log: m.log });
    expect(r.files.map((f) => f.file)).toEqual(['ok.hl7']);
    expect(files(remote.inbox)).toEqual(['a..b.hl7', 'bad\x01name.hl7']);
    expect(m.lines.filter((l) => String(l.msg).startsWith('file name refused')).map((l) => JSON.parse(String(l.name)))).toEqual(['a..b.hl7', 'bad\x01name.hl7']);
    expect(staging(s)).toEqual([]);
  });

  // Regression: the download record `<name>.json` (and its temporary name) passed 255 bytes for a name of 245 bytes or
  // more, and the archive's `-1` suffix for one of 254: the file failed on every cycle and stayed on the server.
  it('a 254-byte remote name is processed and archived; delivered again, it is archived under a shortened -1 name', async () => {
    const { s, remote } = sftpSite();
    await longNameArchivedTwice(s, remote);
  });

  // Regression: a Latin-1 name (`f\xE9vrier.hl7`) reached the source as `f\uFFFDvrier.hl7`, a name the server does not
  // know: its download failed on every cycle and held back every file after it, with no word about the name.
  it('a name that is not valid UTF-8 is refused with a warning saying so, never a failing download; the files after it go through', async () => {
    const { s, remote } = sftpSite();
    const odd = Buffer.concat([Buffer.from(remote.inbox + '/adt_1_f'), Buffer.from([0xe9]), Buffer.from('vrier.hl7')]);
    writeFileSync(odd, a28File(1, 1), 'latin1');
    writeFileSync(join(remote.inbox, 'adt_2.hl7'), a28File(2, 1), 'latin1');
    const m = memoryLogger();
    const r = await runIntake(s, { log: m.log });
    expect(r.files.map((f) => [f.file, f.state])).toEqual([['adt_2.hl7', 'done']]);
    expect(r.totals.failed).toBe(0);
    const refused = m.lines.filter((l) => String(l.msg).startsWith('file name refused'));
    expect(refused.map((l) => [l.level, JSON.parse(String(l.name)), l.why])).toEqual([['warn', 'adt_1_f\uFFFDvrier.hl7', 'not valid UTF-8 (rename it on the server)']]);
    // The file is left where it is, untouched, for someone to rename.
    expect(readFileSync(odd, 'latin1')).toBe(a28File(1, 1));
  });

  // SQLite: every step. PostgreSQL: the steps proper to a remote file (staged, outcome durable but remote
  // file not yet moved) and one mid-file commit; the local pipeline steps are crossed on PostgreSQL by crash.test.ts.
  const PG_FAULTS = new Set(['after-stage:1', 'after-commit:2', 'before-remote-dispose:1', 'after-stage:2', 'before-remote-dispose:2']);
  describe.each(dbKinds())('SIGKILL of `run` at each step of a remote file, then run again (%s)', (kind) => {
    const FIXED = '2026-03-01T10:00:00.000Z';
    const env = { PAMDROP_FIXED_TIME: FIXED };
    let batch: string;
    const snapshot = async (s: Site, remote: Remote) => ({
      local: await dumpSite(s.root, s.db),
      remoteInbox: contents(remote.inbox), remoteAck: contents(remote.ack), remoteArchive: contents(remote.archive),
      staging: staging(s),
    });
    const prepare = () => {
      const site = sftpSite({ groupSize: 100, db: kind });
      copyFileSync(batch, join(site.remote.inbox, 'adt_001.hl7'));
      writeFileSync(join(site.remote.inbox, 'adt_002.hl7'), a28File(900, 3), 'latin1');
      return site;
    };
    let clean: Awaited<ReturnType<typeof snapshot>>;
    beforeAll(async () => {
      batch = join(work, 'batch.hl7');
      await generateFile(batch, { messages: 450, seed: 7, envelope: false });
      const { s, remote } = prepare();
      const r = cli(s, ['run'], env);
      expect(r.status, r.stderr).toBe(0);
      clean = await snapshot(s, remote);
      // Remote paths differ per site: compare them relative to each site's remote folder.
    }, 60_000);

    it.each(['after-stage:1', 'after-claim:1', 'after-commit:2', 'after-acks:3', 'before-archive:1', 'after-archive-mark:1',
      'before-remote-dispose:1', 'after-stage:2', 'before-remote-dispose:2'].filter((f) => kind === 'sqlite' || PG_FAULTS.has(f)))('%s ends as one clean run', async (fault) => {
      const { s, remote } = prepare();
      const killed = cli(s, ['run'], { ...env, PAMDROP_FAULT: fault });
      expect(killed.signal).toBe('SIGKILL');
      const rerun = cli(s, ['run'], env);
      expect(rerun.status, rerun.stderr).toBe(0);
      expect(await snapshot(s, remote)).toEqual(clean);
    }, 60_000);

    it('the clean run moved both files and uploaded every ACK', () => {
      expect(Object.keys(clean.remoteArchive)).toEqual(['adt_001.hl7', 'adt_002.hl7']);
      expect(clean.remoteInbox).toEqual({});
      expect(Object.keys(clean.remoteAck)).toHaveLength(453);
      expect(clean.remoteAck).toEqual(clean.local.outbox && Object.fromEntries(Object.entries(clean.local.outbox as Record<string, string>).map(([k, v]) => [k.replace(/^outbox\//, ''), v])));
      expect(clean.staging).toEqual([]);
    });
  });
});
