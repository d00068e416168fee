/**
 * `pamdrop errors`: the messages whose live outcome is AE or AR — the operator's worklist. A row leaves
 * the list when a reimport supersedes it (`pamdrop reimport <file id>`). Duplicates of a failed message (the same
 * bytes sent again, answered with the stored NAK) are counted on the original, not listed again. Same-key
 * conflicts (MSH-10 reused with other content, AE 205) are listed: they are failures of their own file.
 * Every finding of the stored ACK is given (code, severity, location, text): no patient data.
 */
import type { Tx } from '../store/tx.js';
import { countResent, failedMessageRows, type FailureQuery } from '../store/reads/messages.js';
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

export type ErrorsQuery = FailureQuery;

/** Failed messages, newest first. */
export async function listFailures(db: Tx, q: ErrorsQuery = {}): Promise<FailedMessage[]> {
  const out: FailedMessage[] = [];
  for (const r of await failedMessageRows(db, q)) {
    const resent = r.control_id !== null && r.status !== 'conflict'
      ? await countResent(db, { sendingApp: r.sending_app, sendingFacility: r.sending_facility, controlId: r.control_id }, r.id) : 0;
    out.push({
      messageId: r.id, fileId: r.file_id, file: r.name, source: r.source, position: r.idx + 1, controlId: r.control_id,
      sendingApp: r.sending_app, sendingFacility: r.sending_facility, event: r.event, outcome: r.outcome as 'AE' | 'AR', status: r.status,
      code: r.error_code, reason: r.error_text, findings: readAck(r.ack).findings.filter((f) => f.severity === 'E'),
      at: r.created_at, resent, archivedPath: r.archived_path,
    });
  }
  return out;
}
