/**
 * The batch envelope check (HL7 v2.5 §2.10.3): `[FHS] { [BHS] { MSH… } [BTS] } [FTS]`, fed with the items the framer
 * (batch.ts) yields. Apart from the framer because it reads segment fields and counts, the framer only bytes.
 */
import type { EnvelopeSegment, FrameItem } from './batch.js';

/**
 * Verdict on a file's batch envelope: any problem quarantines the whole file (docs/behaviour.md "Files, framing and
 * characters").
 */
export interface EnvelopeReport {
  ok: boolean;
  /** Human text, no patient data, e.g. "BTS-1 says 3 messages, batch has 2 (BTS at line 12)". */
  problems: string[];
  /** Messages seen (truncated ones included). */
  messageCount: number;
  /** BHS segments seen. */
  batchCount: number;
  /** FHS-11 (file control ID), raw; null without FHS or when empty. */
  fileControlId: string | null;
  /** BHS-11 of each batch, raw, in order ('' when empty). */
  batchControlIds: string[];
  /** FHS/BHS/BTS/FTS segments seen: an explicit (possibly empty) batch, as opposed to a file with no envelope. */
  segments: number;
  /** BTS and FTS segments whose count (BTS-1, FTS-1) is empty: the batch does not state its size. */
  unstatedCounts: number;
  /** FTS-1 as a number; null without FTS, or when FTS-1 is empty or not a count. */
  ftsCount: number | null;
}

/** Splits an envelope segment into fields numbered as in the spec (for FHS/BHS, field 1 is the separator). */
function envelopeField(seg: EnvelopeSegment, n: number): string {
  const text = seg.text;
  if (text.length <= 3) return '';
  const sep = text[3]!;
  const parts = text.split(sep);
  if (seg.name === 'FHS' || seg.name === 'BHS') {
    if (n === 1) return sep;
    return parts[n - 1] ?? '';
  }
  return parts[n] ?? '';
}

/** Reads a count field (BTS-1, FTS-1): null when empty (the field is optional), NaN when not a count. */
function readCount(raw: string): number | null {
  const v = raw.trim();
  if (v === '') return null;
  return /^\d{1,9}$/.test(v) ? Number(v) : Number.NaN;
}

/**
 * Checks the batch envelope as items go by: `[FHS] { [BHS] { MSH… } [BTS] } [FTS]` (HL7 v2.5 §2.10.3).
 * A file without any envelope is fine; so are messages after an FHS when the file has no BHS at all (an
 * implicit single batch: FTS-1 may then be 0 or 1).
 */
export class EnvelopeChecker {
  private problems: string[] = [];
  private messageCount = 0;
  private batchCount = 0;
  private fileControlId: string | null = null;
  private batchControlIds: string[] = [];
  private fhsLine = 0;
  private ftsLine = 0;
  private ftsCount: number | null = null;
  /** Line of the open BHS, 0 when no batch is open. */
  private batchLine = 0;
  private batchMessages = 0;
  private outsideBatch = 0;
  private firstOutsideLine = 0;
  private itemsSeen = 0;
  private segments = 0;
  private unstatedCounts = 0;
  private finished: EnvelopeReport | null = null;

  /** Feeds one framed item (junk is ignored: it is reported by the framer itself). */
  push(item: FrameItem): void {
    if (this.finished) throw new Error('EnvelopeChecker.push after finish');
    if (item.kind === 'junk') return;
    if (this.ftsLine) {
      const what = item.kind === 'message' ? `message at line ${item.message.line}` : `${item.segment.name} at line ${item.segment.line}`;
      this.problems.push(`${what} comes after FTS (line ${this.ftsLine})`);
    }
    if (item.kind === 'message') {
      this.messageCount++;
      if (this.batchLine) this.batchMessages++;
      else if (this.outsideBatch++ === 0) this.firstOutsideLine = item.message.line;
      this.itemsSeen++;
      return;
    }
    const seg = item.segment;
    this.segments++;
    switch (seg.name) {
      case 'FHS':
        if (this.fhsLine) this.problems.push(`second FHS at line ${seg.line} (first at line ${this.fhsLine})`);
        else if (this.itemsSeen > 0) this.problems.push(`FHS at line ${seg.line} is not at the start of the file`);
        if (!this.fhsLine) {
          this.fhsLine = seg.line;
          this.fileControlId = envelopeField(seg, 11) || null;
        }
        break;
      case 'BHS':
        if (this.batchLine) this.problems.push(`BHS at line ${this.batchLine} has no BTS (next BHS at line ${seg.line})`);
        this.batchLine = seg.line;
        this.batchMessages = 0;
        this.batchCount++;
        this.batchControlIds.push(envelopeField(seg, 11));
        break;
      case 'BTS': {
        if (!this.batchLine) {
          this.problems.push(`BTS at line ${seg.line} without BHS`);
          break;
        }
        const count = readCount(envelopeField(seg, 1));
        if (count === null) this.unstatedCounts++;
        if (count !== null && Number.isNaN(count)) this.problems.push(`BTS-1 at line ${seg.line} is not a message count`);
        else if (count !== null && count !== this.batchMessages) {
          this.problems.push(`BTS-1 says ${count} messages, batch has ${this.batchMessages} (BTS at line ${seg.line})`);
        }
        this.batchLine = 0;
        break;
      }
      case 'FTS':
        if (this.batchLine) {
          this.problems.push(`BHS at line ${this.batchLine} has no BTS`);
          this.batchLine = 0;
        }
        if (!this.fhsLine) this.problems.push(`FTS at line ${seg.line} without FHS`);
        if (!this.ftsLine) {
          this.ftsLine = seg.line;
          this.ftsCount = readCount(envelopeField(seg, 1));
          if (this.ftsCount === null) this.unstatedCounts++;
          if (this.ftsCount !== null && Number.isNaN(this.ftsCount)) this.problems.push(`FTS-1 at line ${seg.line} is not a batch count`);
        }
        break;
      default:
        seg.name satisfies never;
    }
    this.itemsSeen++;
  }

  /** Ends the file and returns the verdict (idempotent). */
  finish(): EnvelopeReport {
    if (this.finished) return this.finished;
    const problems = this.problems;
    if (this.batchLine) problems.push(`BHS at line ${this.batchLine} has no BTS`);
    if (this.fhsLine && !this.ftsLine) problems.push(`FHS at line ${this.fhsLine} has no FTS`);
    if (this.batchCount > 0 && this.outsideBatch > 0) {
      problems.push(`${this.outsideBatch} message(s) outside BHS…BTS in a file with batches (first at line ${this.firstOutsideLine})`);
    }
    const fts = this.ftsCount;
    if (this.ftsLine && fts !== null && !Number.isNaN(fts)) {
      // No BHS at all: the messages form one implicit batch, so 1 is as right as 0.
      const implicitOk = this.batchCount === 0 && fts === 1;
      if (fts !== this.batchCount && !implicitOk) {
        problems.push(`FTS-1 says ${fts} batches, file has ${this.batchCount} (FTS at line ${this.ftsLine})`);
      }
    }
    this.finished = {
      ok: problems.length === 0,
      problems,
      messageCount: this.messageCount,
      batchCount: this.batchCount,
      fileControlId: this.fileControlId,
      batchControlIds: this.batchControlIds,
      segments: this.segments,
      unstatedCounts: this.unstatedCounts,
      ftsCount: fts !== null && !Number.isNaN(fts) ? fts : null,
    };
    return this.finished;
  }
}
