/**
 * Test program — /metrics rendering and the /healthz rule, pure, with a fake clock:
 * - the Prometheus 0.0.4 text format: HELP/TYPE lines, `_total` counters, label escaping (\ " and line feed), HELP
 *   escaping, histogram buckets cumulative with +Inf, _sum and _count;
 * - the Observer: file outcomes → files/messages/duplicates/stale counters, failed files and ACK write failures
 *   told apart, cycle results → last successful cycle gauge, store gauges only when the store was read;
 * - health: late after 3 × pollMs without a successful cycle (also before the first cycle, counted from start-up),
 *   a long file making progress keeps the daemon healthy, a cycle that stops making progress does not, sources held
 *   by another instance (PostgreSQL leases) never count as late.
 */
import { describe, it, expect } from 'vitest';
import { Counter, Gauge, Histogram, escapeHelp, escapeLabelValue, renderMetrics } from '../../src/observe/prometheus.js';
import { assessHealth, Observer, type StoreSnapshot } from '../../src/observe/observer.js';
import { markAckErrors } from '../../src/pipeline/ack-errors.js';
import type { CycleResult, FileOutcome } from '../../src/pipeline/source-cycle.js';
import { emptySummary } from '../../src/store/ledger.js';

const cycle = (over: Partial<CycleResult> = {}): CycleResult => ({ files: [], failed: false, error: null, stopped: false, settleInMs: null, waitable: false, busy: false, ...over });
const done = (source: string, summary: Partial<ReturnType<typeof emptySummary>>, state: 'done' | 'quarantined' = 'done'): FileOutcome => ({
  file: 'f.hl7', source, fileId: 1, state, reason: null, archivedPath: null, resumed: false, summary: { ...emptySummary(), ...summary },
});

