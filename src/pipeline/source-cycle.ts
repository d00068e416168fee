/**
 * One source's poll cycle, the composition of intake/ (listing, selection, staging: bytes only) with processFile:
 *
 *   begin (SFTP, FTP: fresh connection)  →  recover what an earlier run left half done
 *   →  list  →  filter + stability + order (select.ts)  →  for each file, one at a time:
 *        local:  re-stat, then processFile on the inbox file (it claims, applies, writes ACKs, archives)
 *        remote: download to <inbox>/.staging/part/<name>, check bytes against the listed size, re-stat the
 *                remote file, record the download (.staging/pending/<name>.json), rename into
 *                .staging/in/<name>, processFile on it (ACKs also uploaded), then move the remote file to
 *                the remote archive (or delete it) and drop the record
 *        done marker (if any) removed after the file
 *   →  end (SFTP, FTP: close)
 *
 * Never lose, never double-take: the ledger claim (inside processFile) is the first durable act on a file,
 * and the remote file is touched only once the local outcome is durable. A crash anywhere leaves either a
 * claimed file (resumed first on the next cycle, without waiting for stability again), a staged file
 * without a claim (discarded, downloaded again), or a pending record for a file already archived locally
 * (the remote disposition is finished). An I/O or database failure holds back the rest of the source
 * (order) and is retried with backoff by the caller.
 */
import { lstatSync } from 'node:fs';
import { posix } from 'node:path';
import type { SourceConfig, ResolvedConfig } from '../config/types.js';
import type { Db } from '../store/tx.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import { findFinishedByPath, listUnfinishedFiles, type FileRow } from '../store/ledger.js';
import { processFile, StopRequested, type FaultPoint, type FileJob, type FileReport, type PipelineContext } from './process-file.js';
import { finishMove, movedButUnfinished } from './moves.js';
import { naturalCompare } from '../shared/natural.js';
import { fitName } from '../shared/fit-name.js';
import { candidates, select } from '../intake/select.js';
import { monoNow, StabilityTracker } from '../intake/stability.js';
import { IntakeError, RemoteAckSink, unsafeName, type FileSource, type RemoteSource, type SourceEntry } from '../intake/source.js';
import { Staging, type Pending } from '../intake/staging.js';

/** NAME_MAX of the server's file system, as of every file system pamdrop writes to. */
const REMOTE_NAME_MAX = 255;

/** A processed file (pipeline report) or a file that failed with an I/O or database error. */
export type FileOutcome = FileReport | { file: string; source: string; state: 'failed'; error: string };

/** What one poll cycle did and when the next one is worth running. */
export interface CycleResult {
  /** Files processed (or failed) in this cycle, in order. */
  files: FileOutcome[];
  /** The cycle or a file failed: back off before the next cycle. */
  failed: boolean;
  /** Cycle-level failure (connection, listing), for the run report. */
  error: string | null;
  /** A stop was requested and honoured. */
  stopped: boolean;
  /** ms until a settling file could be ready (null: nothing settling). */
  settleInMs: number | null;
  /** The file holding the queue did not change at the last listing: waiting settleInMs can make it ready. */
  waitable: boolean;
  /** Files were taken: there may be more ready right away. */
  busy: boolean;
}

/** What a SourceIntake needs from its caller. */
export interface IntakeDeps {
  db: Db;
  config: ResolvedConfig;
  log: Logger;
  clock: Clock;
  owner: string;
  fault?: (p: FaultPoint) => void;
  shouldStop: () => boolean;
  /** Progress of the file being processed (done/total messages). */
  progress?: (source: string, p: { file: string; done: number; total: number } | null) => void;
  /** Observation hook on remote downloads (tests kill the server mid-transfer with it). */
  onTransfer?: (source: string, name: string, bytes: number) => void;
  /** Observation hook after each file (watch metrics, src/observe): its outcome, ms taken, and the error thrown when it failed. */
  onFile?: (outcome: FileOutcome, ms: number, error?: unknown) => void;
  /** Monotonic clock for stability (default performance.now). */
  mono?: () => number;
  /** Source-lease fence for processFile (PostgreSQL, several instances: pipeline/lease.ts). */
  fence?: PipelineContext['fence'];
}

const errText = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof IntakeError || !e.code) return `${e.name}: ${e.message}`;
  // node:fs messages already start with their code ("EACCES: permission denied, open …"): not twice.
  return e.message.startsWith(`${e.code}:`) ? e.message : `${e.code}: ${e.message}`;
};

