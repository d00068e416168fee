/**
 * What lies in a source's local inbox and why it has not been taken (`status`, `report`): files that never made
 * it into the ledger are the silent failures of file-drop feeds (field-notes §2.3: files skipped forever by a
 * filter). The rules mirror decisions.md "Files" and the source settings (pattern, ignore, minBytes, stableMs,
 * doneMarker); the intake module applies them, this only explains them.
 *
 * SFTP sources: only the local staging folder is listed here (its `.staging` sub-folder is not a file). Listing the
 * remote inbox would put a network call in `status`/`report`; `doctor` connects and counts the remote files.
 * TODO(issue 4 follow-up): a remote listing with the same reasons, through intake's SftpSource, for `report`.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceConfig } from '../config/types.js';
import { globMatch, matchesAny } from '../intake/match.js';

/** Why an inbox file is still there. */
export type InboxReason =
  /** Eligible: the next run (or the watcher's next scan) takes it. */
  | 'pending'
  /** Claimed in the ledger and not finished: being processed, or interrupted (resumed by the next run). */
  | 'in-progress'
  /** Modified less than stableMs ago: possibly still being written. */
  | 'still-changing'
  /** The source needs a done marker (`<name><doneMarker>`) and there is none. */
  | 'waiting-for-marker'
  /** Smaller than minBytes. */
  | 'too-small'
  /** Does not match the source's pattern. */
  | 'pattern-mismatch'
  /** Matches an ignore pattern (temporary names). */
  | 'ignored-name';

export interface InboxFile {
  name: string;
  size: number;
  /** ISO mtime. */
  modifiedAt: string;
  ageMs: number;
  reason: InboxReason;
}

/**
 * Lists the regular files of a source's inbox with the reason each is still there (done markers themselves are
 * not listed). `claimed` holds the names with an unfinished ledger row. A missing inbox gives [].
 */
export function listInbox(src: SourceConfig, now: Date, claimed: ReadonlySet<string>): InboxFile[] {
  let names: string[];
  try {
    names = readdirSync(src.inbox);
  } catch {
    return [];
  }
  const present = new Set(names);
  const out: InboxFile[] = [];
  for (const name of names.sort()) {
    // Done markers are signals, not data (intake/select.ts `candidates`).
    if (src.doneMarker && name.endsWith(src.doneMarker) && name.length > src.doneMarker.length) continue;
    let st;
    try {
      st = statSync(join(src.inbox, name));
    } catch {
      continue; // gone meanwhile
    }
    if (!st.isFile()) continue;
    const ageMs = now.getTime() - st.mtimeMs;
    let reason: InboxReason;
    if (claimed.has(name)) reason = 'in-progress';
    else if (matchesAny(src.ignore, name)) reason = 'ignored-name';
    else if (!globMatch(src.pattern, name)) reason = 'pattern-mismatch';
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
  'in-progress': 'claimed, not finished (being processed or interrupted)',
  'still-changing': 'modified less than stableMs ago',
  'waiting-for-marker': 'no done marker yet',
  'too-small': 'smaller than minBytes',
  'pattern-mismatch': 'does not match the source pattern: never taken',
  'ignored-name': 'temporary/ignored name: never taken',
};
