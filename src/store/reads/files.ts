/**
 * Read model of the file ledger for the operations commands and the status page (`status`, `report`, `reimport`,
 * `watch`'s page): which files are in progress, finished, quarantined, and when each source last sent one.
 * Not on the import path; the pipeline's own ledger reads and writes are in ledger.ts.
 */
import type { Tx } from '../tx.js';
import { FILE_COLS, UNFINISHED_STATE, type FileRow } from '../ledger.js';

/** Names with an unfinished ledger row, per source (they are in progress, not "never taken"). */
export async function claimedNames(db: Tx): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const r of await db.all<{ source: string; name: string }>(`SELECT source, name FROM files WHERE ${UNFINISHED_STATE}`)) {
    const set = out.get(r.source) ?? new Set<string>();
    set.add(r.name);
    out.set(r.source, set);
  }
  return out;
}

/** Last claim of each source, reimports excluded (the feed's heartbeat): source → ISO time. */
export async function lastClaimBySource(db: Tx): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of await db.all<{ source: string; last: string }>('SELECT source, MAX(claimed_at) AS last FROM files WHERE reimport_of IS NULL GROUP BY source')) {
    out.set(r.source, r.last);
  }
  return out;
}

/** How many files are quarantined. */
export async function countQuarantined(db: Tx): Promise<number> {
  return Number((await db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM files WHERE state = 'quarantined'`))?.n ?? 0);
}

/** The last `limit` quarantined files, newest first. */
export async function recentQuarantined(db: Tx, limit: number): Promise<FileRow[]> {
  return db.all<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE state = 'quarantined' ORDER BY id DESC LIMIT ?`, [limit]);
}

/** The most recently finished file, of one source or of all. */
export async function lastFinishedFile(db: Tx, source?: string): Promise<FileRow | undefined> {
  if (source === undefined) return db.get<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1`);
  return db.get<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE source = ? AND finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1`, [source]);
}

/** The latest ledger activity: the last claim or finish of any file (ISO), null on an empty ledger. */
export async function lastLedgerActivity(db: Tx): Promise<string | null> {
  const a = await db.get<{ c: string | null; f: string | null }>('SELECT MAX(claimed_at) AS c, MAX(finished_at) AS f FROM files');
  return [a?.c, a?.f].filter((x): x is string => !!x).sort().pop() ?? null;
}

/** The latest row whose archived copy is at `path`. */
export async function findByArchivedPath(db: Tx, path: string): Promise<FileRow | undefined> {
  return db.get<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE archived_path = ? ORDER BY id DESC LIMIT 1`, [path]);
}

/** The latest finished (done or quarantined) row of a content (SHA-256, hex). */
export async function findFinishedBySha256(db: Tx, sha256: string): Promise<FileRow | undefined> {
  return db.get<FileRow>(`SELECT ${FILE_COLS} FROM files WHERE sha256 = ? AND state IN ('done', 'quarantined') ORDER BY id DESC LIMIT 1`, [sha256]);
}

