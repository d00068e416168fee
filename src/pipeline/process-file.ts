/**
 * One file, end to end (docs/behaviour.md "Files, framing and characters", "Duplicates and order", "ACK files"):
 *
 *   scan (hash + frame + envelope check, streaming)  →  claim in the file ledger
 *   → envelope broken?  quarantine (reason file beside it), nothing applied
 *   → for each group of messages: one transaction; per message a savepoint around apply + its ledger row
 *     (outcome + exact ACK bytes)  →  COMMIT  →  write the group's ACK files (temp + rename)
 *   → every message has an outcome and an ACK file  →  archive (dated folder, never overwrite)
 *
 * Crash safety: the ledger is the truth. A rerun resumes a claimed file from its first message without an
 * outcome. ACK files of a file of several groups are synced to disk a batch at a time and the ledger counts them
 * (`files.acks_durable`); the rerun rewrites from the stored bytes only the ones after that count (the last group or
 * two), so a resume costs the same at 10 % or 90 % of a file and never recreates ACK files the sender already
 * fetched. A crash between the ledger and a move is finished from the planned path recorded in the
 * `archiving`/`quarantining` state.
 *
 * A message the database refuses for its content (db-errors.ts: a value it cannot store, a constraint) is rolled
 * back alone and answered AE 207; only a fault of the store (connection, I/O) fails the file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync, unlinkSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { frameStream, type FrameItem, type RawMessage } from '../hl7/batch.js';
import { parseHl7Time } from '../pam/time.js';
import { SqliteTx, type Db, type Tx } from '../store/tx.js';
import { applyGroup, Gate, groupsOverlap } from '../store/pg-group.js';
import {
  acksAfter, claimFile, emptySummary, findUnfinishedFiles, recordAcksDurable, resumeState, transitionFile,
  FileState, MessageStatus, type FileRow, type FileSummary, type MessageStatus as MsgStatus, type RecordedMessage,
} from '../store/ledger.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import { datedDir, freePath, moveFile, safeName, writeReason, LocalAckSink, type AckSink } from './files.js';
import { AckNameSet } from './ack-names.js';
import { closeCheckpointer, syncAckFiles, syncFile, writeAckFiles } from './ack-writer.js';
import { markAckErrors } from './ack-errors.js';
import { isLink, quarantineLink } from './links.js';
import { fileVerdict, FileShapeReader, oversizeShape, type FileShape } from './reading.js';
import { processGuarded, type MessageResult } from './message.js';
import type { AckCode } from '../hl7/ack.js';

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

/** Runs `fn` in a transaction opened by the fence when there is one; else on `db` directly (autocommit). */
function fenced<T>(db: Db, ctx: Pick<PipelineContext, 'fence'>, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const fence = ctx.fence;
  return fence ? db.transaction(async (tx) => { await fence(tx); return fn(tx); }) : fn(db);
}

