/**
 * Durable single-message commits on SQLite that share their fsync (the MLLP listeners, src/mllp/store-sink.ts).
 *
 * With `synchronous = FULL` every COMMIT fsyncs the `-wal` on the main thread: one fsync per message, and nothing
 * else runs meanwhile. Here a message's transaction commits with `synchronous = NORMAL` (its frames written to the
 * `-wal`, not yet synced) and its ACK waits for `durable()`: an fdatasync of the `-wal` begun after that COMMIT
 * returned. The argument is the file path's (`groupCommitPolicy`, sqlite/commit-policy.ts): fsync flushes every
 * page written to the `-wal` before it began; a checkpoint under NORMAL syncs the `-wal` before copying and the
 * database after, and the `-wal` restarts only once every frame is in the synced database file; a missing `-wal`
 * means the database file holds and has synced everything.
 *
 * Two ways to wait, chosen per call:
 * - **alone** (no other message in the sink): the fdatasync runs at once on the main thread. There is nothing to
 *   share it with, and the thread pool's round trips would cost more than the fsync itself (one connection: about
 *   1,200 against 950 messages/s, BENCHMARKS.md).
 * - otherwise on the thread pool, shared: one fdatasync covers every commit before it, whichever connection made
 *   it, and the main thread goes on with the next messages meanwhile.
 *
 * The `-wal` is opened once and kept until `release()`. SQLite removes a `-wal` only when the last connection to the
 * database closes, and the connection whose commits this syncs stays open while the sink has connections, so the
 * descriptor always names the live `-wal` (a checkpoint restarts it in place, never replaces it).
 *
 * `relax()` puts FULL back right after the COMMIT, so any other commit of the process stays durable at COMMIT. When
 * the connection is already NORMAL (a file of several groups is being imported on it), it is left as it is and
 * `durable()` still syncs before the ACK.
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { SqliteTx, type Db } from '../tx.js';

const fdatasyncAsync = promisify(fdatasync);

export class WalSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  /** The `-wal`'s descriptor, once opened; null before, and after `release()`. */
  private fd: number | null = null;
  private releasing = false;

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

  /**
   * Resolves once an fdatasync of the `-wal` that began after this call has completed. `alone`: no other message
   * waits to be committed, so the sync runs at once on this thread.
   */
  durable(alone = false): Promise<void> {
    if (alone) {
      const fd = this.walFd();
      if (fd !== null) fdatasyncSync(fd);
      return Promise.resolve();
    }
    if (!this.running) {
      this.running = this.fsync().finally(() => { this.running = null; this.closeIfReleased(); });
      return this.running;
    }
    // One is in flight and may have begun before the caller's COMMIT: the next one, shared by every caller meanwhile.
    this.next ??= this.running.catch(() => {}).then(() => { this.next = null; return this.durable(); });
    return this.next;
  }

  /** Closes the `-wal`'s descriptor (the sink has no connection left); once any fsync in flight has ended. */
  release(): void {
    this.releasing = true;
    this.closeIfReleased();
  }

  private closeIfReleased(): void {
    if (!this.releasing || this.running || this.next) return;
    this.releasing = false;
    if (this.fd !== null) { closeSync(this.fd); this.fd = null; }
  }

  private walFd(): number | null {
    this.releasing = false;
    if (this.fd === null) {
      try {
        // Read-write: some systems refuse fsync on a read-only handle. SQLite's locks are on the database and `-shm`
        // files, so this descriptor cannot drop one of them.
        this.fd = openSync(`${this.conn.name}-wal`, 'r+');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    }
    return this.fd;
  }

  private async fsync(): Promise<void> {
    const fd = this.walFd();
    if (fd !== null) await fdatasyncAsync(fd);
  }
}
