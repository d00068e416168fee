/**
 * Character sets: decode one message's bytes per its MSH-18 (PAM FR §6.1, docs/behaviour.md "Files, framing and
 * characters").
 * - The MSH segment is ASCII, so MSH-18 is read from the raw bytes before anything is decoded.
 * - Decoding happens once per message: it dominates parsing cost.
 * - Undecodable input is an error (0357 code 102 at MSH-18), never a silent U+FFFD.
 * - Never TextDecoder: Node 20's maps latin1/cp1252 bytes 0x80–0x9F to C1 controls.
 *   Latin1, ASCII and UTF-8 use Buffer's own native decoders, which are correct; 8859-15 is latin1 plus its 8
 *   differing code points; windows-1252 (rare) and 8859-15 encoding go through iconv-lite.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import { ErrorCode, Hl7Error, Severity, type Finding, type Location } from './errors.js';
import { hasUsableSeparators } from './encoding.js';

/** Character sets pamdrop accepts in MSH-18 (HL7 table 0211 names). */
export const Charset = { Latin1: '8859/1', Latin9: '8859/15', Utf8: 'UNICODE UTF-8', Ascii: 'ASCII' } as const;
export type Charset = (typeof Charset)[keyof typeof Charset];

/** How to decode messages (docs/behaviour.md "Files, framing and characters"; configurable). */
export interface DecodeOptions {
  /** Used when MSH-18 is empty (docs/behaviour.md: `8859/15` out of the box). */
  defaultCharset: Charset;
  /**
   * When a message declared `8859/1` carries bytes 0x80–0x9F (C1 controls in ISO-8859-1, never meant), decode it
   * as windows-1252 with a warning: senders often label cp1252 as 8859/1. Off by default: those
   * bytes are not characters of the declared charset, so the message is an AE (docs/behaviour.md "Files, framing and
   * characters"); a site
   * that knows its sender writes cp1252 turns this on.
   */
  latin1AsCp1252: boolean;
}

/** Defaults of DecodeOptions. */
export const DEFAULT_DECODE_OPTIONS: Readonly<DecodeOptions> = Object.freeze({ defaultCharset: Charset.Latin9, latin1AsCp1252: false });

/** The text of one message and how it was obtained. */
export interface Decoded {
  text: string;
  /** The charset actually used (the default one when MSH-18 is empty). */
  charset: Charset;
  /** MSH-18 as declared, raw ('' when absent). */
  declared: string;
  /** Warnings to report in the ACK (e.g. cp1252 bytes in a 8859/1 message). */
  warnings: Finding[];
}

const MSH18: Location = { segment: 'MSH', field: 18 };

/** Text of the warning given when a 8859/1 message is decoded as windows-1252. */
export const CP1252_WARNING = 'bytes 0x80-0x9F decoded as windows-1252';

/**
 * Names accepted for each charset, compared after upper-casing and removing spaces, '-', '_', '/' and '.':
 * HL7 table 0211 (`8859/1`, `8859/15`, `UNICODE UTF-8`, `ASCII`), IANA/ISO names and DICOM-style `ISO IR100`.
 */
const ALIASES: ReadonlyMap<string, Charset> = new Map<string, Charset>([
  ['88591', Charset.Latin1], ['ISO88591', Charset.Latin1], ['ISOIR100', Charset.Latin1], ['LATIN1', Charset.Latin1],
  ['885915', Charset.Latin9], ['ISO885915', Charset.Latin9], ['ISOIR203', Charset.Latin9], ['LATIN9', Charset.Latin9],
  ['UNICODEUTF8', Charset.Utf8], ['UTF8', Charset.Utf8], ['ISOIR192', Charset.Utf8],
  ['ASCII', Charset.Ascii], ['USASCII', Charset.Ascii], ['ISOIR6', Charset.Ascii],
]);

/** Maps an MSH-18 value to a supported charset, case-insensitively; null when unsupported or empty. */
export function resolveCharset(msh18: string): Charset | null {
  const key = msh18.trim().toUpperCase().replace(/[\s\-_/.]+/g, '');
  if (key === '') return null;
  return ALIASES.get(key) ?? null;
}

