/**
 * What a `database` setting (or `--db`) names, decided before anything is opened: a SQLite file, a PostgreSQL URL,
 * or a mistake. A mistyped production path must never look like a healthy empty store, so:
 * - read-only commands open an existing store and never create one (`checkStoreTarget(…, 'open')`);
 * - the commands that may create one (`watch`, `run`, `import`, `reimport`) only do so from a target that is plainly
 *   SQLite (a name ending .sqlite / .sqlite3 / .db, or any file name in an existing folder) or plainly PostgreSQL
 *   (postgres:// or postgresql://).
 * Passwords never travel in the URL (it is printed, logged, kept in shell history and in process listings).
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../shared/errors.js';

export const isPostgresUrl = (target: string): boolean => /^postgres(ql)?:\/\//i.test(target);

/** How a command uses the store: `open` an existing one, or `create` it when missing. */
export type StoreMode = 'open' | 'create';

const SQLITE_EXT = new Set(['.sqlite', '.sqlite3', '.db']);
/** libpq keyword/value connection strings (`host=db1 dbname=pam password=…`): pamdrop takes URLs only. */
const KEYWORD_STYLE = /(^|\s)(host|hostaddr|port|dbname|user|password|passfile|sslmode|service|connect_timeout|application_name)\s*=/i;
const PASSWORD_ENV = 'the password comes from PGPASSWORD, a ~/.pgpass passfile, PAMDROP_DB_PASSWORD or PAMDROP_DB_PASSWORD_FILE';
const PASSWORD_HINT = `remove it: ${PASSWORD_ENV}`;

/**
 * Checks the form of a database setting and resolves a SQLite path against `baseDir`. Throws ConfigError (exit 2)
 * for another URL scheme, a keyword/value string, an unparseable PostgreSQL URL or one that carries a password.
 */
export function normalizeStoreTarget(raw: string, baseDir: string, key = 'database'): string {
  if (raw === ':memory:') return raw;
  if (isPostgresUrl(raw)) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new ConfigError(`${key}: not a valid PostgreSQL URL (postgres://user@host:5432/db)`);
    }
    if (u.password !== '' || u.searchParams.has('password')) {
      throw new ConfigError(`${key}: the PostgreSQL URL holds a password (${redactUrl(raw)}): ${PASSWORD_HINT}`);
    }
    return raw;
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (scheme) throw new ConfigError(`${key}: ${scheme[1]}:// is not a store pamdrop can use: give a SQLite file path or a postgres:// URL`);
  if (KEYWORD_STYLE.test(raw)) {
    throw new ConfigError(`${key}: looks like a PostgreSQL keyword/value string: give a URL instead, postgres://user@host:5432/db, without a password (${PASSWORD_ENV})`);
  }
  return isAbsolute(raw) ? raw : resolve(baseDir, raw);
}

/**
 * Checks that a command may use `target` the way it means to (SQLite only: a PostgreSQL store's existence is
 * checked once connected, `openDb({ create: false })`). Throws ConfigError (exit 2) with one line saying why.
 */
export function checkStoreTarget(target: string, mode: StoreMode): void {
  if (target === ':memory:' || isPostgresUrl(target)) return;
  const exists = existsSync(target);
  if (exists && statSync(target).isDirectory()) throw new ConfigError(`database: ${target} is a folder: give the SQLite file path, e.g. ${resolve(target, 'pamdrop.sqlite')}`);
  if (mode === 'open') {
    if (!exists) throw new ConfigError(`no pamdrop store at ${target} (check --db / database; \`pamdrop run\` or \`pamdrop watch\` creates it)`);
    return;
  }
  if (exists || SQLITE_EXT.has(extname(target).toLowerCase())) return;
  const dir = dirname(target);
  if (!existsSync(dir)) {
    throw new ConfigError(`database: ${target}: the folder ${dir} does not exist (create it, or name the file *.sqlite)`);
  }
}

/** A database target without its secrets, for output and logs: `postgres://user:***@host/db`, `password=***`. */
export function redactUrl(target: string): string {
  if (!isPostgresUrl(target)) return target;
  try {
    const u = new URL(target);
    if (u.password !== '') u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}
