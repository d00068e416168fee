/**
 * Test program — FTP and FTPS intake against a real vsftpd (test/helpers/vsftpd.ts), no mocks:
 * - a batch over explicit FTPS (certificate checked against the test authority): downloaded to staging, processed,
 *   its ACK files uploaded to the remote ACK folder (identical to the local ones), the remote file archived; the
 *   same rows on SQLite and PostgreSQL;
 * - implicit FTPS with a pinned certificate, and plain FTP (insecure), with afterProcessing "delete";
 * - a file still growing on the server is not taken until it has been stable for stableMs (our clock); a `.part`
 *   upload is never taken, the file is taken once renamed;
 * - every vsftpd session killed mid-download and mid-upload of the ACK files: nothing lost, nothing applied twice,
 *   the next cycles finish the file;
 * - certificates: a pin that does not match, an authority that did not sign it, the system's authorities: refused
 *   before the password is sent, nothing downloaded, the offered fingerprint named;
 * - a name in Latin-1 bytes is taken under its rendering and archived on the server under its own bytes;
 * - doctor: connection and certificate checks, and a warning for plain FTP.
 * Without vsftpd the suite is skipped with a visible message, unless PAMDROP_TEST_REQUIRE_VSFTPD=1 (CI): then it fails.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds, type DbKind } from '../helpers/db.js';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.js';
import { FtpSource, normalizeCertPin } from '../../src/intake/ftp.js';
import { CertificateError } from '../../src/intake/source.js';
import { openDb } from '../../src/store/db.js';
import { runDoctor } from '../../src/ops/doctor.js';
import { createLogger } from '../../src/shared/logger.js';
import { a28, a28File, cli, contents, files, ledgerFiles, longNameArchivedTwice, makeSite, memoryLogger, runIntake, sleep, until, watchIntake, type Site } from './site.js';

const ftpd: Vsftpd | null = await startVsftpd('explicit');
const implicitFtpd: Vsftpd | null = ftpd ? await startVsftpd('implicit') : null;
/** A server that lets one session in per address: a second connection is refused (421). */
const oneSessionFtpd: Vsftpd | null = ftpd ? await startVsftpd('explicit', ['max_per_ip=1']) : null;
const sites: Site[] = [];
let work: string;
let n = 0;
const silent = createLogger({ level: 'silent' });

afterAll(async () => {
  for (const s of sites) await s.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  await ftpd?.close();
  await implicitFtpd?.close();
  await oneSessionFtpd?.close();
});

interface Remote { base: string; inbox: string; ack: string; archive: string }

