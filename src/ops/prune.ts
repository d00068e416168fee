/**
 * `pamdrop prune`: removes copies of inbound messages (patient data) whose retention period has passed
 * (`retention` in the config; nothing by default):
 * - archived batch files finished more than `archiveDays` ago, each only when its bytes still match the ledger's
 *   SHA-256 (a file changed in the archive is kept and reported: a person looks at it), then its dated folders when
 *   they are left empty;
 * - the bytes of MLLP messages, kept for `evidence`, older than `receivedDays`;
 * - the local copies of the ACK files uploaded to remote sources, older than `remoteAckDays` (prune-acks.ts).
 * The ledger rows stay: a resend is still a duplicate, reports still count it, and `reimport` / `evidence` say that
 * the copy was removed and when. Quarantined files are never removed: they wait for a person.
 *
 * The file is removed before its row is marked: a crash in between leaves a row whose copy is missing, which the next
 * run marks. Several instances may prune at once: a file another one removed first is simply missing.
 */
import { rmdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { ResolvedConfig, SourceConfig } from '../config/types.js';
import { fileSha256 } from '../shared/file-hash.js';
import type { Logger } from '../shared/logger.js';
import type { Db } from '../store/tx.js';
import { countExpiredReceived, deleteExpiredReceived, expiredArchives, markPruned, type ExpiredArchive } from '../store/retention.js';
import { pruneAckCopies, remoteAckFolders, type AckCopiesReport } from './prune-acks.js';

const DAY_MS = 24 * 3600_000;

/** What became of one expired archived file. */
export type PruneOutcome =
  /** removed (or, on a dry run, would be) */
  | 'removed'
  /** already gone from its path: marked as pruned */
  | 'missing'
  /** its bytes no longer match the ledger: kept, not marked */
  | 'changed'
  /** could not be read or removed (permissions, I/O): kept, not marked */
  | 'failed';

export interface PrunedFile {
  id: number; source: string; name: string; path: string; finishedAt: string; bytes: number;
  outcome: PruneOutcome;
  /** Why a file was kept. */
  reason?: string;
}

export interface PruneReport {
  dryRun: boolean;
  now: string;
  archive: { days: number | null; cutoff: string | null; files: PrunedFile[] };
  received: { days: number | null; cutoff: string | null; removed: number };
  /** Local copies of the ACK files uploaded to remote sources (prune-acks.ts). */
  ackCopies: AckCopiesReport;
}

export interface PruneOptions {
  dryRun: boolean; now: Date; log: Logger;
  /** At most this many archived files (the oldest): `watch` prunes a little at a time between cycles. */
  limit?: number;
  /** Stop once the files checked hold this many bytes (each is read for its SHA-256); at least one file is. */
  maxBytes?: number;
  /** The sources (config `sources`): their local copies of uploaded ACK files are pruned with `remoteAckDays`. */
  sources?: readonly SourceConfig[];
  /** At most this many local ACK copies. */
  ackLimit?: number;
}

export const cutoffOf = (now: Date, days: number | null): string | null => (days === null ? null : new Date(now.getTime() - days * DAY_MS).toISOString());

/** Checks that the file at the row's path is the file the ledger knows, then removes it (unless a dry run). */
async function pruneOne(row: ExpiredArchive, dryRun: boolean): Promise<Pick<PrunedFile, 'outcome' | 'reason'>> {
  const path = row.archived_path;
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return { outcome: 'changed', reason: 'not a regular file' };
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing' };
    return { outcome: 'failed', reason: (err as Error).message };
  }
  try {
    if (size !== row.size || await fileSha256(path) !== row.sha256) {
      return { outcome: 'changed', reason: 'its bytes no longer match the ledger (SHA-256): kept' };
    }
    if (!dryRun) unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing' };
    return { outcome: 'failed', reason: (err as Error).message };
  }
  if (!dryRun) removeEmptyDatedFolders(path);
  return { outcome: 'removed' };
}

/**
 * Removes the file's dated folders (`…/YYYY/MM/DD`) when the removal left them empty; never the archive root, nor a
 * folder whose name is not part of a date.
 */
