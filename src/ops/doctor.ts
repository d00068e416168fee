/**
 * `pamdrop doctor`: checks what a run depends on and says what to do.
 *
 * - Folders of every source (inbox, ACK, archive, error): a folder, writable (a probe file is written, renamed and
 *   removed: a real test, not a permission-bit guess); a missing folder is only a warning when it can be created
 *   (the importer creates them). Probe files are dot files ending `.probe`/`.tmp`: every default ignore rule skips them.
 * - Atomic moves: inbox and archive / error folders on the same file system (else the pipeline falls back to
 *   copy + fsync + delete, which is not atomic); inside the ACK folder the probe itself is a temp + rename.
 * - Free disk space of every file system involved (folders and the SQLite database).
 * - Database: reachable, and migrated to this version (read-only: doctor never migrates; store/reads/doctor.ts).
 * - The writer lock: who holds it, and whether the lease expired.
 * - Retention: what the config sets, and a WARN when copies are kept more than 2 days past it (`prune` does not run).
 * - SFTP sources (through the intake module's SftpSource): secrets readable, host key pinned and matching, remote
 *   inbox listable, remote archive folder present, and the server's clock: a probe file is written in the remote
 *   ACK folder (else the remote inbox), its mtime compared with ours, then removed.
 * - MLLP listeners (mllp/doctor.ts): the port can be bound, the TLS files load, the certificate is not expired.
 * - FTP sources (through the intake module's FtpSource): password readable, certificate trusted (plain FTP: WARN),
 *   connection, remote inbox listable, remote archive folder present, a probe file written and removed.
 * - Folders that overlap: an ACK, archive or error folder that is the inbox or inside it (or the reverse) is a FAIL.
 * - ACK files waiting in a local source's ACK folder: how many, and a WARN when one waits for over a day (the
 *   sender does not fetch them).
 * Every check is OK, WARN, FAIL or SKIP, with a hint; any FAIL makes the command exit 1. A store target with no
 * pamdrop store at all is a ConfigError (exit 2), as for every read-only command.
 */
import { existsSync, opendirSync, renameSync, statfsSync, statSync, unlinkSync, writeFileSync, type Dir } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, posix } from 'node:path';
import type { ResolvedConfig, SourceConfig } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import { describeTarget, isPostgresUrl, openDb } from '../store/db.js';
import type { Db } from '../store/tx.js';
import { LATEST_MIGRATION } from '../store/migrations/index.js';
import { maintenanceLog, migrationState, ping } from '../store/reads/doctor.js';
import { readLock } from '../store/ledger.js';
import { WRITER_LOCK } from '../pipeline/runner.js';
import { SftpSource, readSecrets } from '../intake/sftp.js';
import { FtpSource, readFtpPassword } from '../intake/ftp.js';
import { folderConflicts } from '../config/folders.js';
import { ConfigError } from '../shared/errors.js';
import { checkListeners } from '../mllp/doctor.js';
import { countExpiredArchives, countExpiredReceived } from '../store/retention.js';
import { cutoffOf } from './prune.js';
import { pruneAckCopies, remoteAckFolders } from './prune-acks.js';

export type CheckStatus = 'OK' | 'WARN' | 'FAIL' | 'SKIP';

export interface Check {
  /** What was checked, e.g. `source local: inbox`. */
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a WARN/FAIL. */
  hint?: string;
}

export interface DoctorOptions {
  /** FAIL below this much free space (MiB) on a file system pamdrop writes to. Default 512. */
  minFreeMb?: number;
  /** WARN when the server clock differs from ours by more than this (ms); FAIL beyond 10×. Default 30 s. */
  maxSkewMs?: number;
  /** Skip network checks (SFTP). */
  offline?: boolean;
  /** Time limit of the database connection check (ms). Default 10 s. */
  timeoutMs?: number;
  /** Now, for the retention check (PAMDROP_FIXED_TIME through the command line). Default: the system clock. */
  now?: Date;
  env?: NodeJS.ProcessEnv;
}

const probeName = (ext: string) => `.pamdrop-doctor-${process.pid}-${randomBytes(3).toString('hex')}.${ext}`;

