/**
 * The optional journal of a listener (`journalDir`): every message received is appended, before it is applied, to
 * `<journalDir>/<listener>-YYYY-MM-DD.hl7` (local date), CR-terminated segments, one message after the other. A
 * day's file is an ordinary batch file: `pamdrop import` (or a drop in an inbox) takes it again, and the messages
 * already applied are answered as duplicates from the ledger.
 *
 * The journal is a copy for re-import, not the truth: the ledger is. It is written with plain appends (no fsync per
 * message) and synced when a day's file is closed.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { safeName } from '../pipeline/files.js';

const CR = Buffer.from('\r');

export class Journal {
  private fd: number | null = null;
  private day = '';

  constructor(readonly dir: string, readonly listener: string, private readonly now: () => Date = () => new Date()) {}

  /** The file of a day (`d`, local date). */
  pathFor(d: Date): string {
    const p = (n: number) => String(n).padStart(2, '0');
    return join(this.dir, `${safeName(this.listener)}-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}.hl7`);
  }

  append(message: Buffer): void {
    const path = this.pathFor(this.now());
    if (path !== this.day) {
      this.close();
      mkdirSync(this.dir, { recursive: true });
      this.fd = openSync(path, 'a', 0o600);
      this.day = path;
    }
    writeSync(this.fd!, message);
    // A message must end its last segment, or the next one would be glued to it.
    if (message.length === 0 || message[message.length - 1] !== 0x0d) writeSync(this.fd!, CR);
  }

  close(): void {
    if (this.fd === null) return;
    try { fsyncSync(this.fd); } finally { closeSync(this.fd); this.fd = null; this.day = ''; }
  }
}
