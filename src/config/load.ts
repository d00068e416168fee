/**
 * Loads a config file, validates it at the edge (a bad key fails at start-up with a message naming it) and
 * resolves it against the defaults. Relative paths in a config file are relative to the file's folder.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import { resolveCharset } from '../hl7/charset.js';
import { getDefaultConfig, getDefaultSource } from './defaults.js';
import { isPostgresUrl } from '../store/db.js';
import { isLoopbackHost } from '../observe/loopback.js';
import type { ImporterConfig, ResolvedConfig, SourceConfig } from './types.js';

const TOP_KEYS = new Set(['$schema', 'comment', 'database', 'sqliteDriver', 'self', 'pam', 'charset', 'order', 'staleUpdates', 'groupSize',
  'maxMessageBytes', 'maxFileBytes', 'sources', 'log', 'lockTtlMs', 'httpPort', 'httpHost', 'httpAllowRemote', 'showIdentities',
  'httpMaxConnections', 'httpHeadersTimeoutMs', 'httpRequestTimeoutMs', 'httpKeepAliveTimeoutMs']);
const PAM_KEYS = new Set(['acceptTestIns', 'statusMap', 'linkUnlink', 'authorityAliases', 'comment']);
const SOURCE_KEYS = new Set(['name', 'type', 'inbox', 'ackDir', 'archiveDir', 'errorDir', 'pattern', 'ignore', 'sort', 'stableMs',
  'minBytes', 'pollMs', 'doneMarker', 'expectEveryMs', 'sftp', 'comment']);
const SFTP_KEYS = new Set(['host', 'port', 'username', 'passwordEnv', 'passwordFile', 'privateKeyFile', 'passphraseEnv', 'hostKeySha256',
  'remoteInbox', 'remoteAckDir', 'remoteArchiveDir', 'afterProcessing', 'timeoutMs', 'comment']);

function fail(key: string, why: string): never {
  throw new ConfigError(`config: ${key}: ${why}`);
}
function oneOf<T extends string>(key: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) fail(key, `must be one of ${allowed.join(', ')}`);
  return v as T;
}
function posInt(key: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(key, `must be an integer ≥ ${min}`);
  return v;
}

/**
 * `pam.authorityAliases`: { "OLDNAME": "NEWNAME" }, CX-4.1 namespace IDs as sent (case counts). One step only: a
 * name that is both renamed and a rename target would make the meaning of a namespace depend on reading order.
 */
function authorityAliases(v: unknown): Record<string, string> {
  const key = 'pam.authorityAliases';
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(key, 'must be an object { "OLDNAME": "NEWNAME" } of CX-4.1 namespace IDs');
  const out: Record<string, string> = {};
  for (const [from, to] of Object.entries(v as Record<string, unknown>)) {
    if (from === '' || typeof to !== 'string' || to === '') fail(`${key}.${from}`, 'must map a non-empty namespace ID to a non-empty namespace ID');
    if (from === to) fail(`${key}.${from}`, 'maps a namespace ID to itself');
    out[from] = to;
  }
  for (const [from, to] of Object.entries(out)) {
    if (Object.prototype.hasOwnProperty.call(out, to)) fail(`${key}.${from}`, `${to} is itself renamed: give the final name directly`);
  }
  return out;
}

