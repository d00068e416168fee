/**
 * Configuration: `ImporterConfig` is what users write (config.example.json, every key optional);
 * `ResolvedConfig` is what the code runs on. Secrets never live in the JSON: the file names
 * environment variables or files that hold them.
 */
import type { PamOptions } from '../pam/types.js';
import type { Charset } from '../hl7/charset.js';
import type { SqliteDriver } from '../store/db.js';
import type { Level } from '../shared/logger.js';

export interface SftpSettings {
  host: string;
  port?: number;
  username: string;
  /** Environment variable holding the password. */
  passwordEnv?: string;
  /** File holding the password. */
  passwordFile?: string;
  /** Path of the private key file. */
  privateKeyFile?: string;
  /** Environment variable holding the private key passphrase. */
  passphraseEnv?: string;
  /**
   * Pinned SHA-256 host key fingerprints (`SHA256:…` as printed by `pamdrop sftp-keyscan` or `ssh-keygen -lf`),
   * one or two (rotation). None pinned: the config loads (so that sftp-keyscan can run) but every connection is refused.
   */
  hostKeySha256: string[];
  /** Remote folders. */
  remoteInbox: string;
  remoteAckDir?: string;
  remoteArchiveDir?: string;
  /** After a durable local outcome: move the remote file to remoteArchiveDir (default) or delete it. */
  afterProcessing?: 'archive' | 'delete';
  /** Per-call timeout in ms. */
  timeoutMs?: number;
}

export interface FtpSettings {
  host: string;
  /** Default 21, or 990 with implicit TLS. */
  port?: number;
  username: string;
  /** Environment variable holding the password. */
  passwordEnv?: string;
  /** File holding the password. */
  passwordFile?: string;
  /** explicit (AUTH TLS, default), implicit (TLS from the first byte), or false (plain FTP, only with insecure). */
  secure: 'explicit' | 'implicit' | false;
  /** PEM file of the authorities the server certificate must chain to (default: the system's). */
  caFile?: string;
  /** SHA-256 fingerprints of the server certificate (hex, colons allowed), one or two (rotation). */
  pinnedCertSha256: string[];
  remoteInbox: string;
  remoteAckDir?: string;
  remoteArchiveDir?: string;
  /** After a durable local outcome: move the remote file to remoteArchiveDir (default) or delete it. */
  afterProcessing?: 'archive' | 'delete';
  /** Passive mode: the only mode supported. */
  passive?: true;
  /** Allows plain FTP (secure false). */
  insecure?: boolean;
  /** Per-call timeout in ms. */
  timeoutMs?: number;
  /** Connections used at once to upload a batch of ACK files (default 4; 1: the main connection only). */
  uploadConnections?: number;
}

export interface SourceConfig {
  name: string;
  type: 'local' | 'sftp' | 'ftp';
  /** Local inbox (type local), or local staging folder for downloads (types sftp and ftp). */
  inbox: string;
  ackDir: string;
  archiveDir: string;
  errorDir: string;
  /** File name pattern (glob with * and ?), default `*`. */
  pattern: string;
  /** Temporary names never taken. */
  ignore: string[];
  sort: 'name' | 'mtime';
  stableMs: number;
  minBytes: number;
  pollMs: number;
  /** Done-marker suffix (e.g. `.done`): a file is taken only when `<name><suffix>` exists. */
  doneMarker: string | null;
  /** Quiet-feed alert threshold (report/healthz), null = none. */
  expectEveryMs: number | null;
  sftp?: SftpSettings;
  ftp?: FtpSettings;
}

/** TLS of an MLLP listener: PEM files read at start. */
export interface ListenerTlsConfig {
  certFile: string;
  keyFile: string;
  /** CA that client certificates must chain to (required with requireClientCert). */
  caFile?: string;
  requireClientCert: boolean;
}

