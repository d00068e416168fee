/**
 * Read model of `pamdrop evidence` and `pamdrop scenarios run`: ledger rows of messages with their file, the history
 * rows a message wrote, and one record's stored identity with its history. Read only; nothing here writes.
 *
 * A history row is tied to its message by the idempotency key (MSH-3.1, MSH-4.1, MSH-10) and the processing
 * instant: the pipeline stamps the message row (`created_at`) and its history rows (`recorded_at`) with the same
 * time, so a message applied again by `reimport --force` is told apart from its first application.
 */
import type { Tx } from '../tx.js';
import type { HistoryRow, PatientRow } from '../../identity/types.js';

/** A message ledger row with its file's row. */
export interface EvidenceMessageRow {
  id: number;
  file_id: number;
  idx: number;
  sending_app: string;
  sending_facility: string;
  control_id: string | null;
  content_sha256: string;
  event: string | null;
  message_time: string | null;
  status: string;
  outcome: string;
  error_code: number | null;
  error_text: string | null;
  patient_id: number | null;
  ack_name: string;
  ack: Buffer;
  superseded: number;
  created_at: string;
  file_source: string;
  file_name: string;
  file_path: string;
  file_size: number;
  file_sha256: string;
  file_state: string;
  file_archived_path: string | null;
  /** When `prune` removed the archived copy (retention). */
  file_pruned_at: string | null;
  file_reimport_of: number | null;
  file_claimed_at: string;
  file_finished_at: string | null;
}

/** Which messages: every criterion given must hold. */
export interface EvidenceSelector {
  /** MSH-10 as stored. */
  controlId?: string;
  /** Ledger id of the message row. */
  messageId?: number;
  /** Ledger id of the file: every message of it. */
  fileId?: number;
  /** Processed at or after this ISO instant. */
  since?: string;
  /** At most this many, oldest first. */
  limit?: number;
}

/** A history row, with the ledger id of the message that wrote it (null when that row is gone). */
export interface EvidenceHistoryRow extends HistoryRow {
  message_id: number | null;
}

/** One record as stored now. */
export interface StoredIdentity extends Omit<PatientRow, 'last_message_time'> {
  identifiers: Array<{ value: string; authority: string; oid: string | null; type: string }>;
  ins: Array<{ value: string; oid: string; kind: string }>;
}

const MESSAGE_SQL = `SELECT m.id, m.file_id, m.idx, m.sending_app, m.sending_facility, m.control_id, m.content_sha256, m.event,
    m.message_time, m.status, m.outcome, m.error_code, m.error_text, m.patient_id, m.ack_name, m.ack, m.superseded, m.created_at,
    f.source AS file_source, f.name AS file_name, f.path AS file_path, f.size AS file_size, f.sha256 AS file_sha256,
    f.state AS file_state, f.archived_path AS file_archived_path, f.pruned_at AS file_pruned_at, f.reimport_of AS file_reimport_of,
    f.claimed_at AS file_claimed_at, f.finished_at AS file_finished_at
  FROM messages m JOIN files f ON f.id = m.file_id`;

const HISTORY_SQL = `SELECT h.id, h.patient_id, h.sending_app, h.sending_facility, h.control_id, h.event, h.message_time,
    h.recorded_at, h.changes, m.id AS message_id
  FROM history h
  LEFT JOIN messages m ON m.sending_app = h.sending_app AND m.sending_facility = h.sending_facility
    AND m.control_id = h.control_id AND m.created_at = h.recorded_at AND m.status = 'applied'`;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function normalizeHistory(rows: EvidenceHistoryRow[]): EvidenceHistoryRow[] {
  // One entry per history row even if two message rows share its key and instant (a pinned clock): the first.
  const seen = new Set<number>();
  const out: EvidenceHistoryRow[] = [];
  for (const r of rows) {
    const id = Number(r.id);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ ...r, id, patient_id: Number(r.patient_id), message_id: num(r.message_id) });
  }
  return out;
}

