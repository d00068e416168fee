/**
 * Connections used only to checkpoint a SQLite WAL (`PRAGMA wal_checkpoint(PASSIVE)`), by database path, opened on
 * first use. The ACK writer thread (pipeline/ack-writer-worker.ts) holds them, so that most WAL pages reach the
 * database file there rather than inside a COMMIT on the import's main thread (commit-policy.ts).
 *
 * A checkpoint is only ever an optimisation: a database that cannot be opened (missing, locked, better-sqlite3 not
 * loadable) or a checkpoint that fails gives null, and the main connection's auto-checkpoint does the work.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

/** What a checkpoint did: WAL frames (`log`), frames copied (`checkpointed`), whether a reader blocked it. */
export interface CheckpointResult { busy: number; log: number; checkpointed: number }

type Open = (path: string) => BetterSqlite3.Database;

export class WalCheckpointers {
  private readonly conns = new Map<string, BetterSqlite3.Database | null>();
  private open: Open | null = null;

  /** Checkpoints (PASSIVE) the WAL of the database at `path`; null when it cannot. */
  checkpoint(path: string): CheckpointResult | null {
    let db = this.conns.get(path);
    if (db === undefined) {
      db = null;
      try { db = this.opener()(path); } catch { db = null; }
      this.conns.set(path, db);
    }
    if (!db) return null;
    try {
      const r = (db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[])[0]!;
      return { busy: r.busy, log: r.log, checkpointed: r.checkpointed };
    } catch { return null; }
  }

  /** Closes the connection to `path` (after a file's group loop); a no-op when none. */
  close(path: string): void {
    const db = this.conns.get(path);
    this.conns.delete(path);
    try { db?.close(); } catch { /* it only ever checkpointed */ }
  }

  private opener(): Open {
    if (!this.open) {
      const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
      // timeout 0: a checkpoint never waits for the main connection; fileMustExist: never creates a database.
      this.open = (path) => new Database(path, { fileMustExist: true, timeout: 0 });
    }
    return this.open;
  }
}
