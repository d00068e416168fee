/**
 * What lies in a source's local inbox and why it has not been taken (`status`, `report`): files that never made
 * it into the ledger are the silent failures of file-drop feeds (files skipped forever by
 * a filter). The rules mirror docs/behaviour.md "Files, framing and characters" and the source settings (pattern,
 * ignore, minBytes, stableMs, doneMarker); the intake module applies them, this only explains them.
 *
 * SFTP sources: only the local staging folder is listed here (its `.staging` sub-folder is not a file). Listing the
 * remote inbox would put a network call in `status`/`report`; `doctor` connects and counts the remote files.
 * TODO: a remote listing with the same reasons, through intake's SftpSource, for `report`.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceConfig } from '../config/types.js';
import { globMatch, matchesAny } from '../intake/match.js';
import { rawPath, readDirNames, type DirName } from '../intake/names.js';

/** Why an inbox file is still there. */
export type InboxReason =
  /** Eligible: the next run (or the watcher's next scan) takes it. */
  | 'pending'
  /** A symbolic link: never followed; the next run quarantines the link itself. */
  | 'link'
  /** Claimed in the ledger and not finished: being processed, or interrupted (resumed by the next run). */
  | 'in-progress'
  /** Modified less than stableMs ago: possibly still being written. */
  | 'still-changing'
  /** The source needs a done marker (`<name><doneMarker>`) and there is none. */
  | 'waiting-for-marker'
  /** Smaller than minBytes. */
  | 'too-small'
  /** Does not match the source's pattern. */
  | 'pattern-mismatch';

export interface InboxFile {
  /** The name; for a name that is not valid UTF-8, its rendering (`%XX` for the odd bytes), the name it is taken under. */
  name: string;
  size: number;
  /** ISO mtime. */
  modifiedAt: string;
  ageMs: number;
  reason: InboxReason;
}

/**
 * Lists the regular files of a source's inbox with the reason each is still there (done markers themselves are
 * not listed, nor are names that match the source's ignore patterns). `claimed` holds the names with an unfinished ledger row. A missing inbox gives [].
 */
export function listInbox(src: SourceConfig, now: Date, claimed: ReadonlySet<string>): InboxFile[] {
  let entries: DirName[];
  try {
    // As bytes: a name that is not valid UTF-8 is listed under its rendering, as intake lists it (intake/names.ts).
    entries = readDirNames(src.inbox);
  } catch {
    return [];
  }
  const present = new Set(entries.map((e) => e.name));
  const out: InboxFile[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const name = entry.name;
    // Done markers are signals, not data (intake/select.ts `candidates`).
    if (src.doneMarker && name.endsWith(src.doneMarker) && name.length > src.doneMarker.length) continue;
    // Ignored names (temporary names, `.gitkeep`) are not input by definition: neither pending nor "never taken".
    if (matchesAny(src.ignore, name)) continue;
    let st;
    try {
      // lstat: a link is shown as a link (its own size), never as its target.
      st = lstatSync(entry.raw ? rawPath(src.inbox, entry.raw) : join(src.inbox, name));
    } catch {
      continue; // gone meanwhile
    }
    const link = st.isSymbolicLink();
    if (!st.isFile() && !link) continue;
    const ageMs = now.getTime() - st.mtimeMs;
    let reason: InboxReason;
    if (claimed.has(name)) reason = 'in-progress';
    else if (!globMatch(src.pattern, name)) reason = 'pattern-mismatch';
    else if (link) reason = 'link';
    else if (st.size < src.minBytes) reason = 'too-small';
    else if (src.doneMarker && !present.has(name + src.doneMarker)) reason = 'waiting-for-marker';
    else if (ageMs < src.stableMs) reason = 'still-changing';
    else reason = 'pending';
    out.push({ name, size: st.size, modifiedAt: new Date(st.mtimeMs).toISOString(), ageMs: Math.max(0, Math.round(ageMs)), reason });
  }
  return out;
}

/** Short human text of a reason. */
export const INBOX_REASON_TEXT: Readonly<Record<InboxReason, string>> = {
  pending: 'waiting for the next run',
  link: 'symbolic link: never followed, quarantined by the next run',
  'in-progress': 'claimed, not finished (being processed or interrupted)',
  'still-changing': 'modified less than stableMs ago',
  'waiting-for-marker': 'no done marker yet',
  'too-small': 'smaller than minBytes',
  'pattern-mismatch': 'does not match the source pattern: never taken',
};
