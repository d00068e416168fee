/**
 * Which files of a listing to take now, and in which order (docs/behaviour.md "Files, framing and characters",
 * "Duplicates and order"). Pure: a listing, the stability tracker and the ledger's unfinished files in, a plan out.
 *
 * - Candidates: match `pattern`, do not match any `ignore` glob, are not themselves done markers, and (when
 *   `doneMarker` is set) have `<name><doneMarker>` beside them. A file still waiting for its marker does not
 *   exist yet as far as order is concerned (the marker is the sender's "complete" signal).
 * - Files claimed by an earlier run that stopped (ledger `claimed`/`archiving`) come first, without waiting
 *   for stability again, when their size still matches the claim.
 * - Then the rest in natural name (or mtime) order, the whole listing sorted before anything is cut: a
 *   file that is still settling holds back every file after it, so `adt_2` is never taken before an
 *   `adt_1` that is still being copied. A stable file below `minBytes` is skipped and holds nothing.
 */
import { naturalCompare } from '../shared/natural.js';
import { matchesAny, globMatch } from './match.js';
import type { StabilityTracker } from './stability.js';
import type { SourceEntry } from './source.js';

/** The name and completeness settings of a source that selection uses. */
export interface SelectOptions {
  pattern: string;
  ignore: readonly string[];
  doneMarker: string | null;
  minBytes: number;
  sort: 'name' | 'mtime';
}

/** A listing split into data files and markers. */
export interface Candidates {
  /** Data files that pass the name filters (with or without their marker). */
  files: SourceEntry[];
  /** Names that have their done marker (all of `files` when no marker is configured). */
  marked: Set<string>;
  /** Marker files whose data file is not in the listing. */
  orphanMarkers: string[];
}

/** Splits a listing into candidate data files and markers. */
export function candidates(entries: readonly SourceEntry[], o: Pick<SelectOptions, 'pattern' | 'ignore' | 'doneMarker'>): Candidates {
  const names = new Set(entries.map((e) => e.name));
  const files: SourceEntry[] = [];
  const marked = new Set<string>();
  const orphanMarkers: string[] = [];
  for (const e of entries) {
    if (o.doneMarker && e.name.endsWith(o.doneMarker) && e.name.length > o.doneMarker.length) {
      const data = e.name.slice(0, -o.doneMarker.length);
      if (!names.has(data)) orphanMarkers.push(e.name);
      continue;
    }
    if (matchesAny(o.ignore, e.name) || !globMatch(o.pattern, e.name)) continue;
    files.push(e);
    if (!o.doneMarker || names.has(e.name + o.doneMarker)) marked.add(e.name);
  }
  return { files, marked, orphanMarkers };
}

/** Sorts entries in place: natural name order, or mtime then natural name. Always the whole listing. */
export function sortEntries(entries: SourceEntry[], sort: SelectOptions['sort']): SourceEntry[] {
  return entries.sort(sort === 'mtime'
    ? (a, b) => a.mtimeMs - b.mtimeMs || naturalCompare(a.name, b.name)
    : (a, b) => naturalCompare(a.name, b.name));
}

/** The plan of one cycle. */
export interface Selection {
  /** Files to take now, in this order: resumed files first, then ready files up to the first settling one. */
  take: Array<{ entry: SourceEntry; resume: boolean }>;
  /** The first candidate still settling (it holds back the files after it), or null. */
  heldBy: string | null;
  /** ms until the earliest settling candidate could be stable; null when nothing is settling. */
  settleInMs: number | null;
  /** The holding file did not change at the last listing: waiting `settleInMs` can make it ready. */
  waitable: boolean;
  /** Stable files smaller than minBytes (skipped). */
  tooSmall: string[];
  /** Files waiting for their done marker. */
  unmarked: string[];
}

/**
 * Plans a cycle. `tracker` must already have observed `c.files`. `resumable` maps names claimed by an
 * unfinished earlier run to the size recorded in the claim.
 */
export function select(c: Candidates, o: SelectOptions, tracker: StabilityTracker, now: number, resumable: ReadonlyMap<string, number>): Selection {
  const sel: Selection = { take: [], heldBy: null, settleInMs: null, waitable: false, tooSmall: [], unmarked: [] };
  const sorted = sortEntries([...c.files], o.sort);
  const rest: SourceEntry[] = [];
  for (const e of sorted) {
    if (resumable.get(e.name) === e.size) sel.take.push({ entry: e, resume: true });
    else rest.push(e);
  }
  let holding = false;
  for (const e of rest) {
    if (!c.marked.has(e.name)) { sel.unmarked.push(e.name); continue; }
    if (tracker.isStable(e, now)) {
      if (e.size < o.minBytes) { sel.tooSmall.push(e.name); continue; }
      if (!holding) sel.take.push({ entry: e, resume: false });
      continue;
    }
    const wait = Math.max(1, tracker.remaining(e.name, now));
    sel.settleInMs = sel.settleInMs === null ? wait : Math.min(sel.settleInMs, wait);
    if (!holding) {
      holding = true;
      sel.heldBy = e.name;
      sel.waitable = !(tracker.get(e.name)?.changed ?? false);
    }
  }
  return sel;
}
