/**
 * Frame first, parse second: turn the BYTES of a dropped file into envelope segments
 * (FHS/BHS/BTS/FTS), raw messages and junk, without decoding anything. Each message is decoded and parsed on its
 * own later, so one bad message fails alone.
 *
 * Rules (HL7 v2.5 §2.10.3, docs/behaviour.md "Files, framing and characters"):
 * - line ends CR, LF, CRLF (mixed too) are all one terminator; blank and whitespace-only lines are dropped;
 * - a UTF-8 BOM at the start of a line (the file start, or the start of a concatenated file) is dropped;
 * - MLLP block bytes 0x0B / 0x1C are dropped wherever they are, and end a line (so `0x1C 0x0B MSH` glued on
 *   one line still starts a new message);
 * - a new message starts at each line beginning `MSH` + a punctuation byte (its own field separator: `MSH#` is
 *   a message too);
 * - FHS/BHS/BTS/FTS lines are envelope items, never part of a message;
 * - inside a message every other non-blank line belongs to it (a stray line break inside a field then makes
 *   the message fail to parse, loudly, instead of silently losing text), except lines made only of control
 *   characters (0x1A DOS EOF, NUL padding…), which are junk wherever they are;
 * - outside a message (before the first MSH, after an envelope segment) non-blank lines are junk.
 * Line ends never occur inside an 8859-x or UTF-8 character, so splitting on bytes is safe before decoding.
 *
 * Memory does not grow with the file: chunks are scanned with `indexOf` and a message's bytes are kept only
 * until the next MSH (or envelope segment). One message is capped at `maxMessageBytes`; beyond it the message
 * is flagged `truncated` and only its MSH is kept, so the pipeline can still ACK it.
 */

/** One message as framed from the file: bytes are not decoded (MSH-18 decides how, see charset.ts). */
export interface RawMessage {
  /** 0-based position of the message in the file. */
  index: number;
  /** 1-based line number of its MSH (CR, LF and CRLF each end one line). */
  line: number;
  /** Byte offset of its MSH in the file (after any BOM / MLLP start byte). */
  offset: number;
  /** Segments joined and terminated by 0x0D; BOM, MLLP bytes and blank lines removed. */
  bytes: Buffer;
  /** True when the message exceeded `maxMessageBytes`: `bytes` then hold only its MSH segment. */
  truncated?: boolean;
}

/** A batch envelope segment (HL7 v2.5 §2.10.3). Never part of a message. */
export interface EnvelopeSegment {
  name: 'FHS' | 'BHS' | 'BTS' | 'FTS';
  /** 1-based line number. */
  line: number;
  /** The segment text, latin1-decoded (envelope fields are ASCII in practice; latin1 never fails). */
  text: string;
}

/** What the framer yields, in file order of completion (a message is yielded when the next one begins). */
export type FrameItem =
  | { kind: 'message'; message: RawMessage }
  | { kind: 'envelope'; segment: EnvelopeSegment }
  | { kind: 'junk'; line: number; reason: string; /** Control characters only (0x1A, NUL…): no data lost by ignoring it. */ control?: true };

/** Framing options. */
export interface FrameOptions {
  /** Largest message kept whole, in bytes (default 16 MiB). Also bounds the length of any single line kept. */
  maxMessageBytes?: number;
}

/** Default cap on one message: far above any ADT message, small enough to never exhaust memory. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Chunk size for reading files (the performance floor was measured with large sequential reads). */
export const FILE_CHUNK_BYTES = 256 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const VT = 0x0b; // MLLP start block
const FS = 0x1c; // MLLP end block

/** Junk reasons (human text, never patient data). */
const REASON_BEFORE_FIRST_MSH = 'text before the first MSH is not an HL7 segment';
const REASON_SEGMENT_BEFORE_MSH = 'segment before the first MSH';
const REASON_SEGMENT_OUTSIDE = 'segment outside a message';
const REASON_TEXT_OUTSIDE = 'text outside a message is not an HL7 segment';
const REASON_CONTROL = 'line of control characters only (e.g. 0x1A, NUL)';

interface OpenMessage {
  index: number;
  line: number;
  offset: number;
  /**
   * The usual case: the segments so far are one run of `src`, [srcStart, srcEnd), each followed by a single CR in
   * the file, so the message's bytes are that run plus a CR (one copy, no Buffer per segment). `mshEnd` ends the MSH.
   */
  src: Buffer;
  srcStart: number;
  srcEnd: number;
  mshEnd: number;
  /** Once the run is broken (CRLF or LF line ends, a line across chunks, MLLP bytes…): the segments, MSH first. */
  segments: Buffer[] | null;
  size: number;
  truncated: boolean;
}