/**
 * Group commits on SQLite without a WAL fsync at each COMMIT, durability unchanged.
 *
 * The store opens SQLite in WAL mode with `synchronous = FULL` (store/db.ts): each COMMIT fsyncs the `-wal` file,
 * on the main thread, before it returns. For the group loop of one file this returns a handle that switches the
 * connection to `synchronous = NORMAL` until `restore()`. With NORMAL a COMMIT appends its frames to the `-wal`
 * (write(), in the OS page cache) without fsync: it survives a crash of the process, not yet a power loss or an
 * OS crash. The rule "an ACK file is never written before its commit is durable" (docs/behaviour.md) is kept by this:
 *
 * - Before any ACK file of a group is written, the `-wal` file is fsynced (`syncFile`: on the ACK writer thread
 *   first thing for the batch, or on the main thread for the synchronous path). The group's COMMIT returned
 *   before the batch was handed over, so its frames, commit frame included, were written to the `-wal` before
 *   that fsync began, and fsync flushes every dirty page of the file whoever wrote it: after it, the commit is as
 *   durable as a FULL commit (which is exactly one fsync of the `-wal` after its frames are written).
 * - If the `-wal` was checkpointed meanwhile (auto-checkpoint, by this connection on a later COMMIT), nothing is
 *   lost: with NORMAL, SQLite fsyncs the `-wal` before a checkpoint and the database file after it, and only
 *   restarts (overwrites) the `-wal` once every frame is in the synced database file. A missing `-wal` (removed
 *   after a full checkpoint at close) likewise means the database file holds and has synced everything.
 * - ACKs replayed from the ledger (resume) go through the same fsync: rows committed under NORMAL by a run that
 *   crashed are readable before they are durable.
 * - `restore()` (in a finally) puts FULL back before the file's archive/quarantine marks, so every later commit
 *   (archive mark, done) is durable at COMMIT, and that first FULL commit also syncs any frame still unsynced:
 *   the intake moves or deletes a remote file only after processFile returned, i.e. after a durable commit.
 * The checkpoint interval (wal_autocheckpoint) is raised for the same span, and in a file of several groups the ACK
 * writer thread checkpoints (PASSIVE, its own connection) after each batch of ACK files: most pages reach the database
 * file there, and the main thread's auto-checkpoint only copies what is left. Either changes when pages reach the
 * database file, never what is durable when: any connection's checkpoint syncs the `-wal` before copying and the
 * database file after, and SQLite restarts the `-wal` only once every frame is in the synced database file.
 * Crash after a sync but before the ACK files: the ledger holds the exact ACK bytes and a rerun rewrites the missing
 * files, as before (no per-file fsync needed). The main thread no longer waits for one fsync per group; the ACK
 * writer thread does, overlapped with the next group's database work.
 *
 * Only for better-sqlite3 on a file in WAL mode with FULL (the defaults); otherwise null and nothing changes.
 */
