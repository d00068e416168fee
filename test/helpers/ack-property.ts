/**
 * The ACK property: every ACK pamdrop has written (the ledger's exact bytes) passes `validate --ack`'s structure check
 * (src/hl7/ack-check.ts) against the inbound message it answers, read back from the archived file. Used after the
 * decisions matrix rows (test/pipeline/decisions.test.ts) and over the fuzz corpus (test/ops/ack-property.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { frameBuffer, type RawMessage } from '../../src/hl7/batch.js';
import { Charset } from '../../src/hl7/charset.js';
import { checkAck, decodeAck } from '../../src/hl7/ack-check.js';
import { inboundHeaderFor } from '../../src/ops/ack-validate.js';
import { getDefaultConfig } from '../../src/config/defaults.js';
import { openDb } from '../../src/store/db.js';
import { evidenceMessages } from '../../src/store/reads/evidence.js';

export interface LedgerAcks { acks: number; withInbound: number; codes: Record<string, number>; problems: string[] }

/** Checks every ACK of the store at `target`; problems name the file, position and control id, then the irregularity. */
export async function checkLedgerAcks(target: string, maxMessageBytes = 16 * 1024 * 1024): Promise<LedgerAcks> {
  const db = await openDb(target, { create: false });
  try {
    const rows = await evidenceMessages(db, { limit: 10_000_000 });
    const files = new Map<string, Map<number, RawMessage>>();
    const out: LedgerAcks = { acks: 0, withInbound: 0, codes: {}, problems: [] };
    for (const r of rows) {
      const path = r.file_archived_path;
      if (path && !files.has(path)) {
        const m = new Map<number, RawMessage>();
        if (existsSync(path)) for (const it of frameBuffer(readFileSync(path), { maxMessageBytes })) if (it.kind === 'message') m.set(it.message.index, it.message);
        files.set(path, m);
      }
      const raw = path ? files.get(path)!.get(r.idx) : undefined;
      const inbound = raw ? inboundHeaderFor(raw, { ...getDefaultConfig(), maxMessageBytes }) : null;
      const ack = decodeAck(r.ack, Charset.Latin9);
      const check = checkAck(ack.text, inbound);
      out.acks++;
      if (inbound) out.withInbound++;
      out.codes[check.code] = (out.codes[check.code] ?? 0) + 1;
      const problems = [...(ack.problem ? [ack.problem] : []), ...check.problems];
      if (check.code !== r.outcome) problems.push({ location: 'MSA-1', text: `${check.code} but the ledger says ${r.outcome}` });
      for (const p of problems) out.problems.push(`${r.file_name}#${r.idx + 1} ${JSON.stringify(r.control_id)}: ${p.location}: ${p.text}`);
    }
    return out;
  } finally {
    await db.close();
  }
}
