/**
 * `pamdrop errors`: the messages whose live outcome is AE or AR — the operator's worklist. A row leaves
 * the list when a reimport supersedes it (`pamdrop reimport <file id>`). Duplicates of a failed message (the same
 * bytes sent again, answered with the stored NAK) are counted on the original, not listed again. Same-key
 * conflicts (MSH-10 reused with other content, AE 205) are listed: they are failures of their own file.
 * Every finding of the stored ACK is given (code, severity, location, text): no patient data.
 */
import type { Tx } from '../store/tx.js';
import { readAck, type AckFinding } from './ack-read.js';

export interface FailedMessage {
  /** Ledger ids: the message row and its file (`pamdrop reimport <fileId>`). */
  messageId: number;
  fileId: number;
  file: string;
  source: string;
  /** 1-based position in the file. */
  position: number;
  controlId: string | null;
  sendingApp: string;
  sendingFacility: string;
  event: string | null;
  outcome: 'AE' | 'AR';
  status: string;
  /** First error code and text, as recorded in the ledger. */
  code: number | null;
  reason: string | null;
  /** Every ERR of the ACK sent back. */
  findings: AckFinding[];
  /** When it was processed (ISO). */
  at: string;
  /** How many times the sender sent it again since (answered with the same NAK). */
  resent: number;
  archivedPath: string | null;
}

export interface ErrorsQuery { since?: Date; source?: string; limit?: number }

interface Row {
  id: number; file_id: number; idx: number; control_id: string | null; sending_app: string; sending_facility: string; event: string | null;
  outcome: 'AE' | 'AR'; status: string; error_code: number | null; error_text: string | null; ack: Buffer; created_at: string;
  name: string; source: string; archived_path: string | null;
}

/** Failed messages, newest first. */
export async function listFailures(db: Tx, q: ErrorsQuery = {}): Promise<FailedMessage[]> {
  // `outcome <> 'AA'` is the predicate of the partial index ix_messages_failed (migration 0002).
  const where = [`m.outcome <> 'AA'`, `m.outcome IN ('AE', 'AR')`, 'm.superseded = 0', `m.status <> 'duplicate'`];
  const params: unknown[] = [];
  if (q.since) { where.push('m.created_at >= ?'); params.push(q.since.toISOString()); }
  if (q.source) { where.push('f.source = ?'); params.push(q.source); }
  params.push(q.limit ?? 200);
  const rows = await db.all<Row>(`SELECT m.id, m.file_id, m.idx, m.control_id, m.sending_app, m.sending_facility, m.event, m.outcome, m.status,
      m.error_code, m.error_text, m.ack, m.created_at, f.name, f.source, f.archived_path
    FROM messages m JOIN files f ON f.id = m.file_id WHERE ${where.join(' AND ')} ORDER BY m.id DESC LIMIT ?`, params);
  const out: FailedMessage[] = [];
  for (const r of rows) {
    let resent = 0;
    if (r.control_id !== null && r.status !== 'conflict') {
      const c = await db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM messages WHERE sending_app = ? AND sending_facility = ? AND control_id = ?
        AND status = 'duplicate' AND id > ?`, [r.sending_app, r.sending_facility, r.control_id, r.id]);
      resent = Number(c?.n ?? 0);
    }
    out.push({
      messageId: Number(r.id), fileId: Number(r.file_id), file: r.name, source: r.source, position: Number(r.idx) + 1, controlId: r.control_id,
      sendingApp: r.sending_app, sendingFacility: r.sending_facility, event: r.event, outcome: r.outcome, status: r.status,
      code: r.error_code === null ? null : Number(r.error_code), reason: r.error_text, findings: readAck(Buffer.from(r.ack)).findings.filter((f) => f.severity === 'E'),
      at: r.created_at, resent, archivedPath: r.archived_path,
    });
  }
  return out;
}
