/**
 * The two ways of running intake over the configured sources, both under the store's writer lock (taken by
 * the CLI command): `runOnce` (cron: everything pending, then a report) and `watchSources` (daemon).
 *
 * One writer, one file at a time: sources are polled one after the other, never in parallel. In `watch`,
 * each source has its own schedule: a full listing every `pollMs` is the truth (files present at start-up,
 * lost events, network mounts); chokidar events on local inboxes only bring the next listing forward; a
 * settling file brings it forward to when it could be stable; a failure pushes it back (exponential backoff,
 * capped at 5 minutes) so one bad file or a server that is down never spins in a tight loop.
 */
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import type { ResolvedConfig, SourceConfig } from '../config/types.js';
import type { Db } from '../store/tx.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import { ConfigError, LockedError } from '../shared/errors.js';
import { emptySummary, readLock, renewLock } from '../store/ledger.js';
import { WRITER_LOCK, type RunReport } from './runner.js';
import type { FaultPoint } from './process-file.js';
import { SourceIntake, type CycleResult, type FileOutcome } from './source-cycle.js';
import { LocalSource } from '../intake/local.js';
import { readSecrets, SftpSource } from '../intake/sftp.js';
import { FtpSource, readFtpPassword } from '../intake/ftp.js';
import { monoNow } from '../intake/stability.js';
import type { FileSource } from '../intake/source.js';
import type { Progress } from '../intake/progress.js';
import type { SourceLeases } from './lease.js';

/** A sleep that a signal (stop request, file event) can cut short. */
export class Wake {
  private resolve: (() => void) | null = null;
  private pending = false;
  /** Wakes the current (or the next) wait. */
  notify(): void {
    if (this.resolve) { const r = this.resolve; this.resolve = null; r(); } else this.pending = true;
  }
  /** Resolves after `ms` or at the next notify(), whichever comes first. */
  wait(ms: number): Promise<void> {
    if (this.pending) { this.pending = false; return Promise.resolve(); }
    return new Promise<void>((res) => {
      const timer = setTimeout(() => { this.resolve = null; res(); }, Math.max(0, ms));
      this.resolve = () => { clearTimeout(timer); res(); };
    });
  }
}

/**
 * Observation hooks of the watch loop: /metrics and /healthz (src/observe). Called on the loop's own turn, never
 * with patient data: source names, cycle results, file outcomes and durations.
 */
export interface WatchObserver {
  /** The sources this instance serves right now (all, except with PostgreSQL source leases). */
  serving(sources: readonly string[]): void;
  cycleStarted(source: string): void;
  cycleEnded(source: string, r: CycleResult): void;
  /** A file went through (or failed: `error` is what was thrown), and how long it took (ms). */
  fileDone(outcome: FileOutcome, ms: number, error?: unknown): void;
  /** A group of messages was committed (a long file is making progress). */
  progress(source: string): void;
}

/**
 * Work of the daemon besides its sources (retention pruning): run when it is due and no source is, never during a
 * cycle. `run` resolves true when more is waiting, to be done at the next idle moment.
 */
export interface Housekeeping { name: string; everyMs: number; run(): Promise<boolean> }

/** What runOnce / watchSources need (built by the CLI commands, or by tests). */
export interface ServiceContext {
  db: Db;
  config: ResolvedConfig;
  log: Logger;
  clock: Clock;
  fault?: (p: FaultPoint) => void;
  /** The sources to serve (already selected by the command). */
  sources: SourceConfig[];
  shouldStop: () => boolean;
  /** Notified by the command on SIGTERM/SIGINT so that sleeps end at once. */
  wake: Wake;
  progress?: Progress;
  /** Observation hook on remote downloads (tests). */
  onTransfer?: (source: string, name: string, bytes: number) => void;
  env?: NodeJS.ProcessEnv;
  /** chokidar on local inboxes (watch only; default true). */
  fsEvents?: boolean;
  /**
   * PostgreSQL, several instances (pipeline/lease.ts): sources are served only while this instance holds
   * their lease, and processFile is fenced by it. Absent (SQLite): the caller holds the global writer lock.
   */
  leases?: SourceLeases;
  /** Metrics and health of `watch` (src/observe). */
  observer?: WatchObserver;
  /** watch only: work between cycles (retention pruning). */
  housekeeping?: Housekeeping;
}

/** Builds the FileSource of a source config. */
export function makeSource(src: SourceConfig, log: Logger, env?: NodeJS.ProcessEnv): FileSource {
  if (src.type === 'sftp') return new SftpSource(src, { log: log.child({ source: src.name }), env, key: `source ${src.name}` });
  if (src.type === 'ftp') return new FtpSource(src, { log: log.child({ source: src.name }), env, key: `source ${src.name}` });
  return new LocalSource(src.inbox);
}

