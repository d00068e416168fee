/**
 * MLLP connections in the file ledger (docs/mllp.md "Ledger"): each connection that sent a message is one `files`
 * row, so that its messages sit in the ledger exactly like a file's and every command that reads the ledger
 * (`history`, `errors`, `report`, `reconcile`) sees them:
 *
 *   files.source = the listener's name, files.name = the connection id, files.path = `mllp://<peer address>:<port>`,
 *   files.sha256 = SHA-256 of `mllp:<listener>:<connection id>` (a connection has no content hash up front),
 *   state `claimed` while the connection is open, `done` once it closed (summary and message count then set);
 *   messages.idx = the message's 0-based sequence on the connection.
 */
import { createHash } from 'node:crypto';
import { claimFile, emptySummary, FileState, MessageStatus, type FileRow, type FileSummary } from './ledger.js';
import type { Tx } from './tx.js';

/** The ledger row of a connection, made with its first message (in that message's transaction). */
export async function openConnectionRow(tx: Tx, c: { listener: string; connection: string; remote: string; owner: string; now: string }): Promise<FileRow> {
  const sha256 = createHash('sha256').update(`mllp:${c.listener}:${c.connection}`).digest('hex');
  return claimFile(tx, { source: c.listener, name: c.connection, path: `mllp://${c.remote}`, size: 0, sha256, messageCount: 0, now: c.now, owner: c.owner });
}

/** The counts of a connection's messages, from its message rows. */
async function summaryOf(tx: Tx, fileId: number): Promise<FileSummary> {
  const rows = await tx.all<{ outcome: 'AA' | 'AE' | 'AR'; status: string; n: number | string }>(
    'SELECT outcome, status, COUNT(*) AS n FROM messages WHERE file_id = ? GROUP BY outcome, status', [fileId]);
  const s = emptySummary();
  for (const r of rows) {
    const n = Number(r.n);
    s.messages += n;
    s[r.outcome] += n;
    if (r.status === MessageStatus.Duplicate) s.duplicates += n;
    if (r.status === MessageStatus.Stale) s.stale += n;
  }
  return s;
}

/** Marks a connection's row done with its summary (compare-and-set on `claimed`: false when it was already closed). */
export async function closeConnectionRow(tx: Tx, fileId: number, now: string, reason: string | null = null): Promise<boolean> {
  const s = await summaryOf(tx, fileId);
  const n = await tx.run(
    `UPDATE files SET state = ?, summary = ?, message_count = ?, reason = COALESCE(?, reason), finished_at = ? WHERE id = ? AND state = ?`,
    [FileState.Done, JSON.stringify(s), s.messages, reason, now, fileId, FileState.Claimed]);
  return n === 1;
}

/**
 * Rows of a listener's connections left open by an earlier process (a crash or kill): those connections are gone.
 * Every message they hold was committed with its ACK bytes; the rows are closed so that they no longer count as
 * unfinished files.
 */
export async function closeLeftoverConnections(tx: Tx, listener: string, owner: string, now: string): Promise<number> {
  const rows = await tx.all<{ id: number }>('SELECT id FROM files WHERE source = ? AND state = ? AND (owner IS NULL OR owner <> ?)', [listener, FileState.Claimed, owner]);
  let closed = 0;
  for (const r of rows) if (await closeConnectionRow(tx, Number(r.id), now, 'connection ended by a stop or crash of the importer')) closed++;
  return closed;
}

/**
 * Keeps the bytes of a message received on a connection, as received, beside its ledger row (the row at `idx` of
 * the connection's file row); call in the transaction that wrote that row. A file's messages need none: their
 * archived file holds them.
 */
export async function keepReceived(tx: Tx, fileId: number, idx: number, bytes: Buffer): Promise<void> {
  await tx.run('INSERT INTO received_messages (message_id, bytes) SELECT id, ? FROM messages WHERE file_id = ? AND idx = ?', [bytes, fileId, idx]);
}
