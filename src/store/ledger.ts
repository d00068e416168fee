/**
 * File and message ledgers, and the writer lock.
 *
 * File states: claimed → (archiving → done) | (quarantining → quarantined). The intermediate states record
 * the planned destination *before* the file is moved, so a crash between the database and the rename is
 * completed on the next run instead of leaving a file processed twice or a row that never ends.
 * Message rows hold the outcome and the exact ACK bytes: the truth from which any missing ACK file is
 * rewritten and from which duplicates are answered byte for byte.
 */
import { hostname } from 'node:os';
import type { Tx } from './tx.js';
import { writes } from './sql/writes.js';
import { ownerIsDead } from './locks.js';

export const FileState = {
  Claimed: 'claimed', Archiving: 'archiving', Done: 'done', Quarantining: 'quarantining', Quarantined: 'quarantined',
} as const;
export type FileState = (typeof FileState)[keyof typeof FileState];

export const MessageStatus = {
  Applied: 'applied', Stale: 'stale', Duplicate: 'duplicate', Rejected: 'rejected', Conflict: 'conflict',
} as const;
export type MessageStatus = (typeof MessageStatus)[keyof typeof MessageStatus];

export type AckOutcome = 'AA' | 'AE' | 'AR';

export interface FileRow {
  id: number; source: string; name: string; path: string; size: number; sha256: string; state: FileState;
  message_count: number | null; summary: string | null; reason: string | null; archived_path: string | null;
  reimport_of: number | null; owner: string | null; lease_until: string | null; claimed_at: string; finished_at: string | null;
  /** When `prune` removed the archived copy (retention); null: not removed. */
  pruned_at: string | null;
}

export interface MessageRow {
  id: number; file_id: number; idx: number; sending_app: string; sending_facility: string; control_id: string | null;
  content_sha256: string; event: string | null; message_time: string | null; status: MessageStatus; outcome: AckOutcome;
  error_code: number | null; error_text: string | null; patient_id: number | null; ack_name: string; ack: Buffer;
  superseded: number; created_at: string;
}

/** Counts reported per file and per run. */
export interface FileSummary {
  messages: number; AA: number; AE: number; AR: number; duplicates: number; stale: number;
}

export const emptySummary = (): FileSummary => ({ messages: 0, AA: 0, AE: 0, AR: 0, duplicates: 0, stale: 0 });

/** The columns of a `FileRow`, for every query that reads one (here and in reads/). */
export const FILE_COLS = 'id, source, name, path, size, sha256, state, message_count, summary, reason, archived_path, reimport_of, owner, lease_until, claimed_at, finished_at, pruned_at';

/** A file not finished yet (claimed, archiving, quarantining), as a condition on `files.state`: one list for every query. */
export const UNFINISHED_STATE = `state IN ('${FileState.Claimed}', '${FileState.Archiving}', '${FileState.Quarantining}')`;

/** Unfinished rows (claimed, archiving, quarantining) for this source and name. */
export async function findUnfinishedFiles(tx: Tx, source: string, name: string): Promise<FileRow[]> {
  return tx.all<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE source = ? AND name = ? AND ${UNFINISHED_STATE} ORDER BY id`, [source, name]);
}

/** Every unfinished row of a source (start-up recovery, status). */
export async function listUnfinishedFiles(tx: Tx, source?: string): Promise<FileRow[]> {
  if (source === undefined) return tx.all<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE ${UNFINISHED_STATE} ORDER BY id`);
  return tx.all<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE source = ? AND ${UNFINISHED_STATE} ORDER BY id`, [source]);
}

export async function getFile(tx: Tx, id: number): Promise<FileRow | undefined> {
  return tx.get<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE id = ?`, [id]);
}

