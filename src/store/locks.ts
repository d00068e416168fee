/**
 * Locks and leases of several importer instances on one store, as store functions (the policy — which lease to
 * take, when to renew, what a lost lease means — is pipeline/lease.ts). The named rows themselves (`locks` table:
 * acquire, renew, release, read) are in ledger.ts with the writer lock.
 */
import { hostname } from 'node:os';
import type { Tx } from './tx.js';

/** True when `owner` (`host:pid:tag`) names a process of this host that no longer exists. */
export function ownerIsDead(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  if (host !== hostname()) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Key of the transaction-scoped advisory lock serializing group transactions across instances ('pamd'). */
export const APPLY_LOCK_KEY = 0x70616d64;

/** On PostgreSQL, waits for the store-wide apply lock (released by COMMIT/ROLLBACK). A no-op on SQLite (one writer). */
export async function serializeApply(tx: Tx): Promise<void> {
  if (tx.dialect === 'pg') await tx.get('SELECT pg_advisory_xact_lock(?) AS locked', [APPLY_LOCK_KEY]);
}

/** A lock row as listed (the compare-and-set key of `deleteLockIfUnchanged`). */
export interface LockRow { name: string; owner: string; expires_at: string }

/** The lock rows whose name starts with `prefix` (plain text: no LIKE wildcard in it). */
export function listLocks(tx: Tx, prefix: string): Promise<LockRow[]> {
  if (/[%_\\]/.test(prefix)) throw new Error(`lock name prefix with a LIKE wildcard: ${prefix}`);
  return tx.all<LockRow>('SELECT name, owner, expires_at FROM locks WHERE name LIKE ?', [`${prefix}%`]);
}

/** Deletes a lock row only if it is still exactly as listed (never one renewed meanwhile). */
export async function deleteLockIfUnchanged(tx: Tx, row: LockRow): Promise<void> {
  await tx.run('DELETE FROM locks WHERE name = ? AND owner = ? AND expires_at = ?', [row.name, row.owner, row.expires_at]);
}

/**
 * PostgreSQL answers COMMIT in an aborted transaction with a ROLLBACK, not an error: one awaited statement proves
 * that no earlier statement of `tx` failed unseen (one round trip). A no-op on SQLite, where every statement is
 * awaited synchronously.
 */
export async function assertTxAlive(tx: Tx): Promise<void> {
  if (tx.dialect === 'pg') await tx.get('SELECT 1 AS alive');
}
