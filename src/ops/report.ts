/**
 * `pamdrop report`: per source and day — files, reimports,
 * quarantined files, messages, AA/AE/AR, duplicates, stale skips, MSH-10 conflicts, and gaps in MSH-13 sequence
 * numbers (senders that number their messages); plus, per source, the inbox files that never made it into the
 * ledger and whether the feed has been quiet longer than its `expectEveryMs`.
 *
 * A plain data builder (no printing) so that `watch`'s /metrics, /healthz and status page can serve the same
 * figures. Days are the importer's local calendar days of the file's claim (like the archive's dated folders).
 * Dry runs never reach the ledger; reimports count in `reimports` and in the message figures of their day, but
 * not as feed activity for the quiet-feed check.
 */
import type { ResolvedConfig } from '../config/types.js';
import type { Tx } from '../store/tx.js';
import { claimedNames, lastClaimBySource } from '../store/reads/files.js';
import { filesClaimedSince, messageCountsSince, sequenceJumpsSince } from '../store/reads/report.js';
import { listInbox, type InboxFile } from './inbox.js';
import { localDay } from './format.js';

export interface DayStats {
  day: string;
  files: number;
  reimports: number;
  quarantined: number;
  messages: number;
  AA: number;
  AE: number;
  AR: number;
  duplicates: number;
  stale: number;
  /** Same MSH-10 reused with other content (AE 205). */
  conflicts: number;
  /** Missing MSH-13 sequence numbers (sum of the gaps that end on this day). */
  missingSequenceNumbers: number;
}

/** A hole in one sender's MSH-13 numbering: `from`..`to` never received. */
export interface SequenceGap {
  sendingApp: string;
  sendingFacility: string;
  from: number;
  to: number;
  missing: number;
  /** Day of the message received after the gap. */
  day: string;
}

export interface QuietFeed {
  expectEveryMs: number;
  /** Last file taken from this source (reimports excluded); null = never. */
  lastFileAt: string | null;
  silentForMs: number | null;
  quiet: boolean;
}

export interface SourceReport {
  source: string;
  type: string;
  days: DayStats[];
  totals: Omit<DayStats, 'day'>;
  gaps: SequenceGap[];
  /** Inbox files not taken (local inbox or SFTP staging folder), with why. */
  inbox: InboxFile[];
  /** Present when the source has `expectEveryMs`. */
  feed: QuietFeed | null;
}

export interface Report {
  since: string;
  generatedAt: string;
  sources: SourceReport[];
  /** Human alerts without patient data: quiet feeds, gaps, files never taken, quarantines, failures. */
  alerts: string[];
}

const emptyDay = (day: string): DayStats => ({
  day, files: 0, reimports: 0, quarantined: 0, messages: 0, AA: 0, AE: 0, AR: 0, duplicates: 0, stale: 0, conflicts: 0, missingSequenceNumbers: 0,
});

/** Quiet-feed verdict of a source (null when it has no expectEveryMs). */
export function quietFeed(expectEveryMs: number | null, lastFileAt: string | null, now: Date): QuietFeed | null {
  if (expectEveryMs === null) return null;
  const silent = lastFileAt ? now.getTime() - new Date(lastFileAt).getTime() : null;
  return { expectEveryMs, lastFileAt, silentForMs: silent, quiet: silent === null || silent > expectEveryMs };
}

