/**
 * ACK messages (original mode, HL7 v2.5 ERR form): docs/behaviour.md "ACK files", HL7 v2.5 table 0357.
 * - MSH: the inbound separators; sender and receiver swapped (raw, so HD components survive); new MSH-7 and
 *   MSH-10; MSH-9 `ACK^<event>^ACK`; MSH-11, MSH-12 (whole field, e.g. `2.5^FRA^2.11`), MSH-17, MSH-18 and
 *   MSH-19 echoed raw; no MSH-21 (the ACK does not claim the PAM profile).
 * - MSA-1 = code, MSA-2 = inbound MSH-10 raw.
 * - One ERR per finding: ERR-2 location, ERR-3 `code^text^HL70357`, ERR-4 severity, ERR-8 human detail
 *   (escaped, CR/LF removed). No patient data travels in ERR text: findings carry none.
 * The output is a string with segments terminated by '\r'; encode it with encodeText() in the inbound charset.
 * Equal inputs give equal bytes: a replayed duplicate gets the very same ACK.
 */
import { escapeHl7, hexEscapeControls, DEFAULT_SEPARATORS, type Separators } from './encoding.js';
import { ERROR_CODE_TEXT, formatLocation, type Finding } from './errors.js';
import type { Hl7Message } from './model.js';

/** MSA-1 acknowledgement codes (original mode). */
export const AckCode = { AA: 'AA', AE: 'AE', AR: 'AR' } as const;
export type AckCode = (typeof AckCode)[keyof typeof AckCode];

/** Everything an ACK is built from; equal inputs give equal ACKs. */
export interface AckInput {
  /** The inbound message, or null when it could not be parsed. */
  inbound: Hl7Message | null;
  /**
   * When inbound could not be parsed: best-effort header values read from the raw text, written as given (raw
   * field text with the default separators) except that CR/LF are dropped and `|` is escaped.
   * Ignored when `inbound` is set.
   */
  fallback?: {
    sendingApp?: string;
    sendingFacility?: string;
    receivingApp?: string;
    receivingFacility?: string;
    controlId?: string;
    event?: string;
    version?: string;
    charset?: string;
  };
  code: AckCode;
  /** One ERR segment each, in order. */
  findings: Finding[];
  /** Our own MSH-10 for the ACK. */
  controlId: string;
  /** MSH-7 of the ACK. */
  now: Date;
  /** Our identity, used for MSH-3/MSH-4 when the inbound MSH-5/MSH-6 are empty. */
  self?: { app: string; facility: string };
}

/** HL7 TS with second precision in local time: YYYYMMDDHHMMSS. */
export function formatTs(d: Date): string {
  const p2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
  return `${String(d.getFullYear()).padStart(4, '0')}${p2(d.getMonth() + 1)}${p2(d.getDate())}${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}`;
}

/** Control characters (CR, LF, tabs…) would break or garble a segment: they become spaces. */
function oneLine(text: string): string {
  return text.replace(/\r\n|[\x00-\x1f\x7f]/g, ' ');
}

/** A raw value from the fallback header: kept as is, but unable to break the segment structure. */
function fallbackRaw(value: string | undefined, seps: Separators): string {
  if (!value) return '';
  return value.replace(/[\r\n]/g, '').split(seps.field).join(`${seps.escape}F${seps.escape}`);
}

/** Joins fields 1..n of a segment, dropping trailing empty fields (MSH: index 1 is MSH-1 itself). */
function joinFields(name: string, fields: string[], fieldSep: string, isMsh: boolean): string {
  let last = fields.length - 1;
  while (last > 0 && fields[last] === '') last--;
  if (isMsh) {
    // fields[1] is MSH-1 (the separator itself), fields[2] is MSH-2: MSH|^~\&|…
    return name + fieldSep + fields.slice(2, last + 1).join(fieldSep);
  }
  return [name, ...fields.slice(1, last + 1)].join(fieldSep);
}

/** `text.split(sep)[1] ?? ''` without the array. */
function secondPiece(text: string, sep: string): string {
  const a = text.indexOf(sep);
  if (a < 0) return '';
  const b = text.indexOf(sep, a + 1);
  return b < 0 ? text.slice(a + 1) : text.slice(a + 1, b);
}