/**
 * Start-up checks that need no network: secrets readable, a host key pinned. A missing secret or pin is a
 * configuration error (exit 2) rather than a daemon that retries forever.
 */
export function preflight(sources: readonly SourceConfig[], env: NodeJS.ProcessEnv = process.env): void {
  for (const s of sources) {
    if (s.type === 'ftp' && s.ftp) readFtpPassword(s.ftp, `source ${s.name}.ftp`, env);
    if (s.type !== 'sftp' || !s.sftp) continue;
    readSecrets(s.sftp, `source ${s.name}.sftp`, env);
    if (s.sftp.hostKeySha256.length === 0) {
      throw new ConfigError(`config: source ${s.name}.sftp.hostKeySha256: no host key pinned; run \`pamdrop sftp-keyscan --source ${s.name}\`, `
        + 'check the fingerprint with the server\'s administrator, and add it');
    }
  }
}

function intakeFor(src: SourceConfig, ctx: ServiceContext, owner: string): SourceIntake {
  return new SourceIntake(src, makeSource(src, ctx.log, ctx.env), {
    db: ctx.db, config: ctx.config, log: ctx.log, clock: ctx.clock, owner, fault: ctx.fault,
    shouldStop: ctx.shouldStop,
    progress: ctx.progress || ctx.observer ? (s, p) => { ctx.progress?.update(s, p); if (p) ctx.observer?.progress(s); } : undefined,
    // A long SFTP or FTP download is progress too (/healthz).
    onTransfer: ctx.onTransfer || ctx.observer ? (s, n, b) => { ctx.onTransfer?.(s, n, b); ctx.observer?.progress(s); } : undefined,
    onFile: ctx.observer ? (o, ms, err) => ctx.observer!.fileDone(o, ms, err) : undefined,
    fence: ctx.leases?.fence(src.name),
  });
}

/** An empty run report. */
export function emptyReport(): RunReport {
  return { files: [], totals: { ...emptySummary(), files: 0, quarantined: 0, failed: 0 } };
}

/** Adds one file outcome to a run report (same accounting as runJobs). */
export function addOutcome(report: RunReport, f: FileOutcome): void {
  report.files.push(f);
  report.totals.files++;
  if (f.state === 'failed') { report.totals.failed++; return; }
  if (f.state === 'quarantined') report.totals.quarantined++;
  for (const k of ['messages', 'AA', 'AE', 'AR', 'duplicates', 'stale'] as const) report.totals[k] += f.summary[k];
}

/**
 * Cron mode: every source in turn, until nothing is ready. A file that looks complete (unchanged at the last
 * listing) is waited for until it is stable; a file still changing at the last listing is left for the next
 * run, and so are the files after it (order). A failure stops that source (reported, exit 1) but not the others.
 */
export async function runOnce(ctx: ServiceContext, owner: string): Promise<RunReport & { stopped: boolean }> {
  const report = { ...emptyReport(), stopped: false };
  for (const src of ctx.sources) {
    if (ctx.shouldStop()) { report.stopped = true; break; }
    const intake = intakeFor(src, ctx, owner);
    for (;;) {
      const r = await intake.cycle();
      for (const f of r.files) addOutcome(report, f);
      if (r.error) { addOutcome(report, { file: `(source ${src.name})`, source: src.name, state: 'failed', error: r.error }); break; }
      if (r.stopped) { report.stopped = true; break; }
      if (r.failed) break;
      if (r.busy) continue;
      if (r.waitable && r.settleInMs !== null) {
        await ctx.wake.wait(r.settleInMs);
        if (ctx.shouldStop()) { report.stopped = true; break; }
        continue;
      }
      break;
    }
    if (report.stopped) break;
  }
  return report;
}

const MAX_BACKOFF_MS = 5 * 60_000;
const EVENT_DEBOUNCE_MS = 100;
/** Longest sleep of the watch loop with source leases (their upkeep runs between sleeps). */
const LEASE_WAIT_MS = 250;

/**
 * Daemon mode: serves every source until `shouldStop()`. Keeps checking that the writer lock is still ours
 * (withWriterLock renews it); a lost lock ends the daemon with LockedError (exit 3).
 */
