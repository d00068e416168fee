/**
 * The last step of a file, and the one a crash may interrupt: the ledger row says `archiving` / `quarantining`
 * with the planned path before the file is moved, so a run that stopped between the ledger and the move (or
 * between the move and the final state) is finished the same way by processFile, the source cycle's recovery and
 * `import` of a path already moved.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { FileState, transitionFile, type FileRow } from '../store/ledger.js';
import type { Tx } from '../store/tx.js';
import { moveFile, writeReason } from './files.js';

/**
 * Completes an `archiving`/`quarantining` row: the file at `from` moved to its planned path if that is still to be
 * done, the reason file of a quarantine, then the final state. Returns that state, or null when the row was no
 * longer in its state (another run finished it).
 */
export async function finishMove(db: Tx, row: FileRow, from: string, now: string): Promise<FileState | null> {
  const target = row.archived_path!;
  if (existsSync(from) && !existsSync(target)) moveFile(from, target);
  // Both there: a cross-file-system move stopped between its rename and the unlink of the source (same content:
  // the caller matched the row's SHA-256). Finish it, or the file would be taken again on the next run.
  else if (existsSync(from) && existsSync(target)) unlinkSync(from);
  const quarantined = row.state === FileState.Quarantining;
  if (quarantined && !existsSync(`${target}.reason.txt`)) writeReason(target, row.reason ?? 'quarantined');
  const to = quarantined ? FileState.Quarantined : FileState.Done;
  return (await transitionFile(db, row.id, row.state, to, { now })) ? to : null;
}

/** A row whose move a crash interrupted, its file already at the planned path (`exists`: how to test a path). */
export function movedButUnfinished(row: FileRow, exists: (path: string) => boolean = existsSync): boolean {
  return (row.state === FileState.Archiving || row.state === FileState.Quarantining) && row.archived_path !== null && exists(row.archived_path);
}