/** The path itself if it exists, else its nearest existing ancestor. */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

const errText = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code) && !String(e.message).includes(e.code) ? `${e.code}: ${e.message}` : String(e?.message ?? err);
};

/** Writes a probe file (temp name, rename, remove): proves the folder takes new files and atomic renames. */
function probeWrite(dir: string): void {
  const tmp = join(dir, probeName('tmp'));
  const fin = join(dir, probeName('probe'));
  writeFileSync(tmp, 'pamdrop doctor probe\n');
  try {
    renameSync(tmp, fin);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  unlinkSync(fin);
}

/** One folder of a source. */
function checkFolder(name: string, dir: string): Check {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) return { name, status: 'FAIL', detail: `${dir} exists but is not a folder`, hint: 'remove or rename it, or point the config at a folder' };
    try {
      probeWrite(dir);
      return { name, status: 'OK', detail: `${dir}: folder, writable` };
    } catch (err) {
      return { name, status: 'FAIL', detail: `${dir}: cannot write (${errText(err)})`, hint: `give the pamdrop user write access: chown/chmod ${dir}` };
    }
  }
  const anc = existingAncestor(dir);
  if (!statSync(anc).isDirectory()) return { name, status: 'FAIL', detail: `${dir} cannot be created: ${anc} is not a folder`, hint: 'fix the path in the config' };
  try {
    probeWrite(anc);
  } catch (err) {
    return { name, status: 'FAIL', detail: `${dir} is missing and cannot be created under ${anc} (${errText(err)})`, hint: `mkdir -p ${dir} as a user that can, then give pamdrop write access` };
  }
  return { name, status: 'WARN', detail: `${dir} does not exist yet (created on first use)`, hint: `mkdir -p ${dir} to check permissions now` };
}

/** An ACK file of a local source that waits longer than this: its sender does not fetch (remove) ACK files. */
const ACK_WAIT_WARN_MS = 24 * 3600_000;

/**
 * The ACK files waiting in a local source's ACK folder, and the oldest one's age. The sender takes each file (and
 * removes it); files waiting for over a day mean it does not, and its messages' outcomes go unread. Null when the
 * folder cannot be read (the folder check says why).
 */
function checkAckBacklog(name: string, dir: string, now: number): Check | null {
  let d: Dir;
  try { d = opendirSync(dir); } catch { return null; }
  let count = 0;
  let oldest = Infinity;
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) {
      if (!e.isFile() || e.name.startsWith('.')) continue;
      count++;
      try { oldest = Math.min(oldest, statSync(join(dir, e.name)).mtimeMs); } catch { /* fetched meanwhile */ }
    }
  } finally {
    d.closeSync();
  }
  if (count === 0) return { name, status: 'OK', detail: 'no ACK file waiting' };
  const age = now - oldest;
  const hours = Math.floor(age / 3600_000);
  const detail = `${count} ACK file(s) waiting, the oldest ${hours >= 1 ? `${hours} h` : `${Math.max(0, Math.floor(age / 60_000))} min`} old`;
  if (age <= ACK_WAIT_WARN_MS) return { name, status: 'OK', detail };
  return { name, status: 'WARN', detail: `${detail}: the sender does not seem to fetch its ACK files`,
    hint: 'check the sender\'s ACK pickup (it removes each ACK file it takes), or remove the files it will never take' };
}

function checkSameFs(name: string, a: string, b: string): Check {
  try {
    const da = statSync(existingAncestor(a)).dev;
    const db = statSync(existingAncestor(b)).dev;
    if (da === db) return { name, status: 'OK', detail: `${a} and ${b} are on the same file system: moves are atomic renames` };
    return { name, status: 'WARN', detail: `${a} and ${b} are on different file systems: moves are copy + fsync + delete, not atomic`,
      hint: 'put the inbox and the archive/error folders on one file system' };
  } catch (err) {
    return { name, status: 'SKIP', detail: `cannot compare (${errText(err)})` };
  }
}

