/**
 * Dry runs (`preview`, `import --dry-run`, `reimport --dry-run`): the real pipeline runs against the real
 * store inside one transaction that is always rolled back, so "what the file would do" is computed by the very
 * code that would do it and nothing is ever committed.
 *
 * `txAsDb` lets the pipeline, which opens its own transactions per group of messages, run inside that outer
 * transaction: its transactions become savepoints (SQLite: SAVEPOINT; PostgreSQL: knex nested transaction).
 */
import type { Db, Tx } from '../store/tx.js';

/** Thrown to end the outer transaction; never escapes withRollback. */
class Rollback extends Error {
  override readonly name = 'Rollback';
}

/**
 * Runs `fn` in a transaction that is rolled back whatever happens, and resolves to its result.
 * SQLite: BEGIN IMMEDIATE takes the write lock for the duration (a concurrent importer waits up to its busy
 * timeout); PostgreSQL: rows written by the dry run stay locked until the rollback.
 */
export async function withRollback<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  try {
    await db.transaction(async (tx) => {
      result = { value: await fn(tx) };
      throw new Rollback('dry run: rolled back');
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return result!.value;
}

/** A Db whose statements run in `tx` and whose transactions are savepoints of it; close() does nothing. */
export function txAsDb(tx: Tx, db: Db): Db {
  return {
    dialect: tx.dialect,
    all: <T>(sql: string, params?: readonly unknown[]) => tx.all<T>(sql, params),
    get: <T>(sql: string, params?: readonly unknown[]) => tx.get<T>(sql, params),
    run: (sql: string, params?: readonly unknown[]) => tx.run(sql, params),
    savepoint: <T>(fn: (t: Tx) => Promise<T>) => tx.savepoint(fn),
    transaction: <T>(fn: (t: Tx) => Promise<T>) => tx.savepoint(fn),
    knex: db.knex,
    description: `${db.description} (dry run)`,
    close: async () => {},
  };
}
