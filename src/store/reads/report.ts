/**
 * What `pamdrop report` counts, read from the ledger: the files claimed since a date, their messages by status and
 * outcome, and the holes in each sender's MSH-13 numbering.
 */
import type { Tx } from '../tx.js';

/** A file claimed in the period, with what the report counts of it. */
export interface ClaimedFile { id: number; source: string; state: string; reimport_of: number | null; claimed_at: string }

/** Messages of one file with one status and outcome. */
export interface MessageCount { file_id: number; status: string; outcome: string; n: number }

/** Two successive sequence numbers of one sender (source, MSH-3, MSH-4) with a hole between them. */
export interface SequenceJump { source: string; sending_app: string; sending_facility: string; prev: number; seq: number; claimed_at: string }

/** Files claimed since `sinceIso`, in ledger order. */
export async function filesClaimedSince(db: Tx, sinceIso: string): Promise<ClaimedFile[]> {
  const rows = await db.all<ClaimedFile>('SELECT id, source, state, reimport_of, claimed_at FROM files WHERE claimed_at >= ? ORDER BY id', [sinceIso]);
  return rows.map((r) => ({ ...r, id: Number(r.id), reimport_of: r.reimport_of === null ? null : Number(r.reimport_of) }));
}

/** Message counts per file, status and outcome, for the files claimed since `sinceIso`. */
export async function messageCountsSince(db: Tx, sinceIso: string): Promise<MessageCount[]> {
  const rows = await db.all<{ file_id: number; status: string; outcome: string; n: number | string }>(
    `SELECT m.file_id, m.status, m.outcome, COUNT(*) AS n FROM messages m JOIN files f ON f.id = m.file_id
    WHERE f.claimed_at >= ? GROUP BY m.file_id, m.status, m.outcome`, [sinceIso]);
  return rows.map((r) => ({ file_id: Number(r.file_id), status: r.status, outcome: r.outcome, n: Number(r.n) }));
}

/** MSH-13 gaps per source and sender, with SQL window functions (SQLite ≥ 3.25 and PostgreSQL). */
const SQL_GAPS = `SELECT source, sending_app, sending_facility, prev, seq, claimed_at FROM (
  SELECT f.source, m.sending_app, m.sending_facility, m.sequence_number AS seq, f.claimed_at,
    LAG(m.sequence_number) OVER (PARTITION BY f.source, m.sending_app, m.sending_facility ORDER BY m.sequence_number) AS prev
  FROM messages m JOIN files f ON f.id = m.file_id
  WHERE f.claimed_at >= ? AND m.sequence_number IS NOT NULL AND m.sequence_number > 0) x
WHERE prev IS NOT NULL AND seq > prev + 1 ORDER BY source, sending_app, sending_facility, seq`;

/** Each jump in a sender's MSH-13 numbering among the files claimed since `sinceIso`. */
export async function sequenceJumpsSince(db: Tx, sinceIso: string): Promise<SequenceJump[]> {
  const rows = await db.all<Omit<SequenceJump, 'prev' | 'seq'> & { prev: number | string; seq: number | string }>(SQL_GAPS, [sinceIso]);
  return rows.map((r) => ({ ...r, prev: Number(r.prev), seq: Number(r.seq) }));
}
