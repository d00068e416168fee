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
 * `archiving`/`quarantining` state (moves.ts).
 *
 * A message the database refuses for its content (db-errors.ts: a value it cannot store, a constraint) is rolled
 * back alone and answered AE 207; only a fault of the store (connection, I/O) fails the file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { frameStream, type FrameItem, type RawMessage } from '../hl7/batch.js';
import { parseHl7Time } from '../pam/time.js';
import {
  claimFile, emptySummary, findUnfinishedFiles, resumeState, transitionFile, FileState, type FileRow, type FileSummary,
} from '../store/ledger.js';
import type { ResolvedConfig } from '../config/types.js';
import { datedDir, freePath, safeName, writeReason } from './files.js';
import { AckNameSet } from './ack-names.js';
import { isLink, quarantineLink } from './links.js';
import { fileVerdict, FileShapeReader, oversizeShape, type FileShape } from './reading.js';
import { runGroups } from './group-loop.js';
import { finishMove } from './moves.js';
import { fenced, type FileJob, type FileReport, type PipelineContext } from './context.js';

export { StopRequested, type FaultPoint, type FileJob, type FileReport, type PipelineContext } from './context.js';

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

/** Processes one local file. Never throws for bad content: the report says quarantined. Throws on I/O or database failure (the file stays claimed and resumable). */
export async function processFile(job: FileJob, ctx: PipelineContext): Promise<FileReport> {
  const { db, config: cfg, clock } = ctx;
  const name = job.name ?? basename(job.path);
  const log = ctx.log.child({ file: name, source: job.source });
  const fault = ctx.fault ?? (() => {});

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
      return moved(u, job.path, ctx, true);
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

  // Messages already recorded (resume): nothing re-applied; only the ACK files not known durable are rewritten
  // (group-loop.ts), never every ACK already written: the resume does not grow with what was done.
  const summary = emptySummary();
  // Flat in the file size: a plain Set of 2 million names is >200 MB (ack-names.ts).
  const usedNames: Set<string> = new AckNameSet(`${safeName(basename(file.name, extname(file.name)))}.`, '.ack.hl7');
  const resume = resumeRow ? await resumeState(db, file.id).then((r) => ({ rows: r.rows, durable: r.acksDurable })) : null;
  for (const m of resume?.rows ?? []) usedNames.add(m.ack_name);

  const started = Date.now();
  await runGroups({ job, ctx, file, name, log, total: scan.envelope.messageCount, usedNames, summary, resume },
    messagesInOrder(job.path, cfg, scan.size));
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
  return moved({ ...file, state: FileState.Archiving, archived_path: target, summary: JSON.stringify(summary) }, job.path, ctx, !!resumeRow);
}

/** Finishes an `archiving`/`quarantining` row (moves.ts) and reports the file. */
async function moved(row: FileRow, path: string, ctx: PipelineContext, resumed: boolean): Promise<FileReport> {
  await finishMove(ctx.db, row, path, ctx.clock.now().toISOString());
  const quarantined = row.state === FileState.Quarantining;
  const summary: FileSummary = row.summary ? JSON.parse(row.summary) : emptySummary();
  return { file: row.name, source: row.source, fileId: row.id, state: quarantined ? 'quarantined' : 'done', reason: row.reason,
    archivedPath: row.archived_path!, summary, resumed };
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
  return moved({ ...file, state: FileState.Quarantining, archived_path: target, reason, summary: summary ? JSON.stringify(summary) : file.summary }, job.path, ctx, false);
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