/** Offset of the first byte after a UTF-8 BOM at the start, else 0. */
function bomLength(bytes: Buffer): number {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
}

/** MSH-18 from message text whose MSH reads as ASCII ('' when absent). */
function msh18OfText(text: string): string {
  if (text.length < 4 || !text.startsWith('MSH')) return '';
  // Separators that cannot be trusted (`MSH||~\&|…`) would read another field as MSH-18 and blame the charset:
  // undeclared here, and the parser then says what is wrong (MSH-2).
  if (!hasUsableSeparators(text)) return '';
  const sep = text[3]!;
  let end = text.indexOf('\r');
  const lf = text.indexOf('\n');
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  if (end < 0) end = text.length;
  // The separator after "MSH" (MSH-1 itself) precedes MSH-2; the k-th separator precedes MSH-(k+1).
  let pos = 3;
  for (let k = 2; k <= 17; k++) {
    pos = text.indexOf(sep, pos + 1);
    if (pos < 0 || pos >= end) return '';
  }
  let stop = text.indexOf(sep, pos + 1);
  if (stop < 0 || stop > end) stop = end;
  return text.slice(pos + 1, stop);
}

/**
 * Reads MSH-18 from the raw bytes of a message (the MSH segment is ASCII), using MSH-1 as the field separator.
 * Only the first segment is looked at; a leading BOM is skipped. Returns the raw field text, '' when absent
 * (or no MSH).
 */
export function readMsh18(bytes: Buffer): string {
  const start = bomLength(bytes);
  let end = bytes.indexOf(0x0d, start);
  const lf = bytes.indexOf(0x0a, start);
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  return msh18OfText(bytes.toString('latin1', start, end < 0 ? bytes.length : end));
}

/** Resolved MSH-18 values: a feed uses one or two spellings, resolving them again for each message is waste. */
const resolvedCache = new Map<string, Charset | null>();

/** The last MSH-18 resolved and its answer: a feed repeats the same value message after message. */
let lastDeclared = '';
let lastResolved: Charset | null = null;

function resolveCached(declared: string): Charset | null {
  if (declared === lastDeclared && declared !== '') return lastResolved;
  let r = resolvedCache.get(declared);
  if (r === undefined) {
    r = resolveCharset(declared);
    if (resolvedCache.size < 256) resolvedCache.set(declared, r);
  }
  lastDeclared = declared;
  lastResolved = r;
  return r;
}

const C1_RE = /[\u0080-\u009f]/;
const NON_ASCII_RE = /[^\u0000-\u007f]/;
/** The 8 code points where ISO-8859-15 differs from ISO-8859-1, keyed by the latin1 reading. */
const LATIN9_DIFF: Readonly<Record<string, string>> = {
  '\u00a4': '€', '\u00a6': 'Š', '\u00a8': 'š', '\u00b4': 'Ž', '\u00b8': 'ž', '\u00bc': 'Œ', '\u00bd': 'œ', '\u00be': 'Ÿ',
};
const LATIN9_DIFF_RE_G = /[\u00a4\u00a6\u00a8\u00b4\u00b8\u00bc-\u00be]/g;
/** Anything an 8859-15 message needs a second look at: C1 bytes (errors) or the 8 differing code points. */
const LATIN9_SPECIAL_RE = /[\u0080-\u009f\u00a4\u00a6\u00a8\u00b4\u00b8\u00bc-\u00be]/;

function undecodable(message: string): Hl7Error {
  return new Hl7Error(ErrorCode.DataType, message, { ...MSH18 });
}

/**
 * Decodes one message per its MSH-18 (or the default charset when MSH-18 is empty). A UTF-8 BOM at the start of
 * the bytes is ignored. Throws Hl7Error: 103 at MSH-18 for an unsupported charset, 102 at MSH-18 for bytes that
 * are not valid in the declared charset.
 */
