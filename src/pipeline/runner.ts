/**
 * Runs files through the pipeline under the store's writer lock, one at a time in natural name order, and
 * adds up a run report. One bad file never stops the run: content problems quarantine it. An I/O or database
 * failure is reported for that file (it stays claimed and resumes next run), and the files after it wait for the
 * next run, so that messages are never applied out of order.
 */
import { basename } from 'node:path';
import { acquireLock, makeOwner, releaseLock, renewLock, emptySummary, type FileSummary } from '../store/ledger.js';
import { LockedError } from '../shared/errors.js';
import { processFile, type FileJob, type FileReport, type PipelineContext } from './process-file.js';

export interface RunReport {
  files: Array<FileReport | { file: string; source: string; state: 'failed'; error: string }>;
  totals: FileSummary & { files: number; quarantined: number; failed: number };
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });
/** Natural name order: `adt_2.hl7` before `adt_10.hl7`; deterministic for any names. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
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

/** Processes jobs in the order given; collects a report. */
export async function runJobs(jobs: FileJob[], ctx: PipelineContext, shouldStop: () => boolean = () => false): Promise<RunReport> {
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
      const r = await processFile(job, ctx);
      report.files.push(r);
      if (r.state === 'quarantined') report.totals.quarantined++;
      for (const k of ['messages', 'AA', 'AE', 'AR', 'duplicates', 'stale'] as const) report.totals[k] += r.summary[k];
    } catch (err) {
      report.totals.failed++;
      const e = err as NodeJS.ErrnoException;
      ctx.log.error('file failed; it stays claimed and resumes on the next run', { file: basename(job.path), error: e.name, code: e.code, detail: e.code ? e.message : undefined });
      report.files.push({ file: job.name ?? basename(job.path), source: job.source, state: 'failed', error: e.code ? `${e.code}: ${e.message}` : e.name });
      blockedBy = job.name ?? basename(job.path);
      if (jobs.indexOf(job) < jobs.length - 1) ctx.log.error('the files after it are not started this run (order)', { file: blockedBy });
    }
  }
  return report;
}

/** Exit code of a run (decisions.md): 0 all accepted; 1 any AE/AR, quarantine or failure. */
export function runExitCode(r: RunReport): 0 | 1 {
  const t = r.totals;
  return t.AE + t.AR + t.quarantined + t.failed > 0 ? 1 : 0;
}
