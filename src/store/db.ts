/**
 * Opens the store: SQLite (default, embedded, zero set-up) or PostgreSQL (`postgres://…`), runs the
 * migrations, and returns a `Db`.
 *
 * SQLite driver: better-sqlite3 by default (the import loop needs prepared statements reused across
 * messages: ~8× knex + sqlite3); `sqlite3` stays selectable (`sqliteDriver: "sqlite3"`) for
 * sites that must keep node-sqlite3, through knex, slower.
 * sqlite3 is an optional package: loaded only when chosen, and a clear usage error when it is not installed.
 * PostgreSQL password: never in the URL (refused by the configuration, store/target.ts); from PAMDROP_DB_PASSWORD,
 * the file named by PAMDROP_DB_PASSWORD_FILE, or the driver's own PGPASSWORD / ~/.pgpass.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import { KnexTx, SqliteTx, type Db, type Dialect, type Tx } from './tx.js';
import { migrationSource } from './migrations/index.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { ConfigError } from '../shared/errors.js';
import { isPostgresUrl, redactUrl } from './target.js';

export type SqliteDriver = 'better-sqlite3' | 'sqlite3';

export interface OpenDbOptions {
  sqliteDriver?: SqliteDriver;
  /** Run pending migrations (default true). */
  migrate?: boolean;
  /**
   * Create the store when it is missing (default true). false: read-only commands, which open an existing store
   * and never create one — a missing SQLite file or a PostgreSQL database/schema without pamdrop's tables is a
   * ConfigError ("no pamdrop store at …").
   */
  create?: boolean;
  /** SQLite busy timeout in ms (default 5000). */
  busyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Where knex's own warnings go (default: a warn-level logger on stderr). Never stdout: it would corrupt `--json`. */
  log?: Logger;
}

/** knex prints its warnings (e.g. "Connection Error: …") with console.log, on stdout: route them to the logger. */
function knexLog(log: Logger = createLogger({ level: 'warn' })): Knex.Config['log'] {
  const text = (m: unknown) => (typeof m === 'string' ? m : m instanceof Error ? `${m.name}: ${m.message}` : JSON.stringify(m));
  // One line at the default level (the stack trace only at debug). A failed connection attempt is reported by the
  // error the caller gets (or by its retry), so knex's own notice of it is debug only.
  const first = (m: unknown) => text(m).split('\n')[0]!;
  return {
    warn: (m: unknown) => {
      if (!/^Acquire connection error/.test(first(m))) log.warn('database driver warning', { detail: first(m) });
      if (text(m).includes('\n')) log.debug('database driver warning (full text)', { detail: text(m) });
    },
    error: (m: unknown) => log.error('database driver error', { detail: text(m) }),
    deprecate: (m: unknown) => log.debug('database driver deprecation', { detail: text(m) }),
    debug: (m: unknown) => log.debug('database driver debug', { detail: text(m) }),
  };
}

export { isPostgresUrl };

/** Target without credentials (`postgres://user:***@host/db`), for output and logs. */
export function describeTarget(target: string): string {
  return isPostgresUrl(target) ? redactUrl(target) : `sqlite:${target}`;
}

function pgPassword(env: NodeJS.ProcessEnv): string | undefined {
  if (env.PAMDROP_DB_PASSWORD) return env.PAMDROP_DB_PASSWORD;
  if (env.PAMDROP_DB_PASSWORD_FILE) return readFileSync(env.PAMDROP_DB_PASSWORD_FILE, 'utf8').replace(/\r?\n$/, '');
  return undefined;
}

/**
 * Runs the migrations. Two processes opening a fresh store at the same moment (a service and a cron job) race
 * knex's bookkeeping: its tables are created check-then-create ("already exists") and the loser of the migration
 * lock gets MigrationLocked. Both are retried (bounded) until the winner has finished.
 */
