/**
 * Opens the store: SQLite (default, embedded, zero set-up) or PostgreSQL (`postgres://…`), runs the
 * migrations, and returns a `Db`.
 *
 * SQLite driver: better-sqlite3 by default (the import loop needs prepared statements reused across
 * messages: ~8× knex + sqlite3, performance.md); `sqlite3` stays selectable (`sqliteDriver: "sqlite3"`) for
 * sites that must keep node-sqlite3, through knex, slower.
 * PostgreSQL password: never in the URL of the JSON config; from PAMDROP_DB_PASSWORD or the file named by
 * PAMDROP_DB_PASSWORD_FILE (a password in the URL is honoured but discouraged).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import { KnexTx, SqliteTx, type Db, type Dialect, type Tx } from './tx.js';
import { migrationSource } from './migrations/index.js';
import { createLogger, type Logger } from '../shared/logger.js';

export type SqliteDriver = 'better-sqlite3' | 'sqlite3';

export interface OpenDbOptions {
  sqliteDriver?: SqliteDriver;
  /** Run pending migrations (default true). */
  migrate?: boolean;
  /** SQLite busy timeout in ms (default 5000). */
  busyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Where knex's own warnings go (default: a warn-level logger on stderr). Never stdout: it would corrupt `--json`. */
  log?: Logger;
}

/** knex prints its warnings (e.g. "Connection Error: …") with console.log, on stdout: route them to the logger. */
function knexLog(log: Logger = createLogger({ level: 'warn' })): Knex.Config['log'] {
  const text = (m: unknown) => (typeof m === 'string' ? m : m instanceof Error ? `${m.name}: ${m.message}` : JSON.stringify(m));
  return {
    warn: (m: unknown) => log.warn('database driver warning', { detail: text(m) }),
    error: (m: unknown) => log.error('database driver error', { detail: text(m) }),
    deprecate: (m: unknown) => log.debug('database driver deprecation', { detail: text(m) }),
    debug: (m: unknown) => log.debug('database driver debug', { detail: text(m) }),
  };
}

export const isPostgresUrl = (target: string): boolean => /^postgres(ql)?:\/\//i.test(target);

/** Target without credentials, for logs. */
export function describeTarget(target: string): string {
  if (!isPostgresUrl(target)) return `sqlite:${target}`;
  try {
    const u = new URL(target);
    u.password = '';
    u.username = u.username ? u.username : '';
    return u.toString().replace(/:@/, '@');
  } catch {
    return 'postgres://(unparseable url)';
  }
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
  const password = pgPassword(env) ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const knex = knexFactory({
    client: 'pg',
    connection: { connectionString: url.toString(), ...(password !== undefined ? { password } : {}) },
    pool: { min: 0, max: 4 },
    log: knexLog(opts.log),
    ...(schema ? { searchPath: [schema] } : {}),
  });
  if (schema) {
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
  if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
  const driver = opts.sqliteDriver ?? 'better-sqlite3';
  const busy = opts.busyTimeoutMs ?? 5000;
  const pragmas = (run: (sql: string) => void) => {
    run('PRAGMA journal_mode = WAL');
    // FULL: a commit survives power loss. Cheap because the pipeline commits groups of messages. The import's group
    // loop switches its connection to NORMAL and fsyncs the -wal before any ACK file (pipeline/process-file.ts).
    run('PRAGMA synchronous = FULL');
    run('PRAGMA foreign_keys = ON');
    run(`PRAGMA busy_timeout = ${busy}`);
    // 32 MiB page cache (default 2 MiB): index pages of a large store stay in memory during an import. 64 MiB cost
    // ~35 MB more peak RSS for no measurable speed (issue 6, BENCHMARKS.md).
    run('PRAGMA cache_size = -32768');
    run('PRAGMA temp_store = MEMORY');
  };
  if (driver === 'sqlite3') {
    const knex = knexFactory({
      client: 'sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      log: knexLog(opts.log),
      pool: { min: 1, max: 1, afterCreate: (conn: any, done: (e: unknown, c: unknown) => void) => {
        conn.serialize(() => { pragmas((sql) => conn.run(sql)); done(null, conn); });
      } },
    });
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
  if (opts.migrate !== false) await migrateOrDestroy(knex, { migrationSource }, opts.log);
  // Hold knex's only connection for the process: all further work goes through prepared statements.
  const conn = (await knex.client.acquireConnection()) as BetterSqlite3.Database;
  return new SqliteDb(knex, conn, describeTarget(path));
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
