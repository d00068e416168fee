/**
 * Retention of the local copies of ACK files that pamdrop uploads to remote sources (SFTP, FTP): each such source
 * writes its ACK files into its local `ackDir` as well as to the server, and nothing else ever removes them there.
 * The ledger keeps every ACK's bytes, so a copy is no longer needed once uploaded; `retention.remoteAckDays` says
 * how long it stays (null: forever).
 *
 * Only what is certainly such a copy goes: a regular file named `*.ack.hl7` (not a hidden temporary name), last
 * written before the cutoff, in the `ackDir` of a remote source. A folder that is also a local source's ACK folder,
 * inbox, archive or quarantine is never looked into: a local sender takes its ACK files from its own folder.
 */
import { opendirSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SourceConfig } from '../config/types.js';

/** What became of the local ACK copies past their retention. */
export interface AckCopiesReport {
  days: number | null;
  cutoff: string | null;
  /** The folders looked into. */
  folders: string[];
  /** Removed (or, on a dry run, would be). */
  removed: number;
  /** Could not be removed (permissions, I/O): kept, tried again on the next run. */
  failed: number;
}

/** The local ACK folders of remote sources, less any folder a local source also uses. */
export function remoteAckFolders(sources: readonly SourceConfig[]): string[] {
  const local = new Set(sources.filter((s) => s.type === 'local').flatMap((s) => [s.ackDir, s.inbox, s.archiveDir, s.errorDir]).map((d) => resolve(d)));
  const out: string[] = [];
  for (const s of sources) {
    const dir = resolve(s.ackDir);
    if (s.type !== 'local' && !local.has(dir) && !out.includes(dir)) out.push(dir);
  }
  return out;
}

/** Removes the ACK copies older than `cutoff` in `folders` (a dry run counts them), at most `limit` in all when given. */
export function pruneAckCopies(folders: readonly string[], cutoff: Date, dryRun: boolean, limit?: number): { removed: number; failed: number } {
  let removed = 0;
  let failed = 0;
  for (const dir of folders) {
    let d: ReturnType<typeof opendirSync>;
    try {
      d = opendirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // no ACK written yet
      failed++;
      continue;
    }
    try {
      // Streamed: a folder of a million copies is never listed into memory at once.
      for (let e = d.readSync(); e !== null; e = d.readSync()) {
        if (!e.isFile() || e.name.startsWith('.') || !e.name.endsWith('.ack.hl7')) continue;
        const path = join(dir, e.name);
        try {
          if (statSync(path).mtimeMs >= cutoff.getTime()) continue;
          if (!dryRun) unlinkSync(path);
          removed++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed++;
          continue;
        }
        if (limit !== undefined && removed >= limit) return { removed, failed };
      }
    } finally {
      d.closeSync();
    }
  }
  return { removed, failed };
}
