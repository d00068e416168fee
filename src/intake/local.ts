/** Local folder source (node:fs). Files are processed where they are; the pipeline archives them. */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { rawPath, readDirNames } from './names.js';
import { IntakeError, type Download, type DownloadOptions, type FileSource, type Listing, type SourceEntry } from './source.js';

/** A local inbox folder. */
export class LocalSource implements FileSource {
  readonly kind = 'local' as const;
  readonly inPlace = true;
  readonly label: string;
  /** Names of the last listing that are renderings of non-UTF-8 bytes (names.ts) → the file's path as bytes. */
  private raw = new Map<string, { path: Buffer; bytes: Buffer }>();

  constructor(readonly inbox: string) {
    this.label = inbox;
  }

  async begin(): Promise<void> {
    mkdirSync(this.inbox, { recursive: true });
  }

  async end(): Promise<void> {}

  async list(): Promise<Listing> {
    const entries: SourceEntry[] = [];
    const links: string[] = [];
    this.raw = new Map();
    // readdir gives single path components: no traversal is possible here (unlike names sent by a server). Names
    // are read as bytes: one that is not UTF-8 is listed under its rendering, never dropped (names.ts).
    for (const d of readDirNames(this.inbox)) {
      if (d.raw) this.raw.set(d.name, { path: rawPath(this.inbox, d.raw), bytes: d.raw });
      if (d.type.isSymbolicLink()) { links.push(d.name); continue; } // refused: quarantined by intake, never followed
      if (!d.type.isFile()) continue; // folders, FIFOs, sockets: never taken
      const e = await this.stat(d.name);
      if (e) entries.push(e);
    }
    return { entries, refused: [], links };
  }

  async stat(name: string): Promise<SourceEntry | null> {
    return this.statPath(this.raw.get(name)?.path ?? join(this.inbox, name), name);
  }

  async adopt(name: string): Promise<Buffer | null> {
    const from = this.raw.get(name);
    if (!from) return null;
    const to = join(this.inbox, name);
    if (await this.statPathAny(to)) throw new IntakeError(`${name}: cannot rename a file whose name is not UTF-8 to its rendering: refusing to overwrite ${to}`, 'EEXIST');
    renameSync(from.path, to);
    this.raw.delete(name);
    return from.bytes;
  }

  /** Whether anything is at `path` (a dangling link included: existsSync follows links). */
  private async statPathAny(path: string): Promise<boolean> {
    try { lstatSync(path); return true; } catch { return false; }
  }

  async statPath(path: string | Buffer, name = String(path)): Promise<SourceEntry | null> {
    try {
      // lstat: a symbolic link is never a regular file of the inbox (its target is never read).
      const s = lstatSync(path);
      if (!s.isFile()) return null;
      return { name, size: s.size, mtimeMs: s.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  inboxPath(name: string): string {
    return join(this.inbox, name);
  }

  async download(name: string, localPath: string, expected: SourceEntry, opts: DownloadOptions = {}): Promise<Download> {
    const hash = createHash('sha256');
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (opts.shouldStop?.()) { cb(new IntakeError('stop requested during copy', 'STOPPED')); return; }
        bytes += chunk.length;
        hash.update(chunk);
        opts.onChunk?.(bytes);
        cb(null, chunk);
      },
    });
    mkdirSync(dirname(localPath), { recursive: true });
    try {
      await pipeline(createReadStream(this.inboxPath(name)), count, createWriteStream(localPath));
      if (bytes !== expected.size) throw new IntakeError(`${name}: copied ${bytes} bytes, expected ${expected.size}`, 'SIZE');
      const fd = openSync(localPath, 'r');
      try { fsyncSync(fd); } finally { closeSync(fd); }
    } catch (err) {
      try { unlinkSync(localPath); } catch { /* already gone */ }
      throw err;
    }
    return { bytes, sha256: hash.digest('hex') };
  }

  async rename(from: string, to: string): Promise<void> {
    mkdirSync(dirname(to), { recursive: true });
    if (await this.statPathAny(to)) throw new IntakeError(`refusing to overwrite ${to}`, 'EEXIST');
    renameSync(from, to);
  }

  async remove(path: string): Promise<void> {
    try { unlinkSync(path); } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async exists(path: string): Promise<boolean> {
    return existsSync(path);
  }

  async write(dir: string, name: string, bytes: Buffer): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${name}.tmp`);
    writeFileSync(tmp, bytes);
    renameSync(tmp, join(dir, name));
  }
}
