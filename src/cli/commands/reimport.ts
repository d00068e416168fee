/**
 * `pamdrop reimport <archived file | ledger id>… [--dry-run] [--force]` (src/ops/reimport.ts).
 * Exit codes as `import`: 0 all accepted · 1 some AE/AR or quarantined · 2 usage · 3 locked · 4 target not found.
 * Claims as `import` (runner.ts `runJobsClaimed`): the writer lock on SQLite, the lease of each target's source on
 * PostgreSQL (refused, exit 3, while another instance serves that source).
 */
import { resolve } from 'node:path';
import type { CliContext } from '../context.js';
import { runJobsClaimed } from '../../pipeline/runner.js';
import { previewExitCode, runExitCode } from '../exit-codes.js';
import { ExitCode } from '../../shared/errors.js';
import { assertNoPendingClaim, cleanStaging, reimportConfig, resolveTarget, stageReimport, TargetNotFound, type ReimportTarget, type StagedJob } from '../../ops/reimport.js';
import { previewFiles } from '../../ops/preview.js';
import { printReport } from './import.js';
import { assertFolders } from '../../config/folders.js';
import { renderPreviews } from './preview.js';

export interface ReimportArgs {
  targets: string[];
  force?: boolean;
  dryRun?: boolean;
  source?: string;
  ackDir?: string;
  archiveDir?: string;
  errorDir?: string;
}

const describe = (t: ReimportTarget): string => t.original
  ? `reimport of ledger file #${t.original.id} (${t.original.name}, ${t.original.state}) from ${t.path}`
  : `reimport of ${t.path}: not in the ledger (e.g. restored database), processed as source ${t.source}`;

export async function reimportCommand(ctx: CliContext, args: ReimportArgs): Promise<number> {
  if (!args.dryRun) assertFolders(ctx.config.sources);
  const db = await ctx.openStore();
  const config = reimportConfig(ctx.config);
  const mode = args.force ? 'all' : 'failed';
  try {
    const targets: ReimportTarget[] = [];
    try {
      for (const input of args.targets) targets.push(await resolveTarget(db, input, config, args.source));
    } catch (err) {
      if (!(err instanceof TargetNotFound)) throw err;
      ctx.out(ctx.json ? JSON.stringify({ error: err.message }) + '\n' : `pamdrop reimport: ${err.message}\n`);
      return ExitCode.NotFound;
    }

    if (args.dryRun) {
      const previews = await previewFiles(targets.map((t) => ({ path: t.path, name: t.name })),
        { db, config, log: ctx.log, clock: ctx.clock }, { supersede: mode, reimportOf: targets[0]?.original?.id ?? null });
      const exitCode = previewExitCode(previews);
      if (ctx.json) {
        ctx.out(JSON.stringify({ dryRun: true, force: !!args.force, targets: targets.map(targetJson), files: previews, exitCode }, null, 2) + '\n');
      } else {
        for (const t of targets) ctx.out(`${describe(t)}\n`);
        ctx.out(renderPreviews(previews, `dry run of a ${args.force ? 'forced ' : ''}reimport: nothing written`));
      }
      return exitCode;
    }

    const staged: StagedJob[] = [];
    try {
      const folders = { ackDir: args.ackDir && resolve(args.ackDir), archiveDir: args.archiveDir && resolve(args.archiveDir), errorDir: args.errorDir && resolve(args.errorDir) };
      for (const t of targets) {
        await assertNoPendingClaim(db, t.source, t.name, t.path);
        staged.push(stageReimport(t, config, folders, !!args.force));
      }
      const report = await runJobsClaimed(staged.map((s) => s.job), { db, config, log: ctx.log, clock: ctx.clock, fault: ctx.fault }, 'reimport');
      if (ctx.json) {
        ctx.out(JSON.stringify({ force: !!args.force, targets: targets.map(targetJson), ...report, exitCode: runExitCode(report) }, null, 2) + '\n');
      } else {
        for (const t of targets) ctx.out(`${describe(t)}\n`);
        printReport({ ...ctx, json: false }, report);
      }
      return runExitCode(report);
    } finally {
      for (const s of staged) cleanStaging(s.staging);
    }
  } finally {
    await db.close();
  }
}

function targetJson(t: ReimportTarget) {
  return { input: t.input, path: t.path, name: t.name, source: t.source, reimportOf: t.original?.id ?? null, originalState: t.original?.state ?? null };
}
