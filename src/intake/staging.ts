/**
 * The staging area of a remote source, `<inbox>/.staging`: part/ (downloads in progress), in/ (verified copies),
 * pending/ (a record per download: which remote file, its listed size and mtime, the SHA-256 of the bytes
 * received). Bytes only: the pipeline's source cycle decides what to process, and what to do with the remote file
 * once the local outcome is durable.
 *
 * Order of a download: part file → bytes checked against the listing and the remote file re-stated → record
 * written → renamed into in/. So a record without a staged or part file means "processed", and a part file is
 * always an interrupted download.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fitName } from '../shared/fit-name.js';
import type { DownloadOptions, FileSource, SourceEntry } from './source.js';

/** Longest record name before `.json`: `.<name>.json.tmp` stays within 255 bytes. */
const RECORD_NAME_MAX = 255 - '..json.tmp'.length;

/** What was downloaded, recorded before the staged file is processed (remote disposition after a crash). */
export interface Pending { name: string; remotePath: string; size: number; mtimeMs: number; sha256: string }

export class Staging {
  readonly dir: string;

  constructor(inbox: string) { this.dir = join(inbox, '.staging'); }

  /** The verified local copy of a remote file. */
  inPath(name: string): string { return join(this.dir, 'in', name); }
  private partPath(name: string): string { return join(this.dir, 'part', name); }
  /** A record is `<name>.json`, the name shortened (fitName) so that its temporary name `.<record>.tmp` fits NAME_MAX. */
  private recordName(name: string): string { return `${fitName(name, RECORD_NAME_MAX)}.json`; }
  private pendingPath(name: string): string { return join(this.dir, 'pending', this.recordName(name)); }

  /**
   * Downloads `e` into in/ with its record; 'changed' (nothing kept) when the remote file changed while it was read.
   */
  async stage(src: Pick<FileSource, 'download' | 'stat' | 'inboxPath'>, e: SourceEntry, opts: DownloadOptions): Promise<{ pending: Pending; bytes: number } | 'changed'> {
    const name = e.name;
    const part = this.partPath(name);
    const dl = await src.download(name, part, e, opts);
    // The listing said it was stable; make sure it did not change while we read it.
    const after = await src.stat(name);
    if (!after || after.size !== e.size || after.mtimeMs !== e.mtimeMs) {
      unlinkSync(part);
      return 'changed';
    }
    const pending: Pending = { name, remotePath: src.inboxPath(name), size: e.size, mtimeMs: e.mtimeMs, sha256: dl.sha256 };
    // Record first, then rename into place: a record without a staged or part file means "processed".
    this.writePending(pending);
    mkdirSync(join(this.dir, 'in'), { recursive: true });
    renameSync(part, this.inPath(name));
    return { pending, bytes: dl.bytes };
  }

  /** Start of a cycle: interrupted downloads dropped, and staged copies nobody claimed (with their record). */
  discardUnclaimed(claimed: ReadonlySet<string>): void {
    for (const n of this.names('part')) unlinkSync(join(this.dir, 'part', n));
    for (const n of this.names('in')) {
      if (claimed.has(n)) continue;
      // Staged but never claimed: the remote file may have changed since; it is downloaded again.
      this.removePending(n);
      unlinkSync(this.inPath(n));
    }
  }

  /**
   * Every download record, each read once (the name is the one inside: a record's file name may be shortened). A
   * record that cannot be read is removed: it says nothing of which remote file it was about.
   */
  records(): Pending[] {
    const out: Pending[] = [];
    for (const f of this.names('pending')) {
      if (f.startsWith('.') || !f.endsWith('.json')) continue;
      const path = join(this.dir, 'pending', f);
      try {
        out.push(JSON.parse(readFileSync(path, 'utf8')) as Pending);
      } catch {
        try { unlinkSync(path); } catch { /* gone */ }
      }
    }
    return out;
  }

  readPending(name: string): Pending | null {
    try { return JSON.parse(readFileSync(this.pendingPath(name), 'utf8')) as Pending; } catch { return null; }
  }

  removePending(name: string): void {
    try { unlinkSync(this.pendingPath(name)); } catch { /* gone */ }
  }

  private writePending(p: Pending): void {
    const dir = join(this.dir, 'pending');
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${this.recordName(p.name)}.tmp`);
    writeFileSync(tmp, JSON.stringify(p));
    renameSync(tmp, this.pendingPath(p.name));
  }

  private names(sub: string): string[] {
    try { return readdirSync(join(this.dir, sub)); } catch { return []; }
  }
}