async function migrateLatest(knex: Knex, config: Knex.MigratorConfig): Promise<string[]> {
  // The budget covers a slow winner on a loaded host; a lock left by a process killed mid-migration still fails
  // (knex's MigrationLocked message) once it is spent.
  const giveUpAt = Date.now() + 60_000;
  for (let attempt = 1; ; attempt++) {
    try {
      // Nothing pending (every start but the first): no write at all. knex's latest() takes its migration lock even
      // then, so a store held by another writer (BEGIN IMMEDIATE) made every command wait out this whole retry budget,
      // printing knex's "run knex migrate:unlock" advice, instead of failing after the busy timeout (hardening harness).
      const [, pending] = (await knex.migrate.list(config)) as [unknown[], unknown[]];
      if (pending.length === 0) return [];
      const [, ran] = (await knex.migrate.latest(config)) as [number, string[]];
      return ran;
    } catch (err) {
      const e = err as Error;
      const race = e.name === 'MigrationLocked' || /knex_migrations(_lock)?[`"]? already exists|database is locked|SQLITE_BUSY|duplicate key value violates unique constraint "(pg_type|pg_class|knex_migrations)/i.test(e.message);
      if (!race || Date.now() >= giveUpAt) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 500)));
    }
  }
}

/** Migrates through `knex`; on failure destroys it (its pool would otherwise keep the process alive) and rethrows. */
async function migrateOrDestroy(knex: Knex, config: Knex.MigratorConfig, log?: Logger): Promise<void> {
  try {
    const ran = await migrateLatest(knex, config);
    if (ran.length > 0) await reportMaintenance(knex, ran, log ?? createLogger({ level: 'warn' }));
  } catch (err) {
    await knex.destroy().catch(() => {});
    throw err;
  }
}

/**
 * What the migrations just run changed in the data (`maintenance_log`, e.g. duplicate assigning authorities merged by
 * 0003): one warning per kind of change with its count, so that no data change goes unseen; `pamdrop doctor` lists them.
 */
async function reportMaintenance(knex: Knex, ran: readonly string[], log: Logger): Promise<void> {
  const rows = (await knex('maintenance_log').whereIn('migration', [...ran]).select('migration', 'kind').count({ n: '*' })
    .groupBy('migration', 'kind').orderBy(['migration', 'kind'])) as unknown as Array<{ migration: string; kind: string; n: number | string }>;
  for (const r of rows) {
    log.warn('store migration changed data: see `pamdrop doctor`', { migration: r.migration, change: r.kind, count: Number(r.n) });
  }
}

/** Opens (and by default migrates) the store at `target`. */
export async function openDb(target: string, opts: OpenDbOptions = {}): Promise<Db> {
  const env = opts.env ?? process.env;
  if (isPostgresUrl(target)) return openPostgres(target, opts, env);
  return openSqlite(target, opts);
}

async function openPostgres(target: string, opts: OpenDbOptions, env: NodeJS.ProcessEnv): Promise<Db> {
  const url = new URL(target);
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  const create = opts.create !== false;
  const password = pgPassword(env) ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const knex = knexFactory({
    client: 'pg',
    connection: { connectionString: url.toString(), ...(password !== undefined ? { password } : {}) },
    pool: { min: 0, max: 4 },
    log: knexLog(opts.log),
    ...(schema ? { searchPath: [schema] } : {}),
  });
  if (!create) {
    // Read-only: pamdrop's tables must be there (knex keeps its bookkeeping beside them); nothing is created.
    const found = await knex.raw('SELECT to_regclass(?)::text AS t', [`${schema ? `"${schema.replace(/"/g, '""')}".` : ''}knex_migrations`])
      .then((r) => r.rows[0]?.t ?? null, async (err) => { await knex.destroy().catch(() => {}); throw err; });
    if (!found) {
      await knex.destroy().catch(() => {});
      throw new ConfigError(`no pamdrop store at ${describeTarget(target)} (check --db / database; \`pamdrop run\` or \`pamdrop watch\` creates it)`);
    }
  } else if (schema) {
    try {
      await knex.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
    } catch (err) {
      // Concurrent CREATE SCHEMA IF NOT EXISTS can still fail on the catalog's unique index: fine if it now exists.
      const exists = await knex.raw('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema]).then((r) => r.rows.length > 0, () => false);
      if (!exists) { await knex.destroy().catch(() => {}); throw err; }
    }
  }
  if (opts.migrate !== false) await migrateOrDestroy(knex, { migrationSource, ...(schema ? { schemaName: schema } : {}) }, opts.log);
  return new KnexDb(knex, 'pg', describeTarget(target));
}

async function openSqlite(path: string, opts: OpenDbOptions): Promise<Db> {
  const filename = path === ':memory:' ? path : resolve(path);
  if (filename !== ':memory:') {
    if (opts.create === false) {
      if (!existsSync(filename)) throw new ConfigError(`no pamdrop store at ${filename} (check --db / database; \`pamdrop run\` or \`pamdrop watch\` creates it)`);
    } else mkdirSync(dirname(filename), { recursive: true });
  }
  const driver = opts.sqliteDriver ?? 'better-sqlite3';
  const busy = opts.busyTimeoutMs ?? 5000;
  const pragmas = (run: (sql: string) => void) => {
    run('PRAGMA journal_mode = WAL');
    // FULL: a commit survives power loss. Cheap because the pipeline commits groups of messages. The import's group
    // loop switches its connection to NORMAL and fsyncs the -wal before any ACK file (sqlite/commit-policy.ts).
    run('PRAGMA synchronous = FULL');
    run('PRAGMA foreign_keys = ON');
    run(`PRAGMA busy_timeout = ${busy}`);
    // 32 MiB page cache (default 2 MiB): index pages of a large store stay in memory during an import. 64 MiB cost
    // ~35 MB more peak RSS for no measurable speed (BENCHMARKS.md).
    run('PRAGMA cache_size = -32768');
    run('PRAGMA temp_store = MEMORY');
  };
  if (driver === 'sqlite3') {
    try {
      createRequire(import.meta.url).resolve('sqlite3');
    } catch {
      throw new ConfigError('sqliteDriver sqlite3: the optional package sqlite3 is not installed (npm install sqlite3, which compiles natively), or use better-sqlite3');
    }
    const knex = knexFactory({
      client: 'sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      log: knexLog(opts.log),
      pool: { min: 1, max: 1, afterCreate: (conn: any, done: (e: unknown, c: unknown) => void) => {
        conn.serialize(() => { pragmas((sql) => conn.run(sql)); done(null, conn); });
      } },
    });
    if (opts.create === false) await assertSqliteStore(knex, path);
    if (opts.migrate !== false) await migrateOrDestroy(knex, { migrationSource }, opts.log);
    return new KnexDb(knex, 'sqlite', describeTarget(path) + ' (sqlite3 driver)');
  }
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    log: knexLog(opts.log),
    pool: { min: 1, max: 1, afterCreate: (conn: BetterSqlite3.Database, done: (e: unknown, c: unknown) => void) => {
      pragmas((sql) => conn.exec(sql));
      done(null, conn);
    } },
  });
  if (opts.create === false) await assertSqliteStore(knex, path);
  if (opts.migrate !== false) await migrateOrDestroy(knex, { migrationSource }, opts.log);
  // Hold knex's only connection for the process: all further work goes through prepared statements.
  const conn = (await knex.client.acquireConnection()) as BetterSqlite3.Database;
  return new SqliteDb(knex, conn, describeTarget(path));
}

/** Read-only commands: an existing SQLite file that holds no pamdrop tables is not a store (nothing is created in it). */
async function assertSqliteStore(knex: Knex, path: string): Promise<void> {
  if (path === ':memory:') return;
  let rows: unknown[];
  try {
    rows = await knex.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'knex_migrations'") as unknown[];
  } catch (err) {
    await knex.destroy().catch(() => {});
    throw err;
  }
  if (rows.length > 0) return;
  await knex.destroy().catch(() => {});
  throw new ConfigError(`no pamdrop store at ${path}: the file holds no pamdrop tables (check --db / database)`);
}

class SqliteDb extends SqliteTx implements Db {
  constructor(readonly knex: Knex, conn: BetterSqlite3.Database, readonly description: string) { super(conn); }
  async close(): Promise<void> {
    await this.knex.client.releaseConnection(this.conn);
    await this.knex.destroy();
  }
}

class KnexDb extends KnexTx implements Db {
  constructor(readonly knex: Knex, dialect: Dialect, readonly description: string) { super(knex, dialect); }
  override async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.knex.transaction((t) => fn(new KnexTx(t, this.dialect)));
  }
  async close(): Promise<void> { await this.knex.destroy(); }
}
