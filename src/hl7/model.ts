/**
 * A small, faithful HL7 v2 (ER7) message model.
 * - Separators come from MSH-1/MSH-2 of each message.
 * - Accessors are 1-based, matching the spec's notation: `PID-3[2].4.2` = PID, field 3, repetition 2,
 *   component 4, subcomponent 2.
 * - Values returned by `get` are unescaped. The HL7 explicit null `""` is returned as the two-character string
 *   `""` (see `NULL_VALUE`) so that callers can tell "clear this" from "absent".
 * - The original text is kept: `message.text` is exactly what was parsed.
 * Parsing is lazy (a segment is split into fields on first access) because the import loop reads ~20 fields of
 * a message with ~6 segments; see ../../BENCHMARKS.md.
 */
import { ErrorCode, Hl7Error } from './errors.js';
import { nthPiece as piece, readSeparators, splitOn, unescapeHl7, type Separators } from './encoding.js';

/** The HL7 explicit null: "delete this value" (HL7 null rules, PAM FR §6.6.2). */
export const NULL_VALUE = '""';

/** Unescaped component / subcomponent (1-based) of one repetition's raw text; '' when absent. */
function repetitionValue(raw: string, s: Separators, component: number, subcomponent: number): string {
  if (raw === '') return '';
  if (!(Number.isInteger(component) && component >= 1 && Number.isInteger(subcomponent) && subcomponent >= 1)) {
    return oddPositionValue(raw, s, component, subcomponent);
  }
  const c = piece(raw, s.component, component);
  if (c === '') return '';
  return unescapeHl7(piece(c, s.subcomponent, subcomponent), s);
}

/**
 * `repetitionValue(piece(text.slice(from, to), repetition, 1), s, component, subcomponent)` for whole positions
 * ≥ 1, read in place: one pass over the characters of the field (a few dozen at most), one string cut.
 */
function valueIn(text: string, from: number, to: number, s: Separators, component: number, subcomponent: number): string {
  const rc = s.repetition.charCodeAt(0);
  const cc = s.component.charCodeAt(0);
  let i = from;
  if (component > 1) {
    // Up to the start of component `component` of repetition 1.
    let k = 1;
    for (; i < to; i++) {
      const ch = text.charCodeAt(i);
      if (ch === rc) return '';
      if (ch === cc && ++k === component) {
        i++;
        break;
      }
    }
    if (k < component) return '';
  }
  // Inside the component: subcomponent `subcomponent`, [sub, subEnd), and the last escape character seen.
  const sc = s.subcomponent.charCodeAt(0);
  const ec = s.escape.charCodeAt(0);
  let j = 1;
  let sub = i;
  let subEnd = to;
  let esc = -1;
  for (; i < to; i++) {
    const ch = text.charCodeAt(i);
    if (ch === rc || ch === cc) {
      subEnd = i;
      break;
    }
    if (ch === sc) {
      if (j === subcomponent) {
        subEnd = i;
        break;
      }
      j++;
      sub = i + 1;
    } else if (ch === ec) esc = i;
  }
  if (j < subcomponent || sub === subEnd) return '';
  const v = text.slice(sub, subEnd);
  return esc >= sub ? unescapeHl7(v, s) : v;
}

/** repetitionValue for positions below 1 or not integers, answered as the array-based accessor always did. */
function oddPositionValue(raw: string, s: Separators, component: number, subcomponent: number): string {
  let c = raw;
  if (component > 1 || raw.includes(s.component)) c = raw.split(s.component)[component - 1] ?? '';
  if (c === '') return '';
  if (subcomponent > 1 || c.includes(s.subcomponent)) c = c.split(s.subcomponent)[subcomponent - 1] ?? '';
  return unescapeHl7(c, s);
}

/** One repetition of a field. */
export class Hl7Field {
  constructor(readonly raw: string, private readonly seps: Separators) {}
  /** Unescaped component (1-based) / subcomponent (1-based); '' when absent. */
  get(component = 1, subcomponent = 1): string {
    return repetitionValue(this.raw, this.seps, component, subcomponent);
  }
  /** Number of components present. */
  get componentCount(): number {
    return this.raw === '' ? 0 : this.raw.split(this.seps.component).length;
  }
  /** True when the repetition is empty. */
  get isEmpty(): boolean { return this.raw === ''; }
  /** True when the repetition is exactly the HL7 explicit null `""`. */
  get isNull(): boolean { return this.raw === NULL_VALUE; }
}

