/**
 * What `watch` saw, in process: the counters of /metrics and the cycle clock of /healthz. Fed by the watch loop
 * (pipeline/service.ts `WatchObserver`): each poll cycle's start and end, each file's outcome and duration, each
 * committed group of messages. No patient data ever reaches it: sources, outcomes, counts, durations.
 *
 * Health rule: a source is late when it has not completed a successful poll cycle for 3 × its pollMs
 * (counted from start-up before its first cycle). Sources are served one after the other, so while one source
 * works through a long file the others cannot cycle: that is not a failure as long as the running cycle shows
 * activity (started, committed a group of messages, received SFTP download data) within 3 × its own pollMs. The
 * late sources then read `waiting` and the daemon is healthy; a cycle that stops making progress makes every
 * overdue source late.
 * With PostgreSQL source leases, sources whose lease another instance holds are not this instance's to serve.
 */
import type { SourceConfig } from '../config/types.js';
import type { CycleResult, FileOutcome } from '../pipeline/source-cycle.js';
import type { WatchObserver } from '../pipeline/service.js';
import { isAckWriteError } from '../pipeline/ack-errors.js';
import type { Status } from '../ops/status.js';
import type { ListenerObserver, ListenerView } from '../mllp/listener.js';
import { Counter, Gauge, Histogram, renderMetrics } from './prometheus.js';

/** Upper bounds (seconds) of the per-file import duration histogram: a small file in ms, 20,000 messages in ~7 s. */
export const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

/** Upper bounds (seconds) of the MLLP round trip (frame received → ACK written, the commit included). */
export const ROUND_TRIP_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Health of one source. */
export type SourceState =
  /** Completed a successful cycle within 3 × pollMs. */
  | 'ok'
  /** Overdue, but another source's cycle is running and making progress (sources are served in turn). */
  | 'waiting'
  /** Overdue, its own cycle is running and making progress (a long file). */
  | 'busy'
  /** Overdue: no successful cycle within 3 × pollMs and nothing making progress. */
  | 'late'
  /** PostgreSQL: another instance holds this source's lease. */
  | 'elsewhere';

export interface SourceHealth {
  source: string;
  pollMs: number;
  /** 3 × pollMs. */
  limitMs: number;
  state: SourceState;
  /** End of the last successful cycle (ISO), null before the first. */
  lastCycleAt: string | null;
  /** ms since the last successful cycle (or since start-up before the first). */
  ageMs: number;
  /** Error of the last cycle when it failed (no patient data: file names, paths, error codes). */
  lastError: string | null;
}

export interface Health {
  ok: boolean;
  checkedAt: string;
  startedAt: string;
  /** Sources whose state is `late`. */
  late: string[];
  sources: SourceHealth[];
}

/** The per-source facts health is judged on (wall-clock ms). */
export interface CycleClock {
  source: string;
  pollMs: number;
  lastSuccessAt: number | null;
  lastError: string | null;
  served: boolean;
}

/** Pure health rule (unit-tested with a fake clock). `running`: the cycle in progress, if any, and its last sign of activity. */
export function assessHealth(now: number, startedAt: number, sources: readonly CycleClock[], running: { source: string; lastActivityAt: number } | null): Health {
  const runningPoll = running ? sources.find((s) => s.source === running.source)?.pollMs ?? null : null;
  const progressing = running !== null && runningPoll !== null && now - running.lastActivityAt <= 3 * runningPoll;
  const out: SourceHealth[] = sources.map((s) => {
    const limitMs = 3 * s.pollMs;
    const ageMs = Math.max(0, now - (s.lastSuccessAt ?? startedAt));
    let state: SourceState;
    if (!s.served) state = 'elsewhere';
    else if (ageMs <= limitMs) state = 'ok';
    else if (progressing) state = running!.source === s.source ? 'busy' : 'waiting';
    else state = 'late';
    return {
      source: s.source, pollMs: s.pollMs, limitMs, state, ageMs, lastError: s.lastError,
      lastCycleAt: s.lastSuccessAt === null ? null : new Date(s.lastSuccessAt).toISOString(),
    };
  });
  const late = out.filter((s) => s.state === 'late').map((s) => s.source);
  return { ok: late.length === 0, checkedAt: new Date(now).toISOString(), startedAt: new Date(startedAt).toISOString(), late, sources: out };
}

interface SourceClock extends CycleClock { cycleStartedAt: number | null; lastActivityAt: number }

/** The store-side figures of a scrape (from ops/status.ts), or null when the store could not be read. */
export type StoreSnapshot = Pick<Status, 'sources' | 'pending' | 'failed'> | null;

/** In-process observation of one `watch`: counters for /metrics, cycle clocks for /healthz. */
export class Observer implements WatchObserver, ListenerObserver {
  readonly startedAt: number;
  private readonly clocks = new Map<string, SourceClock>();
  private running: string | null = null;

