/** Local folder source (node:fs). Files are processed where they are; the pipeline archives them. */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { IntakeError, type Download, type DownloadOptions, type FileSource, type Listing, type SourceEntry } from './source.js';

/** A local inbox folder. */
export class LocalSource implements FileSource {
  readonly kind = 'local' as const;
  readonly inPlace = true;
  readonly label: string;

  constructor(readonly inbox: string) {
    this.label = inbox;
  }

  async begin(): Promise<void> {
    mkdirSync(this.inbox, { recursive: true });
  }

  async end(): Promise<void> {}

  async list(): Promise<Listing> {
    const entries: SourceEntry[] = [];
    // readdir gives single path components: no traversal is possible here (unlike names sent by a server).
    for (const d of readdirSync(this.inbox, { withFileTypes: true })) {
      if (!d.isFile()) continue; // folders, symlinks, sockets: never taken
      const e = await this.stat(d.name);
      if (e) entries.push(e);
    }
    return { entries, refused: [] };
  }

  async stat(name: string): Promise<SourceEntry | null> {
    return this.statPath(join(this.inbox, name), name);
  }

  async statPath(path: string, name = path): Promise<SourceEntry | null> {
    try {
      const s = statSync(path);
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
    if (existsSync(to)) throw new IntakeError(`refusing to overwrite ${to}`, 'EEXIST');
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
