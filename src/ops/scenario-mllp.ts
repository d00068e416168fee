/**
 * `pamdrop scenarios run --via mllp`: an in-process MLLP listener on a loopback port over the scenario's store (the
 * same listener and store sink as `watch`), and a plain Node MLLP client that sends each step's message on one
 * connection and waits for its ACK.
 */
import { connect, type Socket } from 'node:net';
import { MllpDecoder, mllpFrame } from '../hl7/mllp.js';
import { MllpListener } from '../mllp/listener.js';
import { StoreSink } from '../mllp/store-sink.js';
import { makeOwner } from '../store/ledger.js';
import type { Db } from '../store/tx.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';

export const SCENARIO_LISTENER = 'scenarios-mllp';

export interface ScenarioLink {
  /** Sends one message and resolves its ACK bytes, as received. */
  request(message: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

/** Starts the listener on 127.0.0.1 (any free port) and connects one client to it. */
export async function openScenarioLink(o: { db: Db; config: ResolvedConfig; log: Logger; clock: Clock }): Promise<ScenarioLink> {
  const maxMessageBytes = o.config.maxMessageBytes;
  const sink = new StoreSink({ db: o.db, config: o.config, log: o.log, clock: o.clock, owner: makeOwner('scenarios') }, { name: SCENARIO_LISTENER, maxMessageBytes });
  const listener = new MllpListener({ name: SCENARIO_LISTENER, host: '127.0.0.1', port: 0, maxMessageBytes, idleTimeoutMs: 60_000, maxConnections: 1, sink, log: o.log });
  await listener.start();
  let socket: Socket;
  try {
    socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: listener.port });
      s.once('connect', () => { s.off('error', reject); resolve(s); });
      s.once('error', reject);
    });
  } catch (e) {
    await listener.close();
    throw e;
  }
  const decoder = new MllpDecoder(1 << 24);
  const acks: Buffer[] = [];
  let waiter: (() => void) | null = null;
  let ended: Error | null = null;
  const wake = () => { const w = waiter; waiter = null; w?.(); };
  socket.on('data', (c: Buffer) => { for (const it of decoder.push(c)) if (it.kind === 'frame') acks.push(Buffer.from(it.bytes)); wake(); });
  socket.on('close', () => { ended ??= new Error('the listener closed the connection before the ACK'); wake(); });
  socket.on('error', (e) => { ended = e; wake(); });
  return {
    async request(message) {
      socket.write(mllpFrame(message));
      while (acks.length === 0) {
        if (ended) throw ended;
        await new Promise<void>((r) => { waiter = r; });
      }
      return acks.shift()!;
    },
    async close() {
      await new Promise<void>((r) => { socket.once('close', () => r()); socket.end(); if (socket.destroyed) r(); });
      await listener.close();
    },
  };
}
