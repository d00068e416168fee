/**
 * MLLP (Minimal Lower Layer Protocol, HL7 v2 over TCP): each message travels as `0x0B <message> 0x1C 0x0D`.
 * Pure: bytes in, frames out; the listener (src/mllp) owns the sockets.
 *
 * What the decoder yields, in stream order:
 * - `frame`: the bytes between a start block and its end block;
 * - `garbled`: bytes that are not a well-formed frame (data before a start block, a start block inside a frame, an
 *   end block not followed by CR). The listener answers AR when a header can be read in them, else closes;
 * - `oversize`: a frame grew beyond the limit. Its first bytes are kept for the NAK; the decoder accepts nothing
 *   after it (the listener closes the connection: where the next frame starts is unknown).
 * Whitespace (CR, LF, spaces, tabs) between frames is ignored: some senders end a frame with a line feed.
 */

export const MLLP_START = 0x0b;
export const MLLP_END = 0x1c;
export const MLLP_CR = 0x0d;

/** How many leading bytes of an oversize or garbled frame are kept for the NAK (its header). */
export const MLLP_HEAD_BYTES = 4096;

export type MllpItem =
  | { kind: 'frame'; bytes: Buffer }
  | { kind: 'garbled'; head: Buffer; reason: string }
  | { kind: 'oversize'; head: Buffer; limit: number };

/** Wraps a message (or an ACK) in an MLLP frame. */
export function mllpFrame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(message.length + 3);
  out[0] = MLLP_START;
  message.copy(out, 1);
  out[message.length + 1] = MLLP_END;
  out[message.length + 2] = MLLP_CR;
  return out;
}

const isSpace = (b: number) => b === 0x0d || b === 0x0a || b === 0x20 || b === 0x09;

/** Incremental MLLP decoder: `push` each chunk received, in order; it returns the items completed by it. */
export class MllpDecoder {
  /** Outside a frame, inside one, or in bytes outside any frame (garbage, collected until the next start block). */
  private state: 'idle' | 'frame' | 'garbage' | 'dead' = 'idle';
  private parts: Buffer[] = [];
  private size = 0;
  /** An end block was the last byte seen inside a frame: the next byte must be CR. */
  private pendingEnd = false;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes of the frame in progress (0 between frames). */
  get buffered(): number { return this.size; }

  /** True once an oversize frame was met: nothing more is decoded. */
  get dead(): boolean { return this.state === 'dead'; }

  push(chunk: Buffer): MllpItem[] {
    const out: MllpItem[] = [];
    let i = 0;
    const n = chunk.length;
    while (i < n && this.state !== 'dead') {
      if (this.state === 'idle') {
        const b = chunk[i]!;
        if (b === MLLP_START) { this.state = 'frame'; i++; continue; }
        if (isSpace(b)) { i++; continue; }
        this.state = 'garbage';
        continue;
      }
      if (this.state === 'garbage') {
        // Up to the next start block: a sender without MLLP framing, or the rest of a broken frame.
        const s = chunk.indexOf(MLLP_START, i);
        const end = s < 0 ? n : s;
        this.keep(chunk.subarray(i, end));
        i = end;
        if (s >= 0) {
          out.push(this.takeGarbled('data outside an MLLP frame (no start block 0x0B)'));
          this.state = 'frame';
          i++;
        } else if (this.size > this.maxMessageBytes) {
          out.push({ kind: 'oversize', head: this.head(), limit: this.maxMessageBytes });
          this.reset('dead');
        }
        continue;
      }
      // Inside a frame.
      if (this.pendingEnd) {
        this.pendingEnd = false;
        if (chunk[i] === MLLP_CR) {
          i++;
          out.push({ kind: 'frame', bytes: this.take() });
          this.state = 'idle';
        } else {
          out.push(this.takeGarbled('end block 0x1C not followed by 0x0D'));
          this.state = 'idle';
          // The byte that should have been CR belongs to the broken end block, unless it starts the next frame.
          if (chunk[i] !== MLLP_START) i++;
        }
        continue;
      }
      let j = i;
      while (j < n) {
        const b = chunk[j]!;
        if (b === MLLP_END || b === MLLP_START) break;
        j++;
      }
      this.keep(chunk.subarray(i, j));
      if (this.size > this.maxMessageBytes) {
        out.push({ kind: 'oversize', head: this.head(), limit: this.maxMessageBytes });
        this.reset('dead');
        break;
      }
      i = j;
      if (j === n) break;
      if (chunk[j] === MLLP_END) { this.pendingEnd = true; i = j + 1; continue; }
      // A start block inside a frame: the frame before it never ended.
      out.push(this.takeGarbled('start block 0x0B inside a frame (the frame before it was never ended)'));
      this.state = 'frame';
      i = j + 1;
    }
    return out;
  }

  /** At the end of the stream: a frame cut short is garbled (never applied). */
  end(): MllpItem[] {
    if (this.state === 'frame' && (this.size > 0 || this.pendingEnd)) {
      const g = this.takeGarbled('connection closed inside a frame (no end block)');
      this.reset('idle');
      return [g];
    }
    if (this.state === 'garbage' && this.size > 0) {
      const g = this.takeGarbled('data outside an MLLP frame (no start block 0x0B)');
      this.reset('idle');
      return [g];
    }
    return [];
  }

  private keep(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.size += b.length;
  }

  private take(): Buffer {
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return out;
  }

  private head(): Buffer {
    return Buffer.from(this.take().subarray(0, MLLP_HEAD_BYTES));
  }

  private takeGarbled(reason: string): MllpItem {
    this.pendingEnd = false;
    return { kind: 'garbled', head: this.head(), reason };
  }

  private reset(state: 'idle' | 'dead'): void {
    this.parts = [];
    this.size = 0;
    this.pendingEnd = false;
    this.state = state;
  }
}
