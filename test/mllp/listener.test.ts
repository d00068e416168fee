/** The listener against a fake sink: framing, order, limits, refusals (no store; test/mllp/store.test.ts has it). */
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MllpListener, type MessageMeta, type MessageSink, type ListenerOptions } from '../../src/mllp/listener.js';
import { Journal } from '../../src/mllp/journal.js';
import { silentLogger } from '../../src/shared/logger.js';
import { MllpClient, msa } from './client.js';

const msg = (id: string, pad = '') => `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312101500||ADT^A28^ADT_A05|${id}|P|2.5\rEVN||20250312101500\rPID|1||${pad}\r`;
const controlIdOf = (b: Buffer) => b.toString('latin1').split('|')[9] ?? '';

/** Answers AA echoing MSH-10 after `delayMs`; records what it saw and when the "commit" happened. */
class FakeSink implements MessageSink {
  readonly seen: Array<{ id: string; meta: MessageMeta }> = [];
  readonly committed: string[] = [];
  readonly closedConns: string[] = [];
  failOn: string | null = null;
  constructor(private readonly delayMs = 0) {}
  async handle(bytes: Buffer, meta: MessageMeta): Promise<Buffer> {
    const id = controlIdOf(bytes);
    this.seen.push({ id, meta });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (id === this.failOn) throw Object.assign(new Error('store down'), { code: 'ECONNREFUSED' });
    this.committed.push(id);
    return Buffer.from(`MSH|^~\\&|TLSV|EDITEUR|GAM|CHEX|20250312101501||ACK^A28^ACK|X|P|2.5\rMSA|AA|${id}\r`, 'latin1');
  }
  refuse(head: Buffer): Buffer | null {
    if (!head.toString('latin1').startsWith('MSH|')) return null;
    return Buffer.from(`MSH|^~\\&|TLSV|EDITEUR|GAM|CHEX|20250312101501||ACK^A28^ACK|X|P|2.5\rMSA|AR|${controlIdOf(head)}\r`, 'latin1');
  }
  async closed(meta: { connection: string }): Promise<void> { this.closedConns.push(meta.connection); }
}

const listeners: MllpListener[] = [];
const clients: MllpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const l of listeners.splice(0)) await l.close();
});

async function start(sink: MessageSink, o: Partial<ListenerOptions> = {}): Promise<MllpListener> {
  const l = new MllpListener({ name: 'adt', host: '127.0.0.1', port: 0, maxMessageBytes: 4096, idleTimeoutMs: 60_000, maxConnections: 4, sink, log: silentLogger, ...o });
  await l.start();
  listeners.push(l);
  return l;
}
async function client(l: MllpListener): Promise<MllpClient> {
  const c = await MllpClient.open(l.port);
  clients.push(c);
  return c;
}

