/**
 * What processing a file is given and gives back (processFile, links.ts, message.ts, group-loop.ts share these),
 * kept apart from processFile itself so that none of them imports another's code for a type.
 */
import type { Db, Tx } from '../store/tx.js';
import type { FileSummary } from '../store/ledger.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import type { AckSink } from './files.js';

/** Named points where tests and the hardening harness inject failures (crash between steps). */
export type FaultPoint = 'after-claim' | 'after-commit' | 'after-acks' | 'before-archive' | 'after-archive-mark' | 'before-quarantine-move'
  // intake of a remote file: staged locally; the local outcome durable, the remote file not yet moved
  | 'after-stage' | 'before-remote-dispose';

export interface PipelineContext {
  db: Db;
  config: ResolvedConfig;
  log: Logger;
  clock: Clock;
  /** Called at each FaultPoint; may throw or kill the process. */
  fault?: (point: FaultPoint) => void;
  /** Identifies this instance in claims. */
  owner: string;
  /**
   * Checked after each group's commit and ACK files (SIGTERM): true → StopRequested, the file stays claimed and
   * resumes.
   */
  shouldStop?: () => boolean;
  /** Called after each group (progress line): messages done and total in the file. */
  progress?: (p: { file: string; done: number; total: number }) => void;
  /**
   * Several instances on PostgreSQL (lease.ts): called at the start of every transaction that writes for
   * this file (claim, each group, archive/quarantine mark). Renews the source lease inside that transaction and
   * throws (LeaseLostError) when it was taken over, so the transaction rolls back.
   */
  fence?: (tx: Tx) => Promise<void>;
}

/** Thrown by processFile when `shouldStop` asked it to stop between two groups; the file resumes on the next run. */
export class StopRequested extends Error {
  override readonly name = 'StopRequested';
  constructor(readonly file: string) { super(`stopped between two groups of ${file}; it resumes on the next run`); }
}

export interface FileJob {
  /** Source name (config), 'local' for the CLI `import`. */
  source: string;
  /** Local path of the file to process. */
  path: string;
  /** File name recorded in the ledger (defaults to the basename of path). */
  name?: string;
  ackDir: string;
  archiveDir: string;
  errorDir: string;
  /** Extra ACK destination (SFTP upload); the local ACK folder is always written. */
  ackSink?: AckSink;
  /** Ledger id of the file this one reimports. */
  reimportOf?: number | null;
  /**
   * Reimport: which live originals of the same key (same content) give way to a new attempt instead of
   * being replayed as duplicates: 'failed' (AE/AR originals), 'all' (`--force`). Absent: ordinary duplicate rule.
   */
  supersede?: 'failed' | 'all';
}

export interface FileReport {
  file: string;
  source: string;
  fileId: number | null;
  state: 'done' | 'quarantined';
  reason: string | null;
  archivedPath: string | null;
  summary: FileSummary;
  /** True when an interrupted earlier run of this file was resumed or finished. */
  resumed: boolean;
  /** True when the file was processed by an earlier run and this report comes from the ledger. */
  alreadyProcessed?: boolean;
}

/** Runs `fn` in a transaction opened by the fence when there is one; else on `db` directly (autocommit). */
export function fenced<T>(db: Db, ctx: Pick<PipelineContext, 'fence'>, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const fence = ctx.fence;
  return fence ? db.transaction(async (tx) => { await fence(tx); return fn(tx); }) : fn(db);
}
