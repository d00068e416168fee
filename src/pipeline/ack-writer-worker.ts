/**
 * The ACK writer thread (started by ack-writer.ts): writes each batch of ACK files (temp name + rename), makes
 * them durable when asked, then checkpoints the SQLite WAL it was given. One message at a time, in order.
 */
import { parentPort } from 'node:worker_threads';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncAckFiles, syncFile } from './ack-sync.js';
import { WalCheckpointers } from '../store/sqlite/checkpointer.js';
import type { WorkerReply, WorkerRequest } from './ack-writer.js';

const checkpointers = new WalCheckpointers();

function handle(m: WorkerRequest): WorkerReply {
  if ('close' in m) {
    checkpointers.close(m.close);
    return { id: m.id };
  }
  try {
    if (m.syncPath) syncFile(m.syncPath);
    mkdirSync(m.dir, { recursive: true });
    const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    let at = 0;
    for (let i = 0; i < m.names.length; i++) {
      const end = at + m.lengths[i]!;
      const tmp = join(m.dir, `.${m.names[i]!}.tmp`);
      writeFileSync(tmp, data.subarray(at, end));
      renameSync(tmp, join(m.dir, m.names[i]!));
      at = end;
    }
    if (m.durable) syncAckFiles(m.dir, m.names);
    // After the files: a checkpoint never delays an ACK, and never runs on the import's main thread.
    return { id: m.id, checkpoint: m.checkpointDb ? checkpointers.checkpoint(m.checkpointDb) : null };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { id: m.id, error: { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } };
  }
}

parentPort!.on('message', (m: WorkerRequest) => parentPort!.postMessage(handle(m)));
