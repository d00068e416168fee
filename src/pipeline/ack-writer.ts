/**
 * ACK files written on a worker thread, so that a group's file system work (temp file + rename per ACK, the
 * costliest per-message step after the database) overlaps the next group's
 * database work instead of following it.
 *
 * Same contract as LocalAckSink (files.ts): each file is written to `.name.tmp` then renamed, the folder is made
 * when missing, the first failure stops the batch and rejects with the fs error (code, syscall, path kept).
 * The pipeline hands a group's ACKs over only after that group's COMMIT, so an ACK file never exists before its
 * commit; it keeps at most one batch in flight and awaits it before archiving the file (group-loop.ts).
 *
 * The same thread also checkpoints the SQLite WAL during the import loop (`checkpointDb`, store/sqlite/checkpointer.ts)
 * after each batch of ACK files, so most WAL pages reach the database file there rather than inside a COMMIT on the
 * main thread (store/sqlite/commit-policy.ts).
 *
 * The worker (ack-writer-worker.ts, compiled by tsc) is started on first use, shared by every file of the process,
 * and kept referenced only while a batch is in flight (an idle worker never holds the process open).
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CheckpointResult } from '../store/sqlite/checkpointer.js';

export type { CheckpointResult };

/** A message to the ACK writer thread: a batch of files, or closing a checkpoint connection. */
export type WorkerRequest =
  | { id: number; dir: string; names: string[]; lengths: number[]; data: Buffer; syncPath: string | null; checkpointDb: string | null; durable: boolean }
  | { id: number; close: string };

/** The thread's answer to one request. */
export interface WorkerReply {
  id: number;
  checkpoint?: CheckpointResult | null;
  error?: { name: string; message: string; code?: string; errno?: number; syscall?: string; path?: string };
}

/**
 * The compiled worker module. From dist/ it sits beside this file. From the TypeScript sources (the test runner
 * imports src/ directly) Node cannot run a TypeScript worker, so the build's copy in dist/ is used, as the CLI tests
 * use dist/: refused when missing or older than its source, never a stale thread silently.
 */
function workerUrl(): URL {
  const here = new URL('./ack-writer-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  const built = new URL('../../dist/src/pipeline/ack-writer-worker.js', import.meta.url);
  const source = fileURLToPath(new URL('./ack-writer-worker.ts', import.meta.url));
  const path = fileURLToPath(built);
  if (!existsSync(path) || statSync(path).mtimeMs < statSync(source).mtimeMs) {
    throw new Error(`the ACK writer thread runs the build (${path}): run \`npm run build\` first`);
  }
  return built;
}

let worker: Worker | null = null;
let nextId = 0;
const pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function getWorker(): Worker {
  if (worker) return worker;
  // A small heap: the thread only moves one group's bytes at a time (they travel as a transferred ArrayBuffer).
  const w = new Worker(workerUrl(), { resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } });
  w.unref();
  w.on('message', (r: WorkerReply) => {
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
    const req: WorkerRequest = { id, dir, names, lengths, data, syncPath, checkpointDb, durable };
    w.postMessage(req, [data.buffer as ArrayBuffer]);
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
    const req: WorkerRequest = { id, close: dbPath };
    w.postMessage(req);
  });
}
