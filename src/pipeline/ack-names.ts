/**
 * The set of ACK file names already given within one file (ackFileName in files.ts keeps names unique), stored so
 * that memory stays flat in the file size: a 1 GB batch is ~2 million messages, and a Set of 2 million name strings
 * alone is ~230 MB of heap (BENCHMARKS.md, "Growth").
 *
 * Names are `<prefix><middle><suffix>` with the file's own prefix and suffix. A middle ending in a run of at most 15
 * digits (`G000012345`, `msg7`, `G1.8`) is kept as a number in a bucket keyed by the text before the digits and the
 * number of digits (so `G01` and `G001` stay different); a bucket stores intervals of consecutive numbers, so a
 * sender's counter (the usual MSH-10) costs one interval for the whole file. A bucket whose values are scattered
 * switches to a plain Set for further values, and any other name is kept as a string: exact in every case, only the
 * memory saving depends on the feed.
 *
 * Only `has`, `add` and `size` are supported (all that ackFileName and the pipeline use).
 */

/** Numbers as sorted disjoint intervals, then a Set once the intervals get too many. */
class NumberSet {
  private readonly lo: number[] = [];
  private readonly hi: number[] = [];
  private overflow: Set<number> | null = null;
  size = 0;

  /** Index of the last interval starting at or before n, -1 when none. */
  private find(n: number): number {
    let a = 0;
    let b = this.lo.length - 1;
    let at = -1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (this.lo[m]! <= n) { at = m; a = m + 1; } else b = m - 1;
    }
    return at;
  }

  has(n: number): boolean {
    const i = this.find(n);
    if (i >= 0 && n <= this.hi[i]!) return true;
    return this.overflow !== null && this.overflow.has(n);
  }

  add(n: number): void {
    if (this.has(n)) return;
    this.size++;
    const len = this.lo.length;
    // The usual case: the next value of a counter.
    if (len > 0 && n === this.hi[len - 1]! + 1) { this.hi[len - 1] = n; return; }
    if (this.overflow || len >= NumberSet.MAX_INTERVALS) {
      (this.overflow ??= new Set()).add(n);
      return;
    }
    const i = this.find(n);
    const joinLeft = i >= 0 && this.hi[i]! + 1 === n;
    const joinRight = i + 1 < len && this.lo[i + 1]! - 1 === n;
    if (joinLeft && joinRight) {
      this.hi[i] = this.hi[i + 1]!;
      this.lo.splice(i + 1, 1);
      this.hi.splice(i + 1, 1);
    } else if (joinLeft) this.hi[i] = n;
    else if (joinRight) this.lo[i + 1] = n;
    else {
      this.lo.splice(i + 1, 0, n);
      this.hi.splice(i + 1, 0, n);
    }
  }

  /** Beyond this many intervals (scattered values), new values go to a Set: no O(n) array inserts. */
  static readonly MAX_INTERVALS = 4096;
}

const DIGITS_AT_END = /^([^]*?)(\d{1,15})$/;

/** A Set<string> of ACK names with flat memory for counter-like control IDs (see the file comment). */
export class AckNameSet extends Set<string> {
  private readonly buckets = new Map<string, NumberSet>();
  private readonly others = new Set<string>();
  private count = 0;

  /** @param prefix what every name of this file starts with (`<base>.`); @param suffix what it ends with (`.ack.hl7`). */
  constructor(private readonly prefix: string, private readonly suffix: string) {
    super();
  }

  /** Bucket key and number of a name, or null when it is kept as a string. */
  private split(name: string): { key: string; n: number } | null {
    const { prefix, suffix } = this;
    if (name.length <= prefix.length + suffix.length || !name.startsWith(prefix) || !name.endsWith(suffix)) return null;
    const m = DIGITS_AT_END.exec(name.slice(prefix.length, name.length - suffix.length));
    if (!m) return null;
    return { key: `${m[1]}\u0000${m[2]!.length}`, n: Number(m[2]) };
  }

  override has(name: string): boolean {
    const s = this.split(name);
    if (!s) return this.others.has(name);
    return this.buckets.get(s.key)?.has(s.n) ?? false;
  }

  override add(name: string): this {
    const s = this.split(name);
    if (!s) {
      if (!this.others.has(name)) { this.others.add(name); this.count++; }
      return this;
    }
    let b = this.buckets.get(s.key);
    if (!b) this.buckets.set(s.key, b = new NumberSet());
    const before = b.size;
    b.add(s.n);
    this.count += b.size - before;
    return this;
  }

  override get size(): number { return this.count; }
}
