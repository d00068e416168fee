/**
 * Runs files through the pipeline under the store's claim (SQLite: the writer lock; PostgreSQL: per-source leases,
 * `runJobsClaimed`), one at a time in natural name order, and adds up a run report. One bad file never stops the run: content problems quarantine it. An I/O or database
 * failure is reported for that file (it stays claimed and resumes next run), and the files after it wait for the
 * next run, so that messages are never applied out of order.
 */
import { basename, dirname, resolve } from 'node:path';
import { acquireLock, makeOwner, releaseLock, renewLock, emptySummary, type FileSummary } from '../store/ledger.js';
import { LockedError } from '../shared/errors.js';
import type { Tx } from '../store/tx.js';
import type { ResolvedConfig } from '../config/types.js';
import { processFile, type FileJob, type FileReport, type PipelineContext } from './process-file.js';
import { usesSourceLeases, withSourceLeases } from './lease.js';

export interface RunReport {
  files: Array<FileReport | { file: string; source: string; state: 'failed'; error: string }>;
  totals: FileSummary & { files: number; quarantined: number; failed: number };
}

export const WRITER_LOCK = 'writer';

/** Holds the writer lock while `fn` runs; renews it every ttl/3. Throws LockedError when another instance has it. */
export async function withWriterLock<T>(ctx: Pick<PipelineContext, 'db' | 'clock' | 'config'>, tag: string, fn: (owner: string) => Promise<T>): Promise<T> {
  const owner = makeOwner(tag);
  const ttl = ctx.config.lockTtlMs;
  const got = await acquireLock(ctx.db, WRITER_LOCK, owner, ctx.clock.now(), ttl);
  if (!got.ok) throw new LockedError(`${got.holder.owner}, since ${got.holder.acquired_at}`);
  const timer = setInterval(() => { void renewLock(ctx.db, WRITER_LOCK, owner, new Date(), ttl).catch(() => {}); }, Math.max(1000, ttl / 3));
  timer.unref();
  try {
    return await fn(owner);
  } finally {
    clearInterval(timer);
    await releaseLock(ctx.db, WRITER_LOCK, owner).catch(() => {});
  }
}

/** Configured sources whose inbox is the folder of `path` (a file lying in a served inbox belongs to that source's instance). */
function inboxSources(config: ResolvedConfig, path: string): string[] {
  const dir = dirname(resolve(path));
  return config.sources.filter((s) => s.type === 'local' && resolve(s.inbox) === dir).map((s) => s.name);
}

/**
 * `import`, `reimport`: runs `jobs` under the claim the store needs, then `runJobs`.
 * - SQLite: the single writer lock (LockedError, exit 3, while `watch` or `run` holds it), unless there is nothing
 *   to process.
 * - PostgreSQL: no store-wide lock. The command takes the lease of every source it touches — each job's
 *   source, and the source whose inbox holds the file — the way `run` does, and each file is fenced by its own
 *   source's lease (renewed inside every group transaction, with the advisory lock that serialises identity writes
 *   across instances). So an import runs beside `watch` instances serving other sources, and a file of a source
 *   that another instance serves is refused before anything is done (LockedError, exit 3), never applied by two.
 */
export async function runJobsClaimed(jobs: FileJob[], ctx: Omit<PipelineContext, 'owner' | 'fence'>, tag: string, extraSources: readonly string[] = []): Promise<RunReport> {
  // Nothing to process (every named file already done, reported from the ledger): no lock or lease needed, so the
  // answer does not depend on whether `watch` is running.
  if (jobs.length === 0) return runJobs([], { ...ctx, owner: makeOwner(tag) });
  if (!usesSourceLeases(ctx.db)) return withWriterLock(ctx, tag, (owner) => runJobs(jobs, { ...ctx, owner }));
  const sources = [...new Set([...extraSources, ...jobs.flatMap((j) => [j.source, ...inboxSources(ctx.config, j.path)])])];
  return withSourceLeases({ db: ctx.db, ttlMs: ctx.config.lockTtlMs, log: ctx.log, tag, share: false }, sources, async (leases) => {
    const busy: string[] = [];
    for (const s of sources) {
      const got = await leases.tryAcquire(s);
      if (!got.ok) busy.push(`source ${s} is being served by ${got.holder.owner} (lease since ${got.holder.acquired_at})`);
    }
    if (busy.length > 0) {
      const e = new LockedError(busy.join('; '));
      e.message = `${tag} refused: ${busy.join('; ')}. The files of a source are applied in order by one instance at a time: `
        + 'drop the file into that source\'s inbox for the instance serving it, or run the command again once that instance has stopped';
      throw e;
    }
    return runJobs(jobs, { ...ctx, owner: leases.owner }, () => false, (source) => leases.fence(source));
  });
}