/** Whether a path exists, a symbolic link included whatever its target (existsSync follows links). */
function lexists(path: string): boolean {
  try { lstatSync(path); return true; } catch { return false; }
}

/** The poll cycle of one source (stability state lives here, across cycles). */
export class SourceIntake {
  readonly tracker: StabilityTracker;
  private readonly log: Logger;
  private readonly mono: () => number;
  private readonly warned = new Set<string>();
  /** <inbox>/.staging (intake/staging.ts). */
  private readonly staging: Staging;

  constructor(readonly src: SourceConfig, readonly source: FileSource, private readonly deps: IntakeDeps) {
    this.tracker = new StabilityTracker(src.stableMs);
    this.log = deps.log.child({ source: src.name });
    this.mono = deps.mono ?? monoNow;
    this.staging = new Staging(src.inbox);
  }

  private warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(msg, fields);
  }

  private stagedPath(name: string): string { return this.staging.inPath(name); }
  /** The local path processFile records for a name (inbox file, or staged copy). */
  private localPath(name: string): string { return this.source.inPlace ? this.source.inboxPath(name) : this.stagedPath(name); }

  /** One poll cycle. Never throws: failures are in the result (the daemon keeps going). */
  async cycle(): Promise<CycleResult> {
    const res: CycleResult = { files: [], failed: false, error: null, stopped: false, settleInMs: null, waitable: false, busy: false };
    if (this.deps.shouldStop()) { res.stopped = true; return res; }
    try {
      await this.source.begin();
    } catch (err) {
      res.failed = true;
      res.error = errText(err);
      this.log.error('source unavailable; retrying later', { at: this.source.label, error: res.error });
      return res;
    }
    try {
      await this.runCycle(res);
    } catch (err) {
      res.failed = true;
      res.error = errText(err);
      this.log.error('poll cycle failed; retrying later', { at: this.source.label, error: res.error });
    } finally {
      await this.source.end();
    }
    return res;
  }

  private async runCycle(res: CycleResult): Promise<void> {
    const { db } = this.deps;
    const unfinished = await listUnfinishedFiles(db, this.src.name);
    const resumeStaged = await this.recover(unfinished);

    const listing = await this.source.list();
    for (const name of listing.refused) {
      this.warnOnce(`refused:${name}`, 'file name refused: never taken', { name: JSON.stringify(name), why: unsafeName(name) ?? 'unsafe name' });
    }
    const c = candidates(listing.entries, this.src);
    const now = this.mono();
    this.tracker.observe(c.files, now);
    await this.cleanMarkers(c.orphanMarkers);
    // Symbolic links are refused, never followed: each one the source would take is quarantined as it is.
    if (this.source.inPlace && listing.links.length > 0) {
      for (const l of candidates(listing.links.map((name) => ({ name, size: 0, mtimeMs: 0 })), { ...this.src, doneMarker: null }).files) {
        if (this.deps.shouldStop()) { res.stopped = true; return; }
        const startedAt = performance.now();
        const bytes = await this.source.adopt?.(l.name); // renames the link itself, never its target
        if (bytes) this.log.warn('file name is not valid UTF-8: renamed to its rendering before it is taken', { name: l.name, nameBytes: bytes.toString('hex') });
        const report = await processFile(this.job(l.name, this.source.inboxPath(l.name)), this.pipelineContext());
        res.files.push(report);
        this.deps.onFile?.(report, performance.now() - startedAt);
      }
    }

    // Files an earlier run claimed and did not finish: first, and without waiting for stability again when
    // their size still matches the claim (a changed file goes through the normal path and processFile
    // quarantines it by hash).
    const resumable = new Map<string, number>();
    if (this.source.inPlace) {
      for (const r of unfinished) if (r.path === this.localPath(r.name)) resumable.set(r.name, r.size);
    }
    const stagedNames = new Set(resumeStaged.map((r) => r.name));
    const sel = select({ ...c, files: c.files.filter((e) => !stagedNames.has(e.name)) }, this.src, this.tracker, now, resumable);
    res.settleInMs = sel.settleInMs;
    res.waitable = sel.waitable;
    if (sel.heldBy) this.log.debug('waiting for a file to settle', { name: sel.heldBy, inMs: sel.settleInMs });
    for (const n of sel.tooSmall) this.warnOnce(`small:${n}`, 'file smaller than minBytes: skipped', { name: n, minBytes: this.src.minBytes });

    const plan: Array<{ entry: SourceEntry; resume: boolean; staged?: FileRow }> = [
      ...resumeStaged.map((r) => ({ entry: { name: r.name, size: r.size, mtimeMs: 0 }, resume: true, staged: r })),
      ...sel.take,
    ];
    for (const item of plan) {
      if (this.deps.shouldStop()) { res.stopped = true; return; }
      let outcome: FileReport | 'changed';
      const startedAt = performance.now();
      try {
        outcome = this.source.inPlace ? await this.takeLocal(item.entry, item.resume) : await this.takeRemote(item.entry, item.staged !== undefined);
      } catch (err) {
        if (err instanceof StopRequested || (err instanceof IntakeError && err.code === 'STOPPED')) {
          this.log.info('stopped; the file resumes on the next run', { name: item.entry.name });
          res.stopped = true;
          return;
        }
        res.failed = true;
        const error = errText(err);
        const failed: FileOutcome = { file: item.entry.name, source: this.src.name, state: 'failed', error };
        res.files.push(failed);
        this.deps.onFile?.(failed, performance.now() - startedAt, err);
        // Order first: the files after this one wait until it goes through (retried with backoff).
        this.log.error('file failed; it is retried on the next cycle and holds back the files after it', { name: item.entry.name, error });
        return;
      } finally {
        this.deps.progress?.(this.src.name, null);
      }
      if (outcome === 'changed') {
        // Changed between the listing and the take: it is settling again, and holds the files after it.
        this.log.info('file changed since it was listed: waiting for it to settle again', { name: item.entry.name });
        res.settleInMs = Math.min(res.settleInMs ?? Infinity, Math.max(1, this.src.stableMs));
        res.waitable = true;
        return;
      }
      res.files.push(outcome);
      this.deps.onFile?.(outcome, performance.now() - startedAt);
      res.busy = true;
    }
  }

  private pipelineContext(): PipelineContext {
    const d = this.deps;
    return {
      db: d.db, config: d.config, log: d.log, clock: d.clock, owner: d.owner, fault: d.fault,
      shouldStop: d.shouldStop, fence: d.fence,
      progress: d.progress ? (p) => d.progress!(this.src.name, p) : undefined,
    };
  }

  private job(name: string, path: string): FileJob {
    return { source: this.src.name, name, path, ackDir: this.src.ackDir, archiveDir: this.src.archiveDir, errorDir: this.src.errorDir };
  }

  /** Local: process the inbox file where it is. */
  private async takeLocal(e: SourceEntry, resume: boolean): Promise<FileReport | 'changed'> {
    if (!resume) {
      const cur = await this.source.stat(e.name);
      if (!cur || cur.size !== e.size || cur.mtimeMs !== e.mtimeMs) { this.tracker.forget(e.name); return 'changed'; }
    }
    const bytes = await this.source.adopt?.(e.name);
    if (bytes) this.log.warn('file name is not valid UTF-8: renamed to its rendering before it is taken', { name: e.name, nameBytes: bytes.toString('hex') });
    if (this.src.doneMarker) await this.source.adopt?.(e.name + this.src.doneMarker);
    this.log.debug('taking file', { name: e.name, bytes: e.size, resume });
    const report = await processFile(this.job(e.name, this.source.inboxPath(e.name)), this.pipelineContext());
    this.tracker.forget(e.name);
    await this.removeMarker(e.name);
    return report;
  }

  /** Remote: download (unless resuming a staged copy), process the local copy, then dispose of the remote file. */
  private async takeRemote(e: SourceEntry, staged: boolean): Promise<FileReport | 'changed'> {
    const src = this.source as RemoteSource;
    const name = e.name;
    const local = this.stagedPath(name);
    let pending: Pending | null;
    if (staged) {
      pending = this.staging.readPending(name);
    } else {
      this.log.debug('downloading', { name, bytes: e.size });
      const staged = await this.staging.stage(src, e, {
        shouldStop: this.deps.shouldStop,
        onChunk: this.deps.onTransfer ? (n) => this.deps.onTransfer!(this.src.name, name, n) : undefined,
      });
      if (staged === 'changed') {
        this.tracker.forget(name);
        return 'changed';
      }
      pending = staged.pending;
      this.log.info('downloaded', { name, bytes: staged.bytes });
      this.deps.fault?.('after-stage');
    }
    const job = this.job(name, local);
    const remoteAckDir = src.settings.remoteAckDir;
    if (remoteAckDir) job.ackSink = new RemoteAckSink(src, remoteAckDir);
    const report = await processFile(job, this.pipelineContext());
    this.tracker.forget(name);
    this.deps.fault?.('before-remote-dispose');
    await this.dispose(name, pending);
    return report;
  }

  /** After a durable local outcome: move the remote file to the remote archive (or delete it), drop its marker and record. */
  private async dispose(name: string, p: Pending | null): Promise<void> {
    const src = this.source as RemoteSource;
    const s = src.settings;
    if (!p) {
      this.log.warn('no download record for a staged file: the remote file is left in place (it will be taken again and recognised as a duplicate)', { name });
      return;
    }
    const cur = await src.statPath(p.remotePath, name);
    if (cur && (cur.size !== p.size || cur.mtimeMs !== p.mtimeMs)) {
      this.log.warn('remote file changed after it was downloaded: left in place, it will be taken as a new delivery', { name });
    } else {
      if (cur) {
        if (s.afterProcessing === 'delete') {
          await src.remove(p.remotePath);
          this.log.info('remote file deleted', { name });
        } else {
          const target = await this.freeRemote(s.remoteArchiveDir!, name);
          await src.rename(p.remotePath, target);
          this.log.info('remote file archived', { name, to: target });
        }
      }
      await this.removeMarker(name);
    }
    this.staging.removePending(name);
  }

  /**
   * `dir/name`, or `dir/base-1.ext`… that does not exist on the server: never overwrite. The suffix can take a name
   * the server accepted past 255 bytes: such a name is shortened (fitName), or the rename would fail on every cycle.
   */
  private async freeRemote(dir: string, name: string): Promise<string> {
    const ext = posix.extname(name);
    const base = name.slice(0, name.length - ext.length);
    let candidate = posix.join(dir, name);
    for (let i = 1; await this.source.exists(candidate); i++) candidate = posix.join(dir, fitName(`${base}-${i}${ext}`, REMOTE_NAME_MAX));
    return candidate;
  }

  private async removeMarker(name: string): Promise<void> {
    if (!this.src.doneMarker) return;
    await this.source.remove(this.source.inboxPath(name + this.src.doneMarker));
  }

  /** Markers left by a crash between a file's outcome and its marker's removal. */
  private async cleanMarkers(orphans: readonly string[]): Promise<void> {
    for (const m of orphans) {
      const data = m.slice(0, -this.src.doneMarker!.length);
      if (await findFinishedByPath(this.deps.db, this.localPath(data))) {
        await this.source.remove(this.source.inboxPath(m));
        this.log.info('removed the done marker of a file already processed', { name: m });
      } else {
        this.warnOnce(`orphan:${m}`, 'done marker without its file: ignored', { name: m });
      }
    }
  }

  /**
   * Start-of-cycle recovery. Finishes rows whose file was moved but whose state was not (crash between the
   * rename and the ledger), discards staged copies nobody claimed, and finishes remote dispositions of
   * files already archived locally. Resolves the claimed rows whose staged copy is there to resume.
   */
  private async recover(unfinished: FileRow[]): Promise<FileRow[]> {
    const { db, clock } = this.deps;
    const resume: FileRow[] = [];
    for (const r of unfinished) {
      if (lexists(r.path)) {
        if (!this.source.inPlace && r.path === this.stagedPath(r.name)) resume.push(r);
        continue;
      }
      if (movedButUnfinished(r, lexists)) {
        await finishMove(db, r, r.path, clock.now().toISOString());
        this.log.info('finished an interrupted move', { name: r.name, fileId: r.id });
        continue;
      }
      if (r.path === this.localPath(r.name)) this.warnOnce(`gone:${r.id}`, 'a file claimed by an earlier run is gone: it cannot be resumed', { name: r.name, fileId: r.id, path: r.path, state: r.state });
    }
    if (this.source.inPlace) return resume;

    const claimed = new Set(resume.map((r) => r.name));
    this.staging.discardUnclaimed(claimed);
    for (const p of this.staging.records()) {
      const name = p.name;
      if (claimed.has(name)) continue;
      const row = await findFinishedByPath(db, this.stagedPath(name));
      if (row && row.sha256 === p.sha256) {
        this.log.info('finishing the remote disposition of a file processed by an earlier run', { name, fileId: row.id });
        await this.dispose(name, p);
      } else {
        this.staging.removePending(name);
      }
    }
    resume.sort((a, b) => a.id - b.id || naturalCompare(a.name, b.name));
    return resume;
  }
}
