/**
 * `pamdrop validate --ack FILE…`: the structure of ACK files (hl7/ack-check.ts), as the sender or the national test
 * platform will read them. With `--inbound FILE…` the inbound messages are known (matched by MSA-2 = MSH-10), so the
 * echoed fields (MSH-3 to MSH-6, MSH-9.2, MSH-12, MSH-18, MSA-2) are checked too. No database.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { frameBuffer, type RawMessage } from '../hl7/batch.js';
import { checkAck, decodeAck, fallbackInboundHeader, headerOfMsh, type AckProblem, type InboundHeader } from '../hl7/ack-check.js';
import { readMessage } from '../pipeline/reading.js';
import type { ResolvedConfig } from '../config/types.js';

type ReadConfig = Pick<ResolvedConfig, 'charset' | 'maxMessageBytes' | 'pam'>;

/**
 * The header an ACK to this message echoes, read by the importer's own reading (pipeline/reading.ts): the parsed MSH,
 * or the best-effort header of an MSH that cannot be parsed (the importer then answers AR from it).
 */
export function inboundHeaderFor(raw: RawMessage, config: ReadConfig): InboundHeader | null {
  const r = readMessage(raw, config);
  if (r.msg) return headerOfMsh(r.msg.msh);
  return r.fallback ? fallbackInboundHeader(r.fallback) : null;
}

export interface AckFileCheck {
  file: string;
  path: string;
  /** MSA-1. */
  code: string;
  /** MSA-2. */
  inboundControlId: string;
  /** Whether the inbound message was known (echo checks made). */
  inboundKnown: boolean;
  problems: AckProblem[];
}

/** Inbound headers of message files by MSH-10 (raw); a control id sent twice with other headers is left out. */
export function inboundIndex(paths: readonly string[], config: ReadConfig): Map<string, InboundHeader> {
  const out = new Map<string, InboundHeader>();
  const ambiguous = new Set<string>();
  for (const p of paths) {
    for (const item of frameBuffer(readFileSync(p), { maxMessageBytes: config.maxMessageBytes })) {
      if (item.kind !== 'message') continue;
      const h = inboundHeaderFor(item.message, config);
      if (!h) continue;
      const prev = out.get(h.controlId);
      if (prev && JSON.stringify(prev) !== JSON.stringify(h)) ambiguous.add(h.controlId);
      out.set(h.controlId, h);
    }
  }
  for (const k of ambiguous) out.delete(k);
  return out;
}

/** Checks one ACK file: exactly one message, decodable in its MSH-18, well formed. */
export function checkAckFile(path: string, config: Pick<ResolvedConfig, 'charset'>, inbound?: ReadonlyMap<string, InboundHeader>): AckFileCheck {
  const bytes = readFileSync(path);
  const { text, problem } = decodeAck(bytes, config.charset.default);
  const body = text.startsWith('\ufeff') ? text.slice(1) : text;
  const starts = body.split(/\r\n|\r|\n/).filter((l) => /^MSH[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/.test(l)).length;
  const msa2 = /(?:^|\r)MSA(.)[^\r]*/.exec(body);
  const ctl = msa2 ? (msa2[0].replace(/^\r/, '').split(msa2[1]!)[2] ?? '') : '';
  const header = inbound?.get(ctl);
  const r = checkAck(body, header ?? null);
  const problems = [...(problem ? [problem] : []), ...r.problems];
  if (starts > 1) problems.unshift({ location: 'ACK', text: `${starts} messages in one ACK file (one ACK per inbound message)` });
  if (bytes.length === 0) problems.unshift({ location: 'ACK', text: 'empty file' });
  return { file: basename(path), path, code: r.code, inboundControlId: r.inboundControlId, inboundKnown: !!header, problems };
}