function relaxedSqliteCommits(db: Db): { wal: string; db: string; restore: () => void } | null {
  const store: unknown = db;
  if (!(store instanceof SqliteTx)) return null;
  const conn = store.conn;
  if (conn.memory || conn.inTransaction) return null;
  if (String(conn.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return null;
  if (Number(conn.pragma('synchronous', { simple: true })) !== 2 /* FULL */) return null;
  conn.pragma('synchronous = NORMAL');
  // Checkpoints every ~40 MB of WAL instead of ~4 MB: a checkpoint writes pages and fsyncs inside a COMMIT on the
  // main thread, and pages rewritten by several groups are written once (COMMIT time about halved at 100k messages).
  const autocheckpoint = Number(conn.pragma('wal_autocheckpoint', { simple: true }));
  conn.pragma('wal_autocheckpoint = 10000');
  return { wal: `${conn.name}-wal`, db: conn.name, restore: () => {
    conn.pragma('synchronous = FULL');
    conn.pragma(`wal_autocheckpoint = ${autocheckpoint}`);
  } };
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

interface Scan extends FileShape {
  sha256: string; size: number;
}

/** Pass 1: hash, frame and check the envelope without decoding or keeping messages. */
async function scanFile(path: string, maxMessageBytes: number): Promise<Scan> {
  const hash = createHash('sha256');
  let size = 0;
  async function* tee() {
    for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  }
  const shape = new FileShapeReader();
  for await (const item of frameStream(tee(), { maxMessageBytes })) shape.push(item);
  return { sha256: hash.digest('hex'), size, ...shape.finish() };
}

/**
 * Pass 2: the messages, in file order or sorted by the MSH-7 instant (file order breaks ties). Reads only the `size` bytes pass 1
 * hashed: bytes added since are never applied under a ledger row that does not describe them.
 */
async function* messagesInOrder(path: string, cfg: ResolvedConfig, size: number): AsyncGenerator<RawMessage> {
  const bytes: AsyncIterable<Buffer> = size === 0 ? (async function* () {})() : createReadStream(path, { highWaterMark: 256 * 1024, start: 0, end: size - 1 }) as AsyncIterable<Buffer>;
  const items: AsyncIterable<FrameItem> = frameStream(bytes, { maxMessageBytes: cfg.maxMessageBytes });
  if (cfg.order === 'file') {
    for await (const it of items) if (it.kind === 'message') yield it.message;
    return;
  }
  // order "timestamp": needs the whole file in memory (documented); MSH-7 read from the ASCII MSH.
  const all: Array<{ m: RawMessage; t: string }> = [];
  for await (const it of items) if (it.kind === 'message') all.push({ m: it.message, t: rawMsh7Instant(it.message.bytes) });
  all.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.m.index - b.m.index));
  for (const x of all) yield x.m;
}

/**
 * Sort key of a message: its MSH-7 as a UTC instant, read exactly as the stale guard reads it (parseHl7Time: the
 * offset honoured, none = the importer's local time), so that the night clocks go back `02:50+0200` sorts before
 * `02:10+0100`. No readable MSH-7 → '' (first, in file order).
 */
function rawMsh7Instant(bytes: Buffer): string {
  const end = bytes.indexOf(0x0d);
  const line = bytes.toString('latin1', 0, end < 0 ? bytes.length : end);
  const field = line.split(line[3] ?? '|')[6] ?? '';
  const component = line[4] ?? '^';
  return parseHl7Time(field.split(component)[0] ?? '') ?? '';
}

function count(summary: FileSummary, status: MsgStatus, outcome: AckCode): void {
  summary.messages++;
  summary[outcome]++;
  if (status === MessageStatus.Duplicate) summary.duplicates++;
  if (status === MessageStatus.Stale) summary.stale++;
}

/** Processes one local file. Never throws for bad content: the report says quarantined. Throws on I/O or database failure (the file stays claimed and resumable). */
export async function processFile(job: FileJob, ctx: PipelineContext): Promise<FileReport> {
  const { db, config: cfg, clock } = ctx;
  const name = job.name ?? basename(job.path);
  const log = ctx.log.child({ file: name, source: job.source });
  const fault = ctx.fault ?? (() => {});
  const localAcks = new LocalAckSink(job.ackDir);
  // Set while the group loop commits with synchronous = NORMAL: the `-wal` to fsync before any ACK file is written.
  let walToSync: string | null = null;
  // Set for the same span: the database the ACK writer thread checkpoints after each threaded batch (relaxedSqliteCommits).
  let checkpointDb: string | null = null;
  // `threaded`: ACK files written on the ACK writer thread while the next group is applied (ack-writer.ts).
  // Marked so that `watch` can count ACK write failures (/metrics); the error itself is rethrown unchanged.
  const writeAcks = markAckErrors(async (entries: Array<{ name: string; bytes: Buffer }>, threaded = false) => {
    // Threaded batches (files of several groups) are synced to disk: the ledger then records them as durable.
    if (threaded) await writeAckFiles(job.ackDir, entries, walToSync, checkpointDb, true);
    else {
      if (walToSync) syncFile(walToSync);
      await localAcks.write(entries);
    }
    if (job.ackSink) await job.ackSink.write(entries);
  });

  // Never follow a symbolic link (links.ts): the link itself is quarantined.
  if (isLink(job.path)) return quarantineLink(job, ctx);
  const size = statSync(job.path).size;
  // Recovery: an earlier run of this file that stopped between the ledger and a move.
  const unfinished = await findUnfinishedFiles(db, job.source, name);
  const scan: Scan = size > cfg.maxFileBytes
    ? { sha256: `oversize:${size}`, size, ...oversizeShape(size, cfg.maxFileBytes) }
    : await scanFile(job.path, cfg.maxMessageBytes);
  // What the hashed bytes looked like on disk: compared again before the archive (a file appended meanwhile).
  const scannedMtimeMs = statSync(job.path).mtimeMs;

  for (const u of unfinished) {
    if (u.sha256 !== scan.sha256) continue;
    if (u.state === FileState.Archiving || u.state === FileState.Quarantining) {
      log.info('finishing an interrupted move', { fileId: u.id, state: u.state });
      return finishMove(u, job.path, ctx, true);
    }
  }
  for (const u of unfinished) {
    if (u.state === FileState.Claimed && u.sha256 !== scan.sha256) {
      // The file changed after it was claimed: never process half-old/half-new.
      const reason = 'file content changed after it was claimed (different SHA-256); messages of the earlier content may have been applied; nothing of this content was applied';
      await transitionFile(db, u.id, FileState.Claimed, FileState.Quarantined, { reason, now: clock.now().toISOString() });
      const fresh = await claimFile(db, { source: job.source, name, path: job.path, size: scan.size, sha256: scan.sha256, messageCount: scan.envelope.messageCount, now: clock.now().toISOString(), owner: ctx.owner });
      return quarantine(fresh, job, reason, ctx);
    }
  }
  const resumeRow = unfinished.find((u) => u.state === FileState.Claimed && u.sha256 === scan.sha256);
  const file = resumeRow ?? await fenced(db, ctx, (tx) => claimFile(tx, { source: job.source, name, path: job.path, size: scan.size, sha256: scan.sha256,
    messageCount: scan.envelope.messageCount, now: clock.now().toISOString(), owner: ctx.owner, reimportOf: job.reimportOf ?? null }));
  fault('after-claim');
  if (resumeRow) log.info('resuming an interrupted file', { fileId: file.id });

  // The verdict `validate` shares (reading.ts): a broken envelope, or data no message frames, quarantines the file.
  const verdict = fileVerdict(scan);
  if (verdict.kind === 'quarantine') return quarantine(file, job, verdict.reason, ctx);
  // Junk is tolerated (the messages are processed) but never dropped silently.
  if (scan.junk.length > 0) log.warn('lines outside any message ignored', { junk: scan.junk });

  // Messages already recorded (resume): nothing re-applied. Only the ACK files not known to be durable are rewritten
  // (below, before anything new), never every ACK already written: the resume does not grow with what was done.
  const summary = emptySummary();
  const recorded = new Map<number, RecordedMessage>();
  // Flat in the file size: a plain Set of 2 million names is >200 MB (ack-names.ts).
  const usedNames: Set<string> = new AckNameSet(`${safeName(basename(file.name, extname(file.name)))}.`, '.ack.hl7');
  // How many of the file's message rows, in ledger order, have durable ACK files (migration 0004): the count grows as
  // each synced batch settles, and each group's transaction records it (`files.acks_durable`), one or two groups late.
  let acksDurable = 0;
  let acksRecorded = 0;
  let resumeRows: RecordedMessage[] = [];
  let resumeDurable = 0;
  if (resumeRow) {
    const state = await resumeState(db, file.id);
    resumeRows = state.rows;
    resumeDurable = state.acksDurable;
    acksRecorded = state.acksDurable;
    for (const m of state.rows) {
      recorded.set(m.idx, m);
      usedNames.add(m.ack_name);
    }
  }

  const started = Date.now();
  let group: RawMessage[] = [];
  let replay: Array<{ name: string; bytes: Buffer }> = [];
  // A file of more than one group overlaps each group's ACK files with the next group's database work: at most one
  // batch in flight, handed over only after its COMMIT, awaited before the next hand-over, a stop and the archive.
  const overlap = scan.envelope.messageCount > cfg.groupSize;
  let inflight: Promise<void> | null = null;
  let inflightCount = 0;
  const settle = async () => {
    if (!inflight) return;
    const p = inflight;
    inflight = null;
    await p;
    acksDurable += inflightCount; // a synced batch: the next rows in ledger order (groups commit in order)
    fault('after-acks');
  };
  // PostgreSQL group mode: each group's transaction is opened when the group is read, while the previous one runs and
  // commits (its lock and prefetch wait for that COMMIT server-side); it applies nothing until `ahead.gate` opens:
  // after the previous group committed and no stop was asked (stopCheck), or when it is the next to finish (flush).
  const pipelined = groupsOverlap(db);
  let ahead: { done: Promise<MessageResult[]>; gate: Gate } | null = null;
  const runGroup = (batch: RawMessage[], gate?: Gate) => db.transaction(async (tx) => {
    await ctx.fence?.(tx);
    // PostgreSQL: the whole group in a few round trips, redone message by message if that fails (store/pg-group.ts).
    const results = await applyGroup(tx, batch, usedNames, (t, raw, names) => processGuarded(t, raw, file, names, ctx, job.ackDir, job.supersede), gate);
    if (acksDurable > acksRecorded) {
      // No round trip of its own: the ACK files synced so far, recorded with this group's commit.
      await recordAcksDurable(tx, file.id, acksDurable);
      acksRecorded = acksDurable;
    }
    // PostgreSQL answers COMMIT in an aborted transaction with a ROLLBACK, not an error: one awaited statement proves
    // that no earlier one failed unseen before the ACK files of this group are written (one round trip per group).
    if (tx.dialect === 'pg') await tx.get('SELECT 1 AS alive');
    return results;
  });
  const dropAhead = async (err: unknown) => {
    if (!ahead) return;
    const a = ahead;
    ahead = null;
    a.gate.close(err);
    await a.done.catch(() => {});
  };
  const flush = async () => {
    let results: MessageResult[] | null = null;
    if (pipelined && (group.length > 0 || ahead)) {
      const prev = ahead;
      ahead = null;
      if (group.length > 0) {
        // Opened once the previous group holds the apply lock, so that the locks are taken in the groups' order.
        if (prev) await Promise.race([prev.gate.hasLock, prev.done.then(() => {}, () => {})]);
        const gate = new Gate();
        ahead = { done: runGroup(group, gate), gate };
        ahead.done.catch(() => {}); // awaited by the next flush, or dropped
        group = [];
      }
      if (prev) { prev.gate.open(); results = await prev.done; }
    } else if (group.length > 0) {
      const batch = group;
      group = [];
      results = await runGroup(batch);
    }
    if (results) {
      fault('after-commit');
      for (const r of results) { count(summary, r.status, r.outcome); replay.push({ name: r.ackName, bytes: r.ack }); }
    }
    if (replay.length > 0) {
      const entries = replay;
      replay = [];
      if (overlap) {
        await settle();
        inflight = writeAcks(entries, true);
        inflightCount = entries.length;
        inflight.catch(() => {}); // observed by the next settle(); never an unhandled rejection meanwhile
      } else {
        await writeAcks(entries);
        fault('after-acks');
      }
    }
    ctx.progress?.({ file: name, done: summary.messages, total: scan.envelope.messageCount });
  };
  // Stop only between groups: everything committed so far has its ACK files.
  const stopCheck = async () => {
    if (ctx.shouldStop?.()) { await dropAhead(new StopRequested(name)); await settle(); throw new StopRequested(name); }
    ahead?.gate.open();
  };
  const relaxed = relaxedSqliteCommits(db);
  walToSync = relaxed?.wal ?? null;
  checkpointDb = relaxed && overlap ? relaxed.db : null;
  try {
    if (resumeDurable < resumeRows.length) {
      // The ACK files of the last groups before the crash (not known to be durable): rewritten from the ledger
      // (identical bytes), synced, and then counted as durable like the rest.
      const missing = await acksAfter(db, file.id, resumeDurable > 0 ? resumeRows[resumeDurable - 1]!.id : 0);
      await writeAcks(missing);
      syncAckFiles(job.ackDir, missing.map((m) => m.name));
      log.info('ACK files of the interrupted run rewritten', { fileId: file.id, rewritten: missing.length, kept: resumeDurable });
    }
    acksDurable = resumeRows.length;
    for await (const raw of messagesInOrder(job.path, cfg, scan.size)) {
      const done = recorded.get(raw.index);
      if (done) {
        count(summary, done.status, done.outcome);
        continue;
      }
      group.push(raw);
      if (group.length >= cfg.groupSize) { await flush(); await stopCheck(); }
    }
    await flush();
    while (ahead) await flush();
    await settle();
  } catch (err) {
    await dropAhead(err); // a group opened ahead applies nothing: rolled back
    // The groups committed so far keep their ACK files as far as the writer gets (a rerun rewrites any missing one).
    await (inflight as Promise<void> | null)?.catch(() => {}); // assigned in flush(): not narrowed here
    throw err;
  } finally {
    walToSync = null;
    relaxed?.restore();
    if (checkpointDb) {
      checkpointDb = null;
      await closeCheckpointer(relaxed!.db).catch(() => {}); // best effort: the connection only ever checkpoints
    }
  }
  const secs = (Date.now() - started) / 1000;
  // A file with refused messages needs someone's attention: warn, not info.
  (summary.AE + summary.AR > 0 ? log.warn : log.info).call(log, 'file processed', { fileId: file.id, ...summary, msgPerSec: secs > 0 ? Math.round(summary.messages / secs) : null });

  const changed = await changedSinceScan(job.path, scan, scannedMtimeMs);
  if (changed) {
    log.warn('file changed while it was processed: quarantined, the bytes added were not processed', { fileId: file.id, processedBytes: scan.size, bytesNow: changed.size });
    return quarantine(file, job, changedReason(scan, changed.size, summary), ctx, summary);
  }

  // Archive: record the planned path first, then move (a crash in between is finished on the next run).
  fault('before-archive');
  const target = freePath(datedDir(job.archiveDir, clock.now()), name);
  await fenced(db, ctx, (tx) => transitionFile(tx, file.id, FileState.Claimed, FileState.Archiving, { archivedPath: target, summary }));
  fault('after-archive-mark');
  return finishMove({ ...file, state: FileState.Archiving, archived_path: target, summary: JSON.stringify(summary) }, job.path, ctx, !!resumeRow);
}

/** Completes an `archiving`/`quarantining` row: moves the file to its planned path (if still needed), then final state. */
async function finishMove(row: FileRow, path: string, ctx: PipelineContext, resumed: boolean): Promise<FileReport> {
  const target = row.archived_path!;
  if (existsSync(path) && !existsSync(target)) moveFile(path, target);
  // Both there: a cross-file-system move stopped between its rename and the unlink of the source (same content:
  // the caller matched the row's SHA-256). Finish it, or the file would be taken again on the next run.
  else if (existsSync(path) && existsSync(target)) unlinkSync(path);
  const quarantined = row.state === FileState.Quarantining;
  if (quarantined && !existsSync(`${target}.reason.txt`)) writeReason(target, row.reason ?? 'quarantined');
  const to = quarantined ? FileState.Quarantined : FileState.Done;
  await transitionFile(ctx.db, row.id, row.state, to, { now: ctx.clock.now().toISOString() });
  const summary: FileSummary = row.summary ? JSON.parse(row.summary) : emptySummary();
  return { file: row.name, source: row.source, fileId: row.id, state: quarantined ? 'quarantined' : 'done', reason: row.reason,
    archivedPath: target, summary, resumed };
}

/**
 * Quarantine: the file goes to the error folder with `<name>.reason.txt` beside it. Nothing applied, unless
 * `summary` says what was (a file that changed while it was processed).
 */
async function quarantine(file: FileRow, job: FileJob, reason: string, ctx: PipelineContext, summary?: FileSummary): Promise<FileReport> {
  const target = freePath(job.errorDir, file.name);
  ctx.log.warn('file quarantined', { file: file.name, source: job.source, fileId: file.id, reason });
  await fenced(ctx.db, ctx, (tx) => transitionFile(tx, file.id, FileState.Claimed, FileState.Quarantining, { archivedPath: target, reason, summary }));
  ctx.fault?.('before-quarantine-move');
  writeReason(target, reason);
  return finishMove({ ...file, state: FileState.Quarantining, archived_path: target, reason, summary: summary ? JSON.stringify(summary) : file.summary }, job.path, ctx, false);
}

/**
 * The file on disk no longer holds exactly the bytes pass 1 hashed: its size differs, or its mtime moved and the
 * first `scan.size` bytes hash differently (a `touch` alone is no change). Returns its size now, or null.
 */
async function changedSinceScan(path: string, scan: Scan, scannedMtimeMs: number): Promise<{ size: number } | null> {
  const now = statSync(path);
  if (now.size !== scan.size) return { size: now.size };
  if (now.mtimeMs === scannedMtimeMs || scan.size === 0) return null;
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024, start: 0, end: scan.size - 1 })) h.update(chunk as Buffer);
  return h.digest('hex') === scan.sha256 ? null : { size: now.size };
}

/** The reason file of a file that changed while it was processed: which bytes were processed, which were not. */
function changedReason(scan: Scan, sizeNow: number, summary: FileSummary): string {
  const done = `bytes 0–${scan.size - 1} (SHA-256 ${scan.sha256}, the size and hash in the ledger) were processed: ${summary.messages} message(s), each with its ACK file`;
  if (sizeNow > scan.size) {
    return `file changed while it was processed: ${done}; bytes ${scan.size}–${sizeNow - 1} were added meanwhile and were NOT processed. `
      + 'Deliver the messages of those bytes again in a new file (messages already processed are recognised as duplicates)';
  }
  return `file changed while it was processed (it now holds ${sizeNow} bytes, other than the ones hashed): ${done}; `
    + 'none of its new content was processed. Check it and deliver what was not processed in a new file';
}
