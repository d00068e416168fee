/**
 * What the ledger keeps of a message header, and what a database refusal of a message's content becomes: an AE 207
 * for that message alone, its ERR naming the header field when the refused column is a ledger column.
 */
import { ErrorCode, Severity, type Finding } from '../hl7/errors.js';
import { hexEscapeControls } from '../hl7/encoding.js';
import { contentRefusal, refusalDetail } from './db-errors.js';

/** Control characters in a value headed for the ledger (refused with AE 102 by interpret, but stored first). */
const CONTROL_RE_G = /[\x00-\x1f\x7f]/g;
/**
 * A header value as the ledger stores it: control characters as HL7 hex escapes (`\X00\`), so that every store keeps
 * the same text (PostgreSQL refuses a NUL) and a resend of the same bytes is still recognised as a duplicate.
 */
export function storable(v: string): string {
  return hexEscapeControls(v, CONTROL_RE_G);
}

/** Ledger columns and the header field each comes from, to locate a refusal in ERR-2. */
const LEDGER_FIELDS: Readonly<Record<string, number>> = { sending_app: 3, sending_facility: 4, message_time: 7, event: 9, control_id: 10, sequence_number: 13 };

/** A statement the database refused for this message's content (db-errors.ts): the message is recorded as an AE 207. */
export interface Refusal { code: string; detail: string; column: string | null; keyless: boolean }

export function refusalOf(err: unknown, keyless = false): Refusal | null {
  const code = contentRefusal(err);
  if (code === null) return null;
  const column = (err as { column?: unknown }).column;
  return { code, detail: refusalDetail(err), column: typeof column === 'string' ? column : null, keyless };
}

export function refusalFinding(r: Pick<Refusal, 'code' | 'detail' | 'column'>): Finding {
  const field = r.column ? LEDGER_FIELDS[r.column] : undefined;
  return { code: ErrorCode.InternalError, severity: Severity.Error, ...(field ? { location: { segment: 'MSH', field } } : {}),
    text: `the database refused a value of this message (${r.code}${r.detail ? `, ${r.detail}` : ''}); nothing applied` };
}
