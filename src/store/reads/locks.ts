/**
 * The `locks` rows that are leases of several instances on PostgreSQL (pipeline/lease.ts): one per source
 * (`source:…`) and one heartbeat per instance (`instance:…`). The writer lock is read with ledger.ts `readLock`.
 */
import type { Tx } from '../tx.js';

export interface LeaseRow { name: string; owner: string; acquired_at: string; expires_at: string }

/** Every source lease and instance heartbeat, by name. */
export async function listLeases(db: Tx): Promise<LeaseRow[]> {
  return db.all<LeaseRow>("SELECT name, owner, acquired_at, expires_at FROM locks WHERE name LIKE 'source:%' OR name LIKE 'instance:%' ORDER BY name");
}
