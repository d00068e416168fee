/**
 * Loads a config file, validates it at the edge (a bad key fails at start-up with a message naming it) and
 * resolves it against the defaults. Relative paths in a config file are relative to the file's folder.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import { resolveCharset } from '../hl7/charset.js';
import { getDefaultConfig, getDefaultListener, getDefaultSource } from './defaults.js';
import { normalizeStoreTarget } from '../store/target.js';
import { validateConfig } from './schema.js';
import { isLoopbackHost } from '../observe/loopback.js';
import type { ImporterConfig, ListenerConfig, ResolvedConfig, SourceConfig } from './types.js';

function fail(key: string, why: string): never {
  throw new ConfigError(`config: ${key}: ${why}`);
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

/**
 * Validates a user config against the schema (config.schema.json: types, ranges, unknown keys at every depth) and
 * merges it over the defaults. `baseDir` anchors relative paths. What a schema cannot say is checked here: the
 * database target, the charset name, a non-loopback HTTP address, unique source names and inboxes, SFTP and FTP credentials and TLS.
 */
export function resolveConfig(user: ImporterConfig, baseDir = process.cwd()): ResolvedConfig {
  validateConfig(user);
  const d = getDefaultConfig();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const out: ResolvedConfig = { ...d };
  try {
    out.database = normalizeStoreTarget(user.database ?? d.database, baseDir);
  } catch (err) {
    throw new ConfigError(`config: ${(err as Error).message}`, { cause: err });
  }
  if (user.sqliteDriver !== undefined) out.sqliteDriver = user.sqliteDriver;
  if (user.self) out.self = { ...d.self, ...user.self };
  if (user.pam) {
    const p = user.pam;
    const { comment: _comment, ...given } = p as typeof p & { comment?: unknown };
    out.pam = { ...d.pam, ...given, statusMap: { ...d.pam.statusMap, ...(p.statusMap ?? {}) } };
    out.pam.authorityAliases = authorityAliases(p.authorityAliases);
  }
  if (user.charset) {
    const def = user.charset.default !== undefined ? resolveCharset(String(user.charset.default)) : d.charset.default;
    if (!def) fail('charset.default', 'must be one of 8859/1, 8859/15, UNICODE UTF-8, ASCII');
    out.charset = { default: def, latin1AsCp1252: user.charset.latin1AsCp1252 ?? d.charset.latin1AsCp1252 };
  }
  for (const k of ['order', 'staleUpdates', 'groupSize', 'pgGroupMode', 'maxMessageBytes', 'maxFileBytes', 'lockTtlMs', 'httpPort', 'httpAllowRemote', 'showIdentities',
    'httpMaxConnections', 'httpHeadersTimeoutMs', 'httpRequestTimeoutMs', 'httpKeepAliveTimeoutMs'] as const) {
    if (user[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = user[k];
  }
  if (user.httpHost !== undefined) {
    // No authentication on the status page and metrics: loopback unless the operator says otherwise (src/observe).
    if (!isLoopbackHost(user.httpHost) && !out.httpAllowRemote) {
      fail('httpHost', `${user.httpHost} is not a loopback address; the status page and metrics have no authentication: keep 127.0.0.1, or set httpAllowRemote to true (behind a firewall or an authenticating reverse proxy)`);
    }
    out.httpHost = user.httpHost;
  }
  // node:http refuses a header timeout longer than the request timeout.
  if (out.httpHeadersTimeoutMs > out.httpRequestTimeoutMs) fail('httpHeadersTimeoutMs', `must not exceed httpRequestTimeoutMs (${out.httpRequestTimeoutMs})`);
  if (user.retention) out.retention = { ...d.retention, ...user.retention };
  if (user.log) out.log = { level: user.log.level ?? d.log.level, format: user.log.format ?? d.log.format };
  const sources = user.sources ?? [{ name: 'local' }];
  const names = new Set<string>();
  out.sources = sources.map((s, i) => resolveSource(s, `sources[${i}]`, abs, names));
  // Two sources on one inbox would both take its files (the ledger claims per source): refused.
  out.sources.forEach((s, i) => {
    const j = out.sources.findIndex((o) => o.inbox === s.inbox);
    if (j !== i) fail(`sources[${i}].inbox`, `${s.inbox} is already the inbox of source ${out.sources[j]!.name}: each source needs its own inbox`);
  });
  out.listeners = (user.listeners ?? []).map((l, i) => resolveListener(l, `listeners[${i}]`, abs, names));
  return out;
}

/**
 * An MLLP listener: loopback unless TLS or allowPlain (messages carry patient data); a client certificate needs the
 * CA it must chain to (without one, any certificate a public CA signed would do). Its name is the ledger source of
 * its connections: never a source's name (`names` holds them).
 */
function resolveListener(l: NonNullable<ImporterConfig['listeners']>[number], key: string, abs: (p: string) => string, names: Set<string>): ListenerConfig {
  if (names.has(l.name)) fail(`${key}.name`, `${l.name} is already the name of a source or listener (the ledger records both by name)`);
  names.add(l.name);
  const { comment: _comment, ...given } = l as typeof l & { comment?: unknown };
  const out: ListenerConfig = { ...getDefaultListener(l.name, l.port), ...given, tls: null } as ListenerConfig;
  if (l.tls) {
    const { comment: _c, ...t } = l.tls as typeof l.tls & { comment?: unknown };
    out.tls = { requireClientCert: true, ...t, certFile: abs(t.certFile), keyFile: abs(t.keyFile), ...(t.caFile ? { caFile: abs(t.caFile) } : {}) };
    if (out.tls.requireClientCert && !out.tls.caFile) fail(`${key}.tls.caFile`, 'is required with requireClientCert (the CA that signs the client certificates)');
  }
  if (!isLoopbackHost(out.host) && !out.tls && !out.allowPlain) {
    fail(`${key}.host`, `${out.host} is not a loopback address; HL7 messages carry patient data: configure tls, or set allowPlain to true (a trusted network or a TLS terminator in front)`);
  }
  if (out.journalDir) out.journalDir = abs(out.journalDir);
  return out;
}

function resolveSource(s: Partial<SourceConfig> & { name: string }, key: string, abs: (p: string) => string, names: Set<string>): SourceConfig {
  const d = getDefaultSource();
  if (names.has(s.name)) fail(`${key}.name`, `duplicate source name ${s.name}`);
  names.add(s.name);
  const src: SourceConfig = { ...d, ...s, ignore: s.ignore ?? d.ignore } as SourceConfig;
  for (const f of ['inbox', 'ackDir', 'archiveDir', 'errorDir'] as const) src[f] = abs(src[f]);
  if (src.type === 'sftp') {
    const sf = { ...src.sftp! };
    src.sftp = sf;
    // An empty pin list is accepted here (so that `pamdrop sftp-keyscan` can run) but refused at connection time.
    sf.hostKeySha256 = sf.hostKeySha256 ?? [];
    if (!sf.privateKeyFile && !sf.passwordEnv && !sf.passwordFile) fail(`${key}.sftp`, 'needs privateKeyFile, passwordEnv or passwordFile');
    sf.afterProcessing = sf.afterProcessing ?? 'archive';
    if (sf.afterProcessing === 'archive' && !sf.remoteArchiveDir) fail(`${key}.sftp.remoteArchiveDir`, 'is required when afterProcessing is "archive" (or set afterProcessing to "delete")');
    if (sf.privateKeyFile) sf.privateKeyFile = abs(sf.privateKeyFile);
    if (sf.passwordFile) sf.passwordFile = abs(sf.passwordFile);
  }
  if (src.type === 'ftp') {
    const f = { ...src.ftp! };
    src.ftp = f;
    f.secure = f.secure ?? 'explicit';
    f.pinnedCertSha256 = f.pinnedCertSha256 ?? [];
    if (!f.passwordEnv && !f.passwordFile) fail(`${key}.ftp`, 'needs passwordEnv or passwordFile');
    if (f.passwordEnv && f.passwordFile) fail(`${key}.ftp`, 'give passwordEnv or passwordFile, not both');
    // Plain FTP sends the password and the files in clear: only when the operator says so, in so many words.
    if (f.secure === false && f.insecure !== true) fail(`${key}.ftp.secure`, 'is false (plain FTP: password and files in clear); use "explicit" or "implicit" TLS, or set insecure to true to accept it');
    if (f.secure !== false && f.insecure === true) fail(`${key}.ftp.insecure`, 'only allows plain FTP (secure false); certificate checks of FTPS are never turned off: pin the certificate (pinnedCertSha256) instead');
    if (f.secure === false && (f.caFile || f.pinnedCertSha256.length > 0)) fail(`${key}.ftp`, 'caFile and pinnedCertSha256 need TLS (secure "explicit" or "implicit")');
    f.afterProcessing = f.afterProcessing ?? 'archive';
    if (f.afterProcessing === 'archive' && !f.remoteArchiveDir) fail(`${key}.ftp.remoteArchiveDir`, 'is required when afterProcessing is "archive" (or set afterProcessing to "delete")');
    if (f.caFile) f.caFile = abs(f.caFile);
    if (f.passwordFile) f.passwordFile = abs(f.passwordFile);
  }
  return src;
}

/** Loads `path` (if given) and resolves it; relative paths in the file are relative to its folder. */
export function loadConfig(path?: string): ResolvedConfig {
  if (!path) return resolveConfig({});
  return resolveConfig(readConfigFile(path), dirname(resolve(path)));
}
