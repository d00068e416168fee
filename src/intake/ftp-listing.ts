/**
 * What an FTP listing says, in the terms of a FileSource: names and times.
 *
 * Names: the control connection is read and written as Latin-1, one character per byte, so that every name the
 * server sends can be sent back byte for byte. A name whose bytes are UTF-8 is shown decoded; any other name (an
 * old server writing Latin-1, `f\xE9vrier.hl7`) is shown under the rendering of names.ts (`f%E9vrier.hl7`), and
 * the listing remembers which bytes it stands for, so the file is downloaded, archived or deleted under its own
 * bytes on the server while pamdrop stages, archives and acknowledges it under the rendering.
 *
 * Times: LIST gives minutes at best (`Dec 03 13:13`, or only a date for older files), MLSD whole seconds. The
 * time is only compared for equality between two listings (and for `sort: "mtime"`): stability is judged on our
 * own clock, never by subtracting the server's.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { isUtf8Name, renderName } from './names.js';

/** Bytes of a wire string (the control connection is Latin-1: one character per byte). */
export const wireBytes = (wire: string): Buffer => Buffer.from(wire, 'latin1');

/** The bytes of a rendering (`%XX` back to bytes); null when `name` is not the rendering of a non-UTF-8 name. */
export function unrender(name: string): Buffer | null {
  if (!name.includes('%')) return null;
  const parts: Buffer[] = [];
  let start = 0;
  const re = /%([0-9A-F]{2})/g;
  for (let m = re.exec(name); m; m = re.exec(name)) {
    parts.push(Buffer.from(name.slice(start, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 16)]));
    start = m.index + 3;
  }
  parts.push(Buffer.from(name.slice(start), 'utf8'));
  const bytes = Buffer.concat(parts);
  return !isUtf8Name(bytes) && renderName(bytes) === name ? bytes : null;
}

/** Names of a remote server: wire strings (Latin-1 carriers of the bytes) to names shown, and back. */
export class RemoteNames {
  /** Rendered name → its bytes, as seen in listings of this source (kept across cycles: renderings are stable). */
  private readonly raw = new Map<string, Buffer>();
  /** UTF-8 names seen in listings that read like renderings (`f%E9vrier.hl7` written so): they stand for themselves. */
  private readonly literal = new Set<string>();

  /** The name pamdrop uses for a name read off the wire; `null` raw when the bytes are UTF-8. */
  fromWire(wire: string): { name: string; raw: Buffer | null } {
    const bytes = wireBytes(wire);
    if (isUtf8Name(bytes)) {
      const name = bytes.toString('utf8');
      if (unrender(name)) this.literal.add(name);
      return { name, raw: null };
    }
    const name = renderName(bytes);
    this.raw.set(name, bytes);
    return { name, raw: bytes };
  }

  /** The wire string of a path whose last component may be a rendering. */
  toWire(path: string): string {
    const base = posix.basename(path);
    const raw = this.raw.get(base) ?? (this.literal.has(base) ? null : unrender(base));
    if (!raw) return Buffer.from(path, 'utf8').toString('latin1');
    const dir = path.slice(0, path.length - base.length);
    return Buffer.from(dir, 'utf8').toString('latin1') + raw.toString('latin1');
  }
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * A listing's time as milliseconds: MLSD's exact time when there is one, else LIST's `Mmm dd HH:MM` (year
 * inferred: the last such date not more than a day ahead of ours) or `Mmm dd yyyy`, read as UTC. A format we do
 * not know becomes a number derived from its text: equal texts, equal numbers.
 */
export function listingTime(raw: string | undefined, exact: Date | undefined, now: Date = new Date()): number {
  if (exact && Number.isFinite(exact.getTime())) return exact.getTime();
  const text = (raw ?? '').trim();
  const m = /^([A-Za-z]{3})\s+(\d{1,2})\s+(?:(\d{1,2}):(\d{2})|(\d{4}))$/.exec(text);
  const month = m ? MONTHS.indexOf(m[1]!.toLowerCase()) : -1;
  if (m && month >= 0) {
    const day = Number(m[2]);
    if (m[5]) return Date.UTC(Number(m[5]), month, day);
    const at = (y: number) => Date.UTC(y, month, day, Number(m[3]), Number(m[4]));
    const y = now.getUTCFullYear();
    return at(y) > now.getTime() + 86_400_000 ? at(y - 1) : at(y);
  }
  const parsed = Date.parse(text);
  if (Number.isFinite(parsed)) return parsed;
  return parseInt(createHash('sha256').update(text).digest('hex').slice(0, 12), 16);
}
