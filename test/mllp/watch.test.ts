/**
 * `pamdrop watch --mllp-port` as a process, on SQLite and PostgreSQL:
 * - the independent client python-hl7 `mllp_send` sends the §8 examples (the §8.6 batch's messages and the single
 *   messages, MLLP-framed): one AA/AE per message, the messages in the ledger under the listener's connection row;
 *   /metrics counts them and the status page lists the listener; SIGTERM stops it (exit 0) and closes the row;
 * - kill -9 of `watch` while a Node client sends 5,000 messages: every message the client got an AA for is in the
 *   store; after a restart the client resends every message without an ACK, and none is applied twice.
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSite, spawnCli, until, a28, type Site } from '../intake/site.js';
import { dbKinds } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { mllpFrame } from '../../src/hl7/mllp.js';
import { A28_CREATE, A31_UPDATE, A40_MERGE, A47_IPP_CHANGE, BATCH } from '../fixtures/examples.js';
import { MllpClient, msa } from './client.js';

const sites: Site[] = [];
afterAll(async () => { for (const s of sites) await s.cleanup(); });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** `watch` with an MLLP port and an HTTP port; resolves once the listener accepts connections. */
async function startWatch(site: Site, mllpPort: number, httpPort: number) {
  const w = spawnCli(site, ['watch', '--mllp-port', String(mllpPort), '--http-port', String(httpPort)]);
  await until(async () => {
    if (w.child.exitCode !== null) throw new Error(`watch exited: ${w.stderr()}`);
    return /MLLP listener started/.test(w.stderr());
  }, 30_000, 'the MLLP listener to start');
  return w;
}

const BATCH_MESSAGES = BATCH.split('\r').filter((s) => s && !/^(FHS|BHS|BTS|FTS)\|/.test(s)).join('\r').split(/(?=MSH\|)/).map((m) => `${m}\r`.replace(/\r\r$/, '\r'));
const EXAMPLES = [A28_CREATE, A31_UPDATE, ...BATCH_MESSAGES, A40_MERGE, A47_IPP_CHANGE];