/** A site with one ftp source `chu-ftp` on its own remote folders; the password from a file. */
function ftpSite(opts: { ftp?: Record<string, unknown>; source?: Record<string, unknown>; groupSize?: number; db?: DbKind; server?: Vsftpd } = {}): { s: Site; remote: Remote } {
  const server = opts.server ?? ftpd!;
  const base = join(server.root, `site${++n}`);
  const remote = { base, inbox: join(base, 'in'), ack: join(base, 'ack'), archive: join(base, 'archive') };
  mkdirSync(remote.inbox, { recursive: true });
  const pw = join(mkdtempSync(join(tmpdir(), 'pamdrop-ftp-pw-')), 'password');
  writeFileSync(pw, `${server.password}\n`);
  const s = makeSite({
    ...(opts.groupSize ? { groupSize: opts.groupSize } : {}),
    ...(opts.db ? { db: opts.db } : {}),
    source: {
      name: 'chu-ftp', type: 'ftp', stableMs: 0, pollMs: 100, ...opts.source,
      ftp: {
        host: server.host, port: server.port, username: server.username, passwordFile: pw, caFile: server.caFile,
        remoteInbox: remote.inbox, remoteAckDir: remote.ack, remoteArchiveDir: remote.archive, timeoutMs: 3000, ...opts.ftp,
      },
    },
  });
  sites.push(s);
  return { s, remote };
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const staging = (s: Site) => files(join(s.inbox, '.staging'));

async function count(s: Site, table: string): Promise<number> {
  const db = await openDb(s.db, { migrate: false });
  try {
    return Number((await db.get<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`))!.n);
  } finally {
    await db.close();
  }
}

describe.skipIf(!ftpd)('FTP intake (real vsftpd)', () => {
  let big: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pamdrop-ftp-'));
    big = join(work, 'big.hl7');
    await generateFile(big, { messages: 6000, seed: 5, envelope: false });
  }, 60_000);

  describe.each(dbKinds())('a batch over explicit FTPS (%s)', (kind) => {
    it('a 254-byte remote name is processed and archived; delivered again, it is archived under a shortened -1 name', async () => {
      const { s, remote } = ftpSite({ db: kind });
      await longNameArchivedTwice(s, remote);
    });

    it('downloads, processes, uploads the ACK files, archives the remote file', async () => {
      const { s, remote } = ftpSite({ db: kind });
      writeFileSync(join(remote.inbox, 'adt_10.hl7'), a28File(10, 3), 'latin1');
      writeFileSync(join(remote.inbox, 'adt_2.hl7'), a28File(1, 2), 'latin1');
      const logins = ftpd!.logins();
      const r = await runIntake(s);
      expect(ftpd!.logins()).toBeGreaterThan(logins);
      expect(r.files.map((f) => [f.file, f.state])).toEqual([['adt_2.hl7', 'done'], ['adt_10.hl7', 'done']]);
      expect(r.totals).toMatchObject({ files: 2, messages: 5, AA: 5, failed: 0 });
      expect(files(remote.inbox)).toEqual([]);
      expect(contents(remote.archive)).toEqual({ 'adt_10.hl7': a28File(10, 3), 'adt_2.hl7': a28File(1, 2) });
      expect(Object.keys(contents(s.outbox))).toHaveLength(5);
      expect(contents(remote.ack)).toEqual(contents(s.outbox)); // no temporary names left
      expect(files(s.archive).map((p) => p.split('/').pop())).toEqual(['adt_10.hl7', 'adt_2.hl7']);
      expect(staging(s)).toEqual([]);
      expect((await ledgerFiles(s)).map((f) => [f.name, f.state, f.message_count])).toEqual([['adt_2.hl7', 'done', 2], ['adt_10.hl7', 'done', 3]]);
      expect(await count(s, 'patients')).toBe(5);
      expect(await count(s, 'messages')).toBe(5);
      // A second run finds nothing to do.
      const again = await runIntake(s);
      expect(again.totals.files).toBe(0);
    });
  });

  /** A cycle over one 40-message file on `server`: its logins (every ACK checked on the server). */
  async function fortyAcks(server: Vsftpd, ftp: Record<string, unknown>): Promise<number> {
    const { s, remote } = ftpSite({ server, ftp });
    writeFileSync(join(remote.inbox, 'adt_40.hl7'), a28File(1, 40), 'latin1');
    const logins = server.logins();
    const r = await runIntake(s);
    expect(r.files.find((f) => f.file === 'adt_40.hl7')).toMatchObject({ state: 'done', summary: { messages: 40, AA: 40 } });
    expect(Object.keys(contents(s.outbox))).toHaveLength(40);
    expect(contents(remote.ack)).toEqual(contents(s.outbox)); // every ACK, byte for byte; no temporary name left
    expect(files(remote.archive)).toEqual(['adt_40.hl7']);
    return server.logins() - logins;
  }

  it('a batch of more than 8 ACK files is uploaded on uploadConnections connections at once', async () => {
    const one = await fortyAcks(ftpd!, { uploadConnections: 1 });
    const three = await fortyAcks(ftpd!, { uploadConnections: 3 });
    expect(three - one).toBe(2); // two upload connections beside the main one
  });

  it('a server that refuses a second session gets every ACK file on the one connection it allows', async () => {
    const refusals = () => (readFileSync(join(oneSessionFtpd!.dir, 'vsftpd.log'), 'latin1').match(/421 There are too many connections/g) ?? []).length;
    const before = refusals();
    // One session at a time: the ACK uploads asked for extra ones, were refused, and went on the main connection.
    // (A cycle that starts while the server still counts the previous session is refused too, and retried by the next
    // poll: only the file's own outcome is checked here.)
    await fortyAcks(oneSessionFtpd!, {});
    expect(refusals()).toBeGreaterThan(before);
  });

  it('implicit FTPS with a pinned certificate (no authority needed); afterProcessing "delete"', async () => {
    const { s, remote } = ftpSite({ server: implicitFtpd!, ftp: { secure: 'implicit', caFile: undefined, pinnedCertSha256: [implicitFtpd!.fingerprint.toLowerCase()],
      afterProcessing: 'delete', remoteArchiveDir: undefined } });
    writeFileSync(join(remote.inbox, 'adt_1.hl7'), a28File(1, 2), 'latin1');
    const r = await runIntake(s);
    expect(r.totals).toMatchObject({ files: 1, AA: 2, failed: 0 });
    expect(files(remote.base)).toEqual(files(remote.ack).map((f) => `ack/${f}`));
    expect(files(remote.ack)).toHaveLength(2);
  });

  it('plain FTP only with insecure: true; the password from an environment variable', async () => {
    const { s, remote } = ftpSite({ ftp: { secure: false, insecure: true, caFile: undefined, passwordFile: undefined, passwordEnv: 'PAMDROP_TEST_FTP_PW' } });
    writeFileSync(join(remote.inbox, 'adt_1.hl7'), a28File(1, 1), 'latin1');
    const src = new FtpSource(s.config.sources[0]!, { log: silent, env: { PAMDROP_TEST_FTP_PW: ftpd!.password } });
    await src.begin();
    expect(src.certificate).toBeNull();
    expect((await src.list()).entries.map((e) => [e.name, e.size])).toEqual([['adt_1.hl7', a28File(1, 1).length]]);
    await src.end();
    const unset = new FtpSource(s.config.sources[0]!, { log: silent, env: {} });
    await expect(unset.begin()).rejects.toThrow(/passwordEnv: environment variable PAMDROP_TEST_FTP_PW is not set/);
  });

  describe('certificates', () => {
    const refused = async (ftp: Record<string, unknown>, why: RegExp) => {
      const { s, remote } = ftpSite({ ftp });
      writeFileSync(join(remote.inbox, 'adt_1.hl7'), a28File(1, 2), 'latin1');
      const logins = ftpd!.logins();
      const r = await runIntake(s);
      expect(ftpd!.logins()).toBe(logins); // refused before the user name (and the password) was sent
      expect(r.totals.failed).toBe(1);
      const f = r.files[0] as { state: string; error: string };
      expect(f.error).toMatch(why);
      expect(f.error).toContain(`offered ${ftpd!.fingerprint}`);
      expect(staging(s)).toEqual([]);
      expect(await ledgerFiles(s)).toEqual([]);
      expect(files(remote.base)).toEqual(['in/adt_1.hl7']);
      const src = new FtpSource(s.config.sources[0]!, { log: silent });
      await expect(src.begin()).rejects.toThrow(CertificateError);
    };
    it('a pin that does not match is refused', async () => {
      const other = normalizeCertPin(sha('another certificate'));
      await refused({ pinnedCertSha256: [other] }, /CertificateError: .*does not match the pinned fingerprint/);
    });
    it('a certificate from an authority we were not given is refused', async () => {
      await refused({ caFile: ftpd!.otherCaFile }, /CertificateError: .*is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    });
    it('the system authorities do not know the test authority: refused too', async () => {
      await refused({ caFile: undefined }, /CertificateError: .*is not trusted/);
    });
    it('pin and authority both given: both must hold', async () => {
      const { s } = ftpSite({ ftp: { pinnedCertSha256: [ftpd!.fingerprint] } });
      const ok = new FtpSource(s.config.sources[0]!, { log: silent });
      await ok.begin();
      expect(ok.certificate).toMatchObject({ fingerprint: ftpd!.fingerprint, trustedBy: 'pin and authority' });
      await ok.end();
      const { s: s2 } = ftpSite({ ftp: { pinnedCertSha256: [ftpd!.fingerprint], caFile: ftpd!.otherCaFile } });
      await expect(new FtpSource(s2.config.sources[0]!, { log: silent }).begin()).rejects.toThrow(/is not trusted/);
    });
  });

  it('a file still growing on the server is not taken until it is stable', async () => {
    const { s, remote } = ftpSite({ source: { stableMs: 1200, pollMs: 100 } });
    const w = watchIntake(s);
    const path = join(remote.inbox, 'adt_grow.hl7');
    try {
      writeFileSync(path, a28('400000', 'G0'), 'latin1');
      let last = Date.now();
      for (let i = 1; i < 8; i++) {
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
    expect((await ledgerFiles(s)).map((f) => [f.name, f.state, f.message_count])).toEqual([['adt_grow.hl7', 'done', 8]]);
  }, 60_000);

  it('a .part upload is never taken; renamed, it is', async () => {
    const { s, remote } = ftpSite({ source: { stableMs: 300 } });
    const part = join(remote.inbox, 'adt_5.hl7.part');
    writeFileSync(part, a28File(5, 2), 'latin1');
    const r1 = await runIntake(s);
    expect(r1.totals.files).toBe(0);
    expect(files(remote.inbox)).toEqual(['adt_5.hl7.part']);
    renameSync(part, join(remote.inbox, 'adt_5.hl7'));
    const r2 = await runIntake(s);
    expect(r2.files.map((f) => [f.file, f.state])).toEqual([['adt_5.hl7', 'done']]);
    expect(files(remote.archive)).toEqual(['adt_5.hl7']);
  });

  it('sessions killed mid-download: nothing half-read, nothing lost; taken whole on the next cycle', async () => {
    // No remote ACK folder here: 6000 uploads, one data connection each, would only make the test slow.
    const { s, remote } = ftpSite({ groupSize: 500, ftp: { remoteAckDir: undefined } });
    copyFileSync(big, join(remote.inbox, 'adt_big.hl7'));
    const original = readFileSync(big);
    let killedAt = 0;
    const r1 = await runIntake(s, { onTransfer: (_src, _name, bytes) => { if (!killedAt) { killedAt = bytes; ftpd!.killSessions(); } } });
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(original.length);
    expect(r1.totals.failed).toBe(1);
    expect(r1.totals.messages).toBe(0);
    expect(staging(s)).toEqual([]);
    expect(await ledgerFiles(s)).toEqual([]);
    expect(sha(readFileSync(join(remote.inbox, 'adt_big.hl7')))).toBe(sha(original));
    // The whole server down: a cycle fails at once and cleanly; after the restart the file goes through.
    ftpd!.kill();
    const down = await runIntake(s);
    expect(down.files.map((f) => [f.file, f.state])).toEqual([['(source chu-ftp)', 'failed']]);
    expect(await ledgerFiles(s)).toEqual([]);
    await ftpd!.start();
    const r2 = await runIntake(s);
    expect(r2.files.map((f) => [f.file, f.state])).toEqual([['adt_big.hl7', 'done']]);
    expect((await ledgerFiles(s)).map((f) => [f.name, f.state, f.size, f.message_count])).toEqual([['adt_big.hl7', 'done', original.length, 6000]]);
    expect(sha(readFileSync(join(s.archive, files(s.archive)[0]!)))).toBe(sha(original));
    expect(files(remote.archive)).toEqual(['adt_big.hl7']);
  }, 120_000);

  describe.each(dbKinds())('sessions killed while the ACK files are uploaded (%s)', (kind) => {
    it('the file resumes: every message applied once, every ACK uploaded once, the remote file archived', async () => {
      const { s, remote } = ftpSite({ db: kind, groupSize: 25 });
      const total = 150;
      writeFileSync(join(remote.inbox, 'adt_1.hl7'), a28File(1, total), 'latin1');
      let killed = false;
      const poll = setInterval(() => {
        if (!killed && readdirSafe(remote.ack).length >= 20) { killed = true; ftpd!.killSessions(); }
      }, 2);
      let r1;
      try {
        r1 = await runIntake(s);
      } finally {
        clearInterval(poll);
      }
      expect(killed).toBe(true);
      expect(r1.totals.failed).toBe(1);
      expect(files(remote.inbox)).toEqual(['adt_1.hl7']); // not disposed of before the outcome is durable
      const r2 = await runIntake(s);
      expect(r2.files.map((f) => [f.file, f.state])).toEqual([['adt_1.hl7', 'done']]);
      expect(await count(s, 'patients')).toBe(total);
      expect(await count(s, 'messages')).toBe(total);
      expect((await ledgerFiles(s)).map((f) => [f.name, f.state, f.message_count])).toEqual([['adt_1.hl7', 'done', total]]);
      expect(Object.keys(contents(s.outbox))).toHaveLength(total);
      // Every ACK once, identical to the local one; a temporary name cut short by the kill is replaced, not left.
      expect(contents(remote.ack)).toEqual(contents(s.outbox));
      expect(files(remote.inbox)).toEqual([]);
      expect(files(remote.archive)).toEqual(['adt_1.hl7']);
      expect(staging(s)).toEqual([]);
    }, 60_000);
  });

  it('a name in Latin-1 bytes is taken under its rendering, and archived on the server under its own bytes', async () => {
    const { s, remote } = ftpSite();
    const odd = Buffer.concat([Buffer.from(remote.inbox + '/adt_1_f'), Buffer.from([0xe9]), Buffer.from('vrier.hl7')]);
    writeFileSync(odd, a28File(1, 1), 'latin1');
    writeFileSync(join(remote.inbox, 'adt_2.hl7'), a28File(2, 1), 'latin1');
    const m = memoryLogger();
    const r = await runIntake(s, { log: m.log });
    expect(r.files.map((f) => [f.file, f.state])).toEqual([['adt_1_f%E9vrier.hl7', 'done'], ['adt_2.hl7', 'done']]);
    expect(readdirSync(remote.inbox)).toEqual([]);
    const archived = readdirSync(Buffer.from(remote.archive), { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
    expect(archived).toEqual([Buffer.from('adt_1_f\xe9vrier.hl7', 'latin1').toString('hex'), Buffer.from('adt_2.hl7').toString('hex')].sort());
    expect(files(s.archive).map((p) => p.split('/').pop())).toEqual(['adt_1_f%E9vrier.hl7', 'adt_2.hl7']);
    expect(Object.keys(contents(remote.ack))).toEqual(Object.keys(contents(s.outbox)));
  });

  it('a Latin-1 name whose rendering is also the name of another file: neither is taken, the others are (a name vsftpd globs included)', async () => {
    const { s, remote } = ftpSite();
    writeFileSync(Buffer.concat([Buffer.from(remote.inbox + '/adt_1_f'), Buffer.from([0xe9]), Buffer.from('.hl7')]), a28File(1, 1), 'latin1');
    writeFileSync(join(remote.inbox, 'adt_1_f%E9.hl7'), a28File(2, 1), 'latin1');
    writeFileSync(join(remote.inbox, 'adt_3.hl7'), a28File(3, 1), 'latin1');
    // vsftpd reads `{…}` in a LIST argument as a pattern: the stat of this one falls back to the folder's listing.
    writeFileSync(join(remote.inbox, 'adt_4{x}.hl7'), a28File(4, 1), 'latin1');
    const m = memoryLogger();
    const r = await runIntake(s, { log: m.log });
    expect(r.files.map((f) => [f.file, f.state])).toEqual([['adt_3.hl7', 'done'], ['adt_4{x}.hl7', 'done']]);
    expect(m.lines.filter((l) => String(l.msg).startsWith('file name refused')).map((l) => JSON.parse(String(l.name)))).toEqual(['adt_1_f%E9.hl7']);
    expect(readdirSync(remote.inbox)).toHaveLength(2);
  });

  // The steps proper to a remote file (staged; outcome durable but remote file not yet moved), and the ACK uploads,
  // on a first file whose name is Latin-1: its remote disposal after a crash runs before any listing of the cycle.
  describe.each(dbKinds())('SIGKILL of `run` at each step of a remote file, then run again (%s)', (kind) => {
    const env = { PAMDROP_FIXED_TIME: '2026-03-01T10:00:00.000Z' };
    const latin1 = Buffer.from('adt_001_f\xe9vrier.hl7', 'latin1');
    const snapshot = async (s: Site, remote: Remote) => ({
      local: await dumpSite(s.root, s.db),
      remoteInbox: rawContents(remote.inbox), remoteAck: rawContents(remote.ack), remoteArchive: rawContents(remote.archive), staging: staging(s),
    });
    const prepare = () => {
      const site = ftpSite({ groupSize: 10, db: kind });
      writeFileSync(Buffer.concat([Buffer.from(site.remote.inbox + '/'), latin1]), a28File(1, 40), 'latin1');
      writeFileSync(join(site.remote.inbox, 'adt_002.hl7'), a28File(900, 3), 'latin1');
      return site;
    };
    let clean: Awaited<ReturnType<typeof snapshot>>;
    beforeAll(async () => {
      const { s, remote } = prepare();
      const r = cli(s, ['run'], env);
      expect(r.status, r.stderr).toBe(0);
      clean = await snapshot(s, remote);
    }, 120_000);

    it('the clean run archived both files remotely under their own bytes and uploaded every ACK', () => {
      expect(Object.keys(clean.remoteArchive)).toEqual([latin1.toString('hex'), Buffer.from('adt_002.hl7').toString('hex')].sort());
      expect(clean.remoteInbox).toEqual({});
      expect(Object.keys(clean.remoteAck)).toHaveLength(43);
      expect(clean.staging).toEqual([]);
    });

    it.each(['after-stage:1', 'after-acks:2', 'before-remote-dispose:1', 'before-remote-dispose:2'])('%s ends as one clean run', async (fault) => {
      const { s, remote } = prepare();
      const killed = cli(s, ['run'], { ...env, PAMDROP_FAULT: fault });
      expect(killed.signal).toBe('SIGKILL');
      const rerun = cli(s, ['run'], env);
      expect(rerun.status, rerun.stderr).toBe(0);
      expect(await snapshot(s, remote)).toEqual(clean);
    }, 60_000);
  });

  it('doctor: connection and certificate OK over FTPS; plain FTP is a warning', async () => {
    const { s } = ftpSite();
    const checks = await runDoctor(s.config, silent, {});
    const ftp = checks.filter((c) => c.name.startsWith('source chu-ftp: ftp'));
    expect(ftp.map((c) => [c.name, c.status])).toEqual([
      ['source chu-ftp: ftp secrets', 'OK'], ['source chu-ftp: ftp certificate', 'OK'], ['source chu-ftp: ftp connection', 'OK'],
      ['source chu-ftp: ftp remote inbox', 'OK'], ['source chu-ftp: ftp remote archive', 'WARN'], ['source chu-ftp: ftp write', 'OK'],
    ]);
    expect(ftp[1]!.detail).toContain(ftpd!.fingerprint);
    const { s: plain } = ftpSite({ ftp: { secure: false, insecure: true, caFile: undefined } });
    mkdirSync(plain.config.sources[0]!.ftp!.remoteArchiveDir!, { recursive: true });
    const p = (await runDoctor(plain.config, silent, {})).filter((c) => c.name.startsWith('source chu-ftp: ftp'));
    expect(p.find((c) => c.name.endsWith('ftp certificate'))).toMatchObject({ status: 'WARN', detail: expect.stringMatching(/plain FTP/) });
    expect(p.find((c) => c.name.endsWith('remote archive'))?.status).toBe('OK');
    const { s: bad } = ftpSite({ ftp: { caFile: ftpd!.otherCaFile } });
    const b = (await runDoctor(bad.config, silent, {})).filter((c) => c.name.startsWith('source chu-ftp: ftp'));
    expect(b.find((c) => c.name.endsWith('ftp certificate'))).toMatchObject({ status: 'FAIL', detail: expect.stringContaining(ftpd!.fingerprint) });
  });
});

function readdirSafe(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}

/** Hex of each file name of a folder (names may not be UTF-8) → SHA-256 of its bytes. */
function rawContents(dir: string): Record<string, string> {
  let names: Buffer[];
  try { names = readdirSync(Buffer.from(dir), { encoding: 'buffer' }); } catch { return {}; }
  const out: Record<string, string> = {};
  for (const b of names.sort(Buffer.compare)) out[b.toString('hex')] = sha(readFileSync(Buffer.concat([Buffer.from(dir + '/'), b])));
  return out;
}