export function decodeMessage(bytes: Buffer, opts: DecodeOptions): Decoded {
  const start = bomLength(bytes);
  const body = start ? bytes.subarray(start) : bytes;
  // All supported charsets are ASCII supersets and MSH is ASCII: the latin1 reading (native, byte for byte) gives
  // MSH-18, and is already the final text for ASCII, 8859/1 and most 8859/15 messages.
  const latin = body.toString('latin1');
  const declared = msh18OfText(latin);
  let charset: Charset;
  if (declared.trim() === '') {
    charset = opts.defaultCharset;
  } else {
    // A repeating MSH-18 means ISO 2022 code switching, which pamdrop does not do.
    const rep = latin.length > 5 ? latin[5]! : '';
    const resolved = rep && declared.includes(rep) ? null : resolveCached(declared);
    if (resolved === null) {
      throw new Hl7Error(ErrorCode.TableValueNotFound, `MSH-18 character set is not supported (supported: ${Object.values(Charset).join(', ')})`, { ...MSH18 });
    }
    charset = resolved;
  }
  const warnings: Finding[] = [];
  let text = latin;
  switch (charset) {
    case Charset.Ascii:
      if (NON_ASCII_RE.test(latin)) throw undecodable('MSH-18 declares ASCII but the message has bytes above 0x7F');
      break;
    case Charset.Utf8:
      if (isAscii(body)) break;
      if (!isUtf8(body)) throw undecodable('MSH-18 declares UNICODE UTF-8 but the message is not valid UTF-8');
      text = body.toString('utf8');
      break;
    case Charset.Latin9:
      // 8859-15 is 8859-1 except at 8 code points: the latin1 reading plus those 8 is several times faster than a
      // table decoder on the hot path (and gives iconv-lite's result, see charset.test.ts).
      if (LATIN9_SPECIAL_RE.test(latin)) {
        if (C1_RE.test(latin)) throw undecodable('MSH-18 declares 8859/15 but the message has bytes 0x80-0x9F (C1 controls)');
        text = latin.replace(LATIN9_DIFF_RE_G, (ch) => LATIN9_DIFF[ch]!);
      }
      break;
    case Charset.Latin1:
      if (C1_RE.test(latin)) {
        if (!opts.latin1AsCp1252) throw undecodable('MSH-18 declares 8859/1 but the message has bytes 0x80-0x9F (C1 controls)');
        text = iconv.decode(body, 'windows-1252');
        // 0x81 0x8D 0x8F 0x90 0x9D are unassigned in windows-1252: iconv-lite yields U+FFFD for them.
        if (text.includes('\ufffd')) throw undecodable('MSH-18 declares 8859/1 and bytes 0x80-0x9F are not valid windows-1252 either');
        warnings.push({ code: ErrorCode.DataType, severity: Severity.Warning, location: { ...MSH18 }, text: CP1252_WARNING });
      }
      break;
    default:
      throw new Error(`unhandled charset ${charset satisfies never}`);
  }
  return { text, charset, declared, warnings };
}

const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ASTRAL_RE = /[\u{10000}-\u{10ffff}]/gu;

/** Encodes text (e.g. an ACK) in a charset; characters it cannot represent become '?'. */
export function encodeText(text: string, charset: Charset): Buffer {
  // Every supported charset is an ASCII superset: ASCII text (most ACKs) is the same bytes in each of them.
  if (!NON_ASCII_RE.test(text)) return Buffer.from(text, 'latin1');
  // One '?' per character, not per UTF-16 code unit; lone surrogates are not characters either.
  const clean = text.replace(LONE_SURROGATE_RE, '?');
  switch (charset) {
    case Charset.Utf8:
      return Buffer.from(clean, 'utf8');
    case Charset.Ascii:
      return Buffer.from(clean.replace(/[^\x00-\x7f]/gu, '?'), 'latin1');
    case Charset.Latin1:
      return Buffer.from(clean.replace(/[^\x00-\xff]/gu, '?'), 'latin1');
    case Charset.Latin9:
      return iconv.encode(clean.replace(ASTRAL_RE, '?'), 'iso-8859-15');
    default:
      throw new Error(`unhandled charset ${charset satisfies never}`);
  }
}