/** buf.indexOf(byte, from) within [from, end): -1 when absent there. */
function byteIn(buf: Buffer, byte: number, from: number, end: number): number {
  const at = buf.indexOf(byte, from);
  return at < end ? at : -1;
}

interface PendingJunk {
  line: number;
  reason: string;
  count: number;
}

/** Printable ASCII punctuation: a plausible HL7 separator byte (MSH-1). */
function isSeparatorByte(b: number): boolean {
  return b > 0x20 && b < 0x7f && !(b >= 0x30 && b <= 0x39) && !(b >= 0x41 && b <= 0x5a) && !(b >= 0x61 && b <= 0x7a);
}
/** buf[at, end) starts with MSH, FHS, BHS, BTS or FTS followed by a separator (or the end): a segment MLLP may precede. */
function startsMessageOrEnvelope(buf: Buffer, at: number, end: number): boolean {
  if (end - at < 3) return false;
  const a = buf[at]!, b = buf[at + 1]!, c = buf[at + 2]!;
  const name = (a === 0x4d && b === 0x53 && c === 0x48) || ((a === 0x46 || a === 0x42) && ((b === 0x48 && c === 0x53) || (b === 0x54 && c === 0x53)));
  return name && (end - at === 3 || isSeparatorByte(buf[at + 3]!));
}
function isUpper(b: number): boolean { return b >= 0x41 && b <= 0x5a; }
function isUpperOrDigit(b: number): boolean { return (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39); }

/**
 * The framing state machine, shared by the streaming and the synchronous entry points so that both give
 * identical results whatever the chunk boundaries. Feed chunks with `push`, then call `end` once.
 */
class Framer {
  private readonly max: number;
  /** Bytes of the current, unterminated line that came from earlier chunks. */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private carryOffset = 0;
  /** The current line grew beyond `max`: only its head is kept. */
  private carryOversized = false;
  /** Previous chunk ended with CR: an LF at the start of the next chunk belongs to that CRLF. */
  private afterCR = false;
  /** File offset of the next chunk's first byte. */
  private consumed = 0;
  private lineNo = 0;
  private messageCount = 0;
  private seenMessage = false;
  private current: OpenMessage | null = null;
  private junk: PendingJunk[] = [];
  private out: FrameItem[] = [];