beforeAll(() => {
  const r = spawnSync('mllp_send', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('mllp_send (python3-hl7) is not installed: the independent client test cannot run');
});

describe.each(dbKinds())('watch --mllp-port (%s)', (kind) => {
  it('mllp_send sends the §8 examples: one ACK each, all in the ledger; metrics and status page; SIGTERM closes cleanly', async () => {
    const site = makeSite({ db: kind });
    sites.push(site);
    const [port, httpPort] = [await freePort(), await freePort()];
    const w = await startWatch(site, port, httpPort);
    const feed = join(site.root, 'feed.mllp');
    writeFileSync(feed, Buffer.concat(EXAMPLES.map((m) => mllpFrame(Buffer.from(m, 'latin1')))));
    const r = spawnSync('mllp_send', ['-p', String(port), '-f', feed, '127.0.0.1'], { encoding: 'latin1', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const acks = r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('MSH'));
    expect(acks).toHaveLength(EXAMPLES.length);
    const codes = acks.map((a) => msa(Buffer.from(a, 'latin1')));
    expect(codes.map((c) => c.controlId)).toEqual(EXAMPLES.map((m) => m.split('|')[9]));
    expect(codes.every((c) => c.code === 'AA' || c.code === 'AE')).toBe(true);

    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const aa = codes.filter((c) => c.code === 'AA').length;
    expect(metrics).toContain(`pamdrop_mllp_messages_total{listener="mllp",ack="AA"} ${aa}`);
    expect(metrics).toContain(`pamdrop_mllp_round_trip_seconds_count{listener="mllp"} ${EXAMPLES.length}`);
    expect(metrics).toMatch(/^pamdrop_mllp_connections\{listener="mllp"\} 0$/m);
    const page = await (await fetch(`http://127.0.0.1:${httpPort}/`)).text();
    expect(page).toContain('MLLP listeners');
    expect(page).toContain(`127.0.0.1:${port}`);

    w.child.kill('SIGTERM');
    expect((await w.exit).code).toBe(0);
    const db = await openDb(site.db, { migrate: false });
    try {
      const files = await db.all<{ source: string; state: string; message_count: number; path: string }>('SELECT source, state, message_count, path FROM files');
      expect(files.map((f) => ({ ...f, message_count: Number(f.message_count) }))).toEqual([
        { source: 'mllp', state: 'done', message_count: EXAMPLES.length, path: expect.stringMatching(/^mllp:\/\/127\.0\.0\.1:\d+$/) }]);
      const rows = await db.all<{ control_id: string; outcome: string }>('SELECT control_id, outcome FROM messages ORDER BY idx');
      expect(rows.map((m) => ({ controlId: m.control_id, code: m.outcome }))).toEqual(codes);
    } finally {
      await db.close();
    }
  }, 90_000);

  it('kill -9 while a client sends 5,000 messages: every AA is in the store; after the resend of the rest, none applied twice', async () => {
    const site = makeSite({ db: kind });
    sites.push(site);
    const N = 5000;
    const messages = Array.from({ length: N }, (_, i) => a28(String(300000 + i), `K${i}`));
    const [port, httpPort] = [await freePort(), await freePort()];
    let w = await startWatch(site, port, httpPort);
    const acked = new Map<number, string>();
    const c = await MllpClient.open(port);
    const killAt = 1500 + Math.floor(Math.random() * 1500);
    let next = 0;
    // Two messages in flight: the kill lands between a commit and its ACK as well as between messages.
    for (let i = 0; i < 2 && next < N; i++) c.send(messages[next++]!);
    while (!c.closed) {
      const got = c.acks.length;
      await c.waitAcks(got + 1).catch(() => {});
      if (c.acks.length > got) {
        acked.set(got, msa(c.acks[got]!).code);
        if (next < N) c.send(messages[next++]!);
      }
      if (acked.size === killAt) w.child.kill('SIGKILL');
    }
    await w.exit;
    expect(acked.size).toBeGreaterThanOrEqual(killAt);
    expect(acked.size).toBeLessThan(N);
    expect([...acked.values()].every((code) => code === 'AA')).toBe(true);

    // Every message with an AA is in the store, before any resend.
    let db = await openDb(site.db, { migrate: false });
    try {
      const stored = new Set((await db.all<{ control_id: string }>("SELECT control_id FROM messages WHERE status = 'applied'")).map((r) => r.control_id));
      for (const i of acked.keys()) expect(stored.has(`K${i}`)).toBe(true);
    } finally {
      await db.close();
    }

    // Restart; the client resends every message without an ACK (including any committed just before the kill).
    w = await startWatch(site, port, httpPort);
    const c2 = await MllpClient.open(port);
    const resent: number[] = [];
    for (let i = 0; i < N; i++) {
      if (acked.has(i)) continue;
      resent.push(i);
      expect(msa(await c2.request(messages[i]!)).code).toBe('AA');
    }
    c2.close();
    w.child.kill('SIGTERM');
    expect((await w.exit).code).toBe(0);

    db = await openDb(site.db, { migrate: false });
    try {
      const applied = await db.all<{ control_id: string; n: number | string }>("SELECT control_id, COUNT(*) AS n FROM messages WHERE status = 'applied' GROUP BY control_id");
      expect(applied).toHaveLength(N);
      expect(applied.every((r) => Number(r.n) === 1)).toBe(true);
      expect(Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM patients'))!.n)).toBe(N);
      expect(Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM history'))!.n)).toBe(N);
      // The resend: each message either applied now or replayed as a duplicate of the one committed before the kill.
      const dup = Number((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE status = 'duplicate'"))!.n);
      expect(dup).toBeLessThanOrEqual(2);
      expect(resent.length).toBe(N - acked.size);
      const states = await db.all<{ state: string }>('SELECT state FROM files ORDER BY id');
      expect(states.map((s) => s.state)).toEqual(['done', 'done']);
    } finally {
      await db.close();
    }
  }, 300_000);
});
