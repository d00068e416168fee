/**
 * SFTP source (ssh2-sftp-client over ssh2). Field-notes pain points 8 and 9:
 * - the host key is pinned: `hostKeySha256` holds one or two (rotation) fingerprints in OpenSSH's form,
 *   `SHA256:` + unpadded base64 of the SHA-256 of the raw key blob. ssh2 accepts any key unless a
 *   `hostVerifier` says otherwise, so an unpinned or different key refuses the connection, with a message
 *   that names the offered fingerprint;
 * - secrets come from environment variables or files named in the config, read at each connection;
 * - a fresh connection each poll cycle (`begin`), reopened on demand if the server drops it mid-cycle;
 * - every call has a timeout (`timeoutMs`); a transfer fails when no byte arrives for `timeoutMs`; a timed
 *   out connection is destroyed, never reused;
 * - downloads stream to a local file (never `fastGet`, which truncates on some servers, a known
 *   ssh2-sftp-client problem), count the bytes and hash them; the caller compares with the listed size and
 *   re-stats the remote file.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, fsyncSync, mkdirSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import SftpClient from 'ssh2-sftp-client';
import { Client as SshClient } from 'ssh2';
import type { SftpSettings, SourceConfig } from '../config/types.js';
import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { HostKeyError, IntakeError, unsafeName, type Download, type DownloadOptions, type Listing, type RemoteSource, type SourceEntry } from './source.js';

export const DEFAULT_SFTP_TIMEOUT_MS = 30_000;
export const DEFAULT_SFTP_PORT = 22;

/** OpenSSH's SHA-256 fingerprint of a raw host key blob: `SHA256:` + base64 without padding. */
export function fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type named at the start of an SSH key blob (`ssh-ed25519`, `rsa-sha2-512`'s `ssh-rsa`…). */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const n = keyBlob.readUInt32BE(0);
  return n > 0 && n < 64 && keyBlob.length >= 4 + n ? keyBlob.toString('latin1', 4, 4 + n) : 'unknown';
}

/** A pin as written in the config, in the canonical form (trailing `=` padding dropped). */
export function normalizePin(pin: string): string {
  return pin.trim().replace(/=+$/, '');
}

/** Validates a pin's form: `SHA256:` then 43 base64 characters. */
export function isPin(pin: unknown): pin is string {
  return typeof pin === 'string' && /^SHA256:[A-Za-z0-9+/]{43}=?$/.test(pin.trim());
}

/** Secrets read at connection time (never logged). */
export interface SftpSecrets { password?: string; privateKey?: Buffer; passphrase?: string }

