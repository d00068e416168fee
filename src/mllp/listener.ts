/**
 * One MLLP listener of `watch` (docs/mllp.md): a TCP or TLS server whose connections send HL7 messages in MLLP
 * frames (hl7/mllp.ts) and get one ACK per message, in original mode.
 *
 * - The listener knows nothing of the store: every frame goes to a `MessageSink`, which applies it (one
 *   transaction) and resolves the ACK bytes only after the commit. The ACK is written to the socket after that.
 * - Messages of one connection are handled one after the other, in the order received (a sender that sends the
 *   next message before its ACK is served in order; the socket is paused while a backlog builds up).
 * - Limits: a frame over `maxMessageBytes` gets a NAK (when its header can be read) and the connection is closed;
 *   a connection silent for `idleTimeoutMs` is closed; connections beyond `maxConnections` are closed as they
 *   arrive; a garbled frame gets an AR when a header can be read in it, otherwise the connection is closed.
 *   Nothing of a garbled, oversize or unfinished frame is applied.
 * - A store failure while a message is handled sends no ACK and closes the connection: the sender resends the
 *   message on a new connection (an ACK is never sent for a message that was not committed).
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { MllpDecoder, mllpFrame, type MllpItem } from '../hl7/mllp.js';
import type { Logger } from '../shared/logger.js';
import type { Journal } from './journal.js';

/** Where a message comes from: the listener, the connection (its ledger name), and its 0-based place on it. */
export interface MessageMeta { listener: string; connection: string; seq: number }

/** What the listener hands each frame to (the store path, or a fake in unit tests). */
export interface MessageSink {
  /**
   * Applies the message (one transaction); resolves its ACK bytes once committed. Rejects on a store failure.
   * Resolves null for a frame that holds no message and no readable header: nothing to answer, the connection closes.
   */
  handle(bytes: Buffer, meta: MessageMeta): Promise<Buffer | null>;
  /** The AR for bytes that are not a message frame (garbled, oversize): null when no header can be read in them. */
  refuse(head: Buffer, reason: string, meta: MessageMeta): Buffer | null;
  /** A connection opened (before its first message); `remote`: the peer's address and port. */
  opened?(meta: Omit<MessageMeta, 'seq'>, remote: string): void;
  /** The connection closed (after its last message was answered). */
  closed?(meta: Omit<MessageMeta, 'seq'>): Promise<void>;
}

/** TLS settings, files read at start. */
export interface ListenerTls { certFile: string; keyFile: string; caFile?: string; requireClientCert: boolean }

export interface ListenerOptions {
  name: string;
  host: string;
  /** 0: any free port (tests). */
  port: number;
  tls?: ListenerTls | null;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxConnections: number;
  sink: MessageSink;
  log: Logger;
  journal?: Journal | null;
  observer?: ListenerObserver;
}

/** Metrics hooks (src/observe): no patient data, only listener names, ACK codes and durations. */
export interface ListenerObserver {
  connections(listener: string, open: number): void;
  refused(listener: string, reason: 'max-connections' | 'tls'): void;
  /** One message answered: its ACK code (or `none` when the connection was closed without one) and round trip (s). */
  answered(listener: string, ack: 'AA' | 'AE' | 'AR' | 'none', seconds: number): void;
}

/** A live connection, as the status page shows it. */
export interface ConnectionView { id: string; remote: string; since: string; messages: number; lastMessageAt: string | null; tls: boolean }

export interface ListenerView { name: string; host: string; port: number; tls: boolean; connections: ConnectionView[] }

/** MSA-1 of an ACK (the byte after `MSA` and its field separator). */
export function ackCode(ack: Buffer): 'AA' | 'AE' | 'AR' | 'none' {
  const i = ack.indexOf('\rMSA');
  if (i < 0 || ack.length < i + 7) return 'none';
  const code = ack.toString('latin1', i + 5, i + 7);
  return code === 'AA' || code === 'AE' || code === 'AR' ? code : 'none';
}

const compactIso = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace('.', '');

/** Backlog (frames received, not yet answered) at which a connection stops being read until it drains. */
const PAUSE_AT = 32;

