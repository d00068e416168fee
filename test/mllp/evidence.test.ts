/**
 * `pamdrop evidence` on a message received over a real MLLP listener (SQLite and PostgreSQL): the page holds the
 * message as received, checked against the ledger's hash, with its field table, as for a file message. Once
 * `pamdrop prune` has removed the kept bytes (retention.receivedDays), the page says so and keeps the ledger's side.
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dbKinds, makeTarget } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { A28_CREATE, A31_UPDATE } from '../fixtures/examples.js';
import { MllpClient, msa } from './client.js';
import { FIXED_TIME, runCli, storeListener } from './helpers.js';

beforeAll(() => { process.env.PAMDROP_FIXED_TIME = FIXED_TIME; });
afterAll(() => { delete process.env.PAMDROP_FIXED_TIME; });

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

describe.each(dbKinds())('pamdrop evidence on an MLLP message (%s)', (kind) => {
  it('shows the message as received (hash checked) and its field table, beside the listener, connection and ACK', async () => {
    const t = makeTarget(kind);
    const out = mkdtempSync(join(tmpdir(), 'mllp-evidence-'));
    try {
      const db = await openDb(t.target);
      const l = await storeListener(db);
      const c = await MllpClient.open(l.listener.port);
      await c.request(A28_CREATE);
      const ack = await c.request(A31_UPDATE);
      c.close();
      await l.close();
      await db.close();
      const { code, controlId } = msa(ack);
      expect(code).toBe('AA');

      const r = await runCli(t.target, 'evidence', controlId, '--out', out);
      expect(r.code).toBe(0);
      const pages = readdirSync(out).filter((f) => f.startsWith('message-'));
      expect(pages).toEqual([`message-2-${controlId}.html`]);
      const html = readFileSync(join(out, pages[0]!), 'utf8');
      expect(html).toMatch(/<dt>Transport<\/dt><dd>MLLP<\/dd><dt>Listener<\/dt><dd>adt<\/dd>/);
      expect(html).toContain("bytes identical to the ledger's record");
      expect(html).not.toContain('not available');
      // The raw message: every segment as sent (the fixture's CRs are the message's own segment ends).
      for (const seg of A31_UPDATE.split('\r').filter(Boolean)) expect(html).toContain(esc(seg));
      // Its field table.
      expect(html).toContain('id="inbound-fields"');
      expect(html).toMatch(new RegExp(`<td class="mono">MSH-10</td><td>Message control ID</td><td class="mono">${controlId}</td>`));
      expect(html).toMatch(/<td class="mono">MSH-9<\/td><td>[^<]+<\/td><td class="mono">ADT\^A31/);
      // The ACK: the bytes the client received.
      expect(html).toContain(esc(ack.toString('latin1').split('\r')[0]!));
    } finally {
      await t.dispose();
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  it('prune removes the kept bytes past receivedDays; the ledger row and its ACK stay, and evidence says why', async () => {
    const t = makeTarget(kind);
    const out = mkdtempSync(join(tmpdir(), 'mllp-prune-'));
    try {
      const db = await openDb(t.target);
      const l = await storeListener(db);
      const c = await MllpClient.open(l.listener.port);
      const ack = await c.request(A28_CREATE);
      c.close();
      await l.close();
      await db.close();
      const { controlId } = msa(ack);
      const config = join(out, 'site.json');
      writeFileSync(config, JSON.stringify({ retention: { receivedDays: 30 } }));

      // 29 days later: kept. 31 days later: removed.
      process.env.PAMDROP_FIXED_TIME = '2025-06-30T10:00:00.000Z';
      const early = await runCli(t.target, '--config', config, 'prune', '--json');
      process.env.PAMDROP_FIXED_TIME = '2025-07-02T10:00:00.000Z';
      const late = await runCli(t.target, '--config', config, 'prune', '--json');
      process.env.PAMDROP_FIXED_TIME = FIXED_TIME;
      expect([early.code, late.code]).toEqual([0, 0]);
      expect([JSON.parse(early.stdout).received.removed, JSON.parse(late.stdout).received.removed]).toEqual([0, 1]);

      const check = await openDb(t.target);
      try {
        expect(Number((await check.get<{ n: number }>('SELECT COUNT(*) AS n FROM received_messages'))!.n)).toBe(0);
        const rows = await check.all<{ control_id: string; ack: Buffer }>('SELECT control_id, ack FROM messages');
        expect(rows.map((m) => [m.control_id, Buffer.from(m.ack).equals(ack)])).toEqual([[controlId, true]]);
      } finally {
        await check.close();
      }
      const r = await runCli(t.target, 'evidence', controlId, '--out', out);
      expect(r.code).toBe(0);
      const html = readFileSync(join(out, readdirSync(out).find((f) => f.startsWith('message-'))!), 'utf8');
      expect(html).toContain('its bytes not kept (received before pamdrop kept them, or removed by retention)');
      expect(html).toContain(esc(ack.toString('latin1').split('\r')[0]!));
    } finally {
      await t.dispose();
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
