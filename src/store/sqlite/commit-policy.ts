/**
 * Group commits on SQLite without a WAL fsync at each COMMIT, durability unchanged.
 *
 * The store opens SQLite in WAL mode with `synchronous = FULL` (store/db.ts): each COMMIT fsyncs the `-wal` file,
 * on the main thread, before it returns. For the group loop of one file, `groupCommitPolicy` switches the
 * connection to `synchronous = NORMAL` until `restore()`. With NORMAL a COMMIT appends its frames to the `-wal`
 * (write(), in the OS page cache) without fsync: it survives a crash of the process, not yet a power loss or an
 * OS crash. The rule "an ACK file is never written before its commit is durable" (docs/behaviour.md) is kept by
 * the caller (pipeline/group-loop.ts) and this:
 *
 * - Before any ACK file of a group is written, `walToSync` is fsynced (on the ACK writer thread first thing for
 *   the batch, or on the main thread for the synchronous path). The group's COMMIT returned before the batch was
 *   handed over, so its frames, commit frame included, were written to the `-wal` before that fsync began, and
 *   fsync flushes every dirty page of the file whoever wrote it: after it, the commit is as durable as a FULL
 *   commit (which is exactly one fsync of the `-wal` after its frames are written).
 * - If the `-wal` was checkpointed meanwhile (auto-checkpoint, by this connection on a later COMMIT), nothing is
 *   lost: with NORMAL, SQLite fsyncs the `-wal` before a checkpoint and the database file after it, and only
 *   restarts (overwrites) the `-wal` once every frame is in the synced database file. A missing `-wal` (removed
 *   after a full checkpoint at close) likewise means the database file holds and has synced everything.
 * - ACKs replayed from the ledger (resume) go through the same fsync: rows committed under NORMAL by a run that
 *   crashed are readable before they are durable.
 * - `restore()` (in a finally) puts FULL back before the file's archive/quarantine marks, so every later commit
 *   (archive mark, done) is durable at COMMIT, and that first FULL commit also syncs any frame still unsynced:
 *   the intake moves or deletes a remote file only after processFile returned, i.e. after a durable commit.
 *
 * The checkpoint interval (wal_autocheckpoint) is raised for the same span, and in a file of several groups the
 * ACK writer thread checkpoints `checkpointDb` (PASSIVE, its own connection: sqlite/checkpointer.ts) after each
 * batch of ACK files: most pages reach the database file there, and the main thread's auto-checkpoint only copies
 * what is left. Either changes when pages reach the database file, never what is durable when: any connection's
 * checkpoint syncs the `-wal` before copying and the database file after, and SQLite restarts the `-wal` only once
 * every frame is in the synced database file.
 *
 * Only for better-sqlite3 on a file in WAL mode with FULL (the defaults); otherwise null and nothing changes.
 */
import { SqliteTx, type Db } from '../tx.js';

export interface GroupCommitPolicy {
  /** The `-wal` file to fsync before any ACK file of a committed group is written. */
  readonly walToSync: string;
  /** The database file a second connection may checkpoint (PASSIVE) while the group loop runs. */
  readonly checkpointDb: string;
  /** Back to the store's own settings (FULL, the previous checkpoint interval). */
  restore(): void;
}

/** Relaxes `db`'s commits for one file's group loop; null when the store is not a better-sqlite3 WAL file at FULL. */
export function groupCommitPolicy(db: Db): GroupCommitPolicy | null {
  const store: unknown = db;
  if (!(store instanceof SqliteTx)) return null;
  const conn = store.conn;
  if (conn.memory || conn.inTransaction) return null;
  if (String(conn.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return null;
  if (Number(conn.pragma('synchronous', { simple: true })) !== 2 /* FULL */) return null;
  conn.pragma('synchronous = NORMAL');
  // Checkpoints every ~40 MB of WAL instead of ~4 MB: a checkpoint writes pages and fsyncs inside a COMMIT on the
  // main thread, and pages rewritten by several groups are written once (COMMIT time about halved at 100k messages).
  const autocheckpoint = Number(conn.pragma('wal_autocheckpoint', { simple: true }));
  conn.pragma('wal_autocheckpoint = 10000');
  return {
    walToSync: `${conn.name}-wal`,
    checkpointDb: conn.name,
    restore: () => {
      conn.pragma('synchronous = FULL');
      conn.pragma(`wal_autocheckpoint = ${autocheckpoint}`);
    },
  };
}
