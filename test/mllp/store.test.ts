/**
 * The MLLP listener on a real store (SQLite and PostgreSQL): the same reader and per-message processing as a file,
 * so the same identities and the same ACK bytes; idempotency (a resent message replays its stored ACK); the ledger
 * (one files row per connection, messages idx = sequence on the connection); AR for what is not a message.
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dbKinds, makeTarget } from '../helpers/db.js';
import { dumpSite } from '../helpers/dump.js';
import { makeWorkspace } from '../helpers/workspace.js';
import { a28 } from '../intake/site.js';
import { openDb } from '../../src/store/db.js';
import { A28_BAD_NIR_KEY, A28_CREATE, A31_UPDATE, A40_MERGE, A47_IPP_CHANGE, BATCH } from '../fixtures/examples.js';
import { MllpClient, msa } from './client.js';
import { FIXED_TIME, runCli, storeListener } from './helpers.js';

/** The §8 examples as single messages (the batch without its envelope), in feed order. */
const BATCH_MESSAGES = BATCH.split('\r').filter((s) => s && !/^(FHS|BHS|BTS|FTS)\|/.test(s)).join('\r').split(/(?=MSH\|)/).map((m) => `${m}\r`.replace(/\r\r$/, '\r'));
const FEED = [A28_CREATE, A31_UPDATE, ...BATCH_MESSAGES, A40_MERGE, A47_IPP_CHANGE, A28_BAD_NIR_KEY];

beforeAll(() => { process.env.PAMDROP_FIXED_TIME = FIXED_TIME; });
afterAll(() => { delete process.env.PAMDROP_FIXED_TIME; });