  readonly files = new Counter('pamdrop_files_total', 'Files processed by this process, by source and outcome (archived, quarantined).', ['source', 'outcome']);
  readonly fileFailures = new Counter('pamdrop_file_failures_total', 'File attempts that failed on an I/O or database error (the file stays claimed and is retried with backoff).', ['source']);
  readonly messages = new Counter('pamdrop_messages_total', 'Messages of the files processed, by source and ACK code sent (AA, AE, AR). Counted when their file finishes.', ['source', 'ack']);
  readonly duplicates = new Counter('pamdrop_duplicate_messages_total', 'Messages answered as duplicates (same key and bytes as a message already processed; the stored ACK is replayed). Also counted in pamdrop_messages_total under the ACK code replayed.', ['source']);
  readonly stale = new Counter('pamdrop_stale_messages_total', 'Messages skipped as stale (older than the stored identity). Also counted in pamdrop_messages_total (AA with a warning).', ['source']);
  readonly ackWriteFailures = new Counter('pamdrop_ack_write_failures_total', 'Failures to write ACK files (local ACK folder or SFTP upload); the file is retried.', ['source']);
  readonly cycles = new Counter('pamdrop_cycles_total', 'Poll cycles run, by source and result (ok, failed).', ['source', 'result']);
  readonly lastCycle = new Gauge('pamdrop_last_successful_cycle_timestamp_seconds', 'Unix time of the end of the last successful poll cycle of each source; 0 before the first.', ['source']);
  readonly duration = new Histogram('pamdrop_import_duration_seconds', 'Time to take one file, from its last check to archive or quarantine (SFTP: download included).', ['source'], DURATION_BUCKETS);
  private readonly startTime = new Gauge('pamdrop_start_time_seconds', 'Unix time this watch process started.', []);
  private readonly healthy = new Gauge('pamdrop_healthy', '1 when /healthz answers 200 (no source late), else 0.', []);
  private readonly sourceLate = new Gauge('pamdrop_source_late', '1 when the source has not completed a poll cycle within 3 x pollMs (see /healthz), else 0.', ['source']);
  private readonly queueDepth = new Gauge('pamdrop_queue_depth', 'Files waiting in the source\'s local inbox or SFTP staging folder (eligible, settling, or waiting for their done marker), as `pamdrop status` counts them.', ['source']);
  private readonly unfinished = new Gauge('pamdrop_unfinished_files', 'Ledger files claimed and not finished (being processed, or interrupted and to be resumed).', []);
  private readonly quarantined = new Gauge('pamdrop_quarantined_files', 'Files in quarantine according to the ledger (all time).', []);
  private readonly failedMessages = new Gauge('pamdrop_failed_messages', 'Messages whose live outcome is AE or AR (the `pamdrop errors` worklist).', []);
  readonly mllpConnections = new Gauge('pamdrop_mllp_connections', 'Open connections of each MLLP listener.', ['listener']);
  readonly mllpRefused = new Counter('pamdrop_mllp_refused_connections_total', 'MLLP connections refused, by listener and reason (max-connections, tls: handshake refused, e.g. no or unknown client certificate).', ['listener', 'reason']);
  readonly mllpMessages = new Counter('pamdrop_mllp_messages_total', 'MLLP messages answered, by listener and ACK code sent (AA, AE, AR; none: the connection closed before its ACK could be sent).', ['listener', 'ack']);
  readonly mllpRoundTrip = new Histogram('pamdrop_mllp_round_trip_seconds', 'MLLP round trip per message: from its frame received to its ACK written, after the commit.', ['listener'], ROUND_TRIP_BUCKETS);
  private listenerViews: () => ListenerView[] = () => [];
  private readonly storeUp = new Gauge('pamdrop_store_up', '1 when the store could be read for this scrape, else 0 (store-side gauges are then left out).', []);

  constructor(sources: readonly Pick<SourceConfig, 'name' | 'pollMs'>[], private readonly now: () => number = Date.now) {
    this.startedAt = now();
    for (const s of sources) {
      this.clocks.set(s.name, { source: s.name, pollMs: s.pollMs, lastSuccessAt: null, lastError: null, served: true, cycleStartedAt: null, lastActivityAt: this.startedAt });
      // Every series exists from the start at 0, so that rate() and alerts see the first increase.
      const source = s.name;
      for (const outcome of ['archived', 'quarantined']) this.files.inc({ source, outcome }, 0);
      for (const ack of ['AA', 'AE', 'AR']) this.messages.inc({ source, ack }, 0);
      for (const result of ['ok', 'failed']) this.cycles.inc({ source, result }, 0);
      this.fileFailures.inc({ source }, 0);
      this.duplicates.inc({ source }, 0);
      this.stale.inc({ source }, 0);
      this.ackWriteFailures.inc({ source }, 0);
      this.lastCycle.set({ source }, 0);
      this.duration.touch({ source });
    }
    this.startTime.set({}, Math.round(this.startedAt / 1000));
  }

  private clock(source: string): SourceClock | undefined {
    return this.clocks.get(source);
  }