/** Processes jobs in the order given; collects a report. `fenceFor` (PostgreSQL leases): the fence of each job's source. */
export async function runJobs(jobs: FileJob[], ctx: PipelineContext, shouldStop: () => boolean = () => false,
  fenceFor?: (source: string) => (tx: Tx) => Promise<void>): Promise<RunReport> {
  const report: RunReport = { files: [], totals: { ...emptySummary(), files: 0, quarantined: 0, failed: 0 } };
  // After an I/O or database failure the files after it are not started: applying them first would apply later
  // messages before the rest of the failed file (hardening harness: the rerun must end as one clean run). Intake
  // does the same ("holds back the files after it").
  let blockedBy: string | null = null;
  for (const job of jobs) {
    if (shouldStop()) break;
    report.totals.files++;
    if (blockedBy !== null) {
      report.totals.failed++;
      report.files.push({ file: job.name ?? basename(job.path), source: job.source, state: 'failed', error: `not started: ${blockedBy} failed first and files are applied in order` });
      continue;
    }
    try {
      const r = await processFile(job, fenceFor ? { ...ctx, fence: fenceFor(job.source) } : ctx);
      report.files.push(r);
      if (r.state === 'quarantined') report.totals.quarantined++;
      for (const k of ['messages', 'AA', 'AE', 'AR', 'duplicates', 'stale'] as const) report.totals[k] += r.summary[k];
    } catch (err) {
      report.totals.failed++;
      const e = err as NodeJS.ErrnoException;
      ctx.log.error('file failed; it stays claimed and resumes on the next run', { file: basename(job.path), error: e.name, code: e.code, detail: e.code ? e.message : undefined });
      report.files.push({ file: job.name ?? basename(job.path), source: job.source, state: 'failed',
        // node:fs messages already start with their code ("EACCES: permission denied, …"): not twice.
        error: !e.code ? e.name : e.message.startsWith(`${e.code}:`) ? e.message : `${e.code}: ${e.message}` });
      blockedBy = job.name ?? basename(job.path);
      if (jobs.indexOf(job) < jobs.length - 1) ctx.log.error('the files after it are not started this run (order)', { file: blockedBy });
    }
  }
  return report;
}

/**
 * How a run went, whose fault it was (docs/behaviour.md "Exit codes"); the command line turns it into an exit code.
 * - `accepted`: every message accepted, no file quarantined or failed;
 * - `rejected`: the data's fault: some message got AE/AR, or a file was quarantined;
 * - `system-fault`: a file failed on I/O or the database (store unreachable, folder unreadable or unwritable, disk
 *   full) and stays claimed: nothing of it was refused, the next run resumes it. It wins over `rejected`: the files
 *   after it were not started, so the run is not over.
 */
export const RunOutcome = { Accepted: 'accepted', Rejected: 'rejected', SystemFault: 'system-fault' } as const;
export type RunOutcome = (typeof RunOutcome)[keyof typeof RunOutcome];

/** The outcome of a run report (see RunOutcome). */
export function runOutcome(r: RunReport): RunOutcome {
  const t = r.totals;
  if (t.failed > 0) return RunOutcome.SystemFault;
  return t.AE + t.AR + t.quarantined > 0 ? RunOutcome.Rejected : RunOutcome.Accepted;
}
