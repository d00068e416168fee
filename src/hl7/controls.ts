/**
 * Control characters in field values. HL7 v2 data types carry printable characters only (ST, TX, FT alike); the C0
 * controls have no meaning in an identity and databases disagree about them (PostgreSQL refuses a NUL in text,
 * SQLite stores it): a message that carries one is refused with AE 102 at the field, nothing applied, on every store.
 *
 * Refused: U+0000–U+001F except CR and LF, which end segments and so never reach a field. TAB is refused too: no
 * HL7 data type allows it and an identity never needs it. The same characters written as a hex escape (`\X00\`)
 * are refused as well, since the value read is the same; `\X0D\` and `\X0A\` stay allowed (a line break in text, as
 * `\.br\`). DEL and C1 controls are left to the charset rules (charset.ts).
 */
import { describeLocation, ErrorCode, Severity, type Finding, type Location } from './errors.js';
import type { Hl7Message } from './model.js';
import { unescapeHl7, type Separators } from './encoding.js';

const RAW_CONTROL = /[\x00-\x09\x0b\x0c\x0e-\x1f]/;

/** One native scan finds either a raw control character or the start of a hex escape (`<esc>X`). */
const SCANNERS = new Map<string, RegExp>();
function scanner(escape: string): RegExp {
  let re = SCANNERS.get(escape);
  if (!re) {
    const e = escape.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
    re = new RegExp(`[\\x00-\\x09\\x0b\\x0c\\x0e-\\x1f]|${e}[Xx]`, 'g');
    if (SCANNERS.size < 16) SCANNERS.set(escape, re);
  }
  return re;
}

/**
 * The first control character (not CR/LF) that the field holding position `at` reads as once unescaped (-1: none),
 * and where that field ends. Read through unescapeHl7, so that `\E\X00\E\` (the text "\X00\", escaped) is not taken
 * for a NUL. The caller resumes its scan at the field's end: a field is unescaped once, however many escapes it holds.
 */
function escapedControl(text: string, at: number, seps: Separators): { code: number; end: number } {
  const f = seps.field;
  const start = Math.max(text.lastIndexOf(f, at), text.lastIndexOf('\r', at), text.lastIndexOf('\n', at)) + 1;
  let end = text.length;
  for (const stop of [f, '\r', '\n']) {
    const i = text.indexOf(stop, at);
    if (i >= 0 && i < end) end = i;
  }
  const value = unescapeHl7(text.slice(start, end), seps);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 && c !== 0x0d && c !== 0x0a) return { code: c, end };
  }
  return { code: -1, end };
}

/**
 * AE 102 finding for the first control character in a field of `msg` (raw or hex-escaped), or null when there is none.
 * Native scans of the message text; the location is worked out only when something is found.
 */
export function controlCharacterFinding(msg: Hl7Message): Finding | null {
  const text = msg.text;
  const seps = msg.separators;
  // The usual answer (none) from a character-class test and two substring searches: native scans that cost about
  // half of one regular expression with an alternation, which tries both branches at every character.
  if (!RAW_CONTROL.test(text) && text.indexOf(`${seps.escape}X`) < 0 && text.indexOf(`${seps.escape}x`) < 0) return null;
  const re = scanner(seps.escape);
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const at = m.index;
    let code: number;
    if (m[0].length === 1) code = m[0].charCodeAt(0);
    else {
      const e = escapedControl(text, at, seps);
      code = e.code;
      if (code < 0) { re.lastIndex = Math.max(re.lastIndex, e.end); continue; }
    }
    const location = locate(text, at, seps);
    const hex = code.toString(16).toUpperCase().padStart(2, '0');
    return {
      code: ErrorCode.DataType, severity: Severity.Error, location,
      text: `${describeLocation(location)}: control character 0x${hex} not allowed in a field${m[0].length === 1 ? '' : ' (hex escape)'}; nothing applied`,
    };
  }
  return null;
}

/** Segment, occurrence, field, repetition and component of the character at `at` (never its value). */
function locate(text: string, at: number, seps: Separators): Location {
  const start = Math.max(text.lastIndexOf('\r', at - 1), text.lastIndexOf('\n', at - 1)) + 1;
  const name = text.slice(start, start + 3);
  let sequence = 1;
  for (const line of text.slice(0, start).split(/\r\n|\r|\n/)) if (line.startsWith(name) && line.charAt(3) === seps.field) sequence++;
  const isMsh = name === 'MSH' || name === 'FHS' || name === 'BHS';
  let field = 0;
  let from = start;
  for (let i = start; i < at; i++) if (text[i] === seps.field) { field++; from = i + 1; }
  // MSH-1 is the separator itself: the first piece after it is MSH-2.
  if (isMsh) field++;
  const loc: Location = { segment: name, sequence, field };
  if (isMsh && field <= 2) return loc;
  let repetition = 1;
  let component = 1;
  for (let i = from; i < at; i++) {
    if (text[i] === seps.repetition) { repetition++; component = 1; } else if (text[i] === seps.component) component++;
  }
  loc.repetition = repetition;
  loc.component = component;
  return loc;
}
