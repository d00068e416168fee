/**
 * One framed message as the importer reads it before any database: size cap → decode (MSH-18) → parse → acceptance
 * and interpretation (interpret.ts) → the answer before the store: to apply, AE or AR. `import` and `validate` both
 * read messages through here, so they say the same about every message. Pure: no file system, no database.
 */
import type { RawMessage } from '../hl7/batch.js';
import { decodeMessage, readMsh18, resolveCharset, type Charset } from '../hl7/charset.js';
import { Hl7Message } from '../hl7/model.js';
import { hasUsableSeparators } from '../hl7/encoding.js';
import { ErrorCode, Hl7Error, type Finding } from '../hl7/errors.js';
import { interpret } from './interpret.js';
import type { Interpretation, PamOptions } from './types.js';

/** What reading needs of the configuration. */
export interface ReadingOptions {
  charset: { default: Charset; latin1AsCp1252: boolean };
  maxMessageBytes: number;
  pam: PamOptions;
}

/** Header facts read before the store: the idempotency key, the event, and what a NAK echoes when the message could not be parsed. */
export interface ReadHeader {
  sendingApp: string;
  sendingFacility: string;
  controlId: string | null;
  event: string | null;
}

/** Best-effort header of a message that could not be parsed (for its NAK): MSH read as latin1, split by hand. */
export interface FallbackHeader {
  sendingApp: string; sendingFacility: string; receivingApp: string; receivingFacility: string;
  controlId: string; event: string; version: string; charset: string;
}

/** One message as the importer reads it before the store. */
export interface MessageReading {
  /** The parsed message; when it could not be decoded, the message parsed as latin1 for its NAK, or null. */
  msg: Hl7Message | null;
  /** Set when `msg` is null: what the NAK echoes. */
  fallback: FallbackHeader | null;
  header: ReadHeader;
  /** The charset the ACK is written in. */
  charset: Charset;
  /** MSH-18 as sent ('' when not declared; null when the message was not decoded). */
  declared: string | null;
  /** Decoding warnings (cp1252 bytes…). */
  warnings: Finding[];
  /** Why the message could not be read, or null: `size` (over maxMessageBytes), `charset`, `syntax`. */
  unreadable: { stage: 'size' | 'charset' | 'syntax'; error: Hl7Error } | null;
  /** The PAM FR interpretation of a message that was read. */
  interpretation: Interpretation | null;
  /** The answer before the store: AA (to apply; the store may still answer AE or skip it as stale), AE or AR. */
  outcome: 'AA' | 'AE' | 'AR';
}

function fallbackHeader(bytes: Buffer): FallbackHeader & { app1: string; fac1: string } {
  const end = bytes.indexOf(0x0d);
  const line = bytes.toString('latin1', 0, end < 0 ? Math.min(bytes.length, 4096) : end);
  const sep = line.startsWith('MSH') && line.length > 3 ? line[3]! : '|';
  let f = line.split(sep);
  // MSH-2 is the four characters after MSH-1: when they hold the field separator (`MSH||~\&|`), a plain split
  // would shift every field by one and the NAK would echo the wrong MSH-10.
  if (!hasUsableSeparators(line) && line.length > 9 && line[8] === sep && line.startsWith('MSH')) f = ['MSH', line.slice(4, 8), ...line.slice(9).split(sep)];
  const comp = (s: string | undefined) => (s ?? '').split('^')[0] ?? '';
  return {
    sendingApp: f[2] ?? '', sendingFacility: f[3] ?? '', receivingApp: f[4] ?? '', receivingFacility: f[5] ?? '',
    controlId: f[9] ?? '', event: comp((f[8] ?? '').split('^')[1]), version: f[11] ?? '', charset: f[17] ?? '',
    app1: comp(f[2]), fac1: comp(f[3]),
  };
}

/** Reads one framed message: size cap, decode, parse, then acceptance and interpretation. */
export function readMessage(raw: RawMessage, cfg: ReadingOptions): MessageReading {
  let msg: Hl7Message | null = null;
  let charset: Charset = cfg.charset.default;
  let declared: string | null = null;
  const warnings: Finding[] = [];
  let unreadable: MessageReading['unreadable'] = null;

  if (raw.truncated) {
    unreadable = { stage: 'size', error: new Hl7Error(ErrorCode.SegmentSequence, `message exceeds maxMessageBytes (${cfg.maxMessageBytes} bytes): not read`, { segment: 'MSH' }) };
  } else {
    let stage: 'charset' | 'syntax' = 'charset';
    try {
      const d = decodeMessage(raw.bytes, { defaultCharset: cfg.charset.default, latin1AsCp1252: cfg.charset.latin1AsCp1252 });
      charset = d.charset;
      declared = d.declared;
      warnings.push(...d.warnings);
      stage = 'syntax';
      msg = Hl7Message.parse(d.text);
    } catch (err) {
      if (!(err instanceof Hl7Error)) throw err;
      unreadable = { stage, error: err };
    }
  }
  if (unreadable) {
    // Read what we can of the header (MSH is ASCII) to answer with a NAK that echoes it.
    charset = resolveCharset(readMsh18(raw.bytes)) ?? cfg.charset.default;
    try { msg = Hl7Message.parse(raw.bytes.toString('latin1')); } catch { msg = null; }
  }
  const fb = msg ? null : fallbackHeader(raw.bytes);
  const header: ReadHeader = {
    sendingApp: msg ? msg.msh.get(3) : fb!.app1,
    sendingFacility: msg ? msg.msh.get(4) : fb!.fac1,
    controlId: (msg ? msg.msh.get(10) : fb!.controlId) || null,
    event: (msg ? msg.msh.get(9, 2) : fb!.event) || null,
  };
  const fallback: FallbackHeader | null = fb ? {
    sendingApp: fb.sendingApp, sendingFacility: fb.sendingFacility, receivingApp: fb.receivingApp, receivingFacility: fb.receivingFacility,
    controlId: fb.controlId, event: fb.event, version: fb.version, charset: fb.charset,
  } : null;
  if (unreadable) {
    // A message whose header could be read gets AE (its MSH-10 echoed); one whose MSH cannot be parsed, AR.
    return { msg, fallback, header, charset, declared, warnings, unreadable, interpretation: null, outcome: msg ? 'AE' : 'AR' };
  }
  const interpretation = interpret(msg!, cfg.pam);
  return { msg, fallback, header, charset, declared, warnings, unreadable: null, interpretation, outcome: interpretation.ok ? 'AA' : interpretation.ack };
}
