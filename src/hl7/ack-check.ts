/**
 * Structure check of an ITI-30 acknowledgement (original mode, HL7 v2.5 ERR form), as a receiving system or the
 * national test platform reads it: docs/behaviour.md "ACK files", HL7 v2.5 §2.14 (MSH, MSA), §2.15.5 (ERR), table 0357.
 *
 * - Segments: MSH, MSA, then zero or more ERR, nothing else; each ended by CR; no other control character.
 * - MSH: five distinct separators; MSH-7 a timestamp; MSH-9 `ACK^<event>^ACK`; MSH-10 (the ACK's own id) and MSH-11
 *   present; MSH-12 a 2.x version.
 * - MSA-1 AA, AE or AR; MSA-2 present; an AE/AR carries at least one ERR of severity E, an AA none.
 * - ERR: ERR-1 empty (pre-2.5 form), ERR-2 an ERL (`PID^1^3^2^1`), ERR-3 `code^text^HL70357` with a code of table
 *   0357 and its text, ERR-4 E, W or I.
 * With the inbound message known: MSH-3/4 and MSH-5/6 swapped, MSH-9.2 its event, MSH-12 and MSH-18 echoed,
 * MSA-2 its MSH-10. Echoed values are compared the way pamdrop writes them (control characters as `\Xhh\`).
 *
 * Pure: text in, problems out. A problem names a location and a rule, never a value from the message beyond the
 * header codes it compares.
 */
import { decodeMessage, type Charset } from './charset.js';
import { hasUsableSeparators, hexEscapeControls } from './encoding.js';
import { ERROR_CODE_TEXT, ErrorCode, Hl7Error } from './errors.js';
import { Hl7Message, type Hl7Segment } from './model.js';

/** One irregularity: where (`MSH-9`, `ERR(2)-3`, `ACK`) and what. */
export interface AckProblem { location: string; text: string }

/** What the checker knows of the inbound message (raw field texts, as sent). */
export interface InboundHeader {
  sendingApp: string;
  sendingFacility: string;
  receivingApp: string;
  receivingFacility: string;
  /** MSH-9.2 as sent (raw). */
  event: string;
  /** MSH-10 raw. */
  controlId: string;
  /** MSH-11 raw. */
  processingId: string;
  /** MSH-12 raw (whole field, e.g. `2.5^FRA^2.11`). */
  version: string;
  /** MSH-18 raw. */
  charset: string;
}

export interface AckCheck {
  /** MSA-1 as read ('' when unreadable). */
  code: string;
  /** MSA-2 as read. */
  inboundControlId: string;
  /** MSH-10 of the ACK itself. */
  controlId: string;
  /** ERR segments read. */
  errors: number;
  problems: AckProblem[];
}

const ACK_CODES = new Set(['AA', 'AE', 'AR']);
const SEVERITIES = new Set(['E', 'W', 'I']);
const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;
/** HL7 TS: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. */
const TS_RE = /^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?)?)?([+-]\d{4})?$/;
// LF is reported once on its own (segments ended by LF).
const CONTROL_RE = /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]/;
/** What pamdrop hex-escapes in an echoed value (hl7/ack.ts). */
const ECHOED_CONTROL_RE_G = /[\x00-\x0c\x0e-\x1f\x7f]/g;

/** The header fields an ACK echoes, read from an inbound message's text; null when its MSH cannot be read. */
export function inboundHeader(text: string): InboundHeader | null {
  const start = text.indexOf('MSH');
  const body = start > 0 ? text.slice(start) : text;
  if (!hasUsableSeparators(body)) return null;
  let msh: Hl7Segment;
  try {
    msh = Hl7Message.parse(body).msh;
  } catch {
    return null;
  }
  return headerOfMsh(msh);
}

/**
 * What an ACK answering from a best-effort reading of an unreadable MSH echoes (hl7/ack.ts `fallback`): the values
 * read by position, CR/LF dropped and the field separator escaped, and MSH-11 `P`.
 */
export function fallbackInboundHeader(fb: Partial<Record<'sendingApp' | 'sendingFacility' | 'receivingApp' | 'receivingFacility' | 'controlId' | 'event' | 'version' | 'charset', string>>): InboundHeader {
  const raw = (v: string | undefined) => (v ?? '').replace(/[\r\n]/g, '').split('|').join('\\F\\');
  return {
    sendingApp: raw(fb.sendingApp), sendingFacility: raw(fb.sendingFacility), receivingApp: raw(fb.receivingApp), receivingFacility: raw(fb.receivingFacility),
    event: raw(fb.event), controlId: raw(fb.controlId), processingId: 'P', version: raw(fb.version), charset: raw(fb.charset),
  };
}

