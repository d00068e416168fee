/**
 * `pamdrop reimport`: run an archived batch again — after a configuration fix, a restored database, or a
 * sender's request.
 *
 * - The archived file stays where it is: a copy is staged next to the archive (`<archive>/.reimport/…`, same file
 *   system, so the final move is a rename) and that copy goes through the ordinary pipeline. It gets its own
 *   ledger row linked to the original (`files.reimport_of`), its own dated archive copy, and its ACK files in the
 *   source's ACK folder (same names as the first time: the newest ACK of a message replaces the older one).
 * - Without `--force` (FileJob.supersede 'failed'): a message whose key already has an AA outcome is a duplicate
 *   (stored ACK replayed, nothing applied); a message whose original got AE/AR is applied again, its original row
 *   superseded so the new attempt owns the key; a message never recorded is applied as new.
 * - With `--force` ('all'): every message is applied again. The stale guard always applies to reimports, whatever
 *   `staleUpdates` says: a message older (MSH-7) than the record's last applied message is skipped, so replaying an
 *   old batch never rolls newer identities back.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import type { ResolvedConfig, SourceConfig } from '../config/types.js';
import type { Tx } from '../store/tx.js';
import type { FileJob } from '../pipeline/process-file.js';
import { findUnfinishedFiles, getFile, type FileRow } from '../store/ledger.js';
import { findByArchivedPath, findFinishedBySha256 } from '../store/reads/files.js';
import { ConfigError } from '../shared/errors.js';
import { fileSha256 } from '../shared/file-hash.js';

/** A file about to be reimported. */
export interface ReimportTarget {
  /** The argument as given (path or ledger id). */
  input: string;
  /** The ledger row being reimported; null when the file is not in the ledger (e.g. after restoring an older database). */
  original: FileRow | null;
  /** The archived file to read. */
  path: string;
  /** The file name recorded in the ledger (ACK file names derive from it). */
  name: string;
  source: string;
}

/** A target that cannot be found: exit 4. */
export class TargetNotFound extends Error {
  override readonly name = 'TargetNotFound';
}

/**
 * Resolves `<archived file | ledger id>`: a number that is not an existing file is a ledger id (its archived copy is
 * read); a path is matched to the ledger by archived path, else by content (SHA-256, latest finished row).
 */
export async function resolveTarget(db: Tx, input: string, config: ResolvedConfig, source?: string): Promise<ReimportTarget> {
  const path = resolve(input);
  if (/^\d+$/.test(input) && !existsSync(path)) {
    const row = await getFile(db, Number(input));
    if (!row) throw new TargetNotFound(`ledger file #${input} does not exist`);
    if (row.state !== 'done' && row.state !== 'quarantined') {
      throw new TargetNotFound(`ledger file #${row.id} (${row.name}) is unfinished (${row.state}): run the import again to resume it`);
    }
    if (row.pruned_at) {
      throw new TargetNotFound(`ledger file #${row.id} (${row.name}): its archived copy was removed by retention (pamdrop prune, ${row.pruned_at})`);
    }
    if (!row.archived_path || !existsSync(row.archived_path)) {
      throw new TargetNotFound(`ledger file #${row.id} (${row.name}): archived copy not found at ${row.archived_path ?? '(none recorded)'}`);
    }
    return { input, original: row, path: row.archived_path, name: row.name, source: source ?? row.source };
  }
  if (!existsSync(path) || !statSync(path).isFile()) throw new TargetNotFound(`${path}: no such file`);
  const row = await findByArchivedPath(db, path) ?? await findFinishedBySha256(db, await fileSha256(path));
  const fallbackSource = source ?? config.sources[0]!.name;
  return { input, original: row ?? null, path, name: row?.name ?? basename(path), source: row ? (source ?? row.source) : fallbackSource };
}

export interface ReimportFolders { ackDir?: string; archiveDir?: string; errorDir?: string }

/** A staged copy of an archived file and the job that processes it. */
export interface StagedJob { job: FileJob; staging: string }

/**
 * Stages a copy of the target and builds its pipeline job. Folders come from the target's source in the config,
 * overridable; a source that is no longer configured needs all three folders given.
 */
export function stageReimport(t: ReimportTarget, config: ResolvedConfig, folders: ReimportFolders, force: boolean): StagedJob {
  const src: SourceConfig | undefined = config.sources.find((s) => s.name === t.source);
  const ackDir = folders.ackDir ?? src?.ackDir;
  const archiveDir = folders.archiveDir ?? src?.archiveDir;
  const errorDir = folders.errorDir ?? src?.errorDir;
  if (!ackDir || !archiveDir || !errorDir) {
    throw new ConfigError(`reimport ${t.input}: source ${t.source} is not in the config: give --ack-dir, --archive-dir and --error-dir (or --source)`);
  }
  const { staging, copy } = stageCopy(t.path, t.name, archiveDir);
  return {
    staging,
    job: {
      source: t.source, path: copy, name: t.name, ackDir, archiveDir, errorDir,
      reimportOf: t.original?.id ?? null, supersede: force ? 'all' : 'failed',
    },
  };
}

/**
 * Copies a file to be processed without moving the original (reimport, reconcile --apply) into a private folder
 * under the archive root: same file system as the archive, so the pipeline's final move is a rename.
 */
export function stageCopy(path: string, name: string, archiveDir: string): { staging: string; copy: string } {
  const staging = join(archiveDir, '.reimport', `${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging, { recursive: true });
  const copy = join(staging, name);
  copyFileSync(path, copy);
  return { staging, copy };
}

/** Removes a staging folder (and `.reimport` when it is left empty). */
export function cleanStaging(staging: string): void {
  rmSync(staging, { recursive: true, force: true });
  const parent = join(staging, '..');
  try {
    if (readdirSync(parent).length === 0) rmdirSync(parent);
  } catch { /* gone or not empty: fine */ }
}

/**
 * Refuses to stage a file while an unfinished ledger row of the same source and name holds other content: the
 * pipeline would take the newcomer for a file changed after its claim and quarantine both (process-file.ts).
 * The same content is fine: it is an interrupted reimport, which the pipeline resumes.
 */
export async function assertNoPendingClaim(db: Tx, source: string, name: string, path: string): Promise<void> {
  const rows = await findUnfinishedFiles(db, source, name);
  if (rows.length === 0) return;
  const sha = await fileSha256(path);
  const other = rows.find((r) => r.sha256 !== sha);
  if (other) {
    throw new ConfigError(`${name}: an unfinished import of another file with this name is pending in source ${source} (ledger #${other.id}, ${other.state}); `
      + 'let `pamdrop run` (or the import) finish it first');
  }
}

/** The config a reimport runs with: the stale guard is always on (see the file comment). */
export function reimportConfig(config: ResolvedConfig): ResolvedConfig {
  return { ...config, staleUpdates: 'skip' };
}
