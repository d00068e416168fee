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
import { EnvelopeChecker, type EnvelopeReport, type FrameItem, type RawMessage } from '../hl7/batch.js';
import { decodeMessage, readMsh18, resolveCharset, type Charset } from '../hl7/charset.js';
import { Hl7Message } from '../hl7/model.js';
import { hasUsableSeparators } from '../hl7/encoding.js';
import { ErrorCode, Hl7Error, type Finding } from '../hl7/errors.js';
import { interpret } from '../pam/interpret.js';
import type { Interpretation } from '../pam/types.js';
import type { ResolvedConfig } from '../config/types.js';

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

/** Header facts read before the store: the idempotency key, the event, and what a NAK echoes when the message could not be parsed. */
export interface ReadHeader {
  sendingApp: string;
  sendingFacility: string;
  controlId: string | null;
  event: string | null;
}

/** Best-effort header of a message that could not be parsed (for its NAK): MSH read as latin1, split by hand. */
export interface FallbackHeader {
  sendingApp: string; sendingFacility: string; receivingApp: string; receivingFacility: string;
  controlId: string; event: string; version: string; charset: string;
}

/** One message as the importer reads it before the store. */
export interface MessageReading {
  /** The parsed message; when it could not be decoded, the message parsed as latin1 for its NAK, or null. */
  msg: Hl7Message | null;
  /** Set when `msg` is null: what the NAK echoes. */
  fallback: FallbackHeader | null;
  header: ReadHeader;
  /** The charset the ACK is written in. */
  charset: Charset;
  /** MSH-18 as sent ('' when not declared; null when the message was not decoded). */
  declared: string | null;
  /** Decoding warnings (cp1252 bytes…). */
  warnings: Finding[];
  /** Why the message could not be read, or null: `size` (over maxMessageBytes), `charset`, `syntax`. */
  unreadable: { stage: 'size' | 'charset' | 'syntax'; error: Hl7Error } | null;
  /** The PAM FR interpretation of a message that was read. */
  interpretation: Interpretation | null;
  /** The answer before the store: AA (to apply; the store may still answer AE or skip it as stale), AE or AR. */
  outcome: 'AA' | 'AE' | 'AR';
}

function fallbackHeader(bytes: Buffer): FallbackHeader & { app1: string; fac1: string } {
  const end = bytes.indexOf(0x0d);
  const line = bytes.toString('latin1', 0, end < 0 ? Math.min(bytes.length, 4096) : end);
  const sep = line.startsWith('MSH') && line.length > 3 ? line[3]! : '|';
  let f = line.split(sep);
  // MSH-2 is the four characters after MSH-1: when they hold the field separator (`MSH||~\&|`), a plain split
  // would shift every field by one and the NAK would echo the wrong MSH-10.
  if (!hasUsableSeparators(line) && line.length > 9 && line[8] === sep && line.startsWith('MSH')) f = ['MSH', line.slice(4, 8), ...line.slice(9).split(sep)];
  const comp = (s: string | undefined) => (s ?? '').split('^')[0] ?? '';
  return {
    sendingApp: f[2] ?? '', sendingFacility: f[3] ?? '', receivingApp: f[4] ?? '', receivingFacility: f[5] ?? '',
    controlId: f[9] ?? '', event: comp((f[8] ?? '').split('^')[1]), version: f[11] ?? '', charset: f[17] ?? '',
    app1: comp(f[2]), fac1: comp(f[3]),
  };
}

/** Reads one framed message: size cap, decode, parse, then acceptance and interpretation. */
export function readMessage(raw: RawMessage, cfg: Pick<ResolvedConfig, 'charset' | 'maxMessageBytes' | 'pam'>): MessageReading {
  let msg: Hl7Message | null = null;
  let charset: Charset = cfg.charset.default;
  let declared: string | null = null;
  const warnings: Finding[] = [];
  let unreadable: MessageReading['unreadable'] = null;

  if (raw.truncated) {
    unreadable = { stage: 'size', error: new Hl7Error(ErrorCode.SegmentSequence, `message exceeds maxMessageBytes (${cfg.maxMessageBytes} bytes): not read`, { segment: 'MSH' }) };
  } else {
    let stage: 'charset' | 'syntax' = 'charset';
    try {
      const d = decodeMessage(raw.bytes, { defaultCharset: cfg.charset.default, latin1AsCp1252: cfg.charset.latin1AsCp1252 });
      charset = d.charset;
      declared = d.declared;
      warnings.push(...d.warnings);
      stage = 'syntax';
      msg = Hl7Message.parse(d.text);
    } catch (err) {
      if (!(err instanceof Hl7Error)) throw err;
      unreadable = { stage, error: err };
    }
  }
  if (unreadable) {
    // Read what we can of the header (MSH is ASCII) to answer with a NAK that echoes it.
    charset = resolveCharset(readMsh18(raw.bytes)) ?? cfg.charset.default;
    try { msg = Hl7Message.parse(raw.bytes.toString('latin1')); } catch { msg = null; }
  }
  const fb = msg ? null : fallbackHeader(raw.bytes);
  const header: ReadHeader = {
    sendingApp: msg ? msg.msh.get(3) : fb!.app1,
    sendingFacility: msg ? msg.msh.get(4) : fb!.fac1,
    controlId: (msg ? msg.msh.get(10) : fb!.controlId) || null,
    event: (msg ? msg.msh.get(9, 2) : fb!.event) || null,
  };
  const fallback: FallbackHeader | null = fb ? {
    sendingApp: fb.sendingApp, sendingFacility: fb.sendingFacility, receivingApp: fb.receivingApp, receivingFacility: fb.receivingFacility,
    controlId: fb.controlId, event: fb.event, version: fb.version, charset: fb.charset,
  } : null;
  if (unreadable) {
    // A message whose header could be read gets AE (its MSH-10 echoed); one whose MSH cannot be parsed, AR.
    return { msg, fallback, header, charset, declared, warnings, unreadable, interpretation: null, outcome: msg ? 'AE' : 'AR' };
  }
  const interpretation = interpret(msg!, cfg.pam);
  return { msg, fallback, header, charset, declared, warnings, unreadable: null, interpretation, outcome: interpretation.ok ? 'AA' : interpretation.ack };
}