/** The header fields an ACK echoes, from a parsed MSH. */
export function headerOfMsh(msh: Hl7Segment): InboundHeader {
  const c = msh.raw(2)[0] ?? '^';
  const msh9 = msh.raw(9);
  const a = msh9.indexOf(c);
  const b = a < 0 ? -1 : msh9.indexOf(c, a + 1);
  return {
    sendingApp: msh.raw(3), sendingFacility: msh.raw(4), receivingApp: msh.raw(5), receivingFacility: msh.raw(6),
    event: a < 0 ? '' : b < 0 ? msh9.slice(a + 1) : msh9.slice(a + 1, b),
    controlId: msh.raw(10), processingId: msh.raw(11), version: msh.raw(12), charset: msh.raw(18),
  };
}

/** An ACK file's text: decoded per its MSH-18 (problem noted when its bytes do not fit), else read byte for byte. */
export function decodeAck(bytes: Buffer, defaultCharset: Charset): { text: string; problem: AckProblem | null } {
  try {
    return { text: decodeMessage(bytes, { defaultCharset, latin1AsCp1252: false }).text, problem: null };
  } catch (e) {
    // An unsupported MSH-18 is the inbound's, echoed (its AE 103 says so): the ACK is then written in the default charset.
    if (e instanceof Hl7Error && e.code === ErrorCode.TableValueNotFound) return { text: bytes.toString('latin1'), problem: null };
    return { text: bytes.toString('latin1'), problem: { location: 'MSH-18', text: `the bytes do not fit the declared charset: ${(e as Error).message}` } };
  }
}

const echoed = (v: string, escape: string): string => hexEscapeControls(v, ECHOED_CONTROL_RE_G, escape);