/** Parses exposition text into `name{labels}` → value (tests read it back like a scraper would). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1).replace('+Inf', 'Infinity')));
  }
  return out;
}

describe('Prometheus text format', () => {
  it('escapes label values and HELP text as 0.0.4 requires', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeHelp('x\\y\nz "q"')).toBe('x\\\\y\\nz "q"');
    const c = new Counter('pamdrop_test_total', 'Help with a \\ and\na line feed.', ['source']);
    c.inc({ source: 'we"ird\\src\nx' }, 2);
    expect(c.render()).toBe('# HELP pamdrop_test_total Help with a \\\\ and\\na line feed.\n# TYPE pamdrop_test_total counter\n'
      + 'pamdrop_test_total{source="we\\"ird\\\\src\\nx"} 2\n');
  });

  it('counters only go up, end in _total, and take exactly their declared labels', () => {
    expect(() => new Counter('pamdrop_bad', 'x')).toThrow(/_total/);
    const c = new Counter('pamdrop_x_total', 'x', ['source']);
    expect(() => c.inc({ source: 'a' }, -1)).toThrow(/only goes up/);
    expect(() => c.inc({ other: 'a' })).toThrow(/takes the labels source/);
    expect(() => new Gauge('bad name', 'x')).toThrow(/not valid/);
  });

  it('renders a histogram with cumulative buckets, +Inf, _sum and _count', () => {
    const h = new Histogram('pamdrop_d_seconds', 'Durations.', ['source'], [0.1, 1, 10]);
    for (const v of [0.05, 0.1, 0.5, 5, 50]) h.observe({ source: 'local' }, v);
    const text = renderMetrics([h]);
    expect(text).toContain('# TYPE pamdrop_d_seconds histogram\n');
    const s = samples(text);
    expect(s.get('pamdrop_d_seconds_bucket{source="local",le="0.1"}')).toBe(2);
    expect(s.get('pamdrop_d_seconds_bucket{source="local",le="1"}')).toBe(3);
    expect(s.get('pamdrop_d_seconds_bucket{source="local",le="10"}')).toBe(4);
    expect(s.get('pamdrop_d_seconds_bucket{source="local",le="+Inf"}')).toBe(5);
    expect(s.get('pamdrop_d_seconds_count{source="local"}')).toBe(5);
    expect(s.get('pamdrop_d_seconds_sum{source="local"}')).toBeCloseTo(55.65, 6);
  });
});

describe('Observer → /metrics', () => {
  it('counts files, messages by ACK code, duplicates, stale, failures and ACK write failures per source', async () => {
    let now = 1_700_000_000_000;
    const o = new Observer([{ name: 'local', pollMs: 1000 }, { name: 'lab', pollMs: 1000 }], () => now);
    // Every series exists at 0 before anything happened.
    let s = samples(o.renderMetrics(null));
    expect(s.get('pamdrop_files_total{source="lab",outcome="archived"}')).toBe(0);
    expect(s.get('pamdrop_messages_total{source="lab",ack="AR"}')).toBe(0);
    expect(s.get('pamdrop_last_successful_cycle_timestamp_seconds{source="local"}')).toBe(0);
    expect(s.get('pamdrop_store_up')).toBe(0);
    expect(s.has('pamdrop_queue_depth{source="local"}')).toBe(false);

    o.cycleStarted('local');
    o.fileDone(done('local', { messages: 5, AA: 3, AE: 1, AR: 1, duplicates: 1, stale: 1 }), 1500);
    o.fileDone(done('local', {}, 'quarantined'), 20);
    // An ACK write failure (marked by the pipeline) and another I/O failure.
    const ackErr = await markAckErrors(async () => { throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); })().catch((e: unknown) => e);
    o.fileDone({ file: 'g.hl7', source: 'local', state: 'failed', error: 'ENOSPC: no space left on device, write' }, 10, ackErr);
    o.fileDone({ file: 'h.hl7', source: 'local', state: 'failed', error: 'SQLITE_BUSY: database is locked' }, 10, new Error('SQLITE_BUSY'));
    now += 2000;
    o.cycleEnded('local', cycle({ files: [], failed: true, error: null }));
    o.cycleStarted('local');
    now += 500;
    o.cycleEnded('local', cycle());

    const store: StoreSnapshot = {
      sources: [{ source: 'local', type: 'local', inbox: { files: 4, pending: 3, oldestPendingAgeMs: 10, notTaken: [] }, lastFile: null, feed: null }],
      pending: { unfinished: [], inboxFiles: 4 },
      failed: { quarantinedFiles: 7, recentQuarantined: [], failedMessages: 2, failedMessagesLast24h: 1 },
    };
    const text = o.renderMetrics(store);
    s = samples(text);
    expect(s.get('pamdrop_files_total{source="local",outcome="archived"}')).toBe(1);
    expect(s.get('pamdrop_files_total{source="local",outcome="quarantined"}')).toBe(1);
    expect(s.get('pamdrop_messages_total{source="local",ack="AA"}')).toBe(3);
    expect(s.get('pamdrop_messages_total{source="local",ack="AE"}')).toBe(1);
    expect(s.get('pamdrop_messages_total{source="local",ack="AR"}')).toBe(1);
    expect(s.get('pamdrop_duplicate_messages_total{source="local"}')).toBe(1);
    expect(s.get('pamdrop_stale_messages_total{source="local"}')).toBe(1);
    expect(s.get('pamdrop_file_failures_total{source="local"}')).toBe(2);
    expect(s.get('pamdrop_ack_write_failures_total{source="local"}')).toBe(1);
    expect(s.get('pamdrop_cycles_total{source="local",result="failed"}')).toBe(1);
    expect(s.get('pamdrop_cycles_total{source="local",result="ok"}')).toBe(1);
    expect(s.get('pamdrop_last_successful_cycle_timestamp_seconds{source="local"}')).toBe(Math.floor(now / 1000));
    expect(s.get('pamdrop_import_duration_seconds_count{source="local"}')).toBe(2);
    expect(s.get('pamdrop_import_duration_seconds_bucket{source="local",le="1"}')).toBe(1);
    expect(s.get('pamdrop_import_duration_seconds_bucket{source="local",le="2.5"}')).toBe(2);
    expect(s.get('pamdrop_queue_depth{source="local"}')).toBe(3);
    expect(s.get('pamdrop_quarantined_files')).toBe(7);
    expect(s.get('pamdrop_failed_messages')).toBe(2);
    expect(s.get('pamdrop_store_up')).toBe(1);
    // Every family has its HELP and TYPE, once.
    for (const name of ['pamdrop_files_total', 'pamdrop_messages_total', 'pamdrop_ack_write_failures_total', 'pamdrop_import_duration_seconds', 'pamdrop_queue_depth']) {
      expect(text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `))).toHaveLength(1);
      expect(text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `))).toHaveLength(1);
    }
    // Only what the format allows: comments, or name{labels} value.
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) pamdrop_\w+ .+|pamdrop_\w+(\{[^}]*\})? [-+0-9.eInfNa]+)$/);
  });
});

describe('health: 3 × pollMs', () => {
  const src = (over: Partial<Parameters<typeof assessHealth>[2][number]> = {}) => ({ source: 'local', pollMs: 1000, lastSuccessAt: null, lastError: null, served: true, ...over });

  it('is healthy until 3 × pollMs after start-up, then late while no cycle has completed', () => {
    expect(assessHealth(10_000 + 3000, 10_000, [src()], null)).toMatchObject({ ok: true, late: [] });
    const h = assessHealth(10_000 + 3001, 10_000, [src()], null);
    expect(h).toMatchObject({ ok: false, late: ['local'] });
    expect(h.sources[0]).toMatchObject({ state: 'late', lastCycleAt: null, limitMs: 3000, ageMs: 3001 });
  });

  it('counts from the last successful cycle of each source, each with its own pollMs', () => {
    const sources = [src({ lastSuccessAt: 50_000 }), src({ source: 'lab', pollMs: 10_000, lastSuccessAt: 40_000 })];
    expect(assessHealth(52_999, 0, sources, null).ok).toBe(true);
    expect(assessHealth(53_001, 0, sources, null)).toMatchObject({ ok: false, late: ['local'] });
    expect(assessHealth(70_001, 0, sources, null)).toMatchObject({ ok: false, late: ['local', 'lab'] });
  });

  it('a long file that keeps committing groups is busy, the other sources wait their turn; a stuck cycle is late', () => {
    const sources = [src({ lastSuccessAt: 0 }), src({ source: 'lab', lastSuccessAt: 0 })];
    const busy = assessHealth(60_000, 0, sources, { source: 'local', lastActivityAt: 58_000 });
    expect(busy.ok).toBe(true);
    expect(busy.sources.map((s) => s.state)).toEqual(['busy', 'waiting']);
    const stuck = assessHealth(60_000, 0, sources, { source: 'local', lastActivityAt: 56_999 });
    expect(stuck).toMatchObject({ ok: false, late: ['local', 'lab'] });
  });

  it('sources served by another instance are not late here', () => {
    const h = assessHealth(100_000, 0, [src({ served: false }), src({ source: 'lab' })], null);
    expect(h.sources.map((s) => s.state)).toEqual(['elsewhere', 'late']);
    expect(h.late).toEqual(['lab']);
  });

  it('Observer: a failed cycle does not count as completed, and its error is reported', () => {
    let now = 0;
    const o = new Observer([{ name: 'local', pollMs: 1000 }], () => now);
    o.cycleStarted('local');
    now = 100;
    o.cycleEnded('local', cycle({ failed: true, error: 'ECONNREFUSED: connect' }));
    now = 3001;
    expect(o.health()).toMatchObject({ ok: false, late: ['local'] });
    expect(o.health().sources[0]!.lastError).toBe('ECONNREFUSED: connect');
    o.cycleStarted('local');
    o.cycleEnded('local', cycle());
    expect(o.health()).toMatchObject({ ok: true, late: [] });
    expect(o.health().sources[0]).toMatchObject({ state: 'ok', lastError: null, lastCycleAt: new Date(3001).toISOString() });
    // A stopped cycle (SIGTERM) is neither a success nor a failure.
    o.cycleStarted('local');
    now = 3500;
    o.cycleEnded('local', cycle({ stopped: true }));
    expect(samples(o.renderMetrics(null)).get('pamdrop_cycles_total{source="local",result="ok"}')).toBe(1);
  });
});
