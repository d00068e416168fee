/**
 * Read model of the message ledger for the operations commands and the status page: the last messages, the
 * failed ones (`pamdrop errors`), and how many failed. Rows carry the stored ACK bytes, never patient data beyond
 * the record id; the callers read the ACK's ERR segments (codes, locations and rule texts).
 */
import type { Tx } from '../tx.js';
import type { AckOutcome } from '../ledger.js';

/** A message row with its file's name and source. */
export interface LedgerMessage {
  id: number; file_id: number; idx: number; created_at: string; message_time: string | null; control_id: string | null;
  sending_app: string; sending_facility: string; event: string | null; outcome: AckOutcome; status: string;
  error_code: number | null; error_text: string | null; patient_id: number | null; ack: Buffer;
  name: string; source: string; archived_path: string | null;
}

const COLS = `m.id, m.file_id, m.idx, m.created_at, m.message_time, m.control_id, m.sending_app, m.sending_facility, m.event, m.outcome,
  m.status, m.error_code, m.error_text, m.patient_id, m.ack, f.name, f.source, f.archived_path`;

/** Numbers come back as strings from PostgreSQL's BIGINT: one conversion for every reader. */
const typed = (r: LedgerMessage): LedgerMessage => ({
  ...r, id: Number(r.id), file_id: Number(r.file_id), idx: Number(r.idx), ack: Buffer.from(r.ack),
  error_code: r.error_code === null ? null : Number(r.error_code), patient_id: r.patient_id === null ? null : Number(r.patient_id),
});

/** The last `limit` messages, newest first. */
export async function recentMessageRows(db: Tx, limit: number): Promise<LedgerMessage[]> {
  const rows = await db.all<LedgerMessage>(`SELECT ${COLS} FROM messages m JOIN files f ON f.id = m.file_id ORDER BY m.id DESC LIMIT ?`, [limit]);
  return rows.map(typed);
}

/** Which failures to list: since when, of which source, how many at most (default 200). */
export interface FailureQuery { since?: Date; source?: string; limit?: number }

/**
 * Messages whose live outcome is AE or AR, newest first: not superseded by a reimport, duplicates aside (they are
 * counted on their original, see `countResent`).
 */
export async function failedMessageRows(db: Tx, q: FailureQuery = {}): Promise<LedgerMessage[]> {
  // `outcome <> 'AA'` is the predicate of the partial index ix_messages_failed (migration 0002).
  const where = [`m.outcome <> 'AA'`, `m.outcome IN ('AE', 'AR')`, 'm.superseded = 0', `m.status <> 'duplicate'`];
  const params: unknown[] = [];
  if (q.since) { where.push('m.created_at >= ?'); params.push(q.since.toISOString()); }
  if (q.source) { where.push('f.source = ?'); params.push(q.source); }
  params.push(q.limit ?? 200);
  const rows = await db.all<LedgerMessage>(`SELECT ${COLS}
    FROM messages m JOIN files f ON f.id = m.file_id WHERE ${where.join(' AND ')} ORDER BY m.id DESC LIMIT ?`, params);
  return rows.map(typed);
}

/** How many times a message's key came again after ledger row `afterId` as a duplicate (answered with its stored ACK). */
export async function countResent(db: Tx, key: { sendingApp: string; sendingFacility: string; controlId: string }, afterId: number): Promise<number> {
  const c = await db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM messages WHERE sending_app = ? AND sending_facility = ? AND control_id = ?
    AND status = 'duplicate' AND id > ?`, [key.sendingApp, key.sendingFacility, key.controlId, afterId]);
  return Number(c?.n ?? 0);
}

/** Messages whose live outcome is AE/AR (duplicates aside): all of them, and those processed since `sinceIso`. */
export async function countFailures(db: Tx, sinceIso: string): Promise<{ total: number; since: number }> {
  const r = await db.get<{ n: number | string; recent: number | string | null }>(
    `SELECT COUNT(*) AS n, SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END) AS recent FROM messages
     WHERE outcome <> 'AA' AND superseded = 0 AND status <> 'duplicate'`, [sinceIso]);
  return { total: Number(r?.n ?? 0), since: Number(r?.recent ?? 0) };
}
