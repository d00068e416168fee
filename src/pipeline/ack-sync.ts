/**
 * Making things durable before and after ACK files: the SQLite `-wal` before a group's ACK files (its commit
 * durable first: store/sqlite/commit-policy.ts), and the ACK files themselves before the ledger counts them.
 * Used on the main thread and on the ACK writer thread (ack-writer-worker.ts): one copy.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { join } from 'node:path';

/**
 * fsync of a file by path: a missing file is fine (a WAL is only removed after a checkpoint that synced the
 * database file). Opened read-write: some systems refuse fsync on a read-only handle. SQLite holds no POSIX lock on
 * the `-wal` file (its locks are on the database and `-shm` files), so closing this descriptor cannot drop one of
 * SQLite's locks.
 */
export function syncFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Makes ACK files just written in `dir` durable (data and names), so the ledger may record them as such and a
 * resume need not rewrite them. One `syncfs` of the file system through `sync -f` (GNU coreutils) when it works:
 * it costs one small process and flushes a group's thousand files at once, where an fsync per file costs about a
 * millisecond each on a journal-less ext4 (a 100,000-message file would spend 100 s in them). Elsewhere, an fsync
 * of each file then of the folder.
 */
export function syncAckFiles(dir: string, names: readonly string[]): void {
  if (syncfsWorks !== false) {
    const r = spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
    syncfsWorks = !r.error && r.status === 0;
    if (syncfsWorks) return;
  }
  for (const n of names) {
    const fd = openSync(join(dir, n), 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  }
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}
let syncfsWorks: boolean | null = null;