/** The latest finished row for a path (an `import` rerun naming a file already archived). */
export async function findFinishedByPath(tx: Tx, path: string): Promise<FileRow | undefined> {
  return tx.get<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE path = ? AND state IN ('done', 'quarantined') ORDER BY id DESC LIMIT 1`, [path]);
}

export async function listFiles(tx: Tx, limit = 1000): Promise<FileRow[]> {
  return tx.all<FileRow>(`SELECT ${FILE_COLS} FROM files ORDER BY id DESC LIMIT ?`, [limit]);
}

/** Inserts a claim for a file about to be processed. */
export async function claimFile(tx: Tx, f: { source: string; name: string; path: string; size: number; sha256: string; messageCount: number; now: string; owner: string; reimportOf?: number | null }): Promise<FileRow> {
  const row = await tx.get<FileRow>(
    `INSERT INTO files (source, name, path, size, sha256, state, message_count, owner, claimed_at, reimport_of)
     VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?, ?, ?) RETURNING ${FILE_COLS}`,
    [f.source, f.name, f.path, f.size, f.sha256, f.messageCount, f.owner, f.now, f.reimportOf ?? null]);
  return row!;
}

/** Compare-and-set state transition; resolves false when the row was not in `from`. */
export async function transitionFile(tx: Tx, id: number, from: FileState, to: FileState, fields: { archivedPath?: string | null; reason?: string | null; summary?: FileSummary | null; now?: string }): Promise<boolean> {
  const done = to === FileState.Done || to === FileState.Quarantined;
  const n = await tx.run(
    `UPDATE files SET state = ?, archived_path = COALESCE(?, archived_path), reason = COALESCE(?, reason),
       summary = COALESCE(?, summary), finished_at = CASE WHEN ? = 1 THEN ? ELSE finished_at END
     WHERE id = ? AND state = ?`,
    [to, fields.archivedPath ?? null, fields.reason ?? null, fields.summary ? JSON.stringify(fields.summary) : null, done ? 1 : 0, fields.now ?? null, id, from]);
  return n === 1;
}

const MSG_COLS = 'id, file_id, idx, sending_app, sending_facility, control_id, content_sha256, event, message_time, status, outcome, error_code, error_text, patient_id, ack_name, ack, superseded, created_at';

/** Messages already recorded for a file (resume after a crash). */
export async function messagesOfFile(tx: Tx, fileId: number): Promise<MessageRow[]> {
  return tx.all<MessageRow>(`SELECT ${MSG_COLS} FROM messages WHERE file_id = ? ORDER BY idx`, [fileId]);
}

/** What a resumed file needs of each recorded message: no ACK bytes (the resume must not grow with what was done). */
export type RecordedMessage = Pick<MessageRow, 'id' | 'idx' | 'ack_name' | 'status' | 'outcome'>;

/**
 * Resume after a crash: the file's recorded messages in ledger order (id), and how many of the first ones have
 * durable ACK files (`files.acks_durable`, migration 0004; 0 when unknown).
 */
export async function resumeState(tx: Tx, fileId: number): Promise<{ rows: RecordedMessage[]; acksDurable: number }> {
  const rows = await tx.all<RecordedMessage>('SELECT id, idx, ack_name, status, outcome FROM messages WHERE file_id = ? ORDER BY id', [fileId]);
  const f = await tx.get<{ acks_durable: number | null }>('SELECT acks_durable FROM files WHERE id = ?', [fileId]);
  for (const r of rows) { r.id = Number(r.id); r.idx = Number(r.idx); }
  return { rows, acksDurable: Math.min(Number(f?.acks_durable ?? 0), rows.length) };
}

/** ACK names and bytes of the file's messages after ledger row `afterId` (the ones whose ACK files may be missing). */
export async function acksAfter(tx: Tx, fileId: number, afterId: number): Promise<Array<{ name: string; bytes: Buffer }>> {
  const rows = await tx.all<{ ack_name: string; ack: Buffer }>('SELECT ack_name, ack FROM messages WHERE file_id = ? AND id > ? ORDER BY id', [fileId, afterId]);
  return rows.map((r) => ({ name: r.ack_name, bytes: r.ack }));
}

/**
 * A message of the file takes another ACK file name before its group commits: the one it was given turned out to be
 * held by an ACK file of other bytes in the folder (pipeline/message.ts, FileAckNamer.check).
 */
export async function renameAck(tx: Tx, fileId: number, idx: number, ackName: string): Promise<void> {
  await tx.run('UPDATE messages SET ack_name = ? WHERE file_id = ? AND idx = ?', [ackName, fileId, idx]);
}

/**
 * Records that the ACK files of the first `n` message rows of the file (ledger order) are durable. Never lowers the
 * count: a smaller one only means more ACK files rewritten on a resume, a larger one is only written once true.
 */
export async function recordAcksDurable(tx: Tx, fileId: number, n: number): Promise<void> {
  await tx.run('UPDATE files SET acks_durable = ? WHERE id = ? AND (acks_durable IS NULL OR acks_durable < ?)', [n, fileId, n]);
}

const SQL_FIND_ORIGINAL = `SELECT id, content_sha256, outcome, status, ack, patient_id FROM messages
  WHERE sending_app = ? AND sending_facility = ? AND control_id = ? AND status NOT IN ('duplicate', 'conflict') AND superseded = 0`;

/** What the duplicate rule reads of a live original. */
export type OriginalRow = Pick<MessageRow, 'id' | 'content_sha256' | 'outcome' | 'status' | 'ack' | 'patient_id'>;

/** The live original for an idempotency key (MSH-3.1, MSH-4.1, MSH-10), if any. */
export async function findOriginal(tx: Tx, app: string, facility: string, controlId: string): Promise<OriginalRow | undefined> {
  return tx.get(SQL_FIND_ORIGINAL, [app, facility, controlId]);
}

export interface NewMessage {
  fileId: number; idx: number; sendingApp: string; sendingFacility: string; controlId: string | null; contentSha256: string;
  event: string | null; messageTime: string | null; status: MessageStatus; outcome: AckOutcome; errorCode: number | null;
  errorText: string | null; patientId: number | null; ackName: string; ack: Buffer; now: string;
  /** MSH-13 when it is an integer (migration 0002; `pamdrop report` shows gaps). */
  sequenceNumber?: number | null;
}

export async function insertMessage(tx: Tx, m: NewMessage): Promise<void> {
  const w = writes.insertMessage(m);
  await tx.run(w.sql, w.params);
}

/**
 * Reimport: the live original of a key gives way to a new attempt from another file, which then owns the
 * key (uq_messages_key only counts rows with superseded = 0). Compare-and-set: resolves false when the row is not
 * live or belongs to `fileId` itself (a key repeated inside the reimported file stays a duplicate).
 */
export async function supersedeOriginal(tx: Tx, id: number, fileId: number): Promise<boolean> {
  const w = writes.supersedeOriginal(id, fileId);
  return (await tx.run(w.sql, w.params)) === 1;
}

// ---------------------------------------------------------------------------------------------------------
// Writer lock: one writer per store at a time. Compare-and-set on a row; a holder on this host whose
// process is gone, or whose lease expired, is taken over.

export interface LockHolder { owner: string; acquired_at: string; expires_at: string }

/** `host:pid:tag` — enough to tell whether a holder on this host is still alive. */
export function makeOwner(tag: string): string {
  return `${hostname()}:${process.pid}:${tag}`;
}

/** Takes the named lock; resolves the current holder when someone else has it. */
export async function acquireLock(tx: Tx, name: string, owner: string, now: Date, ttlMs: number): Promise<{ ok: true } | { ok: false; holder: LockHolder }> {
  const nowIso = now.toISOString();
  const exp = new Date(now.getTime() + ttlMs).toISOString();
  const inserted = await tx.run(`INSERT INTO locks (name, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, [name, owner, nowIso, exp]);
  if (inserted === 1) return { ok: true };
  const cur = await tx.get<LockHolder>('SELECT owner, acquired_at, expires_at FROM locks WHERE name = ?', [name]);
  if (!cur) return acquireLock(tx, name, owner, now, ttlMs);
  if (cur.owner === owner || cur.expires_at < nowIso || ownerIsDead(cur.owner)) {
    // expires_at in the compare-and-set: a holder that renewed since we read the row keeps it (fencing).
    const n = await tx.run('UPDATE locks SET owner = ?, acquired_at = ?, expires_at = ? WHERE name = ? AND owner = ? AND expires_at = ?', [owner, nowIso, exp, name, cur.owner, cur.expires_at]);
    if (n === 1) return { ok: true };
    const again = await tx.get<LockHolder>('SELECT owner, acquired_at, expires_at FROM locks WHERE name = ?', [name]);
    return { ok: false, holder: again ?? cur };
  }
  return { ok: false, holder: cur };
}

/** Extends the lock; resolves false when it was lost. */
export async function renewLock(tx: Tx, name: string, owner: string, now: Date, ttlMs: number): Promise<boolean> {
  const exp = new Date(now.getTime() + ttlMs).toISOString();
  return (await tx.run('UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ?', [exp, name, owner])) === 1;
}

export async function releaseLock(tx: Tx, name: string, owner: string): Promise<void> {
  await tx.run('DELETE FROM locks WHERE name = ? AND owner = ?', [name, owner]);
}

export async function readLock(tx: Tx, name: string): Promise<LockHolder | undefined> {
  return tx.get<LockHolder>('SELECT owner, acquired_at, expires_at FROM locks WHERE name = ?', [name]);
}
