/**
 * The store's execution interface. Every repository function takes a `Tx` (a transaction or a savepoint
 * inside one) so that the pipeline decides where transactions begin and end.
 *
 * Two implementations:
 * - `SqliteTx`: the raw better-sqlite3 connection knex opened, with each SQL text prepared once and reused.
 *   knex rebuilds and re-prepares every statement (~9,600 patients/s against ~78,000/s raw);
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

const NO_PARAMS: readonly unknown[] = [];

/** norm() without the copy when nothing needs normalising (the usual case on the hot path). */
function bindable(params: readonly unknown[] | undefined): readonly unknown[] {
  if (!params) return NO_PARAMS;
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === undefined || typeof p === 'boolean') return norm(params);
  }
  return params;
}

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
  // Parameters are bound as one array argument (better-sqlite3 spreads it): no per-call spread of the values.
  async all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.stmt(sql).all(bindable(params)) as T[];
  }
  async get<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    const s = this.stmt(sql);
    return (s.reader ? s.get(bindable(params)) : (s.run(bindable(params)), undefined)) as T | undefined;
  }
  async run(sql: string, params?: readonly unknown[]): Promise<number> {
    const s = this.stmt(sql);
    if (s.reader) return s.all(bindable(params)).length;
    return s.run(bindable(params)).changes;
  }
  /** Synchronous helpers for the hot path where awaiting would only add overhead. */
  runSync(sql: string, params?: readonly unknown[]): number { return this.stmt(sql).run(bindable(params)).changes; }

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

/** The node-postgres client knex holds for a transaction (only what the fast path below uses). */
export interface PgConnection {
  query(config: string | { name?: string; text: string; values?: unknown[] }): Promise<{ rows?: Row[]; rowCount?: number | null }>;
}

/** A statement as sent to PostgreSQL: `$n` placeholders, and a name so that it is parsed and planned once per connection. */
interface PgStatement { name: string | undefined; text: string }
const pgStatements = new Map<string, PgStatement | null>();
/** Named (server-side prepared) statements are capped: SQL texts built at run time must not grow the server's cache without bound. */
const MAX_PG_NAMED = 1000;

/** `?` → `$n` exactly as knex.raw does; null for texts using knex.raw's other syntax (`??` identifiers, `\?`), left to knex. */
export function pgStatement(sql: string): PgStatement | null {
  let st = pgStatements.get(sql);
  if (st === undefined) {
    if (/\?\?|\\\?/.test(sql)) st = null;
    else {
      let n = 0;
      st = { name: pgStatements.size < MAX_PG_NAMED ? `pamdrop_${pgStatements.size + 1}` : undefined, text: sql.replace(/\?/g, () => `$${++n}`) };
    }
    pgStatements.set(sql, st);
  }
  return st;
}

/** Savepoint names are unique in the process: a nested knex transaction on the same connection never reuses one. */
let pgSavepointSeq = 0;

/**
 * knex-based execution (PostgreSQL, or SQLite through the `sqlite3` driver).
 * Inside a PostgreSQL transaction, statements go straight to the transaction's node-postgres client as named
 * prepared statements, and savepoints are plain SAVEPOINT / RELEASE on it: knex.raw rebuilds, re-positions and
 * re-parses every statement, a nested knex transaction per savepoint costs more again, and the import runs ~10
 * statements per message (BENCHMARKS.md). Results and errors look the same as through knex.raw (the error message
 * keeps knex's `<sql> - ` prefix).
 */
export class KnexTx implements Tx {
  readonly dialect: Dialect;
  /** The transaction's pg client; undefined until looked up, null when not a PostgreSQL transaction. */
  private pgConn: PgConnection | null | undefined;
  /**
   * A finished savepoint of this transaction whose RELEASE is deferred and sent with the next SAVEPOINT in one round
   * trip: the statements in between (the message's ledger row, the next message's duplicate check) then run inside
   * the finished savepoint, which changes nothing (nothing ever rolls back to it; COMMIT or ROLLBACK ends it anyway).
   */
  private pendingRelease: string | null = null;
  constructor(readonly k: Knex | Knex.Transaction, dialect: Dialect) { this.dialect = dialect; }

  /** The transaction's node-postgres client (PostgreSQL transaction), else null. */
  pgConnection(): Promise<PgConnection | null> { return this.pg(); }

  private async pg(): Promise<PgConnection | null> {
    if (this.pgConn === undefined) {
      const k = this.k as Knex.Transaction & { client: { acquireConnection?: () => Promise<PgConnection> } };
      this.pgConn = this.dialect === 'pg' && k.isTransaction === true && typeof k.client?.acquireConnection === 'function'
        ? await k.client.acquireConnection() : null;
    }
    return this.pgConn ?? null;
  }

  /** Sends a deferred RELEASE before anything that does not go through the fast path (knex must see real nesting). */
  private async releasePending(conn: PgConnection | null): Promise<void> {
    if (conn && this.pendingRelease) {
      const name = this.pendingRelease;
      this.pendingRelease = null;
      await conn.query(`RELEASE SAVEPOINT ${name}`);
    }
  }

  private async raw(sql: string, params?: readonly unknown[]): Promise<{ rows: Row[]; changes: number }> {
    const conn = this.dialect === 'pg' ? await this.pg() : null;
    const st = conn ? pgStatement(sql) : null;
    if (conn && st) {
      try {
        const res = await conn.query({ name: st.name, text: st.text, values: norm(params) });
        return { rows: res.rows ?? [], changes: res.rowCount ?? 0 };
      } catch (err) {
        if (err instanceof Error) err.message = `${st.text} - ${err.message}`;
        throw err;
      }
    }
    await this.releasePending(conn);
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
    const conn = this.dialect === 'pg' ? await this.pg() : null;
    if (!conn) return (this.k as Knex.Transaction).transaction((t) => fn(new KnexTx(t, this.dialect)));
    const name = `pamdrop_sp${++pgSavepointSeq}`;
    const release = this.pendingRelease;
    this.pendingRelease = null;
    // Simple-query protocol: both statements in one round trip.
    await conn.query(release ? `RELEASE SAVEPOINT ${release}; SAVEPOINT ${name}` : `SAVEPOINT ${name}`);
    let out: T;
    try {
      out = await fn(this);
    } catch (err) {
      // Anything deferred inside fn was nested in this savepoint: rolled back and released with it.
      this.pendingRelease = null;
      await conn.query(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`);
      throw err;
    }
    // A savepoint still pending inside fn is nested in this one: releasing this one releases it too.
    this.pendingRelease = name;
    return out;
  }
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    await this.releasePending(this.dialect === 'pg' ? await this.pg() : null);
    return this.k.transaction((t) => fn(new KnexTx(t, this.dialect)));
  }
}