export async function watchSources(ctx: ServiceContext, owner: string): Promise<void> {
  const now = monoNow;
  // due: next cycle; notBefore: end of a backoff, which file events cannot shorten (a busy sender must not
  // turn a failing source into a tight loop).
  const states = ctx.sources.map((src) => ({ src, intake: intakeFor(src, ctx, owner), due: now(), notBefore: 0, failures: 0 }));
  const watchers: FSWatcher[] = [];
  if (ctx.fsEvents !== false) {
    for (const st of states) {
      if (st.src.type !== 'local') continue;
      try {
        const w = chokidarWatch(st.src.inbox, { ignoreInitial: true, depth: 0, ignorePermissionErrors: true, persistent: true });
        w.on('all', () => { st.due = Math.max(st.notBefore, Math.min(st.due, now() + EVENT_DEBOUNCE_MS)); ctx.wake.notify(); });
        w.once('ready', () => ctx.log.info('file events ready', { source: st.src.name }));
        // Events are only hints: if the watcher breaks (inotify limits, network mounts), polling carries on.
        w.on('error', (err) => ctx.log.warn('file events unavailable; polling only', { source: st.src.name, error: (err as Error).message }));
        watchers.push(w);
      } catch (err) {
        ctx.log.warn('file events unavailable; polling only', { source: st.src.name, error: (err as Error).message });
      }
    }
  }
  ctx.log.info('watching', { sources: states.map((s) => ({ name: s.src.name, type: s.src.type, pollMs: s.src.pollMs, stableMs: s.src.stableMs })) });
  let lastLockCheck = 0;
  // First at the first idle moment after the start, then every `everyMs`.
  let housekeepingDue = now();
  /** Housekeeping when it is due; true when it ran (the sources are then looked at again before any sleep). */
  const housekeeping = async (): Promise<boolean> => {
    const hk = ctx.housekeeping;
    if (!hk || now() < housekeepingDue) return false;
    let more = false;
    try {
      more = await hk.run();
    } catch (err) {
      ctx.log.error(`${hk.name} failed; tried again at its next time`, { error: (err as Error).message });
    }
    housekeepingDue = now() + (more ? 0 : hk.everyMs);
    return true;
  };
  try {
    while (!ctx.shouldStop()) {
      if (ctx.leases) {
        // Several instances: renew, give back above the fair share, take free or expired leases (throttled).
        try { await ctx.leases.tick(); } catch (err) { ctx.log.error('cannot renew or take source leases; retrying', { error: (err as Error).message }); }
      } else if (now() - lastLockCheck >= 1000) {
        lastLockCheck = now();
        try {
          if (!(await renewLock(ctx.db, WRITER_LOCK, owner, new Date(), ctx.config.lockTtlMs))) {
            const holder = await readLock(ctx.db, WRITER_LOCK);
            throw new LockedError(holder ? `${holder.owner}, since ${holder.acquired_at}; this instance lost it` : 'none: this instance lost it');
          }
        } catch (err) {
          if (err instanceof LockedError) throw err;
          ctx.log.error('cannot renew the store lock; retrying', { error: (err as Error).message });
        }
      }
      const mine = ctx.leases ? states.filter((s) => ctx.leases!.holds(s.src.name)) : states;
      ctx.observer?.serving(mine.map((s) => s.src.name));
      if (mine.length === 0) {
        if (!(await housekeeping())) await ctx.wake.wait(LEASE_WAIT_MS);
        continue;
      }
      const st = mine.reduce((a, b) => (b.due < a.due ? b : a));
      const wait = st.due - now();
      if (wait > 0) {
        if (!(await housekeeping())) await ctx.wake.wait(Math.min(wait, ctx.leases ? LEASE_WAIT_MS : 1000));
        continue;
      }
      ctx.observer?.cycleStarted(st.src.name);
      const r = await st.intake.cycle();
      ctx.observer?.cycleEnded(st.src.name, r);
      if (r.stopped) break;
      // Lease taken over mid-cycle (the fence rolled the group back): the other instance resumes the file; no backoff.
      if (ctx.leases?.takeLost(st.src.name)) { st.failures = 0; st.due = now(); continue; }
      const t = now();
      if (r.failed) {
        st.failures++;
        const delay = Math.min(Math.max(st.src.pollMs, 1000) * 2 ** (st.failures - 1), Math.max(MAX_BACKOFF_MS, st.src.pollMs));
        st.due = st.notBefore = t + delay;
        ctx.log.warn('source backs off', { source: st.src.name, failures: st.failures, retryInMs: Math.round(delay) });
      } else {
        st.failures = 0;
        st.due = r.busy ? t : t + Math.min(st.src.pollMs, r.settleInMs ?? Infinity);
      }
    }
  } finally {
    await Promise.all(watchers.map((w) => w.close().catch(() => {})));
  }
  ctx.log.info('stopped');
}
