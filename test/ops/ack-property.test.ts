/**
 * Test program — the ACK property over the fuzz corpus: seeded fuzz files (bench/harden-fuzz.ts, the generator of
 * `npm run harden`) imported through `pamdrop import` on SQLite and PostgreSQL; every ACK in the ledger then passes
 * `validate --ack`'s structure check against its inbound message (test/helpers/ack-property.ts), and every ACK file
 * in the ACK folder passes `pamdrop validate --ack` itself. The decisions matrix gets the same check after each row
 * (test/pipeline/decisions.test.ts). The last test shows the property can fail: an ACK with one field broken is caught.
 */
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { writeFuzzFile } from '../../bench/harden-fuzz.js';
import { dbKinds } from '../helpers/db.js';
import { makeWorkspace } from '../helpers/workspace.js';
import { checkLedgerAcks } from '../helpers/ack-property.js';
import { checkAck } from '../../src/hl7/ack-check.js';

const SEED = Number(process.env.PAMDROP_HARDEN_SEED ?? 20260301);
const FILES = 40;
const LIMITS = { maxMessageBytes: 256 * 1024, maxFileBytes: 2 * 1024 * 1024 };

describe.each(dbKinds())('every ACK pamdrop writes is well formed (%s)', (kind) => {
  it(`${FILES} seeded fuzz files: every ledger ACK passes the structure check against its inbound message`, async () => {
    const ws = await makeWorkspace(kind, { config: LIMITS });
    try {
      const names: string[] = [];
      for (let i = 0; i < FILES; i++) {
        const name = `fuzz_${String(i).padStart(3, '0')}.hl7`;
        writeFuzzFile(SEED, i, join(ws.inbox, name), LIMITS);
        names.push(name);
      }
      const r = await ws.importFiles(...names);
      expect([0, 1], r.stderr).toContain(r.code);
      const seen = await checkLedgerAcks(ws.db, LIMITS.maxMessageBytes);
      expect(seen.problems).toEqual([]);
      // The corpus really exercised the three codes, mostly against a known inbound message.
      expect(seen.acks).toBeGreaterThan(100);
      expect(Object.keys(seen.codes).sort()).toEqual(['AA', 'AE', 'AR']);
      expect(seen.withInbound / seen.acks).toBeGreaterThan(0.8);

      const files = readdirSync(ws.outbox).map((f) => join(ws.outbox, f));
      const v = await ws.cli('validate', '--ack', ...files, '--inbound', ...readdirSync(ws.inbox).map((f) => join(ws.inbox, f)).concat(ws.archived().map((f) => join(ws.archive, f))), '--json');
      const report = JSON.parse(v.stdout);
      expect(report.acks).toHaveLength(files.length);
      // With the inbound known (a control id the corpus sends with one header only; the generator reuses control ids across files), every ACK file passes as it is on disk. An unknown
      // inbound leaves echoed values unexplained (an inbound MSH-12 `3.0` comes back as is), so those are not asserted.
      const known = report.acks.filter((a: any) => a.inboundKnown);
      expect(known.filter((a: any) => a.problems.length > 0)).toEqual([]);
      expect(known.length).toBeGreaterThan(10);
      expect(v.code).toBe(report.acks.some((a: any) => a.problems.length > 0) ? 1 : 0);
    } finally {
      await ws.cleanup();
    }
  }, 240_000);
});

describe('the property can fail', () => {
  it('one field broken in a well-formed ACK is caught', () => {
    const good = 'MSH|^~\\&|TLSV|EDITEUR|GAM|CHEX|20250312101501||ACK^A28^ACK|PD1|P|2.5^FRA^2.11|||||FRA|8859/15\rMSA|AA|GAM000101\r';
    expect(checkAck(good).problems).toEqual([]);
    expect(checkAck(good.replace('MSA|AA', 'MSA|CA')).problems.map((p) => p.location)).toEqual(['MSA-1']);
  });
});
