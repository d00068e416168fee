/**
 * Durable single-message commits on SQLite that share their fsync (the MLLP listeners, src/mllp/store-sink.ts).
 *
 * With `synchronous = FULL` every COMMIT fsyncs the `-wal` on the main thread: one fsync per message, and nothing
 * else runs meanwhile. Here a message's transaction commits with `synchronous = NORMAL` (its frames written to the
 * `-wal`, not yet synced) and its ACK waits for `durable()`: an fsync of the `-wal` begun after that COMMIT
 * returned, on the thread pool. One fsync then covers every commit before it, whichever connection made it, and
 * the main thread goes on with the next messages. The argument is the file path's (`groupCommitPolicy`,
 * sqlite/commit-policy.ts): fsync flushes every page written to the `-wal` before it began; a checkpoint under
 * NORMAL syncs the `-wal` before copying and the database after, and the `-wal` restarts only once every frame is in
 * the synced database file; a missing `-wal` means the database file holds and has synced everything.
 *
 * `relax()` puts FULL back right after the COMMIT, so any other commit of the process stays durable at COMMIT. When
 * the connection is already NORMAL (a file of several groups is being imported on it), it is left as it is and
 * `durable()` still syncs before the ACK.
 */
import { open } from 'node:fs/promises';
import { SqliteTx, type Db } from '../tx.js';

export class WalSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  private constructor(private readonly conn: SqliteTx['conn']) {}

  /** For a better-sqlite3 store on a file in WAL mode; null otherwise (every COMMIT is durable as it returns). */
  static of(db: Db): WalSync | null {
    const store: unknown = db;
    if (!(store instanceof SqliteTx) || store.conn.memory) return null;
    if (String(store.conn.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return null;
    return new WalSync(store.conn);
  }

  /** NORMAL until the returned function is called (right after the COMMIT); a no-op when not FULL now. */
  relax(): () => void {
    if (Number(this.conn.pragma('synchronous', { simple: true })) !== 2 /* FULL */) return () => {};
    this.conn.pragma('synchronous = NORMAL');
    return () => { this.conn.pragma('synchronous = FULL'); };
  }

  /** Resolves once an fsync of the `-wal` that began after this call has completed. */
  durable(): Promise<void> {
    if (!this.running) {
      this.running = this.fsync().finally(() => { this.running = null; });
      return this.running;
    }
    // One is in flight and may have begun before the caller's COMMIT: the next one, shared by every caller meanwhile.
    this.next ??= this.running.catch(() => {}).then(() => { this.next = null; return this.durable(); });
    return this.next;
  }

  private async fsync(): Promise<void> {
    let fh;
    try {
      fh = await open(`${this.conn.name}-wal`, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try { await fh.datasync(); } finally { await fh.close(); }
  }
}