  serving(sources: readonly string[]): void {
    const set = new Set(sources);
    for (const c of this.clocks.values()) {
      // A source taken over from another instance gets a fresh 3 × pollMs before it can be late here.
      if (!c.served && set.has(c.source)) c.lastActivityAt = this.now();
      c.served = set.has(c.source);
    }
  }

  cycleStarted(source: string): void {
    const c = this.clock(source);
    if (!c) return;
    const t = this.now();
    c.cycleStartedAt = t;
    c.lastActivityAt = t;
    this.running = source;
  }

  cycleEnded(source: string, r: CycleResult): void {
    const c = this.clock(source);
    if (this.running === source) this.running = null;
    if (!c) return;
    const t = this.now();
    c.cycleStartedAt = null;
    c.lastActivityAt = t;
    if (r.stopped) return;
    const failed = r.failed || r.error !== null;
    this.cycles.inc({ source, result: failed ? 'failed' : 'ok' });
    if (failed) {
      const f = r.files.find((x) => x.state === 'failed') as { file: string; error: string } | undefined;
      c.lastError = r.error ?? (f ? `${f.file}: ${f.error}` : 'cycle failed');
      return;
    }
    c.lastSuccessAt = t;
    c.lastError = null;
    this.lastCycle.set({ source }, Math.floor(t / 1000));
  }

  fileDone(outcome: FileOutcome, ms: number, error?: unknown): void {
    const source = outcome.source;
    const c = this.clock(source);
    if (c) c.lastActivityAt = this.now();
    if (outcome.state === 'failed') {
      this.fileFailures.inc({ source });
      if (isAckWriteError(error)) this.ackWriteFailures.inc({ source });
      return;
    }
    this.files.inc({ source, outcome: outcome.state === 'done' ? 'archived' : 'quarantined' });
    const s = outcome.summary;
    for (const ack of ['AA', 'AE', 'AR'] as const) this.messages.inc({ source, ack }, s[ack]);
    this.duplicates.inc({ source }, s.duplicates);
    this.stale.inc({ source }, s.stale);
    this.duration.observe({ source }, Math.max(0, ms) / 1000);
  }

  progress(source: string): void {
    const c = this.clock(source);
    if (c) c.lastActivityAt = this.now();
  }

  /** The running MLLP listeners (their live connections for the status page); every series from 0. */
  watchListeners(running: { views(): ListenerView[] }): void {
    this.listenerViews = () => running.views();
    for (const v of running.views()) {
      const listener = v.name;
      for (const ack of ['AA', 'AE', 'AR', 'none']) this.mllpMessages.inc({ listener, ack }, 0);
      for (const reason of ['max-connections', 'tls']) this.mllpRefused.inc({ listener, reason }, 0);
      this.mllpConnections.set({ listener }, v.connections.length);
      this.mllpRoundTrip.touch({ listener });
    }
  }

  /** Listeners and their live connections now (status page). */
  listeners(): ListenerView[] { return this.listenerViews(); }

  connections(listener: string, open: number): void { this.mllpConnections.set({ listener }, open); }
  refused(listener: string, reason: 'max-connections' | 'tls'): void { this.mllpRefused.inc({ listener, reason }); }
  answered(listener: string, ack: 'AA' | 'AE' | 'AR' | 'none', seconds: number): void {
    this.mllpMessages.inc({ listener, ack });
    this.mllpRoundTrip.observe({ listener }, Math.max(0, seconds));
  }

  /** /healthz verdict now. */
  health(): Health {
    const running = this.running ? this.clock(this.running) : undefined;
    return assessHealth(this.now(), this.startedAt, [...this.clocks.values()],
      running ? { source: running.source, lastActivityAt: running.lastActivityAt } : null);
  }

  /** The /metrics body: in-process counters, health, and the store-side gauges of `store` (null: store unreadable). */
  renderMetrics(store: StoreSnapshot): string {
    const h = this.health();
    this.healthy.set({}, h.ok ? 1 : 0);
    this.sourceLate.reset();
    for (const s of h.sources) this.sourceLate.set({ source: s.source }, s.state === 'late' ? 1 : 0);
    this.storeUp.set({}, store ? 1 : 0);
    const storeGauges: Gauge[] = [];
    if (store) {
      this.queueDepth.reset();
      for (const s of store.sources) if (this.clocks.has(s.source)) this.queueDepth.set({ source: s.source }, s.inbox.pending);
      this.unfinished.set({}, store.pending.unfinished.length);
      this.quarantined.set({}, store.failed.quarantinedFiles);
      this.failedMessages.set({}, store.failed.failedMessages);
      storeGauges.push(this.queueDepth, this.unfinished, this.quarantined, this.failedMessages);
    }
    return renderMetrics([
      this.files, this.fileFailures, this.messages, this.duplicates, this.stale, this.ackWriteFailures, this.cycles,
      this.lastCycle, this.duration, ...storeGauges, this.storeUp, this.healthy, this.sourceLate, this.startTime,
      ...(this.listenerViews().length > 0 ? [this.mllpConnections, this.mllpRefused, this.mllpMessages, this.mllpRoundTrip] : []),
    ]);
  }
}
