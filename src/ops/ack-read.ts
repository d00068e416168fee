/**
 * Reads back an ACK stored in the message ledger (exact bytes, docs/behaviour.md "ACK files"): MSA-1 and one finding
 * per ERR segment. The ledger keeps only the first error code and text per message; the ACK holds every finding with
 * its location, which is what `errors`, `preview` and `reimport --dry-run` show. ERR text never carries patient
 * data (hl7/errors.ts), so what this returns is safe to print and log.
 */
import { decodeMessage, Charset } from '../hl7/charset.js';
import { Hl7Message } from '../hl7/model.js';
import { describeLocation, ERROR_CODE_TEXT, type ErrorCode, type Location } from '../hl7/errors.js';

/** One ERR segment of an ACK. */
export interface AckFinding {
  /** HL7 table 0357 code (ERR-3.1). */
  code: number;
  /** E, W or I (ERR-4). */
  severity: string;
  /** ERR-2 in the spec's notation (`PID-3[2].1`), '' when absent. */
  location: string;
  /** ERR-8, or the code's text (ERR-3.2) when the ACK has no ERR-8. */
  text: string;
}

export interface ReadAck {
  code: string;
  findings: AckFinding[];
}

/** ERL (`PID^1^3^2^1`) → Location. */
function parseErl(field: { get(c: number): string }): Location | undefined {
  const segment = field.get(1);
  if (segment === '') return undefined;
  const num = (c: number): number | undefined => {
    const v = field.get(c);
    return /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const loc: Location = { segment };
  const seq = num(2);
  if (seq !== undefined) loc.sequence = seq;
  const fieldNo = num(3);
  if (fieldNo !== undefined) loc.field = fieldNo;
  const rep = num(4);
  if (rep !== undefined) loc.repetition = rep;
  const comp = num(5);
  if (comp !== undefined) loc.component = comp;
  const sub = num(6);
  if (sub !== undefined) loc.subcomponent = sub;
  return loc;
}

/** Parses ACK bytes (any supported charset); an unreadable ACK gives code '' and no findings. */
export function readAck(bytes: Buffer): ReadAck {
  let msg: Hl7Message;
  try {
    msg = Hl7Message.parse(decodeMessage(bytes, { defaultCharset: Charset.Latin9, latin1AsCp1252: true }).text);
  } catch {
    try { msg = Hl7Message.parse(bytes.toString('latin1')); } catch { return { code: '', findings: [] }; }
  }
  const code = msg.segment('MSA')?.get(1) ?? '';
  const findings: AckFinding[] = msg.all('ERR').map((err) => {
    const loc = parseErl(err.field(2));
    const n = Number(err.get(3, 1));
    const text = err.get(8) || err.get(3, 2) || (ERROR_CODE_TEXT[n as ErrorCode] ?? '');
    return { code: Number.isFinite(n) ? n : 207, severity: err.get(4) || 'E', location: loc ? describeLocation(loc) : '', text };
  });
  return { code, findings };
}

/** `E 102 PID-3[2].1: text` — one line per finding for text reports. */
export function formatFinding(f: AckFinding): string {
  // Most texts already start with their location (`PID-3[2]: …`): do not say it twice.
  const located = /^[A-Z][A-Z0-9]{2}(\(\d+\))?(-\d+)?\b/.test(f.text);
  return `${f.severity} ${f.code}${f.location && !located ? ` ${f.location}` : ''}: ${f.text}`;
}
