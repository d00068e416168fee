/**
 * HL7 v2 error vocabulary: table 0357 codes, error locations (ERL) and findings.
 * A Finding is what ends up as one ERR segment in an ACK (HL7 v2.5 ERR, docs/behaviour.md "ACK files").
 */

/** HL7 table 0357 (message error condition codes). */
export const ErrorCode = {
  Accepted: 0,
  SegmentSequence: 100,
  RequiredFieldMissing: 101,
  DataType: 102,
  TableValueNotFound: 103,
  UnsupportedMessageType: 200,
  UnsupportedEvent: 201,
  UnsupportedProcessingId: 202,
  UnsupportedVersion: 203,
  UnknownKey: 204,
  DuplicateKey: 205,
  RecordLocked: 206,
  InternalError: 207,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Text of each 0357 code, as carried in ERR-3.2. */
export const ERROR_CODE_TEXT: Readonly<Record<ErrorCode, string>> = {
  0: 'Message accepted',
  100: 'Segment sequence error',
  101: 'Required field missing',
  102: 'Data type error',
  103: 'Table value not found',
  200: 'Unsupported message type',
  201: 'Unsupported event code',
  202: 'Unsupported processing id',
  203: 'Unsupported version id',
  204: 'Unknown key identifier',
  205: 'Duplicate key identifier',
  206: 'Application record locked',
  207: 'Application internal error',
};

/** ERR-4 severity: E error, W warning, I information. */
export const Severity = { Error: 'E', Warning: 'W', Info: 'I' } as const;
export type Severity = (typeof Severity)[keyof typeof Severity];

/**
 * An HL7 error location (ERL data type, ERR-2): segment ^ segment sequence ^ field ^ field repetition ^
 * component ^ subcomponent. All numbers are 1-based, as in the spec's `PID-3.4.2` notation.
 */
export interface Location {
  segment: string;
  /** Occurrence of the segment in the message (1 = first). Defaults to 1. */
  sequence?: number;
  field?: number;
  repetition?: number;
  component?: number;
  subcomponent?: number;
}

/**
 * One finding about a message: rendered as one ERR segment. `text` is for humans (ERR-8) and must never carry
 * patient data (names, dates, identifiers): only the location and the rule.
 */
export interface Finding {
  code: ErrorCode;
  severity: Severity;
  location?: Location;
  text: string;
}

/** Renders a location as ERL text with the given component separator, e.g. `PID^1^3^2^1`. */
export function formatLocation(loc: Location, componentSep = '^'): string {
  const parts: Array<string | number> = [loc.segment, loc.sequence ?? 1];
  const rest = [loc.field, loc.repetition, loc.component, loc.subcomponent];
  // Trailing absent parts are omitted; a gap in the middle is left empty.
  let last = -1;
  rest.forEach((v, i) => { if (v !== undefined) last = i; });
  for (let i = 0; i <= last; i++) {
    const v = rest[i];
    // ERL requires a repetition when a component is given: default it to 1.
    parts.push(v ?? (i === 1 ? 1 : ''));
  }
  return parts.join(componentSep);
}

/** Short human form of a location for reports and logs: `PID-3[2].1`. */
export function describeLocation(loc: Location): string {
  let s = loc.segment;
  if (loc.sequence && loc.sequence > 1) s += `(${loc.sequence})`;
  if (loc.field !== undefined) s += `-${loc.field}`;
  if (loc.repetition !== undefined && loc.repetition > 1) s += `[${loc.repetition}]`;
  if (loc.component !== undefined) s += `.${loc.component}`;
  if (loc.subcomponent !== undefined) s += `.${loc.subcomponent}`;
  return s;
}

/** An error with HL7 meaning: a 0357 code, a location and a severity. */
export class Hl7Error extends Error {
  override readonly name = 'Hl7Error';
  readonly code: ErrorCode;
  readonly location?: Location;
  readonly severity: Severity;
  constructor(code: ErrorCode, message: string, location?: Location, options?: { cause?: unknown; severity?: Severity }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.location = location;
    this.severity = options?.severity ?? Severity.Error;
  }
  /** This error as a Finding for an ERR segment. */
  toFinding(): Finding {
    return { code: this.code, severity: this.severity, location: this.location, text: this.message };
  }
}