function removeEmptyDatedFolders(file: string): void {
  let dir = dirname(file);
  for (const shape of [/^\d{2}$/, /^\d{2}$/, /^\d{4}$/]) {
    if (!shape.test(basename(dir))) return;
    try { rmdirSync(dir); } catch { return; } // not empty (or not ours to remove): stop there
    dir = dirname(dir);
  }
}

/** Prunes what the configured retention allows (see the module comment). */
export async function prune(db: Db, retention: ResolvedConfig['retention'], opts: PruneOptions): Promise<PruneReport> {
  const now = opts.now.toISOString();
  const report: PruneReport = {
    dryRun: opts.dryRun, now,
    archive: { days: retention.archiveDays, cutoff: cutoffOf(opts.now, retention.archiveDays), files: [] },
    received: { days: retention.receivedDays, cutoff: cutoffOf(opts.now, retention.receivedDays), removed: 0 },
    ackCopies: { days: retention.remoteAckDays, cutoff: cutoffOf(opts.now, retention.remoteAckDays), folders: [], removed: 0, failed: 0 },
  };
  const archiveCutoff = report.archive.cutoff;
  if (archiveCutoff !== null) {
    let bytes = 0;
    for (const row of await expiredArchives(db, archiveCutoff, opts.limit)) {
      if (opts.maxBytes !== undefined && bytes >= opts.maxBytes) break;
      bytes += row.size;
      const { outcome, reason } = await pruneOne(row, opts.dryRun);
      if (!opts.dryRun && (outcome === 'removed' || outcome === 'missing')) await markPruned(db, row.id, now);
      report.archive.files.push({ id: row.id, source: row.source, name: row.name, path: row.archived_path, finishedAt: row.finished_at,
        bytes: row.size, outcome, ...(reason ? { reason } : {}) });
      if (outcome === 'changed' || outcome === 'failed') opts.log.warn('prune: archived file kept', { file: row.name, ledgerId: row.id, outcome });
    }
  }
  const receivedCutoff = report.received.cutoff;
  if (receivedCutoff !== null) {
    report.received.removed = opts.dryRun ? await countExpiredReceived(db, receivedCutoff)
      : await db.transaction((tx) => deleteExpiredReceived(tx, receivedCutoff));
  }
  const copies = report.ackCopies;
  if (copies.cutoff !== null) {
    copies.folders = remoteAckFolders(opts.sources ?? []);
    const r = pruneAckCopies(copies.folders, new Date(copies.cutoff), opts.dryRun, opts.ackLimit);
    copies.removed = r.removed;
    copies.failed = r.failed;
    if (r.failed > 0) opts.log.warn('prune: local ACK copies kept', { failed: r.failed });
  }
  const count = (o: PruneOutcome) => report.archive.files.filter((f) => f.outcome === o).length;
  opts.log.info('prune done', { dryRun: opts.dryRun, removed: count('removed'), missing: count('missing'), changed: count('changed'),
    failed: count('failed'), receivedRemoved: report.received.removed, ackCopiesRemoved: copies.removed });
  return report;
}

/**
 * What `watch` prunes at a time, between two cycles: each file is read to check its SHA-256, and the sources wait
 * meanwhile (the writer lock is renewed between cycles).
 */
export const WATCH_PRUNE = { files: 100, bytes: 512 * 1024 * 1024, ackCopies: 20_000 };

/**
 * One pass of `watch`'s pruning (cli/commands/watch.ts), within WATCH_PRUNE. True when more may be waiting: the pass
 * stopped at its limit and got somewhere (the files it keeps, changed or failing, would otherwise be listed again
 * at once).
 */
export async function prunePass(db: Db, config: Pick<ResolvedConfig, 'retention' | 'sources'>, now: Date, log: Logger): Promise<boolean> {
  const r = await prune(db, config.retention, {
    dryRun: false, now, log, limit: WATCH_PRUNE.files, maxBytes: WATCH_PRUNE.bytes, sources: config.sources, ackLimit: WATCH_PRUNE.ackCopies,
  });
  const files = r.archive.files;
  const full = files.length === WATCH_PRUNE.files || files.reduce((n, f) => n + f.bytes, 0) >= WATCH_PRUNE.bytes;
  return (full && files.some((f) => f.outcome === 'removed' || f.outcome === 'missing')) || r.ackCopies.removed === WATCH_PRUNE.ackCopies;
}
