/**
 * "Changed" read lock (after Camel `FileChangedExclusiveReadLockStrategy`):
 * a file is stable when its size and mtime have not changed for `stableMs` measured on OUR monotonic clock.
 * We remember the first time we saw a given (size, mtime) pair; the sender's clock (remote mtime, second
 * precision on SFTP) is only compared for equality, never subtracted from ours.
 */
import type { SourceEntry } from './source.js';

/** What the tracker remembers of one file. */
export interface Observation {
  size: number;
  mtimeMs: number;
  /** Our monotonic time (ms) when this (size, mtime) pair was first seen. */
  since: number;
  /** The previous listing showed a different size or mtime (still being written). */
  changed: boolean;
  /** Number of listings that showed this pair. */
  seen: number;
}

/** Monotonic milliseconds: immune to wall-clock jumps and to PAMDROP_FIXED_TIME. */
export const monoNow = (): number => performance.now();

/** Remembers when each (size, mtime) was first seen, per file name. */
export class StabilityTracker {
  private readonly obs = new Map<string, Observation>();

  constructor(readonly stableMs: number) {}

  /** Records a full listing at monotonic time `now`; names no longer listed are forgotten. */
  observe(entries: readonly SourceEntry[], now: number): void {
    const present = new Set<string>();
    for (const e of entries) {
      present.add(e.name);
      const o = this.obs.get(e.name);
      if (o && o.size === e.size && o.mtimeMs === e.mtimeMs) {
        o.changed = false;
        o.seen++;
      } else {
        this.obs.set(e.name, { size: e.size, mtimeMs: e.mtimeMs, since: now, changed: o !== undefined, seen: 1 });
      }
    }
    for (const name of [...this.obs.keys()]) if (!present.has(name)) this.obs.delete(name);
  }

  get(name: string): Observation | undefined {
    return this.obs.get(name);
  }

  /** Stable: same size and mtime as first seen `stableMs` ago (and listed again since, unless stableMs is 0). */
  isStable(e: SourceEntry, now: number): boolean {
    const o = this.obs.get(e.name);
    if (!o || o.size !== e.size || o.mtimeMs !== e.mtimeMs) return false;
    if (this.stableMs === 0) return true;
    return o.seen >= 2 && now - o.since >= this.stableMs;
  }

  /** ms until `name` could be stable if it does not change again (0 when it could be now). */
  remaining(name: string, now: number): number {
    const o = this.obs.get(name);
    if (!o) return this.stableMs;
    return Math.max(0, this.stableMs - (now - o.since));
  }

  /** Forget a file (processed, or found changed at the last moment: starts over). */
  forget(name: string): void {
    this.obs.delete(name);
  }
}
