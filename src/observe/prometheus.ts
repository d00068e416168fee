/**
 * A small in-process metrics registry rendered in the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE` lines, then one sample per
 * line, label values escaped (`\` → `\\`, `"` → `\"`, line feed → `\n`), HELP text escaped (`\` and line feed).
 * No dependency: pamdrop needs counters, gauges and one histogram, not a client library.
 *
 * Counters live as long as the process: a restart starts them at 0 again, which `rate()`/`increase()` handle.
 */

/** Label names and values of one series. */
export type Labels = Readonly<Record<string, string>>;

/** Content-Type of the 0.0.4 text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value (0.0.4: backslash, double quote and line feed). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text (0.0.4: backslash and line feed; double quotes stay as they are). */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value: Go's float syntax for the specials. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels).map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** One key per label set, independent of the order the caller wrote the labels in. */
const keyOf = (labels: Labels): string => JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {
    if (!NAME_RE.test(name)) throw new Error(`metric name ${name} is not valid`);
    for (const l of labelNames) if (!LABEL_RE.test(l) || l.startsWith('__')) throw new Error(`label name ${l} of ${name} is not valid`);
  }
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected check(labels: Labels): Labels {
    const names = Object.keys(labels);
    if (names.length !== this.labelNames.length || names.some((n) => !this.labelNames.includes(n))) {
      throw new Error(`${this.name} takes the labels ${this.labelNames.join(', ') || '(none)'}, not ${names.join(', ') || '(none)'}`);
    }
    // Series are printed in label-name order as declared.
    const out: Record<string, string> = {};
    for (const n of this.labelNames) out[n] = String(labels[n]);
    return out;
  }
  protected abstract samples(): string[];
  render(): string {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n') + '\n';
  }
}

/** A value per label set, set or added to. */
class Series extends Metric {
  readonly type: 'counter' | 'gauge';
  protected readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(type: 'counter' | 'gauge', name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames);
    this.type = type;
  }
  protected entry(labels: Labels): { labels: Labels; value: number } {
    const l = this.check(labels);
    const k = keyOf(l);
    let e = this.values.get(k);
    if (!e) { e = { labels: l, value: 0 }; this.values.set(k, e); }
    return e;
  }
  /** The current value (0 for a label set never touched). */
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(this.check(labels)))?.value ?? 0;
  }
  protected samples(): string[] {
    return [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${formatValue(e.value)}`);
  }
}

/** A monotonic counter (name ends in `_total`). */
export class Counter extends Series {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super('counter', name, help, labelNames);
    if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
  }
  /** Adds `by` (≥ 0); `inc(labels, 0)` makes the series visible at 0. */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: a counter only goes up (inc by ${by})`);
    this.entry(labels).value += by;
  }
}

/** A gauge: set to the current value. */
export class Gauge extends Series {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super('gauge', name, help, labelNames);
  }
  set(labels: Labels, value: number): void {
    this.entry(labels).value = value;
  }
  /** Forgets every series (gauges rebuilt at each scrape). */
  reset(): void {
    this.values.clear();
  }
}

/** A cumulative histogram: `_bucket{le=…}` per upper bound and `+Inf`, `_sum`, `_count`. */
export class Histogram extends Metric {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    if (labelNames.includes('le')) throw new Error(`${name}: "le" is reserved for buckets`);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) throw new Error(`${name}: buckets must be distinct finite numbers`);
    this.buckets = sorted;
  }
  private entry(labels: Labels) {
    const l = this.check(labels);
    const k = keyOf(l);
    let e = this.values.get(k);
    if (!e) { e = { labels: l, counts: this.buckets.map(() => 0), sum: 0, count: 0 }; this.values.set(k, e); }
    return e;
  }
  /** Records one observation. */
  observe(labels: Labels, value: number): void {
    const e = this.entry(labels);
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) e.counts[i]!++;
    e.sum += value;
    e.count++;
  }
  /** Makes the series visible with zero observations. */
  touch(labels: Labels): void {
    this.entry(labels);
  }
  /** Observations so far for a label set. */
  count(labels: Labels): number {
    return this.values.get(keyOf(this.check(labels)))?.count ?? 0;
  }
  protected samples(): string[] {
    const out: string[] = [];
    for (const e of this.values.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText(e.labels, ['le', formatValue(b)])} ${e.counts[i]}`));
      out.push(`${this.name}_bucket${labelText(e.labels, ['le', '+Inf'])} ${e.count}`);
      out.push(`${this.name}_sum${labelText(e.labels)} ${formatValue(e.sum)}`);
      out.push(`${this.name}_count${labelText(e.labels)} ${e.count}`);
    }
    return out;
  }
}

/** Renders metrics in the order given, one HELP/TYPE block each. */
export function renderMetrics(metrics: ReadonlyArray<Counter | Gauge | Histogram>): string {
  return metrics.map((m) => m.render()).join('');
}