/** Checks one ACK message's text (decoded). `inbound`: the message it answers, when known. */
export function checkAck(text: string, inbound?: InboundHeader | null): AckCheck {
  const problems: AckProblem[] = [];
  const add = (location: string, t: string) => problems.push({ location, text: t });
  const result: AckCheck = { code: '', inboundControlId: '', controlId: '', errors: 0, problems };

  if (!text.startsWith('MSH')) {
    add('ACK', 'does not start with an MSH segment');
    return result;
  }
  if (!hasUsableSeparators(text)) {
    add('MSH-2', 'MSH-1 and MSH-2 are not five distinct punctuation characters');
    return result;
  }
  if (!text.endsWith('\r')) add('ACK', 'the last segment is not ended by CR');
  if (text.includes('\n')) add('ACK', 'segments must be ended by CR alone (LF found)');
  const lines = text.split('\r');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((l, i) => {
    if (l === '') add(`segment ${i + 1}`, 'empty segment');
    else if (CONTROL_RE.test(l)) add(`segment ${i + 1}`, 'holds a control character (an echoed one must be written \\Xhh\\)');
  });
  let msg: Hl7Message;
  try {
    msg = Hl7Message.parse(lines.filter((l) => l !== '').join('\r'));
  } catch (e) {
    add('ACK', `unreadable: ${(e as Error).message}`);
    return result;
  }
  const segs = msg.segments;
  const names = segs.map((s) => s.name);
  if (names[1] !== 'MSA') add('MSA', names.length < 2 ? 'missing (the second segment must be MSA)' : `the second segment is ${names[1]}, not MSA`);
  names.forEach((n, i) => {
    if (i === 0) return;
    if (!SEGMENT_NAME.test(n)) add(`segment ${i + 1}`, 'no segment name');
    else if (i === 1 && n === 'MSA') return;
    else if (n === 'MSH' || n === 'MSA') add(`segment ${i + 1}`, `${n} repeated`);
    else if (n !== 'ERR') add(`segment ${i + 1}`, `${n} has no place in an ACK (MSH, MSA, ERR)`);
  });

  const msh = msg.msh;
  const esc = msh.raw(2)[2] ?? '\\';
  const c = msh.raw(2)[0] ?? '^';
  // Four encoding characters; a fifth (the truncation character of v2.7) is echoed from an inbound that sent one.
  if (msh.raw(2).length < 4 || msh.raw(2).length > 5) add('MSH-2', 'must be the four encoding characters');
  if (!TS_RE.test(msh.raw(7))) add('MSH-7', 'missing or not an HL7 timestamp');
  const msh9 = msh.raw(9).split(c);
  if (msh9[0] !== 'ACK' || msh9[2] !== 'ACK' || msh9.length > 3) add('MSH-9', 'must be ACK^<event>^ACK');
  result.controlId = msh.raw(10);
  if (result.controlId === '') add('MSH-10', 'the ACK has no control id of its own');
  // Echoed: an inbound without MSH-11 gets an ACK without one (hl7/ack.ts), which only the inbound can explain.
  if (msh.raw(11) === '' && !(inbound && inbound.processingId === '')) add('MSH-11', 'processing id missing');
  const version = msh.raw(12);
  if (!/^2\.\d/.test(msh.get(12)) && !(inbound && inbound.version === version)) add('MSH-12', 'not an HL7 2.x version');
  if (msh.size > 21) add('MSH', `${msh.size} fields (MSH has 21 in HL7 v2.5)`);

  const msa = segs[1]?.name === 'MSA' ? segs[1] : msg.segment('MSA');
  if (msa) {
    result.code = msa.raw(1);
    result.inboundControlId = msa.raw(2);
    if (!ACK_CODES.has(result.code)) add('MSA-1', 'must be AA, AE or AR (original acknowledgement mode)');
    if (result.inboundControlId === '' && (!inbound || inbound.controlId !== '')) add('MSA-2', 'the inbound control id (MSH-10) is missing');
    if (msa.size > 6) add('MSA', `${msa.size} fields (MSA has 6 in HL7 v2.5)`);
  }

  let errorSeverity = 0;
  msg.all('ERR').forEach((err, i) => {
    const at = (f: number) => `ERR${i > 0 ? `(${i + 1})` : ''}-${f}`;
    result.errors++;
    if (err.raw(1) !== '') add(at(1), 'ERR-1 is the pre-2.5 form: use ERR-2 and ERR-3');
    const erl = err.raw(2);
    if (erl !== '') {
      const p = erl.split(c);
      if (!SEGMENT_NAME.test(p[0] ?? '')) add(at(2), 'the location does not start with a segment name');
      if (p.length > 6) add(at(2), 'ERL has at most six components');
      p.slice(1).forEach((v, k) => {
        if (v !== '' && !/^\d+$/.test(v)) add(at(2), `component ${k + 2} of the location is not a number`);
      });
    }
    const code = err.get(3, 1);
    const n = Number(code);
    if (code === '') add(at(3), 'the error code (table 0357) is missing');
    else if (!/^\d+$/.test(code) || !(n in ERROR_CODE_TEXT)) add(at(3), 'not a code of table 0357');
    else if (err.get(3, 2) !== ERROR_CODE_TEXT[n as ErrorCode]) add(at(3), `text must be "${ERROR_CODE_TEXT[n as ErrorCode]}"`);
    if (err.get(3, 3) !== 'HL70357') add(at(3), 'coding system must be HL70357');
    const sev = err.raw(4);
    if (!SEVERITIES.has(sev)) add(at(4), 'severity must be E, W or I');
    if (sev === 'E') errorSeverity++;
    if (err.size > 12) add(`ERR${i > 0 ? `(${i + 1})` : ''}`, `${err.size} fields (ERR has 12 in HL7 v2.5)`);
  });
  if ((result.code === 'AE' || result.code === 'AR') && errorSeverity === 0) add('ERR', `${result.code} without an ERR of severity E`);
  if (result.code === 'AA' && errorSeverity > 0) add('ERR', 'AA with an ERR of severity E');

  if (inbound) {
    const same = (loc: string, got: string, want: string, what: string) => {
      if (got !== echoed(want, esc)) add(loc, `must ${what}`);
    };
    // An empty MSH-5/6 is filled by the receiver's own identity: only a named one must come back.
    if (inbound.receivingApp !== '') same('MSH-3', msh.raw(3), inbound.receivingApp, 'be the inbound MSH-5 (sender and receiver swapped)');
    if (inbound.receivingFacility !== '') same('MSH-4', msh.raw(4), inbound.receivingFacility, 'be the inbound MSH-6 (sender and receiver swapped)');
    same('MSH-5', msh.raw(5), inbound.sendingApp, 'be the inbound MSH-3 (sender and receiver swapped)');
    same('MSH-6', msh.raw(6), inbound.sendingFacility, 'be the inbound MSH-4 (sender and receiver swapped)');
    if ((msh9[1] ?? '') !== echoed(inbound.event, esc)) add('MSH-9', 'MSH-9.2 must be the inbound event');
    same('MSH-12', version, inbound.version, 'echo the inbound MSH-12');
    same('MSH-18', msh.raw(18), inbound.charset, 'echo the inbound MSH-18');
    if (msa) same('MSA-2', result.inboundControlId, inbound.controlId, 'be the inbound MSH-10');
  }
  return result;
}
