/**
 * FTP and FTPS source (basic-ftp). The same lifecycle as SFTP (intake.ts): a fresh connection each cycle, a
 * timeout on every call, downloads staged and checked against the listed size, ACKs uploaded under a temporary
 * name then renamed, the remote file archived or deleted only once the local outcome is durable.
 *
 * - TLS by default: `secure` "explicit" (AUTH TLS) or "implicit"; plain FTP only with `insecure: true`.
 * - The certificate is checked before the password is sent, on the control connection and on every data
 *   connection: it must chain to `caFile` (else the system's authorities) and name `host`, or match one of the
 *   `pinnedCertSha256` fingerprints (with `caFile` as well: both). A refusal names the offered fingerprint.
 * - The password comes from the environment variable or the file the config names, read at each connection.
 * - Passive mode only; data connections go to the control connection's address, whatever PASV answers.
 * - One command at a time on a connection: calls queue. A batch of ACK files is uploaded on up to `uploadConnections`
 *   connections at once (each upload is a data connection of its own, with its TLS handshake); a server that refuses
 *   the extra connections leaves the uploads on the main one.
 * - Names and times of listings: ftp-listing.ts (Latin-1 names are taken, under their rendering).
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, fsyncSync, mkdirSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { checkServerIdentity, TLSSocket, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { Client, FileType, FTPError } from 'basic-ftp';
import type { FtpSettings, SourceConfig } from '../config/types.js';
import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listingTime, RemoteNames } from './ftp-listing.js';
import { CertificateError, IntakeError, unsafeName, type Download, type DownloadOptions, type Listing, type RemoteSource, type SourceEntry } from './source.js';

export const DEFAULT_FTP_TIMEOUT_MS = 30_000;

/** The default port of a TLS mode: 990 for implicit TLS, 21 otherwise. */
export const defaultFtpPort = (secure: FtpSettings['secure']): number => (secure === 'implicit' ? 990 : 21);

/** A certificate fingerprint in the form `openssl x509 -noout -fingerprint -sha256` prints: `AB:CD:…`. */
export function certFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

/** A pin as written in the config (any case, colons or not, an optional `sha256:`), in the form certFingerprint gives. */
export function normalizeCertPin(pin: string): string {
  const hex = pin.trim().replace(/^sha256:/i, '').replace(/:/g, '').toUpperCase();
  return hex.match(/../g)?.join(':') ?? hex;
}

