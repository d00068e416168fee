/**
 * What `pamdrop prune` (ops/prune.ts) reads and writes: archived files past their retention period, and the bytes
 * of MLLP messages kept for `evidence`. The ledger rows themselves are never deleted: duplicate detection, reports and
 * ACK replays rest on them, and they hold no message content beyond the ACK.
 */
import type { Tx } from './tx.js';

/** An archived file whose retention period has passed. */
export interface ExpiredArchive {
  id: number; source: string; name: string; archived_path: string; size: number; sha256: string; finished_at: string;
}

/** The condition of expiredArchives on `files f`; its two parameters are the cutoff, twice. */
const EXPIRED_ARCHIVE = `f.state = 'done' AND f.archived_path IS NOT NULL AND f.pruned_at IS NULL AND f.finished_at < ?
  AND NOT EXISTS (SELECT 1 FROM files g WHERE g.archived_path = f.archived_path AND g.id <> f.id
                  AND (g.finished_at IS NULL OR g.finished_at >= ?))`;

/**
 * Archived files (state done) finished before `cutoff` (ISO time) and not pruned yet, oldest first. A path that a
 * younger row also names is left alone (defensive: each archive copy gets a name of its own today). `limit`: the first
 * that many only.
 */
export async function expiredArchives(tx: Tx, cutoff: string, limit?: number): Promise<ExpiredArchive[]> {
  const sql = `SELECT f.id, f.source, f.name, f.archived_path, f.size, f.sha256, f.finished_at FROM files f WHERE ${EXPIRED_ARCHIVE}
     ORDER BY f.finished_at, f.id`;
  const rows = limit === undefined ? await tx.all<ExpiredArchive>(sql, [cutoff, cutoff])
    : await tx.all<ExpiredArchive>(`${sql} LIMIT ?`, [cutoff, cutoff, limit]);
  return rows.map((r) => ({ ...r, id: Number(r.id), size: Number(r.size) }));
}

/** How many archived files expiredArchives would list. */
export async function countExpiredArchives(tx: Tx, cutoff: string): Promise<number> {
  const r = await tx.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM files f WHERE ${EXPIRED_ARCHIVE}`, [cutoff, cutoff]);
  return Number(r?.n ?? 0);
}

/** Records that a file's archived copy is gone (removed now, or found missing). */
export async function markPruned(tx: Tx, id: number, at: string): Promise<void> {
  await tx.run('UPDATE files SET pruned_at = ? WHERE id = ? AND pruned_at IS NULL', [at, id]);
}

/** Kept bytes of MLLP messages imported before `cutoff` (ISO time). */
export async function countExpiredReceived(tx: Tx, cutoff: string): Promise<number> {
  const r = await tx.get<{ n: number | string }>(
    'SELECT COUNT(*) AS n FROM received_messages r JOIN messages m ON m.id = r.message_id WHERE m.created_at < ?', [cutoff]);
  return Number(r?.n ?? 0);
}

/** Deletes the kept bytes of MLLP messages imported before `cutoff`; how many were deleted. */
export async function deleteExpiredReceived(tx: Tx, cutoff: string): Promise<number> {
  return tx.run('DELETE FROM received_messages WHERE message_id IN (SELECT id FROM messages WHERE created_at < ?)', [cutoff]);
}
