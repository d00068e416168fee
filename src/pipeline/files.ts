/**
 * Local file operations of the pipeline: atomic ACK writes, collision-free archive/quarantine moves.
 * Synchronous on purpose: one awaited fs promise per small file costs a thread-pool round trip each
 * (1,800–4,900 files/s against ~20,000 with sync temp+rename, performance.md).
 */
import { copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, closeSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

/** Where ACK files go. The local sink writes temp + rename; an SFTP sink (intake) also uploads. */
export interface AckSink {
  /** Writes every ACK atomically; entries of one call may be written in any order. */
  write(entries: ReadonlyArray<{ name: string; bytes: Buffer }>): Promise<void>;
}

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

/** `<source file base>.<MSH-10>.ack.hl7` (decisions.md), made unique within the file with `.<idx>`. */
export function ackFileName(sourceFile: string, controlId: string | null, idx: number, used: Set<string>): string {
  const base = ackBase(sourceFile);
  let name = `${base}.${controlId ? safeName(controlId) : `msg${idx + 1}`}.ack.hl7`;
  if (used.has(name)) name = `${base}.${controlId ? safeName(controlId) : 'msg'}.${idx + 1}.ack.hl7`;
  // `.<idx>` can itself be taken (MSH-10 `A.3` then `A`, `A` at position 3): two messages never share an ACK file.
  for (let k = 2; used.has(name); k++) name = `${base}.${controlId ? safeName(controlId) : 'msg'}.${idx + 1}-${k}.ack.hl7`;
  used.add(name);
  return name;
}

/** `dir/YYYY/MM/DD` for a date (local calendar day of the importer). */
export function datedDir(root: string, d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return join(root, String(d.getFullYear()), p(d.getMonth() + 1), p(d.getDate()));
}

/** A path in `dir` for `name` that does not exist yet: `name`, then `base-1.ext`, `base-2.ext`… Never overwrites. */
export function freePath(dir: string, name: string, reserved?: (p: string) => boolean): string {
  const ext = extname(name);
  const base = name.slice(0, name.length - ext.length);
  let candidate = join(dir, name);
  for (let i = 1; existsSync(candidate) || existsSync(`${candidate}.reason.txt`) || reserved?.(candidate); i++) {
    candidate = join(dir, `${base}-${i}${ext}`);
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