/** One segment. Fields are numbered as in the spec: for MSH, MSH-1 is the field separator and MSH-2 the encoding characters. */
export class Hl7Segment {
  /**
   * Where the split pieces start: piece k (what `text.split(field)[k]` would be) is `text.slice(starts[k],
   * starts[k + 1] - 1)`. Filled on demand, one separator at a time, up to the piece asked for: no string is cut
   * for a field that is never read (the import reads ~12 of PID's ~32 fields, ~7 of MSH's ~21).
   */
  private starts?: number[];
  /** The scan reached the end of the text: `starts` ends with the sentinel `text.length + 1`. */
  private scanned = false;
  constructor(
    /** Raw segment text, without its terminator. */
    readonly text: string,
    /** Segment name (first three characters). */
    readonly name: string,
    /** 0-based position in the message. */
    readonly index: number,
    /** 1-based occurrence among segments of the same name. */
    readonly occurrence: number,
    private readonly seps: Separators,
  ) {}

  /**
   * 1 for MSH/FHS/BHS: their split pieces start at MSH-2 (MSH-1 is the separator itself), so field n is piece n − 1
   * for n ≥ 2 (no array shifting per message); 0 for every other segment.
   */
  private shift = -1;

  /** `starts` with at least pieces 0…k located (or the whole text scanned). */
  private locate(k: number): number[] {
    let s = this.starts;
    if (s === undefined) {
      s = this.starts = [0];
      this.shift = this.name === 'MSH' || this.name === 'FHS' || this.name === 'BHS' ? 1 : 0;
    }
    if (this.scanned || s.length > k + 1) return s;
    const text = this.text;
    const sep = this.seps.field;
    let from = s[s.length - 1]!;
    while (s.length <= k + 1) {
      const at = text.indexOf(sep, from);
      if (at < 0) {
        s.push(text.length + 1);
        this.scanned = true;
        break;
      }
      from = at + 1;
      s.push(from);
    }
    return s;
  }

  /** Piece k of the field split, '' when absent. */
  private piece(k: number): string {
    const s = this.locate(k);
    if (k + 1 >= s.length) return '';
    return this.text.slice(s[k]!, s[k + 1]! - 1);
  }

  private split(): void {
    this.locate(Infinity);
  }

  /** Highest field number present. */
  get size(): number {
    this.split();
    return this.starts!.length - 2 + this.shift;
  }

  /** Raw (escaped) text of field n; '' when absent. */
  raw(n: number): string {
    if (this.shift < 0) this.locate(0);
    if (this.shift === 0 || n === 0) return this.pieceAt(n);
    return n === 1 ? this.seps.field : this.pieceAt(n - 1);
  }

  /** piece(k) for any number k, as `array[k] ?? ''` answers it (negative, fractional, NaN: '', as an array would). */
  private pieceAt(k: number): string {
    return Number.isInteger(k) && k >= 0 ? this.piece(k) : '';
  }

  /** Repetitions of field n ([] when the field is empty). MSH-1 and MSH-2 are never split. */
  reps(n: number): Hl7Field[] {
    const raw = this.raw(n);
    if (raw === '') return [];
    if (n <= 2 && (this.name === 'MSH' || this.name === 'FHS' || this.name === 'BHS')) return [new Hl7Field(raw, this.seps)];
    return splitOn(raw, this.seps.repetition).map((r) => new Hl7Field(r, this.seps));
  }

  /** Repetition `rep` (1-based) of field n; an empty field when absent. */
  field(n: number, rep = 1): Hl7Field {
    return this.reps(n)[rep - 1] ?? new Hl7Field('', this.seps);
  }

  /** Unescaped value of field n, component, subcomponent, repetition (all 1-based); '' when absent. */
  get(n: number, component = 1, subcomponent = 1, rep = 1): string {
    if (n <= 2 && (this.name === 'MSH' || this.name === 'FHS' || this.name === 'BHS')) return this.raw(n);
    // Hot path (the import reads ~20 values per message): read in place in the segment text, one string cut.
    if (rep === 1 && Number.isInteger(n) && n >= 0 && Number.isInteger(component) && component >= 1
      && Number.isInteger(subcomponent) && subcomponent >= 1) {
      if (this.shift < 0) this.locate(0);
      const k = this.shift === 1 && n > 0 ? n - 1 : n;
      const s = this.locate(k);
      if (k + 1 >= s.length) return '';
      return valueIn(this.text, s[k]!, s[k + 1]! - 1, this.seps, component, subcomponent);
    }
    const raw = this.raw(n);
    if (raw === '') return '';
    if (rep === 1) return repetitionValue(piece(raw, this.seps.repetition, 1), this.seps, component, subcomponent);
    return this.field(n, rep).get(component, subcomponent);
  }
}

/** The line starts with a segment name: [A-Z][A-Z0-9]{2}. */
function hasSegmentName(line: string): boolean {
  if (line.length < 3) return false;
  const a = line.charCodeAt(0);
  const b = line.charCodeAt(1);
  const c = line.charCodeAt(2);
  return a >= 0x41 && a <= 0x5a && ((b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39)) && ((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39));
}

/**
 * The first three characters of a segment line; the usual ITI-30 names as constants (no new string per segment,
 * and comparisons with literals are pointer checks).
 */