/** Builds the report for files claimed since `since`. */
export async function buildReport(db: Tx, config: ResolvedConfig, since: Date, now: Date): Promise<Report> {
  const sinceIso = since.toISOString();
  const files = await filesClaimedSince(db, sinceIso);
  const msgs = await messageCountsSince(db, sinceIso);
  const gapRows = await sequenceJumpsSince(db, sinceIso);
  const claimed = await claimedNames(db);
  const last = await lastClaimBySource(db);

  const bySource = new Map<string, Map<string, DayStats>>();
  const dayOf = new Map<number, { source: string; stats: DayStats }>();
  const stats = (source: string, day: string): DayStats => {
    let days = bySource.get(source);
    if (!days) { days = new Map(); bySource.set(source, days); }
    let d = days.get(day);
    if (!d) { d = emptyDay(day); days.set(day, d); }
    return d;
  };
  for (const f of files) {
    const d = stats(f.source, localDay(f.claimed_at));
    d.files++;
    if (f.reimport_of !== null) d.reimports++;
    if (f.state === 'quarantined' || f.state === 'quarantining') d.quarantined++;
    dayOf.set(f.id, { source: f.source, stats: d });
  }
  for (const m of msgs) {
    const d = dayOf.get(m.file_id)?.stats;
    if (!d) continue;
    const n = m.n;
    d.messages += n;
    if (m.outcome === 'AA' || m.outcome === 'AE' || m.outcome === 'AR') d[m.outcome] += n;
    if (m.status === 'duplicate') d.duplicates += n;
    if (m.status === 'stale') d.stale += n;
    if (m.status === 'conflict') d.conflicts += n;
  }
  const gapsBySource = new Map<string, SequenceGap[]>();
  for (const g of gapRows) {
    const { prev, seq } = g;
    const gap: SequenceGap = { sendingApp: g.sending_app, sendingFacility: g.sending_facility, from: prev + 1, to: seq - 1, missing: seq - prev - 1, day: localDay(g.claimed_at) };
    const list = gapsBySource.get(g.source) ?? [];
    list.push(gap);
    gapsBySource.set(g.source, list);
    stats(g.source, gap.day).missingSequenceNumbers += gap.missing;
  }

  // Every configured source appears (a silent one too), then any other source found in the ledger.
  const names = [...config.sources.map((s) => s.name), ...[...bySource.keys()].filter((n) => !config.sources.some((s) => s.name === n)).sort()];
  const alerts: string[] = [];
  const sources: SourceReport[] = names.map((name) => {
    const src = config.sources.find((s) => s.name === name);
    const days = [...(bySource.get(name)?.values() ?? [])].sort((a, b) => a.day.localeCompare(b.day));
    const totals = days.reduce<Omit<DayStats, 'day'>>((t, d) => {
      for (const k of Object.keys(t) as Array<keyof Omit<DayStats, 'day'>>) t[k] += d[k];
      return t;
    }, (({ day: _d, ...rest }) => rest)(emptyDay('')));
    const inbox = src ? listInbox(src, now, claimed.get(name) ?? new Set()).filter((f) => f.reason !== 'in-progress') : [];
    const feed = src ? quietFeed(src.expectEveryMs, last.get(name) ?? null, now) : null;
    const gaps = gapsBySource.get(name) ?? [];
    if (feed?.quiet) alerts.push(`${name}: no file ${feed.lastFileAt ? `since ${feed.lastFileAt}` : 'ever received'} (expected every ${Math.round(feed.expectEveryMs / 60000)} min)`);
    if (gaps.length > 0) alerts.push(`${name}: ${gaps.reduce((n, g) => n + g.missing, 0)} MSH-13 sequence number(s) never received`);
    const stuck = inbox.filter((f) => f.reason === 'pattern-mismatch' || f.reason === 'too-small');
    if (stuck.length > 0) alerts.push(`${name}: ${stuck.length} inbox file(s) that will never be taken (name or size)`);
    if (totals.quarantined > 0) alerts.push(`${name}: ${totals.quarantined} quarantined file(s)`);
    if (totals.AE + totals.AR > 0) alerts.push(`${name}: ${totals.AE + totals.AR} message(s) answered AE/AR (see pamdrop errors)`);
    return { source: name, type: src?.type ?? 'unknown', days, totals, gaps, inbox, feed };
  });
  return { since: sinceIso, generatedAt: now.toISOString(), sources, alerts };
}