describe('MLLP listener (fake sink)', () => {
  it('answers each message with the sink\'s ACK, after the sink resolved, in order, with its sequence on the connection', async () => {
    const sink = new FakeSink(5);
    const l = await start(sink);
    const c = await client(l);
    for (let i = 0; i < 5; i++) c.send(msg(`M${i}`)); // pipelined: sent before any ACK
    const acks = await c.waitAcks(5);
    expect(acks.map((a) => msa(a))).toEqual([0, 1, 2, 3, 4].map((i) => ({ code: 'AA', controlId: `M${i}` })));
    expect(sink.seen.map((s) => s.meta.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(sink.seen.map((s) => s.meta.connection)).size).toBe(1);
    expect(sink.seen[0]!.meta.listener).toBe('adt');
  });

  it('serves several connections at once, each in its own order, with distinct connection ids', async () => {
    const sink = new FakeSink(1);
    const l = await start(sink);
    const cs = await Promise.all([client(l), client(l), client(l)]);
    await Promise.all(cs.map(async (c, k) => { for (let i = 0; i < 10; i++) expect(msa(await c.request(msg(`C${k}-${i}`))).controlId).toBe(`C${k}-${i}`); }));
    const byConn = new Map<string, string[]>();
    for (const s of sink.seen) byConn.set(s.meta.connection, [...(byConn.get(s.meta.connection) ?? []), s.id]);
    expect(byConn.size).toBe(3);
    for (const ids of byConn.values()) expect(ids).toEqual(ids.slice().sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1])));
    expect(l.view().connections).toHaveLength(3);
  });

  it('a message over maxMessageBytes gets an AR, is not handed to the sink, and the connection is closed', async () => {
    const sink = new FakeSink();
    const l = await start(sink, { maxMessageBytes: 1024 });
    const c = await client(l);
    expect(msa(await c.request(msg('OK1'))).code).toBe('AA');
    c.send(msg('BIG', 'X'.repeat(2000)));
    c.send(msg('AFTER'));
    await c.waitClosed();
    expect(c.acks.map((a) => msa(a))).toEqual([{ code: 'AA', controlId: 'OK1' }, { code: 'AR', controlId: 'BIG' }]);
    expect(sink.seen.map((s) => s.id)).toEqual(['OK1']);
  });

  it('a garbled frame with a readable header gets an AR and the connection goes on; without one the connection is closed', async () => {
    const sink = new FakeSink();
    const l = await start(sink);
    const c = await client(l);
    c.sendRaw(Buffer.concat([Buffer.from([0x0b]), Buffer.from(msg('G1'), 'latin1'), Buffer.from([0x1c, 0x41])]));
    expect(msa((await c.waitAcks(1))[0]!)).toEqual({ code: 'AR', controlId: 'G1' });
    expect(msa(await c.request(msg('OK2')))).toEqual({ code: 'AA', controlId: 'OK2' });
    c.sendRaw('garbage without any header\r');
    c.send(msg('NEVER'));
    await c.waitClosed();
    expect(sink.seen.map((s) => s.id)).toEqual(['OK2']);
  });

  it('a frame cut by the client closing is never handed to the sink', async () => {
    const sink = new FakeSink();
    const l = await start(sink);
    const c = await client(l);
    const whole = Buffer.from(`\x0b${msg('CUT')}`, 'latin1');
    c.sendRaw(whole);
    c.socket.end();
    await c.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    expect(sink.seen).toEqual([]);
    expect(sink.closedConns).toHaveLength(1);
  });

  it('a store failure sends no ACK and closes the connection', async () => {
    const sink = new FakeSink();
    sink.failOn = 'F2';
    const l = await start(sink);
    const c = await client(l);
    expect(msa(await c.request(msg('F1'))).code).toBe('AA');
    c.send(msg('F2'));
    c.send(msg('F3'));
    await c.waitClosed();
    expect(c.acks.map((a) => msa(a).controlId)).toEqual(['F1']);
    expect(sink.committed).toEqual(['F1']);
  });

  it('closes a connection idle for idleTimeoutMs', async () => {
    const l = await start(new FakeSink(), { idleTimeoutMs: 300 });
    const c = await client(l);
    const t0 = Date.now();
    await c.waitClosed(5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('closes connections beyond maxConnections as they arrive', async () => {
    const l = await start(new FakeSink(), { maxConnections: 2 });
    const a = await client(l);
    const b = await client(l);
    expect(msa(await a.request(msg('A'))).code).toBe('AA');
    expect(msa(await b.request(msg('B'))).code).toBe('AA');
    const extra = await client(l);
    await extra.waitClosed();
    expect(extra.acks).toEqual([]);
    expect(msa(await a.request(msg('A2'))).code).toBe('AA');
  });

  it('close() lets the message in hand be answered before the connection ends', async () => {
    const sink = new FakeSink(200);
    const l = await start(sink);
    const c = await client(l);
    c.send(msg('SLOW'));
    await new Promise((r) => setTimeout(r, 50));
    await l.close();
    listeners.length = 0;
    await c.waitClosed();
    expect(c.acks.map((a) => msa(a))).toEqual([{ code: 'AA', controlId: 'SLOW' }]);
  });

  it('the journal holds every message received, in order, as a batch file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mllp-journal-'));
    const l = await start(new FakeSink(), { journal: new Journal(dir, 'adt') });
    const c = await client(l);
    for (const id of ['J1', 'J2', 'J3']) await c.request(msg(id));
    await l.close();
    listeners.length = 0;
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^adt-\d{4}-\d{2}-\d{2}\.hl7$/);
    expect(readFileSync(join(dir, files[0]!), 'latin1')).toBe(msg('J1') + msg('J2') + msg('J3'));
  });
});
