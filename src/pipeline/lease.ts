/**
 * Several importer instances on one PostgreSQL store. SQLite keeps the single global writer lock
 * (runner.ts `withWriterLock`); on PostgreSQL work is claimed in the database, per source:
 *
 * - **Per-source lease.** A `locks` row `source:<name>` (compare-and-set, TTL `lockTtlMs`). An instance works
 *   only the sources whose lease it holds, so the files of one source are processed in order by one instance at
 *   a time, and a file by exactly one instance. Leases are renewed on a timer (ttl/3) while the instance works.
 * - **Spreading.** Each instance keeps a heartbeat row `instance:<hash of owner>`; with N live instances and S
 *   sources an instance holds at most ceil(S/N) leases, and gives back the extra ones between two poll cycles.
 * - **Take-over.** A crashed instance's leases expire after the TTL, or at once when its pid is gone on the same
 *   host; another instance takes them and resumes the claimed file (processFile resumes by source+name+sha256).
 * - **Fencing.** At the start of every group transaction processFile calls the fence: it renews the lease
 *   inside that transaction (`UPDATE locks … WHERE name = ? AND owner = ?`); 0 rows → LeaseLostError, the
 *   transaction rolls back and the instance stops that source. A paused instance whose lease was taken over can
 *   therefore never commit again for that source. The fence also takes a transaction-scoped advisory lock, so
 *   group transactions of different instances never interleave their identity writes: sources may share
 *   patients, and apply's read-then-write rules assume they see the committed state of every earlier message.
 */
import { createHash } from 'node:crypto';
import type { Db, Tx } from '../store/tx.js';
import type { Logger } from '../shared/logger.js';
import { LockedError } from '../shared/errors.js';
import { acquireLock, makeOwner, releaseLock, renewLock, type LockHolder } from '../store/ledger.js';
import { deleteLockIfUnchanged, listLocks, ownerIsDead, serializeApply } from '../store/locks.js';

/** The lease of `source` was taken over (or removed) while this instance was working it. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(readonly source: string) { super(`lease of source ${source} lost: another instance took it over; it resumes the file`); }
}

/** `locks.name` is 64 characters: long source names are hashed. */
export function sourceLeaseName(source: string): string {
  const plain = `source:${source}`;
  return plain.length <= 64 ? plain : `source:#${createHash('sha256').update(source).digest('hex').slice(0, 48)}`;
}

const INSTANCE_PREFIX = 'instance:';
const instanceLockName = (owner: string) => `${INSTANCE_PREFIX}${createHash('sha256').update(owner).digest('hex').slice(0, 40)}`;

export interface SourceLeasesOptions {
  db: Db;
  owner: string;
  ttlMs: number;
  log: Logger;
  /** Spread sources over the live instances (watch); false: take every free source (run). Default true. */
  share?: boolean;
}

/** The source leases of one instance. */
export class SourceLeases {
  private readonly held = new Set<string>();
  private readonly lost = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  /** Rotates which free source is tried first, so that instances starting together do not all race for the same one. */
  private offset: number;
  readonly owner: string;

  constructor(private readonly o: SourceLeasesOptions, readonly sources: readonly string[]) {
    this.owner = o.owner;
    this.offset = sources.length > 0 ? process.pid % sources.length : 0;
  }

  holds(source: string): boolean { return this.held.has(source); }
  heldSources(): string[] { return this.sources.filter((s) => this.held.has(s)); }

  /** True (once) when the lease of `source` was lost since the last call; the source is no longer held. */
  takeLost(source: string): boolean {
    const was = this.lost.delete(source);
    return was;
  }

  private markLost(source: string): void {
    if (!this.held.delete(source)) return;
    this.lost.add(source);
    this.o.log.warn('source lease lost: another instance took it over', { source, lease: sourceLeaseName(source) });
  }

  /** The fence processFile calls at the start of each group transaction of `source`. */
  fence(source: string): (tx: Tx) => Promise<void> {
    return async (tx) => {
      await serializeApply(tx);
      if (!(await renewLock(tx, sourceLeaseName(source), this.owner, new Date(), this.o.ttlMs))) {
        this.markLost(source);
        throw new LeaseLostError(source);
      }
    };
  }

  /** Tries to take the lease of `source`; resolves the holder when another live instance has it. */
  async tryAcquire(source: string): Promise<{ ok: true } | { ok: false; holder: LockHolder }> {
    const got = await acquireLock(this.o.db, sourceLeaseName(source), this.owner, new Date(), this.o.ttlMs);
    if (got.ok) {
      this.lost.delete(source);
      if (!this.held.has(source)) this.o.log.info('source lease taken', { source });
      this.held.add(source);
    }
    return got;
  }