  constructor(opts?: FrameOptions) {
    const max = opts?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(max) || max < 16) throw new RangeError(`maxMessageBytes must be an integer >= 16, got ${max}`);
    this.max = max;
  }

  /** Frames one chunk; returns the items completed by it. The chunk must not be modified afterwards. */
  push(input: Buffer | Uint8Array): FrameItem[] {
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const n = chunk.length;
    if (n === 0) return [];
    const base = this.consumed;
    this.consumed += n;
    let start = 0;
    if (this.afterCR) {
      this.afterCR = false;
      if (chunk[0] === LF) start = 1;
    }
    // MLLP bytes are rare: look for them once per chunk, and only then split lines on them.
    const mllp = chunk.indexOf(VT, start) >= 0 || chunk.indexOf(FS, start) >= 0;
    let cr = chunk.indexOf(CR, start);
    let lf = chunk.indexOf(LF, start);
    while (cr >= 0 || lf >= 0) {
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        end = cr;
        next = cr + 1;
        if (next < n) {
          if (chunk[next] === LF) next++;
        } else {
          this.afterCR = true;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.completeLine(chunk, start, end, base, mllp);
      start = next;
      if (cr >= 0 && cr < start) cr = chunk.indexOf(CR, start);
      if (lf >= 0 && lf < start) lf = chunk.indexOf(LF, start);
    }
    if (start < n) this.addCarry(chunk.subarray(start), base + start);
    return this.drain();
  }

  /** Flushes the last (unterminated) line and the open message. */
  end(): FrameItem[] {
    if (this.carryBytes > 0 || this.carryOversized) {
      const line = this.takeCarry();
      this.lineNo++;
      this.handleLine(line.buf, 0, line.buf.length, line.offset, line.oversized, line.buf.indexOf(VT) >= 0 || line.buf.indexOf(FS) >= 0);
    }
    this.closeMessage();
    this.flushJunk();
    return this.drain();
  }

  private drain(): FrameItem[] {
    const items = this.out;
    this.out = [];
    return items;
  }

  private addCarry(part: Buffer, offset: number): void {
    if (this.carryBytes === 0 && !this.carryOversized) this.carryOffset = offset;
    if (this.carryOversized) return;
    const room = this.max - this.carryBytes;
    if (part.length > room) {
      if (room > 0) this.carry.push(part.subarray(0, room));
      this.carryBytes += Math.max(room, 0);
      this.carryOversized = true;
      return;
    }
    this.carry.push(part);
    this.carryBytes += part.length;
  }

  private takeCarry(): { buf: Buffer; offset: number; oversized: boolean } {
    const buf = this.carry.length === 1 ? this.carry[0]! : Buffer.concat(this.carry, this.carryBytes);
    const r = { buf, offset: this.carryOffset, oversized: this.carryOversized };
    this.carry = [];
    this.carryBytes = 0;
    this.carryOversized = false;
    return r;
  }

  private completeLine(chunk: Buffer, start: number, end: number, base: number, mllp: boolean): void {
    this.lineNo++;
    if (this.carryBytes > 0 || this.carryOversized) {
      this.addCarry(chunk.subarray(start, end), base + start);
      const line = this.takeCarry();
      // The carried part may hold MLLP bytes even when this chunk has none.
      this.handleLine(line.buf, 0, line.buf.length, line.offset, line.oversized, mllp || line.buf.indexOf(VT) >= 0 || line.buf.indexOf(FS) >= 0);
      return;
    }
    // The line is chunk[start, end): read in place, no Buffer made for it.
    let oversized = false;
    if (end - start > this.max) {
      end = start + this.max;
      oversized = true;
    }
    this.handleLine(chunk, start, end, base + start, oversized, mllp);
  }

  /** Splits the line buf[start, end) on MLLP bytes when it may contain some, then classifies each piece. */
  private handleLine(buf: Buffer, start: number, end: number, offset: number, oversized: boolean, mllp: boolean): void {
    if (!mllp) {
      this.handlePiece(buf, start, end, offset, oversized);
      return;
    }
    // MLLP block bytes frame a message at the start of a line (VT, or FS closing the previous block), at the end of
    // one (FS), or right before an MSH or envelope segment.
    // Anywhere else they are a control character inside a field: kept, so the message is refused for it (AE 102,
    // hl7/controls.ts), never a cut that silently drops the rest of the field and of the segment.
    let from = start;
    let scan = start;
    let vt = byteIn(buf, VT, scan, end);
    let fs = byteIn(buf, FS, scan, end);
    while (vt >= 0 || fs >= 0) {
      const at = vt >= 0 && (fs < 0 || vt < fs) ? vt : fs;
      let after = at + 1;
      while (after < end && (buf[after] === VT || buf[after] === FS)) after++;
      if (at === from || (after === end && buf[at] === FS) || startsMessageOrEnvelope(buf, after, end)) {
        if (at > from) this.handlePiece(buf, from, at, offset + (from - start), false);
        from = after;
      }
      scan = after;
      if (vt >= 0 && vt < scan) vt = byteIn(buf, VT, scan, end);
      if (fs >= 0 && fs < scan) fs = byteIn(buf, FS, scan, end);
    }
    if (from < end) this.handlePiece(buf, from, end, offset + (from - start), oversized);
  }

  /** Classifies the piece buf[from, to). */
  private handlePiece(buf: Buffer, from: number, to: number, offset: number, oversized: boolean): void {
    // A BOM at a line start is never data: file start, or files concatenated together.
    if (to - from >= 3 && buf[from] === 0xef && buf[from + 1] === 0xbb && buf[from + 2] === 0xbf) {
      from += 3;
      offset += 3;
    }
    const len = to - from;
    if (len === 0) return;
    const b0 = buf[from]!;
    // Segment-shaped: [A-Z][A-Z0-9]{2} then a separator or end of line. Checked first: it is the common case
    // and needs 4 bytes, whereas blank/control detection looks at every byte.
    if (len >= 3 && isUpper(b0) && isUpperOrDigit(buf[from + 1]!) && isUpperOrDigit(buf[from + 2]!) && (len === 3 || isSeparatorByte(buf[from + 3]!))) {
      const b1 = buf[from + 1]!;
      const b2 = buf[from + 2]!;
      // Compared as bytes: no string is built for ordinary segments.
      if (b0 === 0x4d && b1 === 0x53 && b2 === 0x48 && len > 3) { // MSH
        this.openMessage(buf, from, to, offset, oversized);
        return;
      }
      if ((b0 === 0x46 || b0 === 0x42) && (b1 === 0x48 || b1 === 0x54) && b2 === 0x53) { // FHS FTS BHS BTS
        this.closeMessage();
        this.flushJunk();
        const name = buf.toString('latin1', from, from + 3) as EnvelopeSegment['name'];
        this.out.push({ kind: 'envelope', segment: { name, line: this.lineNo, text: buf.toString('latin1', from, to) } });
        return;
      }
      if (this.current) this.addSegment(buf, from, to, oversized);
      else this.addJunk(this.seenMessage ? REASON_SEGMENT_OUTSIDE : REASON_SEGMENT_BEFORE_MSH);
      return;
    }
    // Rare lines: blank, control characters only, or free text.
    let blank = true;
    let control = true;
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      if (b === 0x20 || b === 0x09 || b === 0x0c) continue;
      blank = false;
      if (b >= 0x20 && b !== 0x7f) {
        control = false;
        break;
      }
    }
    if (blank) return;
    if (control) {
      this.addJunk(REASON_CONTROL);
      return;
    }
    if (this.current) this.addSegment(buf, from, to, oversized);
    else this.addJunk(this.seenMessage ? REASON_TEXT_OUTSIDE : REASON_BEFORE_FIRST_MSH);
  }

  private openMessage(buf: Buffer, from: number, to: number, offset: number, oversized: boolean): void {
    this.closeMessage();
    this.flushJunk();
    this.seenMessage = true;
    this.current = {
      index: this.messageCount++, line: this.lineNo, offset,
      src: buf, srcStart: from, srcEnd: to, mshEnd: to, segments: null,
      size: to - from + 1, truncated: oversized,
    };
  }

  private addSegment(buf: Buffer, from: number, to: number, oversized: boolean): void {
    const m = this.current!;
    if (m.truncated) return;
    const len = to - from;
    if (oversized || m.size + len + 1 > this.max) {
      // Keep only the MSH: enough to ACK the message and say why it was not processed.
      m.truncated = true;
      if (m.segments === null) {
        m.srcEnd = m.mshEnd;
        m.size = m.mshEnd - m.srcStart + 1;
      } else {
        m.segments.length = 1;
        m.size = m.segments[0]!.length + 1;
      }
      return;
    }
    if (m.segments === null) {
      // Still one run: this segment follows the previous one's single CR.
      if (buf === m.src && from === m.srcEnd + 1 && buf[m.srcEnd] === CR) {
        m.srcEnd = to;
        m.size += len + 1;
        return;
      }
      const segments = [m.src.subarray(m.srcStart, m.mshEnd)];
      // The segments after the MSH, still joined by their CRs: one piece, followed by a CR like any other.
      if (m.srcEnd > m.mshEnd) segments.push(m.src.subarray(m.mshEnd + 1, m.srcEnd));
      m.segments = segments;
    }
    m.segments.push(buf.subarray(from, to));
    m.size += len + 1;
  }

  private closeMessage(): void {
    const m = this.current;
    if (!m) return;
    this.current = null;
    const bytes = Buffer.allocUnsafe(m.size);
    if (m.segments === null) {
      m.src.copy(bytes, 0, m.srcStart, m.srcEnd);
      bytes[m.size - 1] = CR;
    } else {
      let pos = 0;
      for (const s of m.segments) {
        pos += s.copy(bytes, pos);
        bytes[pos++] = CR;
      }
    }
    const message: RawMessage = { index: m.index, line: m.line, offset: m.offset, bytes };
    if (m.truncated) message.truncated = true;
    this.out.push({ kind: 'message', message });
    // Junk met inside the message is reported after it, keeping items in line order.
    this.flushJunk();
  }

  private addJunk(reason: string): void {
    const last = this.junk[this.junk.length - 1];
    if (last && last.reason === reason) {
      last.count++;
      return;
    }
    // Outside a message nothing can come between: emit what is pending now.
    if (!this.current) this.flushJunk();
    this.junk.push({ line: this.lineNo, reason, count: 1 });
  }

  private flushJunk(): void {
    for (const j of this.junk) {
      const item: FrameItem = { kind: 'junk', line: j.line, reason: j.count > 1 ? `${j.reason} (${j.count} lines)` : j.reason };
      if (j.reason === REASON_CONTROL) item.control = true;
      this.out.push(item);
    }
    this.junk = [];
  }
}

/**
 * Frames a stream of chunks (e.g. a file read stream). Items are yielded as soon as they are complete.
 * Items are yielded one by one from the framer's arrays: `yield*` over an array costs an async-from-sync iterator
 * and several more promise turns per item in an async generator (3x the time per message, micro-benchmark).
 */
export async function* frameStream(input: AsyncIterable<Buffer | Uint8Array>, opts?: FrameOptions): AsyncGenerator<FrameItem> {
  const framer = new Framer(opts);
  for await (const chunk of input) {
    const items = framer.push(chunk);
    for (let i = 0; i < items.length; i++) yield items[i]!;
  }
  const last = framer.end();
  for (let i = 0; i < last.length; i++) yield last[i]!;
}

/** Frames a whole buffer synchronously: same logic as frameStream, for tests and small inputs. */
export function* frameBuffer(buf: Buffer, opts?: FrameOptions): Generator<FrameItem> {
  const framer = new Framer(opts);
  yield* framer.push(buf);
  yield* framer.end();
}

// The envelope check lives in envelope.ts; re-exported so that callers framing a file import one module.
export { EnvelopeChecker, type EnvelopeReport } from './envelope.js';