function segmentName(line: string): string {
  const a = line.charCodeAt(0);
  const b = line.charCodeAt(1);
  const c = line.charCodeAt(2);
  if (a === 0x4d && b === 0x53 && c === 0x48) return 'MSH';
  if (a === 0x50) {
    if (b === 0x49 && c === 0x44) return 'PID';
    if (b === 0x56 && c === 0x31) return 'PV1';
    if (b === 0x44 && c === 0x31) return 'PD1';
  }
  if (a === 0x45 && b === 0x56 && c === 0x4e) return 'EVN';
  if (a === 0x4d && b === 0x52 && c === 0x47) return 'MRG';
  return line.slice(0, 3);
}

const PATH_RE = /^([A-Z][A-Z0-9]{2})(?:\((\d+)\))?-(\d+)(?:\[(\d+)\])?(?:\.(\d+))?(?:\.(\d+))?$/;

/** A parsed HL7 v2 message. */
export class Hl7Message {
  private constructor(
    /** The message text as parsed (segments separated by CR). */
    readonly text: string,
    readonly separators: Separators,
    readonly segments: readonly Hl7Segment[],
  ) {}

  /**
   * Parses one message. Segments may be separated by CR, LF or CRLF; empty lines are ignored.
   * Throws Hl7Error when the text does not start with a usable MSH segment.
   */
  static parse(text: string): Hl7Message {
    const seps = readSeparators(text);
    const segments: Hl7Segment[] = [];
    let seen: Map<string, number> | null = null;
    if (text.includes('\n')) {
      for (const line of text.split(/\r\n|\r|\n/)) seen = Hl7Message.addSegment(segments, line, seps, seen);
    } else {
      // The usual case (the framer joins segments with CR): lines cut straight from the text, no array of them.
      let from = 0;
      for (;;) {
        const at = text.indexOf('\r', from);
        if (at < 0) {
          Hl7Message.addSegment(segments, from === 0 ? text : text.slice(from), seps, seen);
          break;
        }
        if (at > from) seen = Hl7Message.addSegment(segments, text.slice(from, at), seps, seen);
        from = at + 1;
      }
    }
    return new Hl7Message(text, seps, segments);
  }

  /** Appends one line of the message as a segment (nothing for an empty or blank line). */
  private static addSegment(segments: Hl7Segment[], line: string, seps: Separators, seen: Map<string, number> | null): Map<string, number> | null {
    if (line === '') return seen;
    // A line without a proper [A-Z][A-Z0-9]{2} name (e.g. the tail of a field cut off by a stray line break,
    // such as `I` from `VAL\nI`) is no segment: accepting it would silently truncate the segment before it.
    if (!hasSegmentName(line) || (line.length > 3 && line.charCodeAt(3) !== seps.field.charCodeAt(0))) {
      if (line.trim() === '') return seen; // whitespace-only line: as empty
      // ERR-2 names the segment the line follows (an ERL segment ID must be a segment's), the text says which line.
      const prev = segments[segments.length - 1];
      throw new Hl7Error(ErrorCode.SegmentSequence, `segment ${segments.length + 1} has no valid segment name`, { segment: prev?.name ?? 'MSH', sequence: prev?.occurrence ?? 1 });
    }
    const name = segmentName(line);
    // Occurrence numbers: counted among the segments before (a message has a handful), a Map only for long messages.
    let occ = 1;
    const n = segments.length;
    if (seen === null && n < 16) {
      for (let i = 0; i < n; i++) if (segments[i]!.name === name) occ++;
    } else {
      if (seen === null) {
        seen = new Map();
        for (const s of segments) seen.set(s.name, s.occurrence);
      }
      occ = (seen.get(name) ?? 0) + 1;
      seen.set(name, occ);
    }
    segments.push(new Hl7Segment(line, name, n, occ, seps));
    return seen;
  }

  /** The `occurrence`-th segment named `name` (1-based), or undefined. */
  segment(name: string, occurrence = 1): Hl7Segment | undefined {
    for (const s of this.segments) if (s.name === name && s.occurrence === occurrence) return s;
    return undefined;
  }

  /** Every segment named `name`, in order. */
  all(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  /** The MSH segment (always present after a successful parse). */
  get msh(): Hl7Segment { return this.segments[0]!; }

  /**
   * Value at a path in the spec's notation: `MSH-9.2`, `PID-3[2].4.2`, `PID(2)-3` (second PID). Unescaped; '' when absent.
   */
  get(path: string): string {
    const m = PATH_RE.exec(path);
    if (!m) throw new Error(`invalid HL7 path: ${path}`);
    const seg = this.segment(m[1]!, m[2] ? Number(m[2]) : 1);
    if (!seg) return '';
    return seg.get(Number(m[3]), m[5] ? Number(m[5]) : 1, m[6] ? Number(m[6]) : 1, m[4] ? Number(m[4]) : 1);
  }
}