/** An MLLP listener of `watch` (src/mllp, docs/mllp.md). */
export interface ListenerConfig {
  /** Recorded in the ledger as the source of its connections' rows; never a source's name. */
  name: string;
  port: number;
  host: string;
  tls: ListenerTlsConfig | null;
  /** Plain TCP on a non-loopback host. */
  allowPlain: boolean;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxConnections: number;
  /** Where every message received is appended to a dated file (re-importable); null: none. */
  journalDir: string | null;
}

export interface ResolvedConfig {
  /** SQLite path or postgres:// URL. */
  database: string;
  sqliteDriver: SqliteDriver;
  /** Our identity in ACK MSH-3/4 when the inbound MSH-5/6 are empty. */
  self: { app: string; facility: string };
  pam: PamOptions;
  charset: { default: Charset; latin1AsCp1252: boolean };
  /** Order of messages within a file: as written, or sorted by MSH-7 (file order breaks ties). */
  order: 'file' | 'timestamp';
  staleUpdates: 'skip' | 'apply';
  /** Messages per transaction (group commit; each message has its own savepoint). */
  groupSize: number;
  /** PostgreSQL: a group as one batched unit of work, or every message statement by statement (same outcome). */
  pgGroupMode: 'batched' | 'per-message';
  maxMessageBytes: number;
  /** Larger files are quarantined unread. */
  maxFileBytes: number;
  sources: SourceConfig[];
  /** MLLP listeners of `watch`; none by default. */
  listeners: ListenerConfig[];
  /**
   * How long copies of inbound messages are kept after their import (`pamdrop prune`, ops/prune.ts), in days;
   * null: forever; `remoteAckDays`: the local copies of ACK files uploaded to remote sources. The ledger and the identity
   * store are always kept. `watch` prunes every `pruneEveryHours` (null: never).
   */
  retention: { archiveDays: number | null; receivedDays: number | null; remoteAckDays: number | null; pruneEveryHours: number | null };
  log: { level: Level; format: 'json' | 'text' | 'auto' };
  /** Lock time-to-live: a lock not renewed for this long may be taken over (crashed instance on another host). */
  lockTtlMs: number;
  /** HTTP port of `watch` for /metrics, /healthz and the status page (src/observe); null = off, 0 = any free port. */
  httpPort: number | null;
  /** Address it binds: loopback (default 127.0.0.1); any other address needs httpAllowRemote (no authentication). */
  httpHost: string;
  /** Allow a non-loopback httpHost (behind a firewall or an authenticating reverse proxy). */
  httpAllowRemote: boolean;
  /** Show patient names and identifiers on the status page, and allow its patient lookup. */
  showIdentities: boolean;
  /**
   * Connections the HTTP server holds at once; more are closed as they arrive. Keeps the importer's own file
   * descriptors (inbox, database, ACK files) out of reach of HTTP clients.
   */
  httpMaxConnections: number;
  /** A connection must send its request headers within this time (ms), idle connections included. */
  httpHeadersTimeoutMs: number;
  /** A request must be received in full within this time (ms); a connection silent this long is closed. */
  httpRequestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this time (ms). */
  httpKeepAliveTimeoutMs: number;
}

/** What users write: everything optional; sources partial. */
export type ImporterConfig = Partial<Omit<ResolvedConfig, 'sources' | 'listeners' | 'pam' | 'charset' | 'self' | 'log' | 'retention'>> & {
  retention?: Partial<ResolvedConfig['retention']>;
  self?: Partial<ResolvedConfig['self']>;
  pam?: Partial<PamOptions>;
  charset?: Partial<ResolvedConfig['charset']>;
  log?: Partial<ResolvedConfig['log']>;
  sources?: Array<Partial<SourceConfig> & { name: string }>;
  listeners?: Array<Partial<Omit<ListenerConfig, 'tls'>> & { name: string; port: number; tls?: (Partial<ListenerTlsConfig> & { certFile: string; keyFile: string }) | null }>;
};
