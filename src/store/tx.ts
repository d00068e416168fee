/**
 * The store's execution interface. Every repository function takes a `Tx` (a transaction or a savepoint
 * inside one) so that the pipeline decides where transactions begin and end (style.md §10).
 *
 * Two implementations:
 * - `SqliteTx`: the raw better-sqlite3 connection knex opened, with each SQL text prepared once and reused.
 *   knex rebuilds and re-prepares every statement (~9,600 patients/s against ~78,000/s raw, performance.md);
 *   the import loop runs ~10 statements per message, so the hot path cannot go through the query builder.
 * - `KnexTx`: a knex transaction (PostgreSQL, or the `sqlite3` driver), through `knex.raw`.
 * SQL is written once, portable between SQLite ≥ 3.35 and PostgreSQL: `?` placeholders, `RETURNING`,
 * `ON CONFLICT`, integers for booleans, ISO-8601 text for timestamps.
 */
import type { Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';

export type Row = Record<string, unknown>;
export type Dialect = 'sqlite' | 'pg';

export interface Tx {
  readonly dialect: Dialect;
  /** All rows of a query. */
  all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** First row of a query (or of an `INSERT … RETURNING`), undefined when none. */
  get<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Runs a statement; resolves to the number of rows changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Runs `fn` in a savepoint: rolled back alone if `fn` throws (the error is rethrown). */
  savepoint<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

/** A connected store: a Tx outside any transaction (autocommit) that can open transactions. */
export interface Db extends Tx {
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** The underlying knex instance (migrations, admin queries). Do not use it while a transaction is open on SQLite. */
  readonly knex: Knex;
  /** Human description of the target without secrets (for logs and `status`). */
  readonly description: string;
  close(): Promise<void>;
}

const norm = (params: readonly unknown[] | undefined): unknown[] =>
  params ? params.map((p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : p)) : [];

/** Raw better-sqlite3 execution with a statement cache. Synchronous underneath; async to share the Tx interface. */
export class SqliteTx implements Tx {
  readonly dialect = 'sqlite' as const;
  private depth = 0;
  private readonly cache = new Map<string, BetterSqlite3.Statement>();
  constructor(readonly conn: BetterSqlite3.Database) {}

  private stmt(sql: string): BetterSqlite3.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.conn.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }
  async all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.stmt(sql).all(...norm(params)) as T[];
  }
  async get<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    const s = this.stmt(sql);
    return (s.reader ? s.get(...norm(params)) : (s.run(...norm(params)), undefined)) as T | undefined;
  }
  async run(sql: string, params?: readonly unknown[]): Promise<number> {
    const s = this.stmt(sql);
    if (s.reader) return s.all(...norm(params)).length;
    return s.run(...norm(params)).changes;
  }
  /** Synchronous helpers for the hot path where awaiting would only add overhead. */
  runSync(sql: string, params?: readonly unknown[]): number { return this.stmt(sql).run(...norm(params)).changes; }

  async savepoint<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    // Prepared once per depth: `exec` would parse the text again for every message.
    const name = `sp${++this.depth}`;
    this.stmt(`SAVEPOINT ${name}`).run();
    try {
      const out = await fn(this);
      this.stmt(`RELEASE ${name}`).run();
      return out;
    } catch (err) {
      this.stmt(`ROLLBACK TO ${name}`).run();
      this.stmt(`RELEASE ${name}`).run();
      throw err;
    } finally {
      this.depth--;
    }
  }
  /** BEGIN IMMEDIATE … COMMIT: takes the write lock up front so a busy database fails before any work. */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.conn.inTransaction) return this.savepoint(fn);
    this.conn.exec('BEGIN IMMEDIATE');
    try {
      const out = await fn(this);
      this.conn.exec('COMMIT');
      return out;
    } catch (err) {
      if (this.conn.inTransaction) this.conn.exec('ROLLBACK');
      throw err;
    }
  }
}

/** knex-based execution (PostgreSQL, or SQLite through the `sqlite3` driver). */
export class KnexTx implements Tx {
  readonly dialect: Dialect;
  constructor(readonly k: Knex | Knex.Transaction, dialect: Dialect) { this.dialect = dialect; }

  private async raw(sql: string, params?: readonly unknown[]): Promise<{ rows: Row[]; changes: number }> {
    const res: any = await this.k.raw(sql, norm(params) as Knex.RawBinding[]);
    if (this.dialect === 'pg') return { rows: res.rows ?? [], changes: res.rowCount ?? 0 };
    // knex's sqlite3 client answers raw queries with the row array.
    return { rows: Array.isArray(res) ? res : [], changes: -1 };
  }
  async all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return (await this.raw(sql, params)).rows as T[];
  }
  async get<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    return (await this.raw(sql, params)).rows[0] as T | undefined;
  }
  async run(sql: string, params?: readonly unknown[]): Promise<number> {
    const r = await this.raw(sql, params);
    if (r.changes >= 0) return r.changes;
    if (/\breturning\b/i.test(sql)) return r.rows.length;
    const c: any = await this.k.raw('SELECT changes() AS c');
    return Number(c[0]?.c ?? 0);
  }
  async savepoint<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (!('isTransaction' in this.k) || !(this.k as Knex.Transaction).isTransaction) return this.transaction(fn);
    return (this.k as Knex.Transaction).transaction((t) => fn(new KnexTx(t, this.dialect)));
  }
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.k.transaction((t) => fn(new KnexTx(t, this.dialect)));
  }
}