/** Reads the secrets named by the settings (environment variables or files). Throws ConfigError naming the key. */
export function readSecrets(s: SftpSettings, key: string, env: NodeJS.ProcessEnv = process.env): SftpSecrets {
  const out: SftpSecrets = {};
  if (s.passwordEnv) {
    const v = env[s.passwordEnv];
    if (v === undefined || v === '') throw new ConfigError(`config: ${key}.passwordEnv: environment variable ${s.passwordEnv} is not set`);
    out.password = v;
  }
  if (s.passwordFile) {
    try {
      out.password = readFileSync(s.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`config: ${key}.passwordFile: cannot read ${s.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
  }
  if (s.privateKeyFile) {
    try {
      out.privateKey = readFileSync(s.privateKeyFile);
    } catch (err) {
      throw new ConfigError(`config: ${key}.privateKeyFile: cannot read ${s.privateKeyFile}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
  }
  if (s.passphraseEnv) {
    const v = env[s.passphraseEnv];
    if (v === undefined) throw new ConfigError(`config: ${key}.passphraseEnv: environment variable ${s.passphraseEnv} is not set`);
    out.passphrase = v;
  }
  if (out.password === undefined && out.privateKey === undefined) {
    throw new ConfigError(`config: ${key}: give privateKeyFile, passwordEnv or passwordFile`);
  }
  return out;
}

/** Rejects with `onTimeout()` when `p` has not settled within `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(onTimeout()), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

type Sftp = SftpClient & { client: SshClient };

/** Dependencies of an SftpSource. */
export interface SftpSourceOptions {
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Config key of the source, for messages (`sources[1]`). */
  key?: string;
}

/** A remote inbox over SFTP; the local `inbox` of the source is the staging root. */
/** ACK uploads in flight at once on the SSH connection (writeMany). */
const SFTP_UPLOADS_IN_FLIGHT = 8;

export class SftpSource implements RemoteSource {
  readonly kind = 'sftp' as const;
  readonly inPlace = false;
  readonly label: string;
  private readonly s: SftpSettings;
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly pins: string[];
  private readonly key: string;
  private client: Sftp | null = null;
  private madeDirs = new Map<string, Promise<void>>();

  constructor(readonly cfg: SourceConfig, private readonly opts: SftpSourceOptions) {
    if (!cfg.sftp) throw new ConfigError(`config: source ${cfg.name}: sftp settings missing`);
    this.s = cfg.sftp;
    this.port = this.s.port ?? DEFAULT_SFTP_PORT;
    this.timeoutMs = this.s.timeoutMs ?? DEFAULT_SFTP_TIMEOUT_MS;
    this.pins = (this.s.hostKeySha256 ?? []).map(normalizePin);
    this.key = opts.key ?? `source ${cfg.name}`;
    this.label = `sftp://${this.s.username}@${this.s.host}:${this.port}${posix.isAbsolute(this.s.remoteInbox) ? '' : '/~/'}${this.s.remoteInbox}`;
  }

  /** Fresh connection for a cycle (the previous one, if any, is closed first). */
  async begin(): Promise<void> {
    await this.end();
    await this.connect();
  }

  async end(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.madeDirs = new Map();
    if (!c) return;
    try {
      await withTimeout(c.end(), Math.min(this.timeoutMs, 5000), () => new IntakeError('sftp end timed out', 'ETIMEDOUT'));
    } catch {
      c.client.destroy();
    }
  }

  private async connect(): Promise<Sftp> {
    const secrets = readSecrets(this.s, `${this.key}.sftp`, this.opts.env);
    const log = this.opts.log;
    // Global callbacks of ssh2-sftp-client: errors outside a call (keepalive failures, resets). The default
    // ones print to the console; ours only log, the next call notices the dead connection.
    const c = new SftpClient(`pamdrop:${this.cfg.name}`, {
      error: (err) => log.debug('sftp connection error', { error: (err as Error).message }),
      end: () => {},
      close: () => {},
    }) as Sftp;
    c.client.on('close', () => { if (this.client === c) { this.client = null; this.madeDirs = new Map(); } });
    let refused: HostKeyError | null = null;
    const where = `${this.s.host}:${this.port}`;
    const hostVerifier = (key: Buffer): boolean => {
      const offered = fingerprint(key);
      if (this.pins.includes(offered)) return true;
      refused = this.pins.length === 0
        ? new HostKeyError(`sftp ${this.cfg.name}: no host key pinned for ${where}; refusing to connect. The server offers ${offered} (${keyType(key)}): `
          + `check it out of band (ssh-keygen -lf on the server), then add it to ${this.key}.sftp.hostKeySha256 (pamdrop sftp-keyscan prints it)`, offered)
        : new HostKeyError(`sftp ${this.cfg.name}: host key of ${where} does not match the pinned fingerprint${this.pins.length > 1 ? 's' : ''} `
          + `(offered ${offered} (${keyType(key)}), pinned ${this.pins.join(', ')}); refusing to connect. A changed host key may be an attack: `
          + `confirm the new key with the server's administrator before updating ${this.key}.sftp.hostKeySha256`, offered);
      return false;
    };
    try {
      await withTimeout(c.connect({
        host: this.s.host, port: this.port, username: this.s.username,
        ...(secrets.privateKey ? { privateKey: secrets.privateKey } : {}),
        ...(secrets.passphrase !== undefined ? { passphrase: secrets.passphrase } : {}),
        ...(secrets.password !== undefined ? { password: secrets.password } : {}),
        readyTimeout: this.timeoutMs,
        keepaliveInterval: Math.max(1000, Math.floor(this.timeoutMs / 3)),
        keepaliveCountMax: 3,
        hostVerifier,
      }), this.timeoutMs + 1000, () => new IntakeError(`sftp connect ${where}: no answer within ${this.timeoutMs} ms`, 'ETIMEDOUT'));
    } catch (err) {
      c.client.destroy();
      if (refused) throw refused;
      const e = err as NodeJS.ErrnoException;
      throw new IntakeError(`sftp connect ${where}: ${e.message}`, e.code, { cause: err });
    }
    this.client = c;
    return c;
  }

  /** The open connection, reconnected if the server dropped it. */
  private async conn(): Promise<Sftp> {
    return this.client ?? this.connect();
  }

  /** Runs one call with the per-call timeout; a timed-out connection is destroyed. */
  private async call<T>(what: string, fn: (c: Sftp) => Promise<T>): Promise<T> {
    const c = await this.conn();
    try {
      return await withTimeout(fn(c), this.timeoutMs, () => {
        if (this.client === c) this.client = null;
        c.client.destroy();
        return new IntakeError(`sftp ${what}: no answer within ${this.timeoutMs} ms`, 'ETIMEDOUT');
      });
    } catch (err) {
      if (err instanceof IntakeError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new IntakeError(`sftp ${what}: ${e.message}`, typeof e.code === 'string' ? e.code : String(e.code ?? ''), { cause: err });
    }
  }

  inboxPath(name: string): string {
    return posix.join(this.s.remoteInbox, name);
  }

  async list(): Promise<Listing> {
    const items = await this.call(`list ${this.s.remoteInbox}`, (c) => c.list(this.s.remoteInbox));
    const entries: SourceEntry[] = [];
    const refused: string[] = [];
    for (const it of items) {
      if (it.type !== '-') continue; // folders and symlinks are never taken (a link is never followed)
      if (unsafeName(it.name)) { refused.push(it.name); continue; }
      entries.push({ name: it.name, size: it.size, mtimeMs: it.modifyTime });
    }
    return { entries, refused, links: [] };
  }

  async stat(name: string): Promise<SourceEntry | null> {
    return this.statPath(this.inboxPath(name), name);
  }

  async statPath(path: string, name = posix.basename(path)): Promise<SourceEntry | null> {
    try {
      const s = await this.call(`stat ${path}`, (c) => c.stat(path));
      if (!s.isFile) return null;
      return { name, size: s.size, mtimeMs: s.modifyTime };
    } catch (err) {
      if ((err as IntakeError).code === 'ENOENT') return null;
      throw err;
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.call(`exists ${path}`, (c) => c.exists(path))) !== false;
  }

  async download(name: string, localPath: string, expected: SourceEntry, opts: DownloadOptions = {}): Promise<Download> {
    const c = await this.conn();
    const remote = this.inboxPath(name);
    mkdirSync(dirname(localPath), { recursive: true });
    const hash = createHash('sha256');
    let bytes = 0;
    let idle: NodeJS.Timeout | undefined;
    let rs: ReturnType<Sftp['createReadStream']>;
    try {
      rs = c.createReadStream(remote);
    } catch (err) {
      throw new IntakeError(`sftp get ${remote}: ${(err as Error).message}`, (err as IntakeError).code, { cause: err });
    }
    let failure: Error | null = null;
    const fail = (e: Error) => { if (!failure) failure = e; rs.destroy(e); };
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        fail(new IntakeError(`sftp get ${remote}: no data for ${this.timeoutMs} ms`, 'ETIMEDOUT'));
        if (this.client === c) this.client = null;
        c.client.destroy();
      }, this.timeoutMs);
    };
    const onClose = () => fail(new IntakeError(`sftp get ${remote}: connection closed during the transfer`, 'ECONNRESET'));
    c.client.once('close', onClose);
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
    arm();
    try {
      await pipeline(rs, count, createWriteStream(localPath));
      if (failure) throw failure;
      if (bytes !== expected.size) throw new IntakeError(`sftp get ${remote}: received ${bytes} bytes, listed size ${expected.size}`, 'SIZE');
      const fd = openSync(localPath, 'r');
      try { fsyncSync(fd); } finally { closeSync(fd); }
    } catch (err) {
      try { unlinkSync(localPath); } catch { /* never created */ }
      const e = (failure ?? err) as NodeJS.ErrnoException;
      if (e instanceof IntakeError) throw e;
      throw new IntakeError(`sftp get ${remote}: ${e.message}`, typeof e.code === 'string' ? e.code : undefined, { cause: e });
    } finally {
      clearTimeout(idle);
      c.client.removeListener('close', onClose);
    }
    return { bytes, sha256: hash.digest('hex') };
  }

  /** Creates a remote folder (and its parents) once per connection; concurrent callers share the attempt. */
  private mkdirp(dir: string): Promise<void> {
    let p = this.madeDirs.get(dir);
    if (!p) {
      p = this.call(`mkdir ${dir}`, async (c) => {
        if ((await c.exists(dir)) === 'd') return;
        try {
          await c.mkdir(dir, true);
        } catch (err) {
          if ((await c.exists(dir)) !== 'd') throw err; // created meanwhile by someone else: fine
        }
      });
      this.madeDirs.set(dir, p);
      p.catch(() => { if (this.madeDirs.get(dir) === p) this.madeDirs.delete(dir); });
    }
    return p;
  }

  async rename(from: string, to: string): Promise<void> {
    await this.mkdirp(posix.dirname(to));
    if (await this.exists(to)) throw new IntakeError(`sftp rename: refusing to overwrite ${to}`, 'EEXIST');
    await this.call(`rename ${from}`, (c) => c.rename(from, to));
  }

  async remove(path: string): Promise<void> {
    await this.call(`delete ${path}`, (c) => c.delete(path, true));
  }

  async write(dir: string, name: string, bytes: Buffer): Promise<void> {
    await this.mkdirp(dir);
    const tmp = posix.join(dir, `.${name}.tmp`);
    const final = posix.join(dir, name);
    await this.call(`put ${tmp}`, (c) => c.put(bytes, tmp));
    try {
      // posix-rename@openssh.com replaces atomically (ACK rewrites after a resume are idempotent).
      await this.call(`rename ${tmp}`, (c) => c.posixRename(tmp, final));
    } catch (err) {
      if ((err as IntakeError).code === 'ETIMEDOUT') throw err;
      // Servers without the extension: plain SFTP rename refuses an existing target.
      await this.call(`delete ${final}`, (c) => c.delete(final, true));
      await this.call(`rename ${tmp}`, (c) => c.rename(tmp, final));
    }
  }

  /**
   * Several files in flight at once on the one SSH connection (SFTP requests are pipelined): each waits on its own
   * round trips, not on the others'.
   */
  async writeMany(dir: string, entries: ReadonlyArray<{ name: string; bytes: Buffer }>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < entries.length) {
        const e = entries[next++]!;
        await this.write(dir, e.name, e.bytes);
      }
    };
    await Promise.all(Array.from({ length: Math.min(SFTP_UPLOADS_IN_FLIGHT, entries.length) }, worker));
  }

  /** Remote settings used by the intake (disposition, ACK folder). */
  get settings(): SftpSettings { return this.s; }
}

/** Connects far enough to see the server's host key, then hangs up: nothing is authenticated or sent. */
export async function keyscan(host: string, port: number, timeoutMs = DEFAULT_SFTP_TIMEOUT_MS): Promise<{ fingerprint: string; type: string }> {
  const client = new SshClient();
  return new Promise((resolve, reject) => {
    let seen: { fingerprint: string; type: string } | null = null;
    const done = (err: Error | null) => {
      clearTimeout(timer);
      client.removeAllListeners();
      client.on('error', () => {});
      client.destroy();
      if (seen) resolve(seen); else reject(err ?? new IntakeError(`keyscan ${host}:${port}: no host key received`));
    };
    const timer = setTimeout(() => done(new IntakeError(`keyscan ${host}:${port}: no answer within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    client.on('error', (err) => done(seen ? null : new IntakeError(`keyscan ${host}:${port}: ${err.message}`, (err as NodeJS.ErrnoException).code)));
    client.on('ready', () => done(null));
    client.on('close', () => done(null));
    client.connect({
      host, port, username: 'pamdrop-keyscan', readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => { seen = { fingerprint: fingerprint(key), type: keyType(key) }; return false; },
    });
  });
}
