/**
 * The AR a listener sends for bytes that are not a message it can apply (a garbled frame, a frame over
 * `maxMessageBytes`): built like any NAK from what the header says (hl7/ack.ts), never stored, nothing applied.
 * Null when no MSH header can be read in them: there is nothing to acknowledge, the connection is closed.
 */
import { hash } from 'node:crypto';
import { buildAck } from '../hl7/ack.js';
import { encodeText } from '../hl7/charset.js';
import { hasUsableSeparators } from '../hl7/encoding.js';
import { ErrorCode, Severity } from '../hl7/errors.js';
import { readMessage } from '../pam/reading.js';
import type { ResolvedConfig } from '../config/types.js';
import type { MessageMeta } from './listener.js';

/** First line of `head` after leading whitespace (latin1; MSH is ASCII). */
function firstLine(head: Buffer): { text: string; start: number } {
  let start = 0;
  while (start < head.length && (head[start] === 0x0d || head[start] === 0x0a || head[start] === 0x20)) start++;
  let end = start;
  while (end < head.length && head[end] !== 0x0d && head[end] !== 0x0a) end++;
  return { text: head.toString('latin1', start, end), start };
}

export function refusalAck(head: Buffer, reason: string, meta: MessageMeta, cfg: Pick<ResolvedConfig, 'charset' | 'maxMessageBytes' | 'pam' | 'self'>, now: Date): Buffer | null {
  const line = firstLine(head);
  // A header is readable when the bytes begin with MSH and its separators, and MSH-10 is there to echo.
  if (!hasUsableSeparators(line.text) || line.text.split(line.text[3]!).length < 10) return null;
  const bytes = head.subarray(line.start);
  // Read as a message cut short: decoded for its header only, never interpreted.
  const reading = readMessage({ index: meta.seq, line: 1, offset: 0, bytes, truncated: true }, cfg);
  const controlId = 'PD' + hash('sha256', `${meta.listener}:${meta.connection}:${meta.seq}:${reason}`, 'hex').slice(0, 18).toUpperCase();
  const text = buildAck({
    inbound: reading.msg, fallback: reading.fallback ?? undefined, code: 'AR', controlId, now, self: cfg.self,
    findings: [{ code: ErrorCode.SegmentSequence, severity: Severity.Error, location: { segment: 'MSH' }, text: `${reason}; nothing applied` }],
  });
  return encodeText(text, reading.charset);
}