function checkDisk(paths: ReadonlyArray<[string, string]>, minFreeMb: number): Check[] {
  const byDev = new Map<string, { path: string; uses: string[] }>();
  for (const [what, p] of paths) {
    try {
      const anc = existingAncestor(p);
      const dev = String(statSync(anc).dev);
      const e = byDev.get(dev) ?? { path: anc, uses: [] };
      e.uses.push(what);
      byDev.set(dev, e);
    } catch { /* reported by the folder checks */ }
  }
  const out: Check[] = [];
  for (const { path, uses } of byDev.values()) {
    const name = `disk space (${uses.join(', ')})`;
    try {
      const s = statfsSync(path);
      const free = Number(s.bavail) * Number(s.bsize);
      const total = Number(s.blocks) * Number(s.bsize);
      const mb = Math.floor(free / 1048576);
      const pct = total > 0 ? Math.round((free / total) * 100) : 100;
      const detail = `${mb} MiB free (${pct} %) on the file system of ${path}`;
      if (mb < minFreeMb) out.push({ name, status: 'FAIL', detail, hint: `free space (archive retention, old ACK files); at least ${minFreeMb} MiB needed` });
      else if (pct < 10) out.push({ name, status: 'WARN', detail, hint: 'less than 10 % free: plan archive retention' });
      else out.push({ name, status: 'OK', detail });
    } catch (err) {
      out.push({ name, status: 'SKIP', detail: `statfs failed (${errText(err)})` });
    }
  }
  return out;
}

/** What each kind of maintenance change needs from the operator (maintenance_log, written by migrations). */
const MAINTENANCE: Record<string, { status: Check['status']; what: string; hint?: string }> = {
  'authority-merged': { status: 'OK', what: 'namespace-only assigning authorities merged into their OID' },
  'spellings-unified': { status: 'OK', what: 'assigning authorities given one namespace per OID' },
  'records-merged': { status: 'WARN', what: 'records holding one identifier under two spellings of its authority merged (the one updated last survives)',
    hint: 'identity vigilance: review each retired record (`pamdrop patient` by its identifiers, `pamdrop history`); a retired record\'s INS was removed, not moved' },
  'authority-ambiguous': { status: 'WARN', what: 'namespace-only assigning authorities spelled with several OIDs, left apart (their messages get AE 204)',
    hint: 'ask the sender to send CX-4.2, or map the namespace with pam.authorityAliases' },
};

/** One check per kind of change the migrations made to the data, with its details (no patient data: authorities, record ids, counts). */
async function maintenanceChecks(db: Db): Promise<Check[]> {
  const rows = await maintenanceLog(db);
  const out: Check[] = [];
  for (const kind of [...new Set(rows.map((r) => r.kind))]) {
    const mine = rows.filter((r) => r.kind === kind);
    const m = MAINTENANCE[kind] ?? { status: 'OK' as const, what: kind };
    const shown = mine.slice(0, 10).map((r) => r.detail).join('; ');
    out.push({ name: `migration ${mine[0]!.migration}`, status: m.status,
      detail: `${m.what}: ${mine.length} — ${shown}${mine.length > 10 ? '; …' : ''}`, ...(m.hint ? { hint: m.hint } : {}) });
  }
  return out;
}

/** Days past the retention period after which copies still kept mean nothing prunes (`watch` or a daily `pamdrop prune`). */
const PRUNE_GRACE_DAYS = 2;

