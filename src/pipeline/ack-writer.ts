/**
 * ACK files written on a worker thread, so that a group's file system work (temp file + rename per ACK, the
 * costliest per-message step after the database) overlaps the next group's
 * database work instead of following it.
 *
 * Same contract as LocalAckSink (files.ts): each file is written to `.name.tmp` then renamed, the folder is made
 * when missing, the first failure stops the batch and rejects with the fs error (code, syscall, path kept).
 * The pipeline hands a group's ACKs over only after that group's COMMIT, so an ACK file never exists before its
 * commit; it keeps at most one batch in flight and awaits it before archiving the file.
 *
 * The same thread also checkpoints the SQLite WAL during the import loop (`checkpointDb`): a second connection runs
 * `PRAGMA wal_checkpoint(PASSIVE)` after each batch of ACK files, so most WAL pages reach the database file here rather
 * than inside a COMMIT on the main thread (see relaxedSqliteCommits in process-file.ts).
 *
 * The worker is started on first use, shared by every file of the process, and kept referenced only while a batch
 * is in flight (an idle worker never holds the process open). Its code is plain JavaScript evaluated in place, so
 * it runs the same from dist/ and from the TypeScript sources under the test runner.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * fsync of a file by path (the SQLite `-wal`: see relaxedSqliteCommits in process-file.ts): a missing file is fine (a WAL is only removed
 * after a checkpoint that synced the database file). Opened read-write: some systems refuse fsync on a read-only
 * handle. SQLite holds no POSIX lock on the `-wal` file (its locks are on the database and `-shm` files), so
 * closing this descriptor cannot drop one of SQLite's locks.
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
const syncFileSource = `function syncFile(path) {
  let fd;
  try { fd = openSync(path, 'r+'); } catch (e) { if (e.code === 'ENOENT') return; throw e; }
  try { fsyncSync(fd); } finally { closeSync(fd); }
}`;

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
const syncAckFilesSource = `let syncfsWorks = null;
function syncAckFiles(dir, names) {
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
}`;

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');
// SQLite connections used only to checkpoint (see checkpoint() below), by database path.
const checkpointers = new Map();
function checkpoint(path) {
  let db = checkpointers.get(path);
  if (db === undefined) {
    db = null;
    try {
      const Database = require(workerData.betterSqlite3);
      db = new Database(path, { fileMustExist: true, timeout: 0 });
    } catch { db = null; }
    checkpointers.set(path, db);
  }
  if (!db) return null;
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    return { busy: r.busy, log: r.log, checkpointed: r.checkpointed };
  } catch { return null; }
}
parentPort.on('message', (m) => {
  if (m.close !== undefined) {
    const db = checkpointers.get(m.close);
    checkpointers.delete(m.close);
    try { if (db) db.close(); } catch {}
    parentPort.postMessage({ id: m.id });
    return;
  }
  try {
    if (m.syncPath) syncFile(m.syncPath);
    mkdirSync(m.dir, { recursive: true });
    const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    let at = 0;
    for (let i = 0; i < m.names.length; i++) {
      const end = at + m.lengths[i];
      const tmp = join(m.dir, '.' + m.names[i] + '.tmp');
      writeFileSync(tmp, data.subarray(at, end));
      renameSync(tmp, join(m.dir, m.names[i]));
      at = end;
    }
    if (m.durable) syncAckFiles(m.dir, m.names);
    // After the files: a checkpoint never delays an ACK, and never runs on the import's main thread.
    parentPort.postMessage({ id: m.id, checkpoint: m.checkpointDb ? checkpoint(m.checkpointDb) : null });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } });
  }
});
${syncFileSource}
${syncAckFilesSource}
`;

/** What a checkpoint on the writer thread did (`PRAGMA wal_checkpoint(PASSIVE)`: WAL frames, frames copied). */
export interface CheckpointResult { busy: number; log: number; checkpointed: number }

interface Reply {
  id: number;
  checkpoint?: CheckpointResult | null;
  error?: { name: string; message: string; code?: string; errno?: number; syscall?: string; path?: string };
}

let worker: Worker | null = null;
let nextId = 0;
const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function getWorker(): Worker {
  if (worker) return worker;
  // A small heap: the thread only moves one group's bytes at a time (they travel as a transferred ArrayBuffer).
  // The worker's own require() resolves from the working folder: it is given better-sqlite3's path (null: not
  // installed, no checkpoints on this thread).
  let betterSqlite3: string | null = null;
  try { betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3'); } catch { /* checkpoints stay on the main thread */ }
  const w = new Worker(WORKER_CODE, { eval: true, workerData: { betterSqlite3 }, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } });
  w.unref();
  w.on('message', (r: Reply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (pending.size === 0) w.unref();
    if (!r.error) p.resolve(r);
    else p.reject(Object.assign(new Error(r.error.message), r.error));
  });
  w.on('error', (err) => { if (worker === w) worker = null; failAll(err); });
  w.on('exit', (code) => { if (worker === w) worker = null; failAll(new Error(`ACK writer thread exited (${code})`)); });
  worker = w;
  return w;
}

/**
 * Writes every entry into `dir` (temp name + rename) on the ACK writer thread; resolves when all are renamed.
 * The bytes are copied into one transferred buffer: the caller may reuse its buffers at once.
 * `syncPath`: a file fsynced on the thread before the first ACK is written (the SQLite `-wal` when the import loop
 * commits with `synchronous = NORMAL`: the commit becomes durable before any of its ACK files exists).
 * `durable`: the files are synced to disk (syncAckFiles) before the promise resolves.
 */
export function writeAckFiles(dir: string, entries: ReadonlyArray<{ name: string; bytes: Buffer }>, syncPath: string | null = null,
  checkpointDb: string | null = null, durable = false): Promise<CheckpointResult | null> {
  if (entries.length === 0) return Promise.resolve(null);
  let total = 0;
  for (const e of entries) total += e.bytes.length;
  // allocUnsafeSlow: an ArrayBuffer of its own (never the shared pool), so it can be transferred, not cloned.
  const data = Buffer.allocUnsafeSlow(total);
  const names: string[] = new Array(entries.length);
  const lengths: number[] = new Array(entries.length);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    at += e.bytes.copy(data, at);
    names[i] = e.name;
    lengths[i] = e.bytes.length;
  }
  const w = getWorker();
  const id = ++nextId;
  return new Promise<CheckpointResult | null>((resolve, reject) => {
    pending.set(id, { resolve: (r) => resolve(r.checkpoint ?? null), reject });
    w.ref();
    w.postMessage({ id, dir, names, lengths, data, syncPath, checkpointDb, durable }, [data.buffer as ArrayBuffer]);
  });
}

/** Closes the writer thread's checkpoint connection to `dbPath` (after a file's group loop); a no-op when none. */
export function closeCheckpointer(dbPath: string): Promise<void> {
  if (!worker) return Promise.resolve();
  const w = worker;
  const id = ++nextId;
  return new Promise<void>((resolve, reject) => {
    pending.set(id, { resolve: () => resolve(), reject });
    w.ref();
    w.postMessage({ id, close: dbPath });
  });
}