/** The password named by the settings (environment variable or file). Throws ConfigError naming the key. */
export function readFtpPassword(s: FtpSettings, key: string, env: NodeJS.ProcessEnv = process.env): string {
  if (s.passwordEnv) {
    const v = env[s.passwordEnv];
    if (v === undefined || v === '') throw new ConfigError(`config: ${key}.passwordEnv: environment variable ${s.passwordEnv} is not set`);
    return v;
  }
  if (s.passwordFile) {
    try {
      return readFileSync(s.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`config: ${key}.passwordFile: cannot read ${s.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
  }
  throw new ConfigError(`config: ${key}: give passwordEnv or passwordFile`);
}

/** The authorities of `caFile`, read at each connection. Throws ConfigError naming the key. */
function readCa(s: FtpSettings, key: string): Buffer | undefined {
  if (!s.caFile) return undefined;
  try {
    return readFileSync(s.caFile);
  } catch (err) {
    throw new ConfigError(`config: ${key}.caFile: cannot read ${s.caFile}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
}

/** Rejects with `onTimeout()` when `p` has not settled within `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(onTimeout()), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** An IntakeError for what basic-ftp threw: the server's reply code (`FTP550`) or the socket's error code. */
function intakeError(what: string, err: unknown): IntakeError {
  if (err instanceof IntakeError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = err instanceof FTPError ? `FTP${err.code}` : typeof e.code === 'string' ? e.code : undefined;
  return new IntakeError(`ftp ${what}: ${String(e.message ?? err).trim()}`, code, { cause: err });
}

/** One connection to the server and the calls queued on it: one command at a time (basic-ftp's rule). */
class Lane {
  private client: Client | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  constructor(private readonly open: () => Promise<Client>, private readonly timeoutMs: number) {}

  /** Runs `fn` when the calls queued before it are done. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The open connection, reconnected if there is none or the server dropped it (or a timed-out call closed it). */
  async conn(): Promise<Client> {
    if (this.client && !this.client.closed) return this.client;
    this.client = await this.open();
    return this.client;
  }

  /** Closes `c`, and forgets it if it is this lane's connection: the next call connects again. */
  drop(c: Client): void {
    if (this.client === c) this.client = null;
    c.close();
  }

  /** Runs one call, alone on the connection and within the per-call timeout; a timed-out connection is closed. */
  call<T>(what: string, fn: (c: Client) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const c = await this.conn();
      try {
        return await withTimeout(fn(c), this.timeoutMs, () => {
          this.drop(c);
          return new IntakeError(`ftp ${what}: no answer within ${this.timeoutMs} ms`, 'ETIMEDOUT');
        });
      } catch (err) {
        throw intakeError(what, err);
      }
    });
  }

  /** QUIT politely, but never wait on a server that does not answer. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (!c) return;
    if (!c.closed) await withTimeout(c.send('QUIT').catch(() => undefined), Math.min(this.timeoutMs, 5000), () => new Error('quit')).catch(() => undefined);
    c.close();
  }
}

/** Connections used at once to upload a batch of ACK files, when the settings do not say. */
export const DEFAULT_UPLOAD_CONNECTIONS = 4;
/** A batch of at most this many ACK files stays on the main connection: extra logins would cost more than they save. */
const PARALLEL_UPLOAD_MIN = 8;

/** What doctor shows of the certificate of the last connection. */
export interface CertificateInfo { fingerprint: string; subject: string; issuer: string; validTo: string; trustedBy: 'pin' | 'authority' | 'pin and authority' }

/** Dependencies of an FtpSource. */
export interface FtpSourceOptions {
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Config key of the source, for messages (`source chu-ftp`). */
  key?: string;
}

/** A remote inbox over FTP or FTPS; the local `inbox` of the source is the staging root. */
export class FtpSource implements RemoteSource {
  readonly kind = 'ftp' as const;
  readonly inPlace = false;
  readonly label: string;
  readonly settings: FtpSettings;
  /** The certificate of the last connection (FTPS), once it was accepted. */
  certificate: CertificateInfo | null = null;
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly pins: string[];
  private readonly key: string;
  private readonly names = new RemoteNames();
  /** The connection of every command but the extra ACK uploads. */
  private readonly main: Lane;
  /** Extra connections of this cycle for ACK uploads (writeMany); null once the server refused one. */
  private uploads: Lane[] | null = [];
  private madeDirs = new Set<string>();

  constructor(readonly cfg: SourceConfig, private readonly opts: FtpSourceOptions) {
    if (!cfg.ftp) throw new ConfigError(`config: source ${cfg.name}: ftp settings missing`);
    this.settings = cfg.ftp;
    const s = this.settings;
    this.port = s.port ?? defaultFtpPort(s.secure);
    this.timeoutMs = s.timeoutMs ?? DEFAULT_FTP_TIMEOUT_MS;
    this.pins = (s.pinnedCertSha256 ?? []).map(normalizeCertPin);
    this.key = `${opts.key ?? `source ${cfg.name}`}.ftp`;
    const scheme = s.secure === false ? 'ftp' : s.secure === 'implicit' ? 'ftps-implicit' : 'ftps';
    this.label = `${scheme}://${s.username}@${s.host}:${this.port}${posix.isAbsolute(s.remoteInbox) ? '' : '/~/'}${s.remoteInbox}`;
    this.main = new Lane(() => this.connect(), this.timeoutMs);
  }

  async begin(): Promise<void> {
    await this.end();
    await this.main.exclusive(() => this.main.conn());
  }

  async end(): Promise<void> {
    const extra = this.uploads ?? [];
    this.uploads = [];
    this.madeDirs = new Set();
    await Promise.all([this.main.close(), ...extra.map((l) => l.close())]);
  }

  private tlsOptions(): ConnectionOptions {
    const ca = readCa(this.settings, this.key);
    // Verification is ours (verifyPeer), on every socket, so that a refusal can name the certificate offered.
    return {
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ...(ca ? { ca } : {}),
      ...(isIP(this.settings.host) ? {} : { servername: this.settings.host }),
    };
  }

  /** Throws CertificateError unless the socket's certificate is trusted (authority and name, and/or pin). */
  private verifyPeer(socket: TLSSocket): CertificateInfo {
    const where = `${this.settings.host}:${this.port}`;
    const cert: PeerCertificate | undefined = socket.getPeerCertificate();
    if (!cert || !cert.raw) throw new CertificateError(`ftp ${this.cfg.name}: ${where} sent no certificate; refusing to log in`, null);
    const offered = certFingerprint(cert.raw);
    const pinned = this.pins.length > 0;
    if (pinned && !this.pins.includes(offered)) {
      throw new CertificateError(`ftp ${this.cfg.name}: certificate of ${where} does not match the pinned fingerprint${this.pins.length > 1 ? 's' : ''} `
        + `(offered ${offered}, pinned ${this.pins.join(', ')}); refusing to log in. A changed certificate may be an attack: `
        + `confirm the new one with the server's administrator before updating ${this.key}.pinnedCertSha256`, offered);
    }
    const byAuthority = !pinned || !!this.settings.caFile;
    if (byAuthority) {
      const why = !socket.authorized ? String(socket.authorizationError) : checkServerIdentity(this.settings.host, cert)?.message;
      if (!socket.authorized || why) {
        throw new CertificateError(`ftp ${this.cfg.name}: certificate of ${where} is not trusted (${why}; offered ${offered}); refusing to log in. `
          + `Give the authority that issued it in ${this.key}.caFile, or pin it in ${this.key}.pinnedCertSha256 after checking it with the server's administrator`, offered);
      }
    }
    const cn = (x: string | string[] | undefined) => [x ?? ''].flat().join(', ');
    return { fingerprint: offered, subject: cn(cert.subject?.CN), issuer: cn(cert.issuer?.CN), validTo: cert.valid_to,
      trustedBy: pinned && byAuthority ? 'pin and authority' : pinned ? 'pin' : 'authority' };
  }

  private async connect(): Promise<Client> {
    const s = this.settings;
    const password = readFtpPassword(s, this.key, this.opts.env);
    const where = `${s.host}:${this.port}`;
    const c = new Client(this.timeoutMs);
    // Latin-1 on the control connection: every byte of a name comes through and goes back unchanged.
    c.ftp.encoding = 'latin1';
    const ftp = c.ftp as unknown as { dataSocket: unknown };
    const proto = Object.getPrototypeOf(c.ftp) as object;
    const accessor = Object.getOwnPropertyDescriptor(proto, 'dataSocket')!;
    // Data connections are TLS sockets of their own: each one's certificate is checked as the control connection's.
    Object.defineProperty(ftp, 'dataSocket', {
      configurable: true,
      get: () => accessor.get!.call(c.ftp),
      set: (sock: unknown) => {
        accessor.set!.call(c.ftp, sock);
        if (sock instanceof TLSSocket) {
          // A resumed session was authenticated with the control connection (only its holder has the session
          // keys); it carries no certificate of its own. A new session shows one, checked like the first.
          const check = () => { try { if (!sock.isSessionReused()) this.verifyPeer(sock); } catch (err) { sock.destroy(err as Error); } };
          if (sock.getPeerCertificate()?.raw) check(); else sock.once('secureConnect', check);
        }
      },
    });
    try {
      await withTimeout((async () => {
        if (s.secure === 'implicit') {
          await c.connectImplicitTLS(s.host, this.port, this.tlsOptions());
        } else {
          await c.connect(s.host, this.port);
          if (s.secure === 'explicit') await c.useTLS(this.tlsOptions());
        }
        // Before the password is sent.
        this.certificate = c.ftp.socket instanceof TLSSocket ? this.verifyPeer(c.ftp.socket) : null;
        await c.login(s.username, password);
        await c.useDefaultSettings();
      })(), this.timeoutMs + 1000, () => new IntakeError(`ftp connect ${where}: no answer within ${this.timeoutMs} ms`, 'ETIMEDOUT'));
    } catch (err) {
      c.close();
      if (err instanceof CertificateError || err instanceof IntakeError) throw err;
      throw intakeError(`connect ${where}`, err);
    }
    return c;
  }

  /** Runs one call on the main connection (Lane.call). */
  private call<T>(what: string, fn: (c: Client) => Promise<T>): Promise<T> {
    return this.main.call(what, fn);
  }

  private wire(path: string): string {
    return this.names.toWire(path);
  }

  inboxPath(name: string): string {
    return posix.join(this.settings.remoteInbox, name);
  }

  /** Regular files of a remote folder as (name shown, entry); folders and links are never taken. */
  private async listDir(dir: string): Promise<{ entries: SourceEntry[]; refused: string[] }> {
    const items = await this.call(`list ${dir}`, (c) => c.list(this.wire(dir)));
    const now = new Date();
    const entries: SourceEntry[] = [];
    const refused: string[] = [];
    for (const it of items) {
      if (it.type !== FileType.File) continue;
      const { name } = this.names.fromWire(it.name);
      if (unsafeName(name)) { refused.push(name); continue; }
      entries.push({ name, size: it.size, mtimeMs: listingTime(it.rawModifiedAt, it.modifiedAt, now) });
    }
    // A Latin-1 name whose rendering is also the name of another file (`f%E9vrier.hl7` written so): neither is taken.
    const seen = new Map<string, number>();
    for (const e of entries) seen.set(e.name, (seen.get(e.name) ?? 0) + 1);
    const twice = entries.filter((e) => seen.get(e.name)! > 1).map((e) => e.name);
    return { entries: entries.filter((e) => seen.get(e.name) === 1), refused: [...refused, ...new Set(twice)] };
  }

  async list(): Promise<Listing> {
    return { ...(await this.listDir(this.settings.remoteInbox)), links: [] };
  }

  async stat(name: string): Promise<SourceEntry | null> {
    return this.statPath(this.inboxPath(name), name);
  }

  /**
   * From a listing, so that size and time read as list() reads them (a SIZE/MDTM pair would not). LIST of the file
   * itself first; servers that glob its name (`*`, `{…}`) or cannot list a file get the folder listed instead.
   */
  async statPath(path: string, name = posix.basename(path)): Promise<SourceEntry | null> {
    const base = posix.basename(path);
    const own = await this.listDir(path).catch(() => null);
    const found = own?.entries.find((e) => e.name === base) ?? (await this.listDir(posix.dirname(path))).entries.find((e) => e.name === base);
    return found ? { ...found, name } : null;
  }

  async exists(path: string): Promise<boolean> {
    return this.call(`exists ${path}`, async (c) => {
      const p = this.wire(path);
      if ((await c.sendIgnoringError(`SIZE ${p}`)).code === 213) return true;
      // A folder: CWD into it, then back to where the login put us (relative paths stay relative to it).
      const home = await c.pwd();
      if ((await c.sendIgnoringError(`CWD ${p}`)).code !== 250) return false;
      await c.cd(home);
      return true;
    });
  }

  async download(name: string, localPath: string, expected: SourceEntry, opts: DownloadOptions = {}): Promise<Download> {
    const remote = this.inboxPath(name);
    mkdirSync(dirname(localPath), { recursive: true });
    const hash = createHash('sha256');
    let bytes = 0;
    let idle: NodeJS.Timeout | undefined;
    let failure: Error | null = null;
    return this.main.exclusive(async () => {
      const c = await this.main.conn();
      const fail = (e: Error) => {
        failure ??= e;
        this.main.drop(c);
      };
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => fail(new IntakeError(`ftp get ${remote}: no data for ${this.timeoutMs} ms`, 'ETIMEDOUT')), this.timeoutMs);
      };
      const out = createWriteStream(localPath);
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          if (opts.shouldStop?.()) { cb(new IntakeError('stop requested during the download', 'STOPPED')); return; }
          arm();
          bytes += chunk.length;
          hash.update(chunk);
          opts.onChunk?.(bytes);
          cb(null, chunk);
        },
      });
      // A local write error (disk full) ends the transfer too; so does our own destroy below (already failed).
      out.on('error', (e) => fail(e));
      count.pipe(out);
      arm();
      try {
        await c.downloadTo(count, this.wire(remote));
        await finished(out);
        if (failure) throw failure;
        if (bytes !== expected.size) throw new IntakeError(`ftp get ${remote}: received ${bytes} bytes, listed size ${expected.size}`, 'SIZE');
        const fd = openSync(localPath, 'r');
        try { fsyncSync(fd); } finally { closeSync(fd); }
      } catch (err) {
        out.destroy();
        try { unlinkSync(localPath); } catch { /* never created */ }
        const e = failure ?? err;
        if ((e as IntakeError).code === 'STOPPED') throw e;
        // A transfer cut short leaves basic-ftp's state unknown: next call, new connection.
        if (!(e instanceof FTPError)) this.main.drop(c);
        throw intakeError(`get ${remote}`, e);
      } finally {
        clearTimeout(idle);
      }
      return { bytes, sha256: hash.digest('hex') };
    });
  }

  /** Creates a remote folder and its parents (MKD of each, errors ignored: the next command fails if it is missing). */
  private async mkdirp(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await this.call(`mkdir ${dir}`, async (c) => {
      const parts = dir.split('/');
      for (let i = 1; i <= parts.length; i++) {
        const p = parts.slice(0, i).join('/');
        if (p !== '' && p !== '.') await c.sendIgnoringError(`MKD ${this.wire(p)}`);
      }
    });
    this.madeDirs.add(dir);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.mkdirp(posix.dirname(to));
    if (await this.exists(to)) throw new IntakeError(`ftp rename: refusing to overwrite ${to}`, 'EEXIST');
    await this.call(`rename ${from}`, (c) => c.rename(this.wire(from), this.wire(to)));
  }

  async remove(path: string): Promise<void> {
    await this.call(`delete ${path}`, (c) => c.remove(this.wire(path), true));
  }

  async write(dir: string, name: string, bytes: Buffer): Promise<void> {
    await this.mkdirp(dir);
    await this.put(this.main, dir, name, bytes);
  }

  /**
   * Uploads files into `dir`, each under a temporary name then renamed, on up to `uploadConnections` connections at
   * once: every upload opens a data connection of its own (TLS handshake included), ~7 ms each on loopback, so one
   * connection alone makes a large batch of ACK files wait on round trips. A batch of up to PARALLEL_UPLOAD_MIN files
   * stays on the main connection.
   */
  async writeMany(dir: string, entries: ReadonlyArray<{ name: string; bytes: Buffer }>): Promise<void> {
    if (entries.length === 0) return;
    await this.mkdirp(dir);
    const lanes = entries.length > PARALLEL_UPLOAD_MIN ? [this.main, ...await this.uploadLanes()] : [this.main];
    let next = 0;
    // After a failure no lane takes another file, and the batch fails once every lane has stopped: nothing of it
    // is still running (or reconnecting) when the caller ends the cycle.
    let failure: { err: unknown } | null = null;
    await Promise.all(lanes.map(async (lane) => {
      while (failure === null && next < entries.length) {
        const e = entries[next++]!;
        try {
          await this.put(lane, dir, e.name, e.bytes);
        } catch (err) {
          failure ??= { err };
        }
      }
    }));
    if (failure !== null) throw (failure as { err: unknown }).err;
  }

  /**
   * The extra upload connections of this cycle, opened on first use (the certificate checked on each, as on the main
   * one). A server that refuses one (too many sessions for this user or address) keeps the ones open, and no more is
   * asked for until the next cycle; a certificate refused is an error, as on the main connection.
   */
  private async uploadLanes(): Promise<Lane[]> {
    const want = (this.settings.uploadConnections ?? DEFAULT_UPLOAD_CONNECTIONS) - 1;
    while (this.uploads !== null && this.uploads.length < want) {
      const lane = new Lane(() => this.connect(), this.timeoutMs);
      try {
        await lane.exclusive(() => lane.conn());
      } catch (err) {
        if (err instanceof CertificateError) throw err;
        this.opts.log.info('ftp: the server refused another connection; ACK uploads go on the connections open',
          { source: this.cfg.name, connections: 1 + this.uploads.length, code: (err as IntakeError).code ?? null });
        const open: Lane[] = this.uploads;
        this.uploads = null;
        return open;
      }
      this.uploads.push(lane);
    }
    return this.uploads ?? [];
  }

  /** One file: temporary name, then rename, on `lane`. */
  private async put(lane: Lane, dir: string, name: string, bytes: Buffer): Promise<void> {
    const tmp = posix.join(dir, `.${name}.tmp`);
    const final = posix.join(dir, name);
    await lane.call(`put ${tmp}`, (c) => c.uploadFrom(Readable.from([bytes]), this.wire(tmp)));
    try {
      await lane.call(`rename ${tmp}`, (c) => c.rename(this.wire(tmp), this.wire(final)));
    } catch (err) {
      if ((err as IntakeError).code !== 'FTP550' && (err as IntakeError).code !== 'FTP553') throw err;
      // Servers whose rename refuses an existing target (an ACK written again after a resume): replace it.
      await lane.call(`delete ${final}`, (c) => c.remove(this.wire(final), true));
      await lane.call(`rename ${tmp}`, (c) => c.rename(this.wire(tmp), this.wire(final)));
    }
  }
}