/** The retention set in the config, and whether `prune` keeps up with it (copies kept well past it: it does not run). */
async function checkRetention(db: Db, r: ResolvedConfig['retention'], sources: readonly SourceConfig[], now: Date): Promise<Check> {
  const name = 'retention';
  if (r.archiveDays === null && r.receivedDays === null && r.remoteAckDays === null) {
    return { name, status: 'OK', detail: 'not set: archived files and kept MLLP bytes are kept forever' };
  }
  const days = (d: number | null) => (d === null ? 'forever' : `${d} days`);
  const set = `archived files kept ${days(r.archiveDays)}, MLLP bytes ${days(r.receivedDays)}`
    + (r.remoteAckDays === null ? '' : `, local copies of remote ACK files ${days(r.remoteAckDays)}`);
  const late = (d: number | null) => cutoffOf(now, d === null ? null : d + PRUNE_GRACE_DAYS);
  const archiveCut = late(r.archiveDays);
  const receivedCut = late(r.receivedDays);
  const copiesCut = late(r.remoteAckDays);
  const files = archiveCut === null ? 0 : await countExpiredArchives(db, archiveCut);
  const received = receivedCut === null ? 0 : await countExpiredReceived(db, receivedCut);
  // A dry run of prune's own walk: the folders are read as a stream, each copy stat'ed once.
  const copies = copiesCut === null ? 0 : pruneAckCopies(remoteAckFolders(sources), new Date(copiesCut), true).removed;
  if (files + received + copies === 0) return { name, status: 'OK', detail: set };
  const overdue = [`${files} archived file(s)`, `${received} kept MLLP message(s)`];
  if (copiesCut !== null) overdue.push(`${copies} local cop(ies) of remote ACK files`);
  const listed = `${overdue.slice(0, -1).join(', ')} and ${overdue[overdue.length - 1]}`;
  return { name, status: 'WARN', detail: `${set}; ${listed} are more than ${PRUNE_GRACE_DAYS} days past it`,
    hint: '`pamdrop watch` prunes every retention.pruneEveryHours; without watch, run `pamdrop prune` daily (deploy/pamdrop-prune.timer, or cron). If one of them runs, read its log or output: it keeps a file it could not remove or that changed' };
}

async function checkDatabase(config: ResolvedConfig, log: Logger, opts: Required<Pick<DoctorOptions, 'timeoutMs'>> & DoctorOptions): Promise<Check[]> {
  const target = config.database;
  const where = describeTarget(target);
  const out: Check[] = [];
  if (!isPostgresUrl(target) && target !== ':memory:' && !existsSync(target)) {
    const parent = checkFolder('database folder', dirname(target));
    if (parent.status === 'FAIL') return [{ name: 'database reachable', status: 'FAIL', detail: `${where}: ${parent.detail}`, hint: parent.hint }];
    return [{ name: 'database reachable', status: 'WARN', detail: `${where} does not exist yet`, hint: 'it is created and migrated by the first command that opens the store (e.g. pamdrop status)' }];
  }
  let db: Db | undefined;
  try {
    // PostgreSQL: a database or schema without pamdrop's tables is not created (SQLite: the command line checked
    // the file exists; an empty file is reported below as unmigrated, and left as it is).
    db = await withTimeout(openDb(target, { migrate: false, create: isPostgresUrl(target) ? false : undefined, sqliteDriver: config.sqliteDriver, env: opts.env }), opts.timeoutMs, `connect ${where}`);
    // knex prints connection failures with console.log (stdout, breaking --json); doctor reports them itself.
    const kl = (db.knex.client as unknown as { logger?: { _warn?: unknown } }).logger;
    if (kl) kl._warn = (m: unknown) => log.debug('database driver warning', { detail: String(m).split('\n')[0] });
    await withTimeout(ping(db), opts.timeoutMs, `query ${where}`);
    out.push({ name: 'database reachable', status: 'OK', detail: `${db.description} answers` });
  } catch (err) {
    if (db) await withTimeout(db.close(), 2000, 'close').catch(() => {});
    // No store there at all (a mistyped target): a usage error, as for every read-only command.
    if (err instanceof ConfigError) throw err;
    return [{ name: 'database reachable', status: 'FAIL', detail: `${where}: ${errText(err)}`,
      hint: isPostgresUrl(target) ? 'check the server, the URL, the network and PAMDROP_DB_PASSWORD / PAMDROP_DB_PASSWORD_FILE' : 'check the path and the file (is it a SQLite database?)' }];
  }
  try {
    const { applied, known } = await migrationState(db);
    const pending = known.filter((n) => !applied.includes(n));
    const unknown = applied.filter((n) => !known.includes(n));
    if (unknown.length > 0) {
      out.push({ name: 'database migrated', status: 'FAIL', detail: `the database has migrations this pamdrop does not know (${unknown.join(', ')})`, hint: 'run the pamdrop version that migrated it, or a newer one' });
    } else if (pending.length > 0) {
      out.push({ name: 'database migrated', status: 'FAIL', detail: `${applied.length} of ${known.length} migrations applied; pending: ${pending.join(', ')}`,
        hint: 'any command that opens the store migrates it (e.g. pamdrop status); take a backup first' });
    } else {
      out.push({ name: 'database migrated', status: 'OK', detail: `schema at ${LATEST_MIGRATION}` });
      out.push(...await maintenanceChecks(db));
      out.push(await checkRetention(db, config.retention, config.sources, opts.now ?? new Date()));
      const lock = await readLock(db, WRITER_LOCK);
      if (!lock) out.push({ name: 'writer lock', status: 'OK', detail: 'free' });
      else if (lock.expires_at < new Date().toISOString()) {
        out.push({ name: 'writer lock', status: 'WARN', detail: `held by ${lock.owner} since ${lock.acquired_at}, lease expired ${lock.expires_at}`, hint: 'a crashed instance: the next run takes the lock over' });
      } else {
        // The owner ends with the command that holds the lock (store/ledger.ts makeOwner): a `watch` is not "an import".
        const command = lock.owner.slice(lock.owner.lastIndexOf(':') + 1) || 'a command';
        out.push({ name: 'writer lock', status: 'OK', detail: `held by ${lock.owner} since ${lock.acquired_at} (pamdrop ${command} is running)` });
      }
    }
  } catch (err) {
    out.push({ name: 'database migrated', status: 'FAIL', detail: errText(err) });
  } finally {
    await withTimeout(db.close(), 5000, 'close').catch(() => {});
  }
  return out;
}