class Connection {
  readonly id: string;
  readonly since = new Date();
  private readonly decoder: MllpDecoder;
  private readonly queue: Array<{ item: MllpItem; at: number }> = [];
  private busy = false;
  private closing = false;
  seq = 0;
  lastMessageAt: Date | null = null;
  /** Resolves when the connection is closed and its last message answered. */
  readonly done: Promise<void>;
  private finish!: () => void;

  constructor(private readonly l: MllpListener, readonly socket: Socket, n: number, readonly tls: boolean) {
    // Unique in the ledger across restarts and instances: start time, process, counter.
    this.id = `${compactIso(this.since)}-${process.pid}-${n}`;
    this.decoder = new MllpDecoder(l.o.maxMessageBytes);
    this.done = new Promise((r) => { this.finish = r; });
    socket.setNoDelay(true);
    l.o.sink.opened?.({ listener: l.o.name, connection: this.id }, this.remote);
    socket.setTimeout(l.o.idleTimeoutMs, () => {
      if (this.busy) return; // waiting for the store is not idleness
      l.log.info('MLLP connection idle: closed', { connection: this.id, idleTimeoutMs: l.o.idleTimeoutMs });
      this.close();
    });
    socket.on('data', (chunk: Buffer) => this.receive(this.decoder.push(chunk)));
    socket.on('end', () => { this.receive(this.decoder.end()); this.closing = true; this.drain(); });
    socket.on('error', (err) => l.log.warn('MLLP connection error', { connection: this.id, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    socket.on('close', () => { this.closing = true; this.queue.length = 0; if (!this.busy) this.closed(); });
  }

  get remote(): string { return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`; }

  private receive(items: MllpItem[]): void {
    if (items.length === 0) return;
    const at = performance.now();
    for (const item of items) this.queue.push({ item, at });
    if (this.queue.length >= PAUSE_AT) this.socket.pause();
    this.drain();
  }

  /** Ends the connection after the message in hand (if any) is answered. */
  close(): void {
    this.closing = true;
    this.queue.length = 0;
    if (!this.busy) this.socket.destroy();
  }

  private drain(): void {
    if (this.busy) return;
    const next = this.queue.shift();
    if (!next) {
      if (this.socket.isPaused() && !this.closing) this.socket.resume();
      if (this.closing && !this.socket.destroyed) this.socket.destroySoon(); // after the last ACK is flushed
      return;
    }
    this.busy = true;
    this.process(next.item, next.at).then(
      (keepOpen) => { this.busy = false; if (!keepOpen) this.close(); else this.drain(); if (this.socket.destroyed) this.closed(); },
      (err) => {
        this.busy = false;
        this.l.log.error('MLLP message not applied (store failure): no ACK sent, connection closed so that the sender resends it',
          { connection: this.id, seq: this.seq, error: (err as Error).name, code: (err as NodeJS.ErrnoException).code });
        this.close();
        this.closed();
      });
  }

  /** Handles one item; resolves false when the connection must be closed after it. */
  private async process(item: MllpItem, at: number): Promise<boolean> {
    const l = this.l;
    const meta = { listener: l.o.name, connection: this.id, seq: this.seq };
    if (item.kind === 'frame') {
      l.o.journal?.append(item.bytes);
      const ack = await l.o.sink.handle(item.bytes, meta);
      if (ack === null) {
        l.log.warn('MLLP frame without a message or a readable header: connection closed', { connection: this.id, bytes: item.bytes.length });
        return false;
      }
      this.seq++;
      this.lastMessageAt = new Date();
      const sent = this.send(ack);
      l.o.observer?.answered(l.o.name, sent ? ackCode(ack) : 'none', (performance.now() - at) / 1000);
      return sent;
    }
    const reason = item.kind === 'oversize' ? `message exceeds maxMessageBytes (${item.limit} bytes): not read` : item.reason;
    const nak = l.o.sink.refuse(item.head, reason, meta);
    l.log.warn(item.kind === 'oversize' ? 'MLLP message too large: refused, connection closed' : 'MLLP frame garbled: refused',
      { connection: this.id, reason, answered: nak !== null, bytes: item.head.length });
    if (nak) {
      this.send(nak);
      l.o.observer?.answered(l.o.name, ackCode(nak), (performance.now() - at) / 1000);
    }
    // Oversize: where the next frame begins is unknown. Garbled without a header: nothing to answer.
    return item.kind === 'garbled' && nak !== null;
  }

  private send(ack: Buffer): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(mllpFrame(ack));
    return true;
  }

  private closedOnce = false;
  private closed(): void {
    if (this.closedOnce || this.busy) return;
    this.closedOnce = true;
    if (!this.socket.destroyed) this.socket.destroy();
    this.l.forget(this);
    const p = this.l.o.sink.closed?.({ listener: this.l.o.name, connection: this.id }) ?? Promise.resolve();
    p.catch((err) => this.l.log.warn('MLLP connection: closing its ledger row failed', { connection: this.id, error: (err as Error).message }))
      .finally(() => this.finish());
  }
}

/** An MLLP server; `start()` binds, `close()` stops accepting and lets each connection finish its message in hand. */
export class MllpListener {
  readonly log: Logger;
  private server: Server | null = null;
  private readonly live = new Set<Connection>();
  private counter = 0;
  private boundPort = 0;

  constructor(readonly o: ListenerOptions) {
    this.log = o.log.child({ listener: o.name });
  }

  get port(): number { return this.boundPort; }

  /** Binds the port; rejects when it cannot (in use, no permission) or when the certificates cannot be read. */
  async start(): Promise<void> {
    const onSocket = (socket: Socket, tls: boolean) => {
      if (this.live.size >= this.o.maxConnections) {
        // net's own maxConnections would refuse before the TLS handshake too; counted here to be seen in /metrics.
        this.log.warn('MLLP connection refused: maxConnections reached', { maxConnections: this.o.maxConnections });
        this.o.observer?.refused(this.o.name, 'max-connections');
        socket.destroy();
        return;
      }
      const c = new Connection(this, socket, ++this.counter, tls);
      this.live.add(c);
      this.log.info('MLLP connection opened', { connection: c.id, remote: c.remote, tls });
      this.o.observer?.connections(this.o.name, this.live.size);
    };
    let server: Server;
    // Sockets still in their TLS handshake are not counted above: a hard cap on every socket keeps them bounded too.
    const hardCap = this.o.maxConnections * 2;
    if (this.o.tls) {
      const t = this.o.tls;
      const tlsServer = createTlsServer({
        cert: readFileSync(t.certFile), key: readFileSync(t.keyFile), ca: t.caFile ? readFileSync(t.caFile) : undefined,
        requestCert: true, rejectUnauthorized: t.requireClientCert, handshakeTimeout: Math.min(this.o.idleTimeoutMs, 30_000),
        minVersion: 'TLSv1.2',
      }, (s: TLSSocket) => onSocket(s, true));
      tlsServer.on('tlsClientError', (err) => {
        this.o.observer?.refused(this.o.name, 'tls');
        this.log.warn('MLLP TLS handshake refused', { error: (err as NodeJS.ErrnoException).code ?? err.message });
      });
      server = tlsServer;
    } else {
      server = createTcpServer((s) => onSocket(s, false));
    }
    server.maxConnections = hardCap;
    server.on('drop', () => this.o.observer?.refused(this.o.name, 'max-connections'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.o.host, port: this.o.port }, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', (err) => this.log.error('MLLP listener error', { error: (err as NodeJS.ErrnoException).code ?? err.message }));
    this.server = server;
    const addr = server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : this.o.port;
    this.o.observer?.connections(this.o.name, 0);
    this.log.info('MLLP listener started', { host: this.o.host, port: this.boundPort, tls: !!this.o.tls });
  }

  /** @internal a connection ended. */
  forget(c: Connection): void {
    if (!this.live.delete(c)) return;
    this.log.info('MLLP connection closed', { connection: c.id, messages: c.seq });
    this.o.observer?.connections(this.o.name, this.live.size);
  }

  view(): ListenerView {
    return {
      name: this.o.name, host: this.o.host, port: this.boundPort, tls: !!this.o.tls,
      connections: [...this.live].map((c) => ({ id: c.id, remote: c.remote, since: c.since.toISOString(), messages: c.seq,
        lastMessageAt: c.lastMessageAt?.toISOString() ?? null, tls: c.tls })),
    };
  }

  /** Stops accepting, lets every connection answer the message in hand, then closes them (and the journal). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    const conns = [...this.live];
    for (const c of conns) c.close();
    await Promise.all(conns.map((c) => c.done));
    await closed;
    this.o.journal?.close();
  }
}
