/**
 * Reads of the `history` table for `pamdrop history` and the dry runs (`preview`): one record's rows with the file
 * that carried each message, and the rows a dry run just wrote.
 */
import type { Tx } from '../tx.js';

/** A history row with the ledger file of its message (null when the ledger row is gone, e.g. after a restore). */
export interface HistoryWithFile {
  id: number; patient_id: number; sending_app: string; sending_facility: string; control_id: string; event: string;
  message_time: string | null; recorded_at: string; changes: string;
  file_id: number | null; file_name: string | null; source: string | null; reimport_of: number | null;
}

/**
 * A history row is tied to its message by the idempotency key and the processing instant (the pipeline stamps the
 * history row and the message row with the same time), so a message applied again by `reimport --force` is told
 * apart from its first application. Two message rows may share key and instant (a pinned clock): the row then comes
 * once per message row, in message order, and the caller keeps the first.
 */
const SQL_RECORD_HISTORY = `SELECT h.id, h.patient_id, h.sending_app, h.sending_facility, h.control_id, h.event, h.message_time, h.recorded_at, h.changes,
    f.id AS file_id, f.name AS file_name, f.source, f.reimport_of
  FROM history h
  LEFT JOIN messages m ON m.sending_app = h.sending_app AND m.sending_facility = h.sending_facility AND m.control_id = h.control_id
    AND m.created_at = h.recorded_at AND m.status = 'applied'
  LEFT JOIN files f ON f.id = m.file_id
  WHERE h.patient_id = ? ORDER BY h.id, m.id`;

/** The history rows of record `patientId`, oldest first, each with the file of its message. */
export async function recordHistory(db: Tx, patientId: number): Promise<HistoryWithFile[]> {
  const rows = await db.all<HistoryWithFile>(SQL_RECORD_HISTORY, [patientId]);
  const num = (v: number | null) => (v === null ? null : Number(v));
  return rows.map((r) => ({ ...r, id: Number(r.id), patient_id: Number(r.patient_id), file_id: num(r.file_id), reimport_of: num(r.reimport_of) }));
}

/** A history row as a dry run reads it back. */
export interface HistoryChange { id: number; patient_id: number; sending_app: string; sending_facility: string; control_id: string; changes: string }

/** The history rows after row `afterId`, in order. */
export async function historyAfter(db: Tx, afterId: number): Promise<HistoryChange[]> {
  const rows = await db.all<HistoryChange>(
    'SELECT id, patient_id, sending_app, sending_facility, control_id, changes FROM history WHERE id > ? ORDER BY id', [afterId]);
  return rows.map((r) => ({ ...r, id: Number(r.id), patient_id: Number(r.patient_id) }));
}

/** The largest id of the table (0 when empty): a mark to read what is written after it. */
export async function maxRowId(db: Tx, table: 'history' | 'patients'): Promise<number> {
  return Number((await db.get<{ m: number | null }>(`SELECT MAX(id) AS m FROM ${table}`))?.m ?? 0);
}
