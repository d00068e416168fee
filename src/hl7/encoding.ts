/**
 * Separators declared by MSH-1/MSH-2, and HL7 escape sequences (\F\ \S\ \T\ \R\ \E\ \Xhh\).
 * Separators are always read from the message, never assumed (MSH-1, MSH-2).
 */
import { ErrorCode, Hl7Error } from './errors.js';

export interface Separators {
  /** MSH-1, usually `|`. */
  field: string;
  /** MSH-2.1, usually `^`. */
  component: string;
  /** MSH-2.2, usually `~`. */
  repetition: string;
  /** MSH-2.3, usually `\`. */
  escape: string;
  /** MSH-2.4, usually `&`. */
  subcomponent: string;
}

export const DEFAULT_SEPARATORS: Readonly<Separators> = Object.freeze({
  field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&',
});

/** Reads the separators from the start of a message (`MSH|^~\&|…`). Throws Hl7Error when they are unusable. */
export function readSeparators(text: string): Separators {
  if (text.length < 8 || !text.startsWith('MSH')) {
    throw new Hl7Error(ErrorCode.SegmentSequence, 'message does not start with an MSH segment', { segment: 'MSH' });
  }
  // The usual `MSH|^~\&|`: the answer the checks below give, without cutting strings.
  if (text.length > 8 && text.charCodeAt(3) === 0x7c && text.charCodeAt(4) === 0x5e && text.charCodeAt(5) === 0x7e
    && text.charCodeAt(6) === 0x5c && text.charCodeAt(7) === 0x26 && text.charCodeAt(8) === 0x7c) {
    return { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };
  }
  const field = text[3]!;
  const end = text.indexOf(field, 4);
  const enc = end < 0 ? '' : text.slice(4, end);
  // MSH-2 is four characters (a fifth, the truncation character, since v2.7). Anything else — none (`MSH||`), a
  // control character, a letter, a repeated one — means the separators cannot be trusted: the message is unreadable
  // as sent, and reading it anyway would store values cut at the wrong places.
  if (enc.length < 4 || enc.length > 5 || !usableSeparators(field, enc)) {
    throw new Hl7Error(ErrorCode.DataType, ENCODING_CHARACTERS_INVALID, { segment: 'MSH', field: 2 });
  }
  return { field, component: enc[0]!, repetition: enc[1]!, escape: enc[2]!, subcomponent: enc[3]! };
}

/** The reason given (ERR-8) when MSH-1/MSH-2 cannot be used as separators. */
export const ENCODING_CHARACTERS_INVALID = 'MSH-2 encoding characters missing or invalid: MSH-1 and MSH-2 must be five distinct punctuation characters (e.g. |^~\\&)';

/** Whether `text` starts with an MSH whose MSH-1/MSH-2 readSeparators accepts (no throw, for best-effort readers). */
export function hasUsableSeparators(text: string): boolean {
  if (text.length < 8 || !text.startsWith('MSH')) return false;
  const field = text[3]!;
  const end = text.indexOf(field, 4);
  return end >= 8 && end <= 9 && usableSeparators(field, text.slice(4, end));
}

/** MSH-1 and every MSH-2 character distinct, and none a letter, a digit, a space or a control character. */
function usableSeparators(field: string, enc: string): boolean {
  const all = field + enc;
  // Checked once per message: plain comparisons, no Set, no closure, no regular expression.
  for (let i = 0; i < all.length; i++) {
    const c = all.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) return false;
    for (let j = i + 1; j < all.length; j++) if (all.charCodeAt(j) === c) return false;
  }
  return true;
}

/** The n-th (1-based) piece of `text` split on `sep`, '' when absent: `text.split(sep)[n - 1] ?? ''` without the array. */
export function nthPiece(text: string, sep: string, n: number): string {
  let from = 0;
  for (let k = 1; k < n; k++) {
    const at = text.indexOf(sep, from);
    if (at < 0) return '';
    from = at + sep.length;
  }
  const end = text.indexOf(sep, from);
  return end < 0 ? (from === 0 ? text : text.slice(from)) : text.slice(from, end);
}

/**
 * `text.split(sep)` for a non-empty string separator, in JavaScript: the same array. Node 20's native split goes
 * through the runtime on every call and costs 2–3 times more on the short fields the import loop splits (a
 * repetition into components, a field into repetitions: ~15 per message).
 */
export function splitOn(text: string, sep: string): string[] {
  const out: string[] = [];
  const step = sep.length;
  let from = 0;
  for (;;) {
    const at = text.indexOf(sep, from);
    if (at < 0) {
      out.push(from === 0 ? text : text.slice(from));
      return out;
    }
    out.push(text.slice(from, at));
    from = at + step;
  }
}

/** Replaces HL7 escape sequences by the characters they stand for. Unknown or formatting escapes are dropped. */
export function unescapeHl7(value: string, seps: Separators): string {
  const esc = seps.escape;
  let i = value.indexOf(esc);
  if (i < 0) return value;
  let out = '';
  let from = 0;
  while (i >= 0) {
    const close = value.indexOf(esc, i + 1);
    if (close < 0) break; // lone escape character: keep the rest literally
    out += value.slice(from, i);
    const body = value.slice(i + 1, close);
    switch (body) {
      case 'F': out += seps.field; break;
      case 'S': out += seps.component; break;
      case 'T': out += seps.subcomponent; break;
      case 'R': out += seps.repetition; break;
      case 'E': out += seps.escape; break;
      case '.br': out += '\n'; break;
      default:
        if ((body[0] === 'X' || body[0] === 'x') && body.length > 1 && body.length % 2 === 1 && /^[0-9A-Fa-f]+$/.test(body.slice(1))) {
          for (let k = 1; k < body.length; k += 2) out += String.fromCharCode(parseInt(body.slice(k, k + 2), 16));
        }
        // \H\ \N\ (highlighting), \Cxxyy\, \Mxxyyzz\ and unknown sequences carry no text: dropped.
        break;
    }
    from = close + 1;
    i = value.indexOf(esc, from);
  }
  return out + value.slice(from);
}

/** Escapes the separators in a value so it can be written into a field. CR/LF become `\.br\`. */
export function escapeHl7(value: string, seps: Separators): string {
  let out = '';
  for (const ch of value) {
    if (ch === seps.escape) out += `${seps.escape}E${seps.escape}`;
    else if (ch === seps.field) out += `${seps.escape}F${seps.escape}`;
    else if (ch === seps.component) out += `${seps.escape}S${seps.escape}`;
    else if (ch === seps.subcomponent) out += `${seps.escape}T${seps.escape}`;
    else if (ch === seps.repetition) out += `${seps.escape}R${seps.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${seps.escape}.br${seps.escape}`;
    else out += ch;
  }
  return out;
}

/**
 * Names the control characters of a value that `controls` matches (a global regular expression) as HL7 hex
 * escapes, `\X00\`: for values echoed into an ACK or kept in the ledger, which never carry a control character.
 */
export function hexEscapeControls(value: string, controls: RegExp, escape = '\\'): string {
  controls.lastIndex = 0;
  if (!controls.test(value)) return value;
  return value.replace(controls, (ch) => `${escape}X${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}${escape}`);
}