/** SFTP checks of one source, through the intake module's SftpSource (connections pinned and timed out there). */
async function checkSftp(src: SourceConfig, log: Logger, opts: DoctorOptions): Promise<Check[]> {
  const name = (what: string) => `source ${src.name}: sftp ${what}`;
  const sf = src.sftp!;
  const out: Check[] = [];
  try {
    readSecrets(sf, `source ${src.name}.sftp`, opts.env);
    out.push({ name: name('secrets'), status: 'OK', detail: 'readable' });
  } catch (err) {
    return [{ name: name('secrets'), status: 'FAIL', detail: errText(err), hint: 'set the environment variable or the file named in the config' }];
  }
  if (sf.hostKeySha256.length === 0) {
    return [...out, { name: name('host key'), status: 'FAIL', detail: 'no host key pinned', hint: `pamdrop sftp-keyscan --source ${src.name}, check it with the server's administrator, add it to hostKeySha256` }];
  }
  const source = new SftpSource(src, { log: log.child({ source: src.name, doctor: true }), env: opts.env, key: `source ${src.name}` });
  try {
    await source.begin();
    out.push({ name: name('connection'), status: 'OK', detail: `${source.label}: connected, host key matches the pin` });
  } catch (err) {
    const hostKey = (err as Error).name === 'HostKeyError';
    await source.end();
    return [...out, { name: name(hostKey ? 'host key' : 'connection'), status: 'FAIL', detail: errText(err),
      hint: hostKey ? 'confirm the key with the server\'s administrator before changing the pin' : 'check host, port, credentials and the network' }];
  }
  try {
    try {
      const l = await source.list();
      out.push({ name: name('remote inbox'), status: 'OK', detail: `${sf.remoteInbox}: ${l.entries.length} file(s)${l.refused.length ? `, ${l.refused.length} unsafe name(s) refused` : ''}` });
    } catch (err) {
      out.push({ name: name('remote inbox'), status: 'FAIL', detail: `${sf.remoteInbox}: ${errText(err)}`, hint: 'check remoteInbox and the account\'s rights' });
    }
    if ((sf.afterProcessing ?? 'archive') === 'archive' && sf.remoteArchiveDir) {
      const ok = await source.exists(sf.remoteArchiveDir).catch(() => false);
      out.push(ok ? { name: name('remote archive'), status: 'OK', detail: `${sf.remoteArchiveDir} exists` }
        : { name: name('remote archive'), status: 'FAIL', detail: `${sf.remoteArchiveDir} not found`, hint: 'create it on the server or fix remoteArchiveDir' });
    }
    // Clock: touch a probe file where we are allowed to write, compare its mtime (whole seconds) with our clock.
    const dir = sf.remoteAckDir ?? sf.remoteInbox;
    const probe = probeName('probe');
    const path = posix.join(dir, probe);
    try {
      const before = Date.now();
      await source.write(dir, probe, Buffer.from('pamdrop doctor probe\n'));
      const after = Date.now();
      const st = await source.statPath(path);
      await source.remove(path).catch(() => {});
      if (!st) throw new Error('probe file not found after writing it');
      const mid = (before + after) / 2;
      const skew = st.mtimeMs - mid;
      // SFTP mtimes have whole seconds: a skew within the write time plus one second is no skew.
      const slack = (after - before) / 2 + 1000;
      const abs = Math.max(0, Math.abs(skew) - slack);
      const max = opts.maxSkewMs ?? 30_000;
      const detail = `${dir} writable; server clock ${abs === 0 ? 'in step with ours' : `${skew > 0 ? 'ahead of' : 'behind'} ours by about ${Math.round(Math.abs(skew) / 1000)} s`}`;
      out.push({ name: name('write and clock'), status: abs > 10 * max ? 'FAIL' : abs > max ? 'WARN' : 'OK', detail,
        ...(abs > max ? { hint: 'synchronise both clocks (NTP); file stability is judged on our clock, but times in reports and ACKs follow each host' } : {}) });
    } catch (err) {
      out.push({ name: name('write and clock'), status: 'FAIL', detail: `${dir}: ${errText(err)}`, hint: 'the ACK folder (or the inbox) must be writable to upload ACK files' });
    }
  } finally {
    await source.end();
  }
  return out;
}

