/**
 * `pamdrop reconcile --snapshot <file> [--apply] [--report FILE.csv|FILE.json]` (src/ops/reconcile.ts).
 * The report always describes the store *before* `--apply`. `--apply` then runs a copy of the snapshot through the
 * import pipeline (ledger, history, ACK files in the source's ACK folder, archived copy); the snapshot file itself
 * is left where it is.
 * Exit 0: nothing to report (and, with --apply, every message AA); 1: differences found (or AE/AR on apply);
 * 2: usage, or --apply refused because the snapshot holds events other than A28/A31 (nothing applied);
 * 3: another instance holds the lock (--apply).
 */
import { basename, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { CliContext } from '../context.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { runJobsClaimed, type RunReport } from '../../pipeline/runner.js';
import { runExitCode } from '../exit-codes.js';
import { hasFindings, reconcile, writeReport, type ReconcileItem, type ReconcileReport } from '../../ops/reconcile.js';
import { assertNoPendingClaim, cleanStaging, stageCopy } from '../../ops/reimport.js';
import { formatIdentifier, formatValue } from '../../ops/format.js';
import { printReport } from './import.js';
import { assertFolders } from '../../config/folders.js';

export interface ReconcileArgs { snapshot: string; apply?: boolean; report?: string; source?: string }

const LABEL: Record<ReconcileItem['kind'], string> = {
  'missing-in-store': 'MISSING IN STORE', 'missing-in-snapshot': 'MISSING IN SNAPSHOT', 'retired-in-store': 'RETIRED IN STORE',
  split: 'SPLIT', different: 'DIFFERENT', 'duplicate-in-snapshot': 'DUPLICATE IN SNAPSHOT', 'invalid-in-snapshot': 'INVALID IN SNAPSHOT',
  'ignored-in-snapshot': 'IGNORED IN SNAPSHOT',
};

function render(r: ReconcileReport, target: string): string {
  const c = r.counts;
  let out = `reconcile ${r.snapshot} against ${target}\n`
    + `  snapshot: ${c.snapshotMessages} messages, ${c.snapshotPatients} patients · store: ${c.storeActiveInScope} active records in the snapshot's domains (${r.domains.join(', ') || '—'})\n`
    + `  ${c.matched} matched (${c.identical} identical, ${c.different} different) · ${c.missingInStore} missing in store · ${c.missingInSnapshot} missing in snapshot`
    + ` · ${c.retiredInStore} retired in store · ${c.split} split · ${c.duplicates} duplicates · ${c.invalid} invalid · ${c.ignored} ignored\n`;
  for (const it of r.items) {
    const where = it.position !== undefined ? `  #${it.position}${it.controlId ? ` ${it.controlId}` : ''}` : '';
    out += `${LABEL[it.kind].padEnd(22)} ${formatIdentifier(it.patient)}${where}${it.detail ? `  ${it.detail}` : ''}\n`;
    for (const d of it.differences ?? []) {
      out += `    ${d.field}: store ${formatValue(d.store)} · snapshot ${formatValue(d.snapshot)}${d.fixedByApply ? '' : '  (not changed by --apply)'}\n`;
    }
  }
  return out;
}

export async function reconcileCommand(ctx: CliContext, args: ReconcileArgs): Promise<number> {
  const snapshot = resolve(args.snapshot);
  if (!existsSync(snapshot) || !statSync(snapshot).isFile()) throw new ConfigError(`--snapshot ${snapshot}: no such file`);
  const src = ctx.config.sources.find((s) => s.name === (args.source ?? ctx.config.sources[0]!.name));
  if (!src) throw new ConfigError(`--source ${args.source}: no such source in the config`);
  if (args.apply) assertFolders([src]);
  const db = await ctx.openStore();
  try {
    const report = await reconcile(db, snapshot, ctx.config, ctx.clock.now());
    if (args.report) writeReport(resolve(args.report), report);
    let applied: RunReport | null = null;
    // A snapshot is A28/A31 only: a file with merges or identifier changes is not applied blindly (import it instead).
    const foreign = report.items.filter((i) => i.kind === 'ignored-in-snapshot');
    const refused = args.apply && foreign.length > 0
      ? `--apply refused: the snapshot holds ${foreign.length} message(s) other than A28/A31 (${foreign.map((i) => `#${i.position}`).join(', ')}); `
        + 'remove them, or import the file if it is a feed rather than a snapshot'
      : null;
    if (args.apply && !refused) {
      await assertNoPendingClaim(db, src.name, basename(snapshot), snapshot);
      const { staging, copy } = stageCopy(snapshot, basename(snapshot), src.archiveDir);
      try {
        // SQLite: the writer lock; PostgreSQL: the source's lease and fence, as `import` (runner.ts).
        applied = await runJobsClaimed([{ source: src.name, path: copy, name: basename(snapshot), ackDir: src.ackDir, archiveDir: src.archiveDir, errorDir: src.errorDir }],
          { db, config: ctx.config, log: ctx.log, clock: ctx.clock, fault: ctx.fault }, 'reconcile');
      } finally {
        cleanStaging(staging);
      }
    }
    const appliedCode = applied !== null ? runExitCode(applied) : ExitCode.Ok;
    const exitCode = refused ? ExitCode.Usage : appliedCode === ExitCode.SystemFault ? ExitCode.SystemFault
      : hasFindings(report) || appliedCode !== ExitCode.Ok ? ExitCode.Rejected : ExitCode.Ok;
    if (ctx.json) {
      ctx.out(JSON.stringify({ ...report, reportFile: args.report ? resolve(args.report) : null, applied, ...(refused ? { refused } : {}), exitCode }, null, 2) + '\n');
    } else {
      ctx.out(render(report, db.description));
      if (args.report) ctx.out(`report written to ${resolve(args.report)}\n`);
      if (refused) ctx.out(`${refused}\n`);
      if (applied) {
        ctx.out('applied through the import pipeline:\n');
        printReport({ ...ctx, json: false }, applied);
      }
    }
    return exitCode;
  } finally {
    await db.close();
  }
}
