/**
 * `pamdrop import <files…>`: process the given files now, in natural name order. SQLite: under the writer lock.
 * PostgreSQL: under the lease of the file's source (runner.ts `runJobsClaimed`), beside `watch` instances of other
 * sources; a source another instance serves is refused (exit 3).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { existsSync, lstatSync, renameSync, type Stats } from 'node:fs';
import type { CliContext } from '../context.js';
import { runJobsClaimed, type RunReport } from '../../pipeline/runner.js';
import { naturalCompare } from '../../shared/natural.js';
import { runExitCode } from '../exit-codes.js';
import type { FileJob, FileReport } from '../../pipeline/process-file.js';
import { emptySummary, findFinishedByPath, listUnfinishedFiles, type FileRow } from '../../store/ledger.js';
import { finishMove, movedButUnfinished } from '../../pipeline/moves.js';
import type { Db } from '../../store/tx.js';
import { ConfigError } from '../../shared/errors.js';
import { rawPath, readDirNames } from '../../intake/names.js';
import { assertFolders } from '../../config/folders.js';
import { Progress } from '../../intake/progress.js';

export interface ImportArgs { files: string[]; ackDir?: string; archiveDir?: string; errorDir?: string; source?: string }

export async function importCommand(ctx: CliContext, args: ImportArgs): Promise<number> {
  const src = ctx.config.sources.find((s) => s.name === (args.source ?? ctx.config.sources[0]!.name));
  if (!src) throw new ConfigError(`--source ${args.source}: no such source in the config`);
  const folders = {
    ackDir: args.ackDir ? resolve(args.ackDir) : src.ackDir,
    archiveDir: args.archiveDir ? resolve(args.archiveDir) : src.archiveDir,
    errorDir: args.errorDir ? resolve(args.errorDir) : src.errorDir,
  };
  assertFolders([{ ...src, ...folders }]);
  const files = [...args.files].map((f) => resolve(f)).sort((a, b) => naturalCompare(basename(a), basename(b)));
  const db = await ctx.openStore();
  // A path that is gone but that the ledger shows processed (the same command run again after a crash or by
  // hand) is reported from the ledger; any other missing path is a usage error.
  const previous: FileReport[] = [];
  const present: string[] = [];
  try {
    for (const f of files) {
      const st = lstatOrNull(f);
      // A symbolic link is taken as a link: processFile quarantines it without following it (pipeline/links.ts).
      if (st && (st.isFile() || st.isSymbolicLink())) { present.push(f); continue; }
      if (st) throw new ConfigError(`${f}: ${kindOf(st)}, not a file: nothing imported`);
      const row = await findFinishedByPath(db, f) ?? await finishInterruptedMove(ctx, db, f);
      if (row) {
        previous.push({ file: row.name, source: row.source, fileId: row.id, state: row.state === 'quarantined' ? 'quarantined' : 'done',
          reason: row.reason, archivedPath: row.archived_path, summary: row.summary ? JSON.parse(row.summary) : emptySummary(), resumed: true, alreadyProcessed: true });
        continue;
      }
      const adopted = adoptNonUtf8(ctx, f);
      if (adopted) { present.push(adopted); continue; }
      throw new ConfigError(`${f}: no such file`);
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  const jobs: FileJob[] = present.map((path) => ({ source: src.name, path, ...folders }));
  // The same progress line as `run` on a terminal; nothing otherwise, nor with --json (a script reads stdout).
  const progress = process.stderr.isTTY && !ctx.json
    ? new Progress({ tty: true, write: (t) => process.stderr.write(t), log: ctx.log })
    : undefined;
  try {
    const report = await runJobsClaimed(jobs, { db, config: ctx.config, log: ctx.log, clock: ctx.clock, fault: ctx.fault,
      progress: progress ? (p) => progress.update(src.name, p) : undefined }, 'import', [src.name]);
    progress?.update(src.name, null);
    addPrevious(report, previous);
    printReport(ctx, report);
    return runExitCode(report);
  } finally {
    await db.close();
  }
}

function lstatOrNull(path: string): Stats | null {
  try { return lstatSync(path); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** What a path that is not a file is, for the message. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * A name that is not valid UTF-8 reaches us with U+FFFD in place of its odd bytes (the command line is decoded as
 * UTF-8), a path that does not exist. When exactly one entry of the folder decodes to it, that file is renamed to its
 * rendering (intake/names.ts, as `watch` does) and imported under it; returns the new path, or null.
 */