/** FTP checks of one source, through the intake module's FtpSource (certificate checks and timeouts there). */
async function checkFtp(src: SourceConfig, log: Logger, opts: DoctorOptions): Promise<Check[]> {
  const name = (what: string) => `source ${src.name}: ftp ${what}`;
  const f = src.ftp!;
  const out: Check[] = [];
  try {
    readFtpPassword(f, `source ${src.name}.ftp`, opts.env);
    out.push({ name: name('secrets'), status: 'OK', detail: 'readable' });
  } catch (err) {
    return [{ name: name('secrets'), status: 'FAIL', detail: errText(err), hint: 'set the environment variable or the file named in the config' }];
  }
  const source = new FtpSource(src, { log: log.child({ source: src.name, doctor: true }), env: opts.env, key: `source ${src.name}` });
  try {
    await source.begin();
  } catch (err) {
    const cert = (err as Error).name === 'CertificateError';
    await source.end();
    return [...out, { name: name(cert ? 'certificate' : 'connection'), status: 'FAIL', detail: errText(err),
      hint: cert ? 'check the certificate with the server\'s administrator, then give its authority in caFile or pin it in pinnedCertSha256'
        : 'check host, port, secure (explicit or implicit TLS), credentials and the network' }];
  }
  try {
    const c = source.certificate;
    if (!c) {
      out.push({ name: name('certificate'), status: 'WARN', detail: 'plain FTP (insecure): the password and the files cross the network in clear',
        hint: 'ask for FTPS (secure "explicit" or "implicit"), or use SFTP' });
    } else {
      const days = Math.floor((Date.parse(c.validTo) - Date.now()) / 86_400_000);
      out.push({ name: name('certificate'), status: days < 30 ? 'WARN' : 'OK',
        detail: `${c.fingerprint} (${c.subject || 'no CN'}, issued by ${c.issuer || 'no CN'}), trusted by ${c.trustedBy}, expires ${c.validTo}`,
        ...(days < 30 ? { hint: `expires in ${days} day(s): a renewed certificate needs a new pin (pinnedCertSha256) if it is pinned` } : {}) });
    }
    out.push({ name: name('connection'), status: 'OK', detail: `${source.label}: logged in` });
    try {
      const l = await source.list();
      out.push({ name: name('remote inbox'), status: 'OK', detail: `${f.remoteInbox}: ${l.entries.length} file(s)${l.refused.length ? `, ${l.refused.length} unsafe name(s) refused` : ''}` });
    } catch (err) {
      out.push({ name: name('remote inbox'), status: 'FAIL', detail: `${f.remoteInbox}: ${errText(err)}`, hint: 'check remoteInbox and the account\'s rights' });
    }
    if ((f.afterProcessing ?? 'archive') === 'archive' && f.remoteArchiveDir) {
      const ok = await source.exists(f.remoteArchiveDir).catch(() => false);
      out.push(ok ? { name: name('remote archive'), status: 'OK', detail: `${f.remoteArchiveDir} exists` }
        : { name: name('remote archive'), status: 'WARN', detail: `${f.remoteArchiveDir} not found (created on first use, if the account may)`, hint: 'create it on the server to check the rights now' });
    }
    // FTP listings give minutes at best: no clock comparison, only proof that ACK files can be uploaded.
    const dir = f.remoteAckDir ?? f.remoteInbox;
    const probe = probeName('probe');
    try {
      await source.write(dir, probe, Buffer.from('pamdrop doctor probe\n'));
      await source.remove(posix.join(dir, probe));
      out.push({ name: name('write'), status: 'OK', detail: `${dir} writable (temporary name, rename, delete)` });
    } catch (err) {
      out.push({ name: name('write'), status: 'FAIL', detail: `${dir}: ${errText(err)}`, hint: 'the ACK folder (or the inbox) must be writable to upload ACK files' });
    }
  } finally {
    await source.end();
  }
  return out;
}

