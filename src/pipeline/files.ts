/**
 * Local file operations of the pipeline: atomic ACK writes, collision-free archive/quarantine moves.
 * Synchronous on purpose: one awaited fs promise per small file costs a thread-pool round trip each
 * (1,800–4,900 files/s against ~20,000 with sync temp+rename).
 */
import { copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fitName } from '../shared/fit-name.js';
import type { AckSink } from '../intake/source.js';

export type { AckSink };

/** ACK files in a local folder, each written to `.name.tmp` then renamed. */
export class LocalAckSink implements AckSink {
  private made = false;
  constructor(readonly dir: string) {}
  async write(entries: ReadonlyArray<{ name: string; bytes: Buffer }>): Promise<void> {
    if (entries.length === 0) return;
    if (!this.made) { mkdirSync(this.dir, { recursive: true }); this.made = true; }
    for (const e of entries) {
      const final = join(this.dir, e.name);
      const tmp = join(this.dir, `.${e.name}.tmp`);
      writeFileSync(tmp, e.bytes);
      renameSync(tmp, final);
    }
  }
}

/** Characters allowed in file names we make; everything else becomes `_`. */
export function safeName(s: string): string {
  const out = s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return out === '' ? '_' : out.slice(0, 120);
}

/**
 * File systems refuse a name longer than 255 bytes (NAME_MAX, ENAMETOOLONG), and the refusal would repeat on every
 * retry of the file. Every name pamdrop makes stays within it, its decorations included:
 * - an ACK file and its temporary name `.<name>.tmp` (5 bytes more), locally and on an SFTP server;
 * - an archived or quarantined file, its `<name>.reason.txt` and that file's temporary name (16 bytes more), and
 *   the temporary name of a move across file systems.
 */
export const ACK_NAME_MAX = 255 - '..tmp'.length;
/** Longest archive / quarantine name (see ACK_NAME_MAX). */
export const MOVED_NAME_MAX = 255 - '..reason.txt.tmp'.length;

const ACK_SUFFIX = '.ack.hl7';
const ackName = (full: string) => fitName(full, ACK_NAME_MAX, ACK_SUFFIX);

// The base of the last source file named: ackFileName runs once per message, nearly always for the same file.
let lastSource: string | null = null;
let lastBase = '';
function ackBase(sourceFile: string): string {
  if (sourceFile !== lastSource) {
    lastBase = safeName(basename(sourceFile, extname(sourceFile)));
    lastSource = sourceFile;
  }
  return lastBase;
}

/**
 * `<source file base>.<MSH-10>.ack.hl7` (docs/behaviour.md), made unique within the file with `.<idx>`, and never the
 * name of an ACK file of another file still in the folder: when `free(name)` says that name holds other bytes
 * (a later file with the same base name and MSH-10, its ACK not fetched yet), `<base>.<MSH-10>.2.ack.hl7`, then
 * `.3`, … The name is recorded in the ledger with the ACK bytes, so a resumed run rewrites the same file.
 * @param free true when a name may be written in the ACK folder (absent there, or holding these very bytes).
 */
export function ackFileName(sourceFile: string, controlId: string | null, idx: number, used: Set<string>,
  free: (name: string) => boolean = () => true): string {
  const base = ackBase(sourceFile);
  const id = controlId ? safeName(controlId) : null;
  let stem = `${base}.${id ?? `msg${idx + 1}`}`;
  let name = ackName(stem + ACK_SUFFIX);
  if (used.has(name)) {
    stem = `${base}.${id ?? 'msg'}.${idx + 1}`;
    name = ackName(stem + ACK_SUFFIX);
  }
  // `.<idx>` can itself be taken (MSH-10 `A.3` then `A`, `A` at position 3): two messages never share an ACK file.
  for (let k = 2; used.has(name); k++) name = ackName(`${base}.${id ?? 'msg'}.${idx + 1}-${k}${ACK_SUFFIX}`);
  if (!free(name)) {
    const taken = name;
    for (let n = 2; name === taken || used.has(name) || !free(name); n++) name = ackName(`${stem}.${n}${ACK_SUFFIX}`);
  }
  used.add(name);
  return name;
}

/**
 * True when `dir/name` may take `bytes`: no such file, or a file holding exactly these bytes (a replay writes the
 * same ACK again). One stat per name; the file is read only when its size matches. A folder that cannot be
 * looked into (not a folder, no permission) answers true: the ACK write after the commit then fails on it and is
 * reported as what it is, an ACK write failure.
 */
export function ackSlotFree(dir: string, name: string, bytes: Buffer): boolean {
  const path = join(dir, name);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    return true;
  }
  if (st === undefined) return true;
  if (!st.isFile() || st.size !== bytes.length) return false;
  try {
    return readFileSync(path).equals(bytes);
  } catch {
    return false;
  }
}

/** `dir/YYYY/MM/DD` for a date (local calendar day of the importer). */
export function datedDir(root: string, d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return join(root, String(d.getFullYear()), p(d.getMonth() + 1), p(d.getDate()));
}

/**
 * A path in `dir` for `name` that does not exist yet: `name`, then `base-1.ext`, `base-2.ext`… Never overwrites.
 * Names longer than MOVED_NAME_MAX bytes are shortened (fitName), so the reason file beside it fits too.
 */
export function freePath(dir: string, name: string, reserved?: (p: string) => boolean): string {
  const ext = extname(name);
  const base = name.slice(0, name.length - ext.length);
  let candidate = join(dir, fitName(name, MOVED_NAME_MAX));
  for (let i = 1; existsSync(candidate) || existsSync(`${candidate}.reason.txt`) || reserved?.(candidate); i++) {
    candidate = join(dir, fitName(`${base}-${i}${ext}`, MOVED_NAME_MAX));
  }
  return candidate;
}

/** Moves a file; across file systems copies, fsyncs, then unlinks. Refuses to overwrite. */
export function moveFile(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  if (existsSync(to)) throw new Error(`refusing to overwrite ${to}`);
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    // Copied under a temporary name, then renamed: `to` only ever exists complete, so a crash mid-copy leaves no
    // truncated archive that a rerun would take for done (hardening harness). A crash before the unlink leaves both:
    // the rerun (finishMove) removes the source.
    const tmp = join(dirname(to), `.${basename(to)}.tmp`);
    copyFileSync(from, tmp);
    const fd = openSync(tmp, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
    renameSync(tmp, to);
    unlinkSync(from);
  }
}

/** Writes `<path>.reason.txt` atomically. */
export function writeReason(path: string, reason: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const target = `${path}.reason.txt`;
  const tmp = join(dirname(path), `.${basename(target)}.tmp`);
  writeFileSync(tmp, reason.endsWith('\n') ? reason : reason + '\n');
  renameSync(tmp, target);
}
