/**
 * Symbolic links are refused, never followed. A link in an inbox (or given to `import`) could point anywhere the
 * importer can read — another sender's inbox, a file still being written, a file that changes after it was
 * hashed — and archiving "the file" would move only the link while the bytes applied stay where they were. So the
 * link itself is quarantined: recorded in the ledger (size = the link's own, no message), moved to the error folder
 * as a link (its target is neither read nor moved), with `<name>.reason.txt` naming the target. The sender delivers
 * the file itself.
 */
import { hash } from 'node:crypto';
import { lstatSync, mkdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { claimFile, emptySummary, findUnfinishedFiles, transitionFile, FileState, type FileRow } from '../store/ledger.js';
import { freePath, writeReason } from './files.js';
import { fenced, type FileJob, type FileReport, type PipelineContext } from './context.js';

/** Whether a path is a symbolic link (false when it does not exist). */
export function isLink(path: string): boolean {
  try { return lstatSync(path).isSymbolicLink(); } catch { return false; }
}

function lexists(path: string): boolean {
  try { lstatSync(path); return true; } catch { return false; }
}

/** Moves a link as a link: rename, or across file systems a new link with the same target, then unlink. */
function moveLink(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  if (lexists(to)) throw new Error(`refusing to overwrite ${to}`);
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    symlinkSync(readlinkSync(from), to);
    unlinkSync(from);
  }
}

/** Quarantines the link at `job.path` (never reading its target). Resumes a quarantine a crash interrupted. */
export async function quarantineLink(job: FileJob, ctx: PipelineContext): Promise<FileReport> {
  const { db, clock } = ctx;
  const name = job.name ?? basename(job.path);
  const target = readlinkSync(job.path);
  // Identifies the link by what it points to (a hash of `symlink:<target>`, never the hash of any content read).
  const sha256 = hash('sha256', `symlink:${target}`, 'hex');
  const size = lstatSync(job.path).size;
  const reason = `a symbolic link (to ${target}): pamdrop never follows links; the link itself was moved here and its target was not read. Deliver the file itself, not a link`;
  let row: FileRow | undefined = (await findUnfinishedFiles(db, job.source, name)).find((u) => u.sha256 === sha256);
  let resumed = row !== undefined;
  if (!row) {
    row = await fenced(db, ctx, (tx) => claimFile(tx, { source: job.source, name, path: job.path, size, sha256, messageCount: 0, now: clock.now().toISOString(), owner: ctx.owner }));
  }
  let to = row.archived_path;
  if (row.state === FileState.Claimed || !to) {
    const planned = freePath(job.errorDir, name, lexists);
    ctx.log.warn('file quarantined', { file: name, source: job.source, fileId: row.id, reason: 'a symbolic link: never followed' });
    const id = row.id;
    await fenced(db, ctx, (tx) => transitionFile(tx, id, FileState.Claimed, FileState.Quarantining, { archivedPath: planned, reason, summary: emptySummary() }));
    to = planned;
    resumed = false;
  }
  writeReason(to, reason);
  if (lexists(job.path) && !lexists(to)) moveLink(job.path, to);
  await transitionFile(db, row.id, FileState.Quarantining, FileState.Quarantined, { now: clock.now().toISOString() });
  return { file: name, source: job.source, fileId: row.id, state: 'quarantined', reason, archivedPath: to, summary: emptySummary(), resumed };
}