/** Runs every check. Never throws for a failed check: it is a FAIL line. */
export async function runDoctor(config: ResolvedConfig, log: Logger, opts: DoctorOptions = {}): Promise<Check[]> {
  const o = { timeoutMs: 10_000, ...opts };
  const checks: Check[] = [];
  const disk: Array<[string, string]> = [];
  for (const src of config.sources) {
    const label = `source ${src.name}`;
    for (const conflict of folderConflicts(src)) {
      checks.push({ name: `${label}: folders`, status: 'FAIL', detail: conflict, hint: 'give ackDir, archiveDir and errorDir folders outside the inbox (and the inbox outside them)' });
    }
    checks.push(checkFolder(`${label}: inbox${src.type !== 'local' ? ' (local staging)' : ''}`, src.inbox));
    checks.push(checkFolder(`${label}: ACK folder`, src.ackDir));
    // A remote source's local ACK folder is a kept copy: its sender fetches from the remote one.
    const backlog = src.type === 'local' ? checkAckBacklog(`${label}: ACK files waiting`, src.ackDir, Date.now()) : null;
    if (backlog) checks.push(backlog);
    checks.push(checkFolder(`${label}: archive`, src.archiveDir));
    checks.push(checkFolder(`${label}: error folder`, src.errorDir));
    checks.push(checkSameFs(`${label}: inbox → archive`, src.inbox, src.archiveDir));
    checks.push(checkSameFs(`${label}: inbox → error folder`, src.inbox, src.errorDir));
    disk.push([`${src.name} inbox`, src.inbox], [`${src.name} ACKs`, src.ackDir], [`${src.name} archive`, src.archiveDir], [`${src.name} errors`, src.errorDir]);
  }
  if (!isPostgresUrl(config.database) && config.database !== ':memory:') disk.push(['database', config.database]);
  checks.push(...checkDisk(disk, o.minFreeMb ?? 512));
  checks.push(...await checkDatabase(config, log, o));
  for (const src of config.sources) {
    if (src.type === 'ftp' && src.ftp) {
      if (o.offline) checks.push({ name: `source ${src.name}: ftp`, status: src.ftp.secure === false ? 'WARN' : 'SKIP', detail: `--offline: network checks skipped${src.ftp.secure === false ? '; plain FTP (insecure): password and files in clear' : ''}` });
      else checks.push(...await checkFtp(src, log, o));
    }
    if (src.type !== 'sftp' || !src.sftp) continue;
    if (o.offline) checks.push({ name: `source ${src.name}: sftp`, status: 'SKIP', detail: '--offline: network checks skipped' });
    else checks.push(...await checkSftp(src, log, o));
  }
  checks.push(...await checkListeners(config.listeners));
  // A journal that cannot be written stops nothing at start: every message would then fail to be answered.
  for (const l of config.listeners) if (l.journalDir) checks.push(checkFolder(`listener ${l.name}: journalDir`, l.journalDir));
  return checks;
}
