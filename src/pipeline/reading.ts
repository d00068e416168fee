/**
 * The importer's reading of a file and of each of its messages, before any database: one implementation that
 * `import` (process-file.ts) and `validate` (ops/validate.ts) both call, so that they say the same about every
 * file (docs/behaviour.md "Files, framing and characters").
 *
 *   file:     frame (hl7/batch.ts) → envelope check → verdict: process the messages, archive an explicit empty
 *             batch as done, or quarantine with a reason
 *   message:  size cap → decode (MSH-18) → parse → acceptance and interpretation (pam/interpret.ts) → the answer
 *             before the store: to apply, AE or AR
 *
 * Pure: no file system, no database. What only the store can add (duplicates, AE 204/205, stale) comes after.
 */
import { EnvelopeChecker, type EnvelopeReport, type FrameItem } from '../hl7/batch.js';

// The reading of one message lives below the store (pam/reading.ts): the store's per-message processing takes it.
export { readMessage, type MessageReading, type ReadHeader, type FallbackHeader } from '../pam/reading.js';

/** A line outside any message (number and reason, never its content). */
export interface JunkLine { line: number; reason: string }

/** What framing says about a whole file. */
export interface FileShape {
  envelope: EnvelopeReport;
  /** Lines outside any message that framing ignored (the first 20). */
  junk: JunkLine[];
  /** The first line outside any message that carries data (a segment or text, not control characters only). */
  firstDataLine: JunkLine | null;
}

/** Collects the shape of a file from its framed items (feed every item in order, then `finish`). */
export class FileShapeReader {
  private readonly checker = new EnvelopeChecker();
  private readonly junk: JunkLine[] = [];
  private firstDataLine: JunkLine | null = null;

  push(item: FrameItem): void {
    this.checker.push(item);
    if (item.kind !== 'junk') return;
    if (this.junk.length < 20) this.junk.push({ line: item.line, reason: item.reason });
    if (!item.control && this.firstDataLine === null) this.firstDataLine = { line: item.line, reason: item.reason };
  }

  finish(): FileShape {
    return { envelope: this.checker.finish(), junk: this.junk, firstDataLine: this.firstDataLine };
  }
}

/** The shape given to a file larger than maxFileBytes: not read, quarantined. */
export function oversizeShape(size: number, maxFileBytes: number): FileShape {
  return {
    envelope: { ok: false, problems: [`file size ${size} bytes exceeds maxFileBytes (${maxFileBytes})`], messageCount: 0, batchCount: 0,
      fileControlId: null, batchControlIds: [], segments: 0, unstatedCounts: 0, ftsCount: null },
    junk: [], firstDataLine: null,
  };
}

/** What happens to a file as a whole. */
export type FileVerdict =
  /** Its messages are processed (junk outside them is reported, never silently dropped). */
  | { kind: 'messages' }
  /** An explicit empty batch: archived as done, no ACK. */
  | { kind: 'empty-batch' }
  /** Quarantined whole with this reason, nothing applied. */
  | { kind: 'quarantine'; reason: string };

/**
 * The verdict on a file (docs/behaviour.md "Files, framing and characters"):
 * - a broken envelope (FHS without FTS, BHS without BTS, a count that does not match) → quarantine;
 * - no message at all:
 *   - HL7 segments or text outside any message (FHS, EVN, PID, FTS…) → quarantine: data no message frames, which
 *     would otherwise be lost without an ACK;
 *   - envelope segments alone, every BTS-1 = 0 and FTS-1 = the number of batches → an explicit empty batch;
 *   - an envelope that does not state its counts → quarantine (it may be a batch whose messages were lost);
 *   - nothing HL7 at all (empty, binary, UTF-16…) → quarantine.
 */
export function fileVerdict(shape: FileShape): FileVerdict {
  const env = shape.envelope;
  if (!env.ok) return { kind: 'quarantine', reason: env.problems.join('; ') };
  if (env.messageCount > 0) return { kind: 'messages' };
  const data = shape.firstDataLine;
  if (data && env.segments > 0) {
    return { kind: 'quarantine', reason: `HL7 segments but no MSH: ${data.reason} at line ${data.line}; no message frames them, nothing applied` };
  }
  if (data || env.segments === 0) {
    const first = data ?? shape.junk[0];
    return { kind: 'quarantine', reason: first ? `no HL7 message in the file (no MSH segment): ${first.reason} at line ${first.line}` : 'no HL7 message in the file (empty file)' };
  }
  if (env.unstatedCounts > 0 || (env.ftsCount !== null && env.ftsCount !== env.batchCount)) {
    return { kind: 'quarantine', reason: 'no HL7 message in the file, and its envelope does not state an empty batch (every BTS-1 = 0, FTS-1 = the number of batches)' };
  }
  return { kind: 'empty-batch' };
}