/** Builds the ACK for one inbound message. */
export function buildAck(input: AckInput): string {
  const { inbound, code, findings, controlId, now, self } = input;
  const seps: Separators = inbound ? inbound.separators : DEFAULT_SEPARATORS;
  const c = seps.component;

  let encodingChars: string;
  let sendingApp: string;
  let sendingFacility: string;
  let receivingApp: string;
  let receivingFacility: string;
  let event: string;
  let processingId: string;
  let version: string;
  let country = '';
  let charset: string;
  let language = '';
  let inboundControlId: string;
  if (inbound) {
    const msh = inbound.msh;
    encodingChars = msh.raw(2);
    sendingApp = msh.raw(5);
    sendingFacility = msh.raw(6);
    receivingApp = msh.raw(3);
    receivingFacility = msh.raw(4);
    event = secondPiece(msh.raw(9), c);
    processingId = msh.raw(11);
    version = msh.raw(12);
    country = msh.raw(17);
    charset = msh.raw(18);
    language = msh.raw(19);
    inboundControlId = msh.raw(10);
  } else {
    const fb = input.fallback ?? {};
    encodingChars = DEFAULT_SEPARATORS.component + DEFAULT_SEPARATORS.repetition + DEFAULT_SEPARATORS.escape + DEFAULT_SEPARATORS.subcomponent;
    sendingApp = fallbackRaw(fb.receivingApp, seps);
    sendingFacility = fallbackRaw(fb.receivingFacility, seps);
    receivingApp = fallbackRaw(fb.sendingApp, seps);
    receivingFacility = fallbackRaw(fb.sendingFacility, seps);
    event = fallbackRaw(fb.event, seps);
    // MSH-11 is required; without an inbound value, production is the only sensible claim.
    processingId = 'P';
    version = fallbackRaw(fb.version, seps);
    charset = fallbackRaw(fb.charset, seps);
    inboundControlId = fallbackRaw(fb.controlId, seps);
  }
  // Our identity fills in only when the sender did not name us.
  if (sendingApp === '' && self) sendingApp = escapeHl7(self.app, seps);
  if (sendingFacility === '' && self) sendingFacility = escapeHl7(self.facility, seps);

  const msh: string[] = [];
  msh[1] = seps.field;
  msh[2] = encodingChars;
  msh[3] = sendingApp;
  msh[4] = sendingFacility;
  msh[5] = receivingApp;
  msh[6] = receivingFacility;
  msh[7] = formatTs(now);
  msh[8] = '';
  msh[9] = `ACK${c}${event}${c}ACK`;
  msh[10] = escapeHl7(controlId, seps);
  msh[11] = processingId;
  msh[12] = version;
  for (let i = 13; i <= 16; i++) msh[i] = '';
  msh[17] = country;
  msh[18] = charset;
  msh[19] = language;

  const segments: string[] = [
    joinFields('MSH', msh, seps.field, true),
    joinFields('MSA', ['', code, inboundControlId], seps.field, false),
  ];
  for (const f of findings) {
    const err: string[] = [];
    err[1] = ''; // ERR-1 is the pre-2.5 form: not used.
    err[2] = f.location ? formatLocation(f.location, c) : '';
    err[3] = `${f.code}${c}${ERROR_CODE_TEXT[f.code]}${c}HL70357`;
    err[4] = f.severity;
    err[5] = '';
    err[6] = '';
    err[7] = '';
    // ERR-8 only when it says more than ERR-3 already does.
    const text = oneLine(f.text).trim();
    err[8] = text === '' || text === ERROR_CODE_TEXT[f.code] ? '' : escapeHl7(text, seps);
    segments.push(joinFields('ERR', err, seps.field, false));
  }
  const out = `${segments.join('\r')}\r`;
  // Values echoed from the inbound MSH (MSH-3 to MSH-6, MSA-2…) may carry control characters (answered AE 102 or
  // AR): an ACK never carries one, it names it with a hex escape (a NUL in MSH-10 is echoed as `\X00\`).
  return hexEscapeControls(out, ECHOED_CONTROL_RE_G, seps.escape);
}

/** Control characters other than the CR that ends segments. */
const ECHOED_CONTROL_RE_G = /[\x00-\x0c\x0e-\x1f\x7f]/g;