describe.each(dbKinds())('MLLP on the store (%s)', (kind) => {
  it('applies the §8 feed exactly as a file of the same messages: same identities, same ACK bytes, one ledger row per connection', async () => {
    // The file path: the same messages in one file, imported.
    const ws = await makeWorkspace(kind);
    const t = makeTarget(kind);
    const emptyRoot = mkdtempSync(join(tmpdir(), 'mllp-root-'));
    try {
      ws.drop('feed.hl7', FEED.join(''));
      expect((await ws.importFiles('feed.hl7')).code).toBe(1); // the bad NIR key: AE
      const fileAcks = new Map([...ws.acks().values()].map((b) => [msa(b).controlId, b]));

      const db = await openDb(t.target);
      const l = await storeListener(db);
      const c = await MllpClient.open(l.listener.port);
      const acks: Buffer[] = [];
      for (const m of FEED) acks.push(await c.request(m));
      c.close();
      await l.close();
      await db.close();

      expect(acks).toHaveLength(FEED.length);
      expect(fileAcks.size).toBe(FEED.length);
      const codes = acks.map((a) => msa(a).code);
      expect(new Set(codes)).toEqual(new Set(['AA', 'AE'])); // accepted and refused messages alike
      // Byte for byte the ACK file of the same message (same file id 1, same position, same fixed clock).
      for (const a of acks) expect(a.toString('latin1')).toBe(fileAcks.get(msa(a).controlId)!.toString('latin1'));

      const viaFile = await dumpSite(ws.root, ws.db);
      const viaMllp = await dumpSite(emptyRoot, t.target);
      for (const table of ['patients', 'identifiers', 'ins', 'history', 'links', 'authorities']) expect(viaMllp[table]).toEqual(viaFile[table]);
      const strip = (rows: unknown) => (rows as Array<Record<string, unknown>>).map(({ file: _f, ack_name: _n, created_at: _c, ...r }) => r);
      expect(strip(viaMllp.messages)).toEqual(strip(viaFile.messages));

      const files = viaMllp.files as Array<Record<string, unknown>>;
      expect(files).toHaveLength(1);
      expect(files[0]).toMatchObject({ source: 'adt', state: 'done', message_count: FEED.length });
      expect(String(files[0]!.name)).toMatch(/^\d{8}T\d{9}Z-\d+-1$/);
      const count = (code: string) => codes.filter((x) => x === code).length;
      expect(JSON.parse(String(files[0]!.summary))).toMatchObject({ messages: FEED.length, AA: count('AA'), AE: count('AE'), AR: 0, duplicates: 0 });
      const idx = (viaMllp.messages as Array<Record<string, unknown>>).map((m) => Number(m.idx)).sort((a, b) => a - b);
      expect(idx).toEqual(FEED.map((_, i) => i));
    } finally {
      await ws.cleanup();
      await t.dispose();
      rmSync(emptyRoot, { recursive: true, force: true });
    }
  }, 180_000);

  it('a resent message is answered with its stored ACK, byte for byte, and applied once', async () => {
    const t = makeTarget(kind);
    const db = await openDb(t.target);
    try {
      const l = await storeListener(db, { clock: { now: () => new Date() } });
      const c1 = await MllpClient.open(l.listener.port);
      const first = await c1.request(A28_CREATE);
      c1.close();
      await new Promise((r) => setTimeout(r, 1100)); // a later clock second: a rebuilt ACK would differ in MSH-7
      const c2 = await MllpClient.open(l.listener.port);
      const again = await c2.request(A28_CREATE);
      const other = await c2.request(A28_CREATE.replace('MARIE LAETITIA ANNE', 'MARIE LAETITIA'));
      c2.close();
      await l.close();
      expect(msa(first).code).toBe('AA');
      expect(again.equals(first)).toBe(true);
      expect(msa(other).code).toBe('AE'); // same MSH-10, other content: AE 205
      expect(other.toString('latin1')).toContain('205');
      const rows = await db.all<{ status: string; idx: number | string; source: string }>(
        'SELECT m.status, m.idx, f.source FROM messages m JOIN files f ON f.id = m.file_id ORDER BY m.id');
      expect(rows.map((r) => [r.status, Number(r.idx), r.source])).toEqual([['applied', 0, 'adt'], ['duplicate', 0, 'adt'], ['conflict', 1, 'adt']]);
      expect(Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM history'))!.n)).toBe(1);
      const conns = await db.all<{ state: string }>('SELECT state FROM files ORDER BY id');
      expect(conns.map((f) => f.state)).toEqual(['done', 'done']);
    } finally {
      await db.close();
      await t.dispose();
    }
  }, 120_000);

  it('a garbled frame with a header gets an AR echoing its MSH-10, an oversize one an AR and a close; nothing stored', async () => {
    const t = makeTarget(kind);
    const db = await openDb(t.target);
    try {
      const l = await storeListener(db, { maxMessageBytes: 2048 });
      const c = await MllpClient.open(l.listener.port);
      c.sendRaw(Buffer.concat([Buffer.from([0x0b]), Buffer.from(A28_CREATE, 'latin1'), Buffer.from([0x1c, 0x58])]));
      const [ar] = await c.waitAcks(1);
      expect(msa(ar!)).toEqual({ code: 'AR', controlId: 'GAM000101' });
      expect(msa(await c.request(A31_UPDATE)).code).toBe('AA');
      c.send(A28_CREATE.replace('PV1|1|N', `PV1|1|N|${'X'.repeat(3000)}`));
      await c.waitClosed();
      expect(c.acks.map((a) => msa(a))).toEqual([{ code: 'AR', controlId: 'GAM000101' }, { code: 'AA', controlId: 'GAM000102' }, { code: 'AR', controlId: 'GAM000101' }]);
      // Two messages in one frame: AR (one message per frame); a frame with no header at all: closed unanswered.
      const c2 = await MllpClient.open(l.listener.port);
      expect(msa(await c2.request(A28_CREATE + A31_UPDATE))).toEqual({ code: 'AR', controlId: 'GAM000101' });
      c2.send('no header here\r');
      await c2.waitClosed();
      expect(c2.acks).toHaveLength(1);
      await l.close();
      const rows = await db.all<{ control_id: string }>('SELECT control_id FROM messages ORDER BY id');
      expect(rows.map((r) => r.control_id)).toEqual(['GAM000102']);
    } finally {
      await db.close();
      await t.dispose();
    }
  }, 120_000);

  it('the journal of a day re-imports as a batch: duplicates with the stored ACKs on the same store, the same identities on a fresh one', async () => {
    const t = makeTarget(kind);
    const db = await openDb(t.target);
    const journalDir = mkdtempSync(join(tmpdir(), 'mllp-journal-'));
    const ws = await makeWorkspace(kind);
    try {
      const l = await storeListener(db, { journalDir });
      const c = await MllpClient.open(l.listener.port);
      const acks: Buffer[] = [];
      for (const m of FEED) acks.push(await c.request(m));
      c.close();
      await l.close();
      const [day] = readdirSync(journalDir);
      expect(day).toMatch(/^adt-\d{4}-\d{2}-\d{2}\.hl7$/);
      const journal = join(journalDir, day!);

      // Same store: every message a duplicate, its ACK file the stored ACK.
      await db.close();
      const again = await runCli(t.target, 'import', journal, '--ack-dir', ws.outbox, '--archive-dir', ws.archive, '--error-dir', ws.error, '--json');
      const report = JSON.parse(again.stdout) as { totals: { messages: number; duplicates: number } };
      expect(report.totals).toMatchObject({ messages: FEED.length, duplicates: FEED.length });
      const replayed = [...ws.acks().values()].map((b) => b.toString('latin1')).sort();
      expect(replayed).toEqual(acks.map((b) => b.toString('latin1')).sort());

      // A fresh store: the same identities as the live feed made.
      ws.drop('journal.hl7', readFileSync(ws.archived().map((f) => join(ws.archive, f))[0]!));
      await ws.importFiles('journal.hl7');
      const live = await dumpSite(journalDir, t.target);
      const batch = await dumpSite(ws.root, ws.db);
      for (const table of ['patients', 'identifiers', 'ins', 'history', 'links']) expect(batch[table]).toEqual(live[table]);
    } finally {
      await db.close().catch(() => {});
      await ws.cleanup();
      await t.dispose();
      rmSync(journalDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('original mode: MSH-15/16 asking for no acknowledgement still get one ACK, after the commit', async () => {
    const t = makeTarget(kind);
    const db = await openDb(t.target);
    try {
      const l = await storeListener(db);
      const c = await MllpClient.open(l.listener.port);
      // MSH-15 and MSH-16 = NE (never): fields 15 and 16 of the §8.1 header, empty there.
      const ne = A28_CREATE.replace('|P|2.5^FRA^2.11|||||FRA|', '|P|2.5^FRA^2.11|||NE|NE|FRA|');
      expect(ne).not.toBe(A28_CREATE);
      expect(msa(await c.request(ne))).toEqual({ code: 'AA', controlId: 'GAM000101' });
      c.close();
      await l.close();
      expect((await db.all('SELECT id FROM messages')).length).toBe(1);
    } finally {
      await db.close();
      await t.dispose();
    }
  }, 120_000);

  it('four connections at once on the same ten patients: every message answered and recorded once, in order per connection', async () => {
    const t = makeTarget(kind);
    const db = await openDb(t.target);
    try {
      const l = await storeListener(db, { clock: { now: () => new Date() } });
      const per = 40;
      const conns = await Promise.all([0, 1, 2, 3].map(() => MllpClient.open(l.listener.port)));
      const codes = await Promise.all(conns.map(async (c, k) => {
        const out: string[] = [];
        for (let i = 0; i < per; i++) out.push(msa(await c.request(a28(String(400000 + (i % 10)), `C${k}-${i}`))).code);
        c.close();
        return out;
      }));
      await l.close();
      expect(codes.flat().every((c) => c === 'AA')).toBe(true);
      const rows = await db.all<{ file_id: number; idx: number; control_id: string }>('SELECT file_id, idx, control_id FROM messages ORDER BY file_id, idx');
      expect(rows).toHaveLength(4 * per);
      const byFile = new Map<string, string[]>();
      for (const r of rows) byFile.set(String(r.file_id), [...(byFile.get(String(r.file_id)) ?? []), `${Number(r.idx)}:${r.control_id}`]);
      expect(byFile.size).toBe(4);
      for (const list of byFile.values()) {
        const k = list[0]!.split(':C')[1]!.split('-')[0];
        expect(list).toEqual(Array.from({ length: per }, (_, i) => `${i}:C${k}-${i}`));
      }
      expect(Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM patients'))!.n)).toBe(10);
    } finally {
      await db.close();
      await t.dispose();
    }
  }, 180_000);

  it('closes the rows of connections an earlier process left open, without touching their messages', async () => {
    const t = makeTarget(kind);
    const db = await openDb(t.target);
    try {
      const l = await storeListener(db);
      const c = await MllpClient.open(l.listener.port);
      await c.request(A28_CREATE);
      // The process "dies": the row stays claimed (no close), as after kill -9.
      await db.run("UPDATE files SET owner = 'elsewhere:1:watch'");
      c.close();
      await new Promise((r) => setTimeout(r, 100));
      await db.run("UPDATE files SET state = 'claimed', summary = NULL, finished_at = NULL");
      await l.close();
      const again = await storeListener(db);
      const rows = await db.all<{ state: string; message_count: number; reason: string | null }>('SELECT state, message_count, reason FROM files');
      expect(rows).toEqual([{ state: 'done', message_count: 1, reason: 'connection ended by a stop or crash of the importer' }]);
      await again.close();
    } finally {
      await db.close();
      await t.dispose();
    }
  }, 120_000);
});
