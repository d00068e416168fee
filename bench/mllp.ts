/**
 * The MLLP stages of `npm run bench`: the first 10,000 messages of the generated batch sent to a listener of
 * `watch`'s kind (src/mllp: store sink, one transaction per message, each ACK written after its durable commit),
 * over `connections` TCP connections at once, each sending its share in original mode (the next message only after
 * the ACK of the one before). The client runs in this same process, on loopback.
 *
 * Reported: msg/s over the whole send, the round trip per message as the client sees it (frame written → ACK
 * frame received), p50 / p99 / max, and the CPU time of this process per message.
 */
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { frameFile } from './frame-file.js';
import { MllpDecoder, mllpFrame } from '../src/hl7/mllp.js';
import type { StageArgs, StageResult } from './stages.js';

/** Messages per MLLP stage (the brief's figure: 10,000 on one connection). */
export const MLLP_MESSAGES = 10_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Sends `messages` in order on one connection, one at a time; pushes each round trip (ms) to `rtt`. */
async function sendAll(port: number, messages: Buffer[], rtt: number[]): Promise<Record<string, number>> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
  socket.setNoDelay(true);
  const decoder = new MllpDecoder(1 << 24);
  const codes: Record<string, number> = {};
  let i = 0;
  let sentAt = 0;
  await new Promise<void>((resolve, reject) => {
    const sendNext = () => {
      if (i >= messages.length) { socket.end(); resolve(); return; }
      sentAt = performance.now();
      socket.write(mllpFrame(messages[i++]!));
    };
    socket.on('data', (chunk: Buffer) => {
      for (const it of decoder.push(chunk)) {
        if (it.kind !== 'frame') { reject(new Error('garbled ACK')); return; }
        rtt.push(performance.now() - sentAt);
        const code = /\rMSA\|(A[AER])/.exec(it.bytes.toString('latin1'))?.[1] ?? '?';
        codes[code] = (codes[code] ?? 0) + 1;
        sendNext();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => { if (i < messages.length) reject(new Error(`connection closed after ${i} messages`)); });
    sendNext();
  });
  return codes;
}

export async function mllpStage(a: StageArgs, connections: number): Promise<Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'>> {
  const { openDb } = await import('../src/store/db.js');
  const { getDefaultConfig, getDefaultListener } = await import('../src/config/defaults.js');
  const { startListeners } = await import('../src/mllp/service.js');
  const { systemClock } = await import('../src/shared/clock.js');
  const { silentLogger } = await import('../src/shared/logger.js');
  const { makeOwner } = await import('../src/store/ledger.js');

  const messages: Buffer[] = [];
  for await (const item of frameFile(a.file)) {
    if (item.kind === 'message') messages.push(item.message.bytes);
    if (messages.length >= MLLP_MESSAGES) break;
  }
  const bytes = messages.reduce((n, m) => n + m.length, 0);
  const db = await openDb(a.pg ?? join(a.work, 'pamdrop.sqlite'));
  const running = await startListeners({ db, config: getDefaultConfig(), log: silentLogger, clock: systemClock, owner: makeOwner('bench') },
    [getDefaultListener('bench', 0)]);
  try {
    const port = running.listeners[0]!.port;
    const rtt: number[] = [];
    const shares = Array.from({ length: connections }, (_, k) => messages.filter((_, i) => i % connections === k));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const codes = await Promise.all(shares.map((s) => sendAll(port, s, rtt)));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    rtt.sort((x, y) => x - y);
    const total: Record<string, number> = {};
    for (const c of codes) for (const [k, v] of Object.entries(c)) total[k] = (total[k] ?? 0) + v;
    const stored = Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM messages'))!.n);
    if (stored !== messages.length) throw new Error(`mllp: ${stored} ledger rows for ${messages.length} messages sent`);
    return {
      messages: messages.length, bytes,
      extra: { connections, sendMs: Math.round(ms), msgPerSec: Math.round(messages.length / (ms / 1000)), p50Ms: Number(percentile(rtt, 50).toFixed(2)),
        p99Ms: Number(percentile(rtt, 99).toFixed(2)), maxMs: Number(rtt[rtt.length - 1]!.toFixed(2)), acks: total,
        // CPU of this process (listener, store, client) per message: on a loaded machine the wall time is mostly waiting.
        cpuMsPerMsg: Number(((cpu.user + cpu.system) / 1000 / messages.length).toFixed(3)) },
    };
  } finally {
    await running.close();
    await db.close();
  }
}