/** Reads and parses a JSON config file. */
export function readConfigFile(path: string): ImporterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
  try {
    return JSON.parse(text) as ImporterConfig;
  } catch (err) {
    throw new ConfigError(`config: ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Validates a user config and merges it over the defaults. `baseDir` anchors relative paths. */
export function resolveConfig(user: ImporterConfig, baseDir = process.cwd()): ResolvedConfig {
  const d = getDefaultConfig();
  for (const k of Object.keys(user)) if (!TOP_KEYS.has(k)) fail(k, 'unknown key');
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const out: ResolvedConfig = { ...d };
  if (user.database !== undefined) {
    if (typeof user.database !== 'string' || user.database === '') fail('database', 'must be a SQLite path or a postgres:// URL');
    if (isPostgresUrl(user.database) && /:\/\/[^/@:]+:[^/@]+@/.test(user.database)) {
      fail('database', 'must not contain a password: set PAMDROP_DB_PASSWORD or PAMDROP_DB_PASSWORD_FILE');
    }
    out.database = user.database;
  }
  if (!isPostgresUrl(out.database) && out.database !== ':memory:') out.database = abs(out.database);
  if (user.sqliteDriver !== undefined) out.sqliteDriver = oneOf('sqliteDriver', user.sqliteDriver, ['better-sqlite3', 'sqlite3'] as const);
  if (user.self) out.self = { ...d.self, ...user.self };
  if (user.pam) {
    const p = user.pam;
    for (const k of Object.keys(p)) if (!PAM_KEYS.has(k)) fail(`pam.${k}`, 'unknown key');
    const { comment: _comment, ...given } = p as typeof p & { comment?: unknown };
    out.pam = { ...d.pam, ...given, statusMap: { ...d.pam.statusMap, ...(p.statusMap ?? {}) } };
    out.pam.authorityAliases = authorityAliases(p.authorityAliases);
    if (typeof out.pam.acceptTestIns !== 'boolean') fail('pam.acceptTestIns', 'must be true or false');
    if (typeof out.pam.linkUnlink !== 'boolean') fail('pam.linkUnlink', 'must be true or false');
  }
  if (user.charset) {
    const def = user.charset.default !== undefined ? resolveCharset(String(user.charset.default)) : d.charset.default;
    if (!def) fail('charset.default', 'must be one of 8859/1, 8859/15, UNICODE UTF-8, ASCII');
    out.charset = { default: def, latin1AsCp1252: user.charset.latin1AsCp1252 ?? d.charset.latin1AsCp1252 };
  }
  if (user.order !== undefined) out.order = oneOf('order', user.order, ['file', 'timestamp'] as const);
  if (user.staleUpdates !== undefined) out.staleUpdates = oneOf('staleUpdates', user.staleUpdates, ['skip', 'apply'] as const);
  if (user.groupSize !== undefined) out.groupSize = posInt('groupSize', user.groupSize, 1);
  if (user.maxMessageBytes !== undefined) out.maxMessageBytes = posInt('maxMessageBytes', user.maxMessageBytes, 1024);
  if (user.maxFileBytes !== undefined) out.maxFileBytes = posInt('maxFileBytes', user.maxFileBytes, 1);
  if (user.lockTtlMs !== undefined) out.lockTtlMs = posInt('lockTtlMs', user.lockTtlMs, 1000);
  if (user.httpPort !== undefined) {
    out.httpPort = user.httpPort === null ? null : posInt('httpPort', user.httpPort, 0);
    if (out.httpPort !== null && out.httpPort > 65535) fail('httpPort', 'must be a TCP port (0–65535), or null for no HTTP server');
  }
  if (user.httpAllowRemote !== undefined) {
    if (typeof user.httpAllowRemote !== 'boolean') fail('httpAllowRemote', 'must be true or false');
    out.httpAllowRemote = user.httpAllowRemote;
  }
  if (user.httpHost !== undefined) {
    if (typeof user.httpHost !== 'string' || !/^[A-Za-z0-9.:_-]+$/.test(user.httpHost)) fail('httpHost', 'must be an IP address or host name');
    // No authentication on the status page and metrics: loopback unless the operator says otherwise (src/observe).
    if (!isLoopbackHost(user.httpHost) && !out.httpAllowRemote) {
      fail('httpHost', `${user.httpHost} is not a loopback address; the status page and metrics have no authentication: keep 127.0.0.1, or set httpAllowRemote to true (behind a firewall or an authenticating reverse proxy)`);
    }
    out.httpHost = user.httpHost;
  }
  if (user.showIdentities !== undefined) {
    if (typeof user.showIdentities !== 'boolean') fail('showIdentities', 'must be true or false');
    out.showIdentities = user.showIdentities;
  }
  if (user.httpMaxConnections !== undefined) out.httpMaxConnections = posInt('httpMaxConnections', user.httpMaxConnections, 1);
  if (user.httpHeadersTimeoutMs !== undefined) out.httpHeadersTimeoutMs = posInt('httpHeadersTimeoutMs', user.httpHeadersTimeoutMs, 100);
  if (user.httpRequestTimeoutMs !== undefined) out.httpRequestTimeoutMs = posInt('httpRequestTimeoutMs', user.httpRequestTimeoutMs, 100);
  if (user.httpKeepAliveTimeoutMs !== undefined) out.httpKeepAliveTimeoutMs = posInt('httpKeepAliveTimeoutMs', user.httpKeepAliveTimeoutMs, 100);
  // node:http refuses a header timeout longer than the request timeout.
  if (out.httpHeadersTimeoutMs > out.httpRequestTimeoutMs) fail('httpHeadersTimeoutMs', `must not exceed httpRequestTimeoutMs (${out.httpRequestTimeoutMs})`);
  if (user.log) {
    out.log = {
      level: user.log.level !== undefined ? oneOf('log.level', user.log.level, ['debug', 'info', 'warn', 'error', 'silent'] as const) : d.log.level,
      format: user.log.format !== undefined ? oneOf('log.format', user.log.format, ['json', 'text', 'auto'] as const) : d.log.format,
    };
  }
  const sources = user.sources ?? [{ name: 'local' }];
  if (!Array.isArray(sources) || sources.length === 0) fail('sources', 'must be a non-empty array');
  const names = new Set<string>();
  out.sources = sources.map((s, i) => resolveSource(s, `sources[${i}]`, abs, names));
  // Two sources on one inbox would both take its files (the ledger claims per source): refused.
  out.sources.forEach((s, i) => {
    const j = out.sources.findIndex((o) => o.inbox === s.inbox);
    if (j !== i) fail(`sources[${i}].inbox`, `${s.inbox} is already the inbox of source ${out.sources[j]!.name}: each source needs its own inbox`);
  });
  return out;
}

function resolveSource(s: Partial<SourceConfig> & { name: string }, key: string, abs: (p: string) => string, names: Set<string>): SourceConfig {
  const d = getDefaultSource();
  for (const k of Object.keys(s)) if (!SOURCE_KEYS.has(k)) fail(`${key}.${k}`, 'unknown key');
  if (typeof s.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(s.name)) fail(`${key}.name`, 'must be a name of letters, digits, _ . -');
  if (names.has(s.name)) fail(`${key}.name`, `duplicate source name ${s.name}`);
  names.add(s.name);
  const src: SourceConfig = { ...d, ...s, ignore: s.ignore ?? d.ignore } as SourceConfig;
  src.type = oneOf(`${key}.type`, src.type, ['local', 'sftp'] as const);
  src.sort = oneOf(`${key}.sort`, src.sort, ['name', 'mtime'] as const);
  src.stableMs = posInt(`${key}.stableMs`, src.stableMs);
  src.minBytes = posInt(`${key}.minBytes`, src.minBytes);
  src.pollMs = posInt(`${key}.pollMs`, src.pollMs, 100);
  for (const f of ['inbox', 'ackDir', 'archiveDir', 'errorDir'] as const) {
    if (typeof src[f] !== 'string' || src[f] === '') fail(`${key}.${f}`, 'must be a folder path');
    src[f] = abs(src[f]);
  }
  if (typeof src.pattern !== 'string' || src.pattern === '') fail(`${key}.pattern`, 'must be a file name glob (* ? [..])');
  if (!Array.isArray(src.ignore) || src.ignore.some((g) => typeof g !== 'string' || g === '')) fail(`${key}.ignore`, 'must be an array of file name globs');
  if (src.doneMarker !== null && (typeof src.doneMarker !== 'string' || src.doneMarker === '' || /[/\\]/.test(src.doneMarker))) {
    fail(`${key}.doneMarker`, 'must be null or a file name suffix such as ".done"');
  }
  if (src.type === 'sftp') {
    if (!src.sftp || typeof src.sftp !== 'object') fail(`${key}.sftp`, 'is required for an sftp source');
    const sf = { ...src.sftp };
    src.sftp = sf;
    for (const k of Object.keys(sf)) {
      if (k === 'password' || k === 'passphrase' || k === 'privateKey') fail(`${key}.sftp.${k}`, 'secrets are not allowed in the config: use passwordEnv, passwordFile, privateKeyFile or passphraseEnv');
      if (!SFTP_KEYS.has(k)) fail(`${key}.sftp.${k}`, 'unknown key');
    }
    if (!sf.host || !sf.username || !sf.remoteInbox) fail(`${key}.sftp`, 'needs host, username and remoteInbox');
    // An empty pin list is accepted here (so that `pamdrop sftp-keyscan` can run) but refused at connection time.
    sf.hostKeySha256 = sf.hostKeySha256 ?? [];
    if (!Array.isArray(sf.hostKeySha256) || sf.hostKeySha256.length > 2 || sf.hostKeySha256.some((p) => typeof p !== 'string' || !/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(p.trim()))) {
      fail(`${key}.sftp.hostKeySha256`, 'must pin one or two SHA-256 host key fingerprints "SHA256:<43 base64 characters>" (see `pamdrop sftp-keyscan`)');
    }
    if (!sf.privateKeyFile && !sf.passwordEnv && !sf.passwordFile) fail(`${key}.sftp`, 'needs privateKeyFile, passwordEnv or passwordFile');
    if (sf.port !== undefined) sf.port = posInt(`${key}.sftp.port`, sf.port, 1);
    if (sf.timeoutMs !== undefined) sf.timeoutMs = posInt(`${key}.sftp.timeoutMs`, sf.timeoutMs, 100);
    sf.afterProcessing = oneOf(`${key}.sftp.afterProcessing`, sf.afterProcessing ?? 'archive', ['archive', 'delete'] as const);
    if (sf.afterProcessing === 'archive' && !sf.remoteArchiveDir) fail(`${key}.sftp.remoteArchiveDir`, 'is required when afterProcessing is "archive" (or set afterProcessing to "delete")');
    if (sf.privateKeyFile) sf.privateKeyFile = abs(sf.privateKeyFile);
    if (sf.passwordFile) sf.passwordFile = abs(sf.passwordFile);
  }
  return src;
}

/** Loads `path` (if given) and resolves it; relative paths in the file are relative to its folder. */
export function loadConfig(path?: string): ResolvedConfig {
  if (!path) return resolveConfig({});
  return resolveConfig(readConfigFile(path), dirname(resolve(path)));
}