  /** Renews every held lease and the heartbeat; leases found taken over are dropped. */
  async renewAll(): Promise<void> {
    const now = new Date();
    if (this.o.share !== false) {
      await renewLock(this.o.db, instanceLockName(this.owner), this.owner, now, this.o.ttlMs)
        .then((ok) => (ok ? undefined : acquireLock(this.o.db, instanceLockName(this.owner), this.owner, now, this.o.ttlMs)));
    }
    for (const s of [...this.held]) {
      if (!(await renewLock(this.o.db, sourceLeaseName(s), this.owner, now, this.o.ttlMs))) this.markLost(s);
    }
  }

  /** Live instances sharing the store (heartbeat rows not expired, and not of a dead process on this host). */
  async liveInstances(): Promise<number> {
    const nowIso = new Date().toISOString();
    const rows = await listLocks(this.o.db, INSTANCE_PREFIX);
    let live = 0;
    for (const r of rows) {
      if (r.owner === this.owner || (r.expires_at >= nowIso && !ownerIsDead(r.owner))) live++;
      // Housekeeping: the heartbeat of a crashed instance (compare-and-set: never one renewed meanwhile).
      else await deleteLockIfUnchanged(this.o.db, r);
    }
    return Math.max(1, live);
  }

  /**
   * Between two poll cycles (nothing of this instance is in flight): renews, gives back leases above the fair
   * share, and takes free or expired ones up to it. Throttled to once per `minIntervalMs`.
   */
  async tick(minIntervalMs = Math.min(1000, Math.max(100, this.o.ttlMs / 3))): Promise<void> {
    const t = Date.now();
    if (t - this.lastTick < minIntervalMs) return;
    this.lastTick = t;
    await this.renewAll();
    const share = this.o.share === false ? this.sources.length : Math.ceil(this.sources.length / await this.liveInstances());
    const mine = this.heldSources();
    for (const s of mine.slice(share)) {
      this.held.delete(s);
      await releaseLock(this.o.db, sourceLeaseName(s), this.owner);
      this.o.log.info('source lease given back (shared with another instance)', { source: s });
    }
    for (let i = 0; i < this.sources.length && this.held.size < share; i++) {
      const s = this.sources[(i + this.offset) % this.sources.length]!;
      if (!this.held.has(s)) await this.tryAcquire(s);
    }
    this.offset = (this.offset + 1) % Math.max(1, this.sources.length);
  }

  /** Registers the heartbeat and starts renewing every ttl/3. */
  async start(): Promise<void> {
    if (this.o.share !== false) await acquireLock(this.o.db, instanceLockName(this.owner), this.owner, new Date(), this.o.ttlMs);
    this.timer = setInterval(() => {
      this.renewAll().catch((err) => this.o.log.error('cannot renew the source leases; retrying', { error: (err as Error).message }));
    }, Math.max(100, Math.floor(this.o.ttlMs / 3)));
    this.timer.unref();
  }

  /** Stops renewing and gives every lease back. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of [...this.held]) {
      this.held.delete(s);
      await releaseLock(this.o.db, sourceLeaseName(s), this.owner).catch(() => {});
    }
    await releaseLock(this.o.db, instanceLockName(this.owner), this.owner).catch(() => {});
  }
}

/** True when the store runs several instances with source leases (PostgreSQL) rather than one writer (SQLite). */
export const usesSourceLeases = (db: Db): boolean => db.dialect === 'pg';

/**
 * `watch` on PostgreSQL: runs `fn` with this instance's source leases (taken and spread by `leases.tick()` in the
 * service loop); every lease is given back afterwards.
 */
export async function withSourceLeases<T>(o: { db: Db; ttlMs: number; log: Logger; tag: string; share?: boolean }, sources: readonly string[],
  fn: (leases: SourceLeases) => Promise<T>): Promise<T> {
  const leases = new SourceLeases({ db: o.db, owner: makeOwner(o.tag), ttlMs: o.ttlMs, log: o.log, share: o.share }, sources);
  await leases.start();
  try {
    return await fn(leases);
  } finally {
    await leases.stop();
  }
}

/**
 * `run` on PostgreSQL: takes the lease of every source it can and runs `fn` with them; LockedError (exit 3)
 * when every source is held by another instance.
 */
export async function withAvailableSourceLeases<T>(o: { db: Db; ttlMs: number; log: Logger; tag: string }, sources: readonly string[],
  fn: (leases: SourceLeases) => Promise<T>): Promise<T> {
  return withSourceLeases({ ...o, share: false }, sources, async (leases) => {
    const holders: string[] = [];
    for (const s of sources) {
      const got = await leases.tryAcquire(s);
      if (!got.ok) holders.push(`source ${s}: ${got.holder.owner}, since ${got.holder.acquired_at}`);
    }
    if (leases.heldSources().length === 0 && sources.length > 0) throw new LockedError(holders.join('; '));
    if (holders.length > 0) o.log.warn('sources skipped: another instance holds them', { holders });
    return fn(leases);
  });
}
