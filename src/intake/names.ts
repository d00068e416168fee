/**
 * File names as a POSIX file system gives them: bytes, not text. A name written by an old Latin-1 FTP server
 * (`f\xE9vrier.hl7`) is not valid UTF-8; read as a JavaScript string it becomes `f\uFFFDvrier.hl7`, a path that
 * does not exist, and the file would stay in the inbox unseen. Folders are therefore read as bytes here, and a name
 * that is not valid UTF-8 is given a rendering that is plain text and names the bytes: the valid UTF-8 runs as they
 * are, every other byte as `%XX` (and `%` itself as `%25`, so that two byte names never render alike). Intake
 * renames such a file to its rendering just before it takes it; from there on it is an ordinary file. A rendering
 * longer than 200 bytes is shortened with a hash of the name's bytes.
 */
import { hash } from 'node:crypto';
import { readdirSync, type Dirent } from 'node:fs';
import { extname, sep } from 'node:path';

/** Length of the valid UTF-8 sequence starting at `i` (1–4), or 0 when the byte there does not start one. */
function utf8SequenceAt(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n === 0 || i + n > b.length) return 0;
  for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  const c1 = b[i + 1]!;
  // Overlong forms, UTF-16 surrogates and code points above U+10FFFF are not UTF-8 (RFC 3629).
  if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return 0;
  return n;
}

/** True when the bytes are valid UTF-8. */
export function isUtf8Name(b: Buffer): boolean {
  for (let i = 0; i < b.length;) {
    const n = utf8SequenceAt(b, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

/** Text rendering of a name that is not valid UTF-8: valid runs kept, other bytes and `%` as `%XX`. */
export function renderName(b: Buffer): string {
  let out = '';
  let start = 0;
  const pct = (x: number) => '%' + x.toString(16).toUpperCase().padStart(2, '0');
  for (let i = 0; i < b.length;) {
    const n = utf8SequenceAt(b, i);
    if (n === 1 && b[i] !== 0x25) { i++; continue; }
    if (n > 1) { i += n; continue; }
    out += b.toString('utf8', start, i) + pct(b[i]!);
    i++;
    start = i;
  }
  return out + b.toString('utf8', start);
}

/**
 * Longest rendering (bytes): NAME_MAX (255) less room for what pamdrop adds to a name it moves (`.reason.txt`
 * beside a quarantined file, a collision suffix, a temporary name's `.` and `.tmp`).
 */
const RENDER_MAX = 200;

/**
 * A rendering is up to three times longer than the name (`%XX` per byte): one longer than RENDER_MAX keeps its
 * extension and as much of its start as fits, then `~` and a hash of the original bytes (unique per name).
 */
function fitName(rendered: string, raw: Buffer): string {
  if (Buffer.byteLength(rendered) <= RENDER_MAX) return rendered;
  const ext0 = extname(rendered);
  const ext = Buffer.byteLength(ext0) <= 16 ? ext0 : '';
  const tag = '~' + hash('sha256', raw, 'hex').slice(0, 16);
  // By code point: a cut never splits a character.
  const chars = Array.from(ext === '' ? rendered : rendered.slice(0, rendered.length - ext.length));
  let bytes = Buffer.byteLength(chars.join(''));
  const room = RENDER_MAX - Buffer.byteLength(tag + ext);
  while (bytes > room) bytes -= Buffer.byteLength(chars.pop()!);
  // Never half an escape: `%E` alone would read as another byte.
  return chars.join('').replace(/%[0-9A-F]?$/, '') + tag + ext;
}

/** One entry of a folder: its text name (the rendering when the bytes are not UTF-8) and, then, the bytes. */
export interface DirName {
  /** The name as text: the name itself, or its rendering. */
  name: string;
  /** The name's bytes when they are not valid UTF-8 (the file still has this name on disk); else null. */
  raw: Buffer | null;
  /** What readdir says the entry is (never follows a symbolic link). */
  type: Pick<Dirent, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket'>;
}

/**
 * The entries of a folder, names read as bytes. A rendering that collides with another entry's name gets `-1`,
 * `-2`… before its extension, so that every entry has one text name. Throws what readdir throws.
 */
export function readDirNames(dir: string): DirName[] {
  const all = readdirSync(dir, { withFileTypes: true, encoding: 'buffer' }) as unknown as Array<Dirent & { name: Buffer }>;
  const out: DirName[] = [];
  const taken = new Set<string>();
  const odd: Array<Dirent & { name: Buffer }> = [];
  for (const d of all) {
    if (isUtf8Name(d.name)) { const name = d.name.toString('utf8'); taken.add(name); out.push({ name, raw: null, type: d }); }
    else odd.push(d);
  }
  for (const d of odd) {
    const rendered = fitName(renderName(d.name), d.name);
    const ext = extname(rendered);
    const base = rendered.slice(0, rendered.length - ext.length);
    let name = rendered;
    for (let i = 1; taken.has(name); i++) name = `${base}-${i}${ext}`;
    taken.add(name);
    out.push({ name, raw: d.name, type: d });
  }
  return out;
}

/** The path of a folder entry given by its bytes (node:fs takes Buffer paths as they are). */
export function rawPath(dir: string, raw: Buffer): Buffer {
  return Buffer.concat([Buffer.from(dir.endsWith(sep) ? dir : dir + sep), raw]);
}
