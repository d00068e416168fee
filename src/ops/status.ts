/**
 * `pamdrop status`: what is pending (unfinished ledger rows, inbox files), what failed (quarantined files,
 * messages whose live outcome is AE/AR), the last activity, and who holds the writer lock. A plain data builder
 * for the CLI and for `watch`'s /healthz and status page. No patient data: names, counts, control ids, reasons.
 *
 * "Last run": the ledger has no run table; the last run is described by the most recently finished file and the
 * latest ledger activity (claim or finish), per source and overall.
 */
import type { ResolvedConfig } from '../config/types.js';
import type { Tx } from '../store/tx.js';
import { listUnfinishedFiles, readLock, type FileRow, type FileSummary } from '../store/ledger.js';
import { claimedNames, countQuarantined, lastClaimBySource, lastFinishedFile, lastLedgerActivity, recentQuarantined as recentQuarantinedRows } from '../store/reads/files.js';
import { countFailures } from '../store/reads/messages.js';
import { listLeases } from '../store/reads/locks.js';
import { WRITER_LOCK } from '../pipeline/runner.js';
import { sourceLeaseName } from '../pipeline/lease.js';
import { listInbox, type InboxFile } from './inbox.js';
import { quietFeed, type QuietFeed } from './report.js';

export interface UnfinishedFile {
  id: number; source: string; name: string; state: string; owner: string | null; claimedAt: string; ageMs: number;
}

export interface QuarantinedFile {
  id: number; source: string; name: string; reason: string | null; path: string | null; at: string | null;
}

export interface FinishedFile {
  id: number; source: string; name: string; state: string; finishedAt: string | null; reimportOf: number | null; summary: FileSummary | null;
}

export interface SourceStatus {
  source: string;
  type: string;
  inbox: { files: number; pending: number; oldestPendingAgeMs: number | null; notTaken: InboxFile[] };
  lastFile: FinishedFile | null;
  feed: QuietFeed | null;
}

/** A `locks` row of several instances on PostgreSQL (pipeline/lease.ts): a source's lease or an instance's heartbeat. */
export interface LeaseView { owner: string; acquiredAt: string; expiresAt: string; expired: boolean }

export interface Status {
  generatedAt: string;
  lock: { owner: string; acquiredAt: string; expiresAt: string; expired: boolean } | null;
  /**
   * Several instances (PostgreSQL): who holds each source's lease (`source` is the configured name, or the
   * lease row's name for a source not in this configuration), and the instances' heartbeats. Empty on SQLite.
   */
  leases: Array<LeaseView & { source: string }>;
  instances: LeaseView[];
  pending: { unfinished: UnfinishedFile[]; inboxFiles: number };
  failed: {
    quarantinedFiles: number;
    recentQuarantined: QuarantinedFile[];
    /** Messages whose live outcome is AE/AR (not superseded by a reimport): `pamdrop errors` lists them. */
    failedMessages: number;
    failedMessagesLast24h: number;
  };
  lastRun: { lastFile: FinishedFile | null; lastActivityAt: string | null };
  sources: SourceStatus[];
  /** True when nothing needs a look: no unfinished file, no quarantine in 24 h, no quiet feed, no stale lock or source lease. */
  healthy: boolean;
}

function finished(r: FileRow | undefined): FinishedFile | null {
  if (!r) return null;
  let summary: FileSummary | null = null;
  try { summary = r.summary ? JSON.parse(r.summary) as FileSummary : null; } catch { summary = null; }
  return { id: Number(r.id), source: r.source, name: r.name, state: r.state, finishedAt: r.finished_at, reimportOf: r.reimport_of === null ? null : Number(r.reimport_of), summary };
}

/** Builds the status. */
export async function buildStatus(db: Tx, config: ResolvedConfig, now: Date): Promise<Status> {
  const nowIso = now.toISOString();
  const dayAgo = new Date(now.getTime() - 86_400_000).toISOString();
  const lock = await readLock(db, WRITER_LOCK);
  const view = (r: { owner: string; acquired_at: string; expires_at: string }): LeaseView =>
    ({ owner: r.owner, acquiredAt: r.acquired_at, expiresAt: r.expires_at, expired: r.expires_at < nowIso });
  const leaseRows = await listLeases(db);
  const sourceOf = new Map(config.sources.map((src) => [sourceLeaseName(src.name), src.name]));
  const leases = leaseRows.filter((r) => r.name.startsWith('source:'))
    .map((r) => ({ source: sourceOf.get(r.name) ?? r.name, ...view(r) }));
  const instances = leaseRows.filter((r) => r.name.startsWith('instance:')).map(view);
  const unfinished = await listUnfinishedFiles(db);
  const quarantinedCount = await countQuarantined(db);
  const recentQ = await recentQuarantinedRows(db, 10);
  const failed = await countFailures(db, dayAgo);
  const lastFinished = await lastFinishedFile(db);
  const lastActivityAt = await lastLedgerActivity(db);
  const claimed = await claimedNames(db);
  const last = await lastClaimBySource(db);

  const sources: SourceStatus[] = [];
  for (const src of config.sources) {
    const files = listInbox(src, now, claimed.get(src.name) ?? new Set());
    const pending = files.filter((f) => f.reason === 'pending' || f.reason === 'still-changing' || f.reason === 'waiting-for-marker' || f.reason === 'link');
    const lastRow = await lastFinishedFile(db, src.name);
    sources.push({
      source: src.name, type: src.type,
      inbox: {
        files: files.length, pending: pending.length,
        oldestPendingAgeMs: pending.length > 0 ? Math.max(...pending.map((f) => f.ageMs)) : null,
        notTaken: files.filter((f) => f.reason === 'pattern-mismatch' || f.reason === 'too-small'),
      },
      lastFile: finished(lastRow),
      feed: quietFeed(src.expectEveryMs, last.get(src.name) ?? null, now),
    });
  }
  const lockView = lock ? { owner: lock.owner, acquiredAt: lock.acquired_at, expiresAt: lock.expires_at, expired: lock.expires_at < nowIso } : null;
  const recentQuarantined: QuarantinedFile[] = recentQ.map((r) => ({ id: Number(r.id), source: r.source, name: r.name, reason: r.reason, path: r.archived_path, at: r.finished_at }));
  const status: Status = {
    generatedAt: nowIso,
    lock: lockView,
    leases,
    instances,
    pending: {
      unfinished: unfinished.map((r) => ({ id: Number(r.id), source: r.source, name: r.name, state: r.state, owner: r.owner, claimedAt: r.claimed_at,
        ageMs: Math.max(0, now.getTime() - new Date(r.claimed_at).getTime()) })),
      inboxFiles: sources.reduce((n, s) => n + s.inbox.files, 0),
    },
    failed: { quarantinedFiles: quarantinedCount, recentQuarantined, failedMessages: failed.total, failedMessagesLast24h: failed.since },
    lastRun: { lastFile: finished(lastFinished), lastActivityAt },
    sources,
    healthy: false,
  };
  // An expired source lease is a crashed instance whose files wait for another one to take the source over.
  status.healthy = unfinished.length === 0 && !(lockView?.expired ?? false) && !leases.some((l) => l.expired) && !sources.some((s) => s.feed?.quiet)
    && !recentQuarantined.some((q) => q.at !== null && q.at >= dayAgo);
  return status;
}
