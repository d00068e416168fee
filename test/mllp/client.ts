/** A small MLLP client for the tests: sends framed messages and collects the ACK frames. */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { MllpDecoder, mllpFrame } from '../../src/hl7/mllp.js';

export class MllpClient {
  readonly acks: Buffer[] = [];
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  private waiters: Array<() => void> = [];
  private readonly decoder = new MllpDecoder(1 << 24);

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      for (const it of this.decoder.push(c)) if (it.kind === 'frame') this.acks.push(Buffer.from(it.bytes));
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', (e) => { this.error = e; this.wake(); });
  }

  private wake(): void { const w = this.waiters; this.waiters = []; for (const f of w) f(); }

  static async open(port: number, tls?: ConnectionOptions): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const s = tls ? tlsConnect({ host: '127.0.0.1', port, ...tls }) : tcpConnect({ host: '127.0.0.1', port });
      s.once(tls ? 'secureConnect' : 'connect', () => { s.off('error', reject); resolve(new MllpClient(s)); });
      s.once('error', reject);
    });
  }

  sendRaw(bytes: Buffer | string): void { this.socket.write(bytes); }
  send(message: Buffer | string): void { this.socket.write(mllpFrame(Buffer.isBuffer(message) ? message : Buffer.from(message, 'latin1'))); }

  /** Resolves once `n` ACKs arrived in all, or the connection closed (then fewer may be there). */
  async waitAcks(n: number, timeoutMs = 60_000): Promise<Buffer[]> {
    const until = Date.now() + timeoutMs;
    while (this.acks.length < n && !this.closed) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${n} ACKs (got ${this.acks.length})`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    return this.acks.slice(0, n);
  }

  /** Sends a message and waits for its ACK (original mode). */
  async request(message: Buffer | string, timeoutMs?: number): Promise<Buffer> {
    const n = this.acks.length + 1;
    this.send(message);
    const acks = await this.waitAcks(n, timeoutMs);
    if (acks.length < n) throw new Error('connection closed before the ACK');
    return acks[n - 1]!;
  }

  async waitClosed(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > until) throw new Error('timed out waiting for the server to close');
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }

  close(): void { this.socket.destroy(); }
}

/** MSA-1 and MSA-2 of an ACK. */
export function msa(ack: Buffer): { code: string; controlId: string } {
  const seg = ack.toString('latin1').split('\r').find((s) => s.startsWith('MSA'));
  const f = (seg ?? '').split('|');
  return { code: f[1] ?? '', controlId: f[2] ?? '' };
}