/** Ledger rows of messages matching the selector, oldest first. */
export async function evidenceMessages(tx: Tx, sel: EvidenceSelector): Promise<EvidenceMessageRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (sel.controlId !== undefined) { where.push('m.control_id = ?'); params.push(sel.controlId); }
  if (sel.messageId !== undefined) { where.push('m.id = ?'); params.push(sel.messageId); }
  if (sel.fileId !== undefined) { where.push('m.file_id = ?'); params.push(sel.fileId); }
  if (sel.since !== undefined) { where.push('m.created_at >= ?'); params.push(sel.since); }
  const sql = `${MESSAGE_SQL}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY m.id LIMIT ?`;
  params.push(sel.limit ?? 1000);
  const rows = await tx.all<EvidenceMessageRow>(sql, params);
  return rows.map((r) => ({
    ...r, id: Number(r.id), file_id: Number(r.file_id), idx: Number(r.idx), patient_id: num(r.patient_id),
    error_code: num(r.error_code), superseded: Number(r.superseded), file_size: Number(r.file_size), file_reimport_of: num(r.file_reimport_of),
    ack: Buffer.isBuffer(r.ack) ? r.ack : Buffer.from(r.ack as unknown as Uint8Array),
  }));
}

/** The history rows a message wrote (an A40 writes one per record), by key and processing instant. */
export async function historyOfMessage(tx: Tx, m: Pick<EvidenceMessageRow, 'sending_app' | 'sending_facility' | 'control_id' | 'created_at'>): Promise<EvidenceHistoryRow[]> {
  if (m.control_id === null) return [];
  return normalizeHistory(await tx.all<EvidenceHistoryRow>(
    `${HISTORY_SQL} WHERE h.sending_app = ? AND h.sending_facility = ? AND h.control_id = ? AND h.recorded_at = ? ORDER BY h.id, m.id`,
    [m.sending_app, m.sending_facility, m.control_id, m.created_at]));
}

/** Every history row of a record, oldest first. */
export async function historyOfRecord(tx: Tx, patientId: number): Promise<EvidenceHistoryRow[]> {
  return normalizeHistory(await tx.all<EvidenceHistoryRow>(`${HISTORY_SQL} WHERE h.patient_id = ? ORDER BY h.id, m.id`, [patientId]));
}

/** A record as stored now, with its identifiers and INS rows; undefined when there is none. */
export async function storedIdentity(tx: Tx, patientId: number): Promise<StoredIdentity | undefined> {
  const row = await tx.get<Omit<StoredIdentity, 'identifiers' | 'ins'>>(
    `SELECT id, active, merged_into, status, attributes, birth_name, first_name, birth_given_names, used_name, used_first_name,
       birth_date, sex, birth_place, names, addresses, other, created_at, updated_at FROM patients WHERE id = ?`, [patientId]);
  if (!row) return undefined;
  const identifiers = await tx.all<StoredIdentity['identifiers'][number]>(
    'SELECT value, authority, oid, type FROM identifiers WHERE patient_id = ? ORDER BY id', [patientId]);
  const ins = await tx.all<StoredIdentity['ins'][number]>('SELECT value, oid, kind FROM ins WHERE patient_id = ? ORDER BY id', [patientId]);
  return { ...row, id: Number(row.id), active: Number(row.active), merged_into: num(row.merged_into), identifiers, ins };
}

/** Records whose identifiers hold this CX-1 value (any authority, any type), by id. */
export async function recordsByIdentifier(tx: Tx, value: string): Promise<number[]> {
  const rows = await tx.all<{ patient_id: number }>('SELECT DISTINCT patient_id FROM identifiers WHERE value = ? ORDER BY patient_id', [value]);
  return rows.map((r) => Number(r.patient_id));
}

/** The bytes kept for these ledger rows of messages received over MLLP (store/connections.ts `keepReceived`), by message id. */
export async function receivedBytes(tx: Tx, messageIds: readonly number[]): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  if (messageIds.length === 0) return out;
  const rows = await tx.all<{ message_id: number | string; bytes: Buffer | Uint8Array }>(
    `SELECT message_id, bytes FROM received_messages WHERE message_id IN (${messageIds.map(() => '?').join(', ')})`, [...messageIds]);
  for (const r of rows) out.set(Number(r.message_id), Buffer.isBuffer(r.bytes) ? r.bytes : Buffer.from(r.bytes));
  return out;
}