function adoptNonUtf8(ctx: CliContext, path: string): string | null {
  if (!basename(path).includes('\uFFFD')) return null;
  const dir = dirname(path);
  let entries;
  try { entries = readDirNames(dir); } catch { return null; }
  const hits = entries.filter((e) => e.raw && e.raw.toString('utf8') === basename(path));
  if (hits.length > 1) throw new ConfigError(`${path}: ${hits.length} files of ${dir} match this name once decoded; their names are not valid UTF-8: rename them`);
  const hit = hits[0];
  if (!hit?.raw || (!hit.type.isFile() && !hit.type.isSymbolicLink())) return null;
  const to = join(dir, hit.name);
  if (existsSync(to)) throw new ConfigError(`${path}: its name is not valid UTF-8 and ${to}, its rendering, already exists: rename it`);
  renameSync(rawPath(dir, hit.raw), to);
  ctx.log.warn('file name is not valid UTF-8: renamed to its rendering before it is taken', { name: hit.name, nameBytes: hit.raw.toString('hex') });
  return to;
}

/**
 * A run killed between the archive (or quarantine) rename and the ledger's final state left the row `archiving` /
 * `quarantining` with the file already at its planned path (hardening harness): finish the row, as intake does.
 */
async function finishInterruptedMove(ctx: CliContext, db: Db, path: string): Promise<FileRow | undefined> {
  const row = (await listUnfinishedFiles(db)).find((r) => r.path === path && movedButUnfinished(r));
  if (!row) return undefined;
  const to = await finishMove(db, row, path, ctx.clock.now().toISOString());
  if (!to) return undefined;
  ctx.log.info('finished an interrupted move', { file: row.name, fileId: row.id });
  return { ...row, state: to };
}

function addPrevious(report: RunReport, previous: FileReport[]): void {
  for (const p of previous) {
    report.files.push(p);
    report.totals.files++;
    if (p.state === 'quarantined') report.totals.quarantined++;
    for (const k of ['messages', 'AA', 'AE', 'AR', 'duplicates', 'stale'] as const) report.totals[k] += p.summary[k];
  }
  report.files.sort((a, b) => naturalCompare(a.file, b.file));
}

/** Per-file summary lines, or one JSON object with --json. */
export function printReport(ctx: CliContext, report: RunReport): void {
  if (ctx.json) {
    ctx.out(JSON.stringify({ ...report, exitCode: runExitCode(report) }, null, 2) + '\n');
    return;
  }
  for (const f of report.files) {
    if (f.state === 'failed') { ctx.out(`${f.file}: FAILED (${f.error}) — left claimed, resumes on the next run\n`); continue; }
    const s = f.summary;
    const head = f.state === 'quarantined' ? `QUARANTINED: ${f.reason}` : `${s.messages} messages: ${s.AA} AA, ${s.AE} AE, ${s.AR} AR, ${s.duplicates} duplicates, ${s.stale} stale`;
    const note = f.alreadyProcessed ? ' (already processed: from the ledger)' : f.resumed ? ' (resumed)' : '';
    ctx.out(`${f.file}: ${head}${note}\n  → ${f.archivedPath}\n`);
  }
  const t = report.totals;
  ctx.out(`total: ${t.files} files, ${t.messages} messages: ${t.AA} AA, ${t.AE} AE, ${t.AR} AR, ${t.duplicates} duplicates, ${t.stale} stale, ${t.quarantined} quarantined${t.failed ? `, ${t.failed} failed` : ''}\n`);
}
