/**
 * `pamdrop prune [--dry-run] [--json]` (src/ops/prune.ts): removes archived files, kept MLLP bytes and local copies of
 * remote ACK files whose retention period (`retention` in the config) has passed. Meant to run daily from cron or a timer. Exit 0 done (or
 * nothing to do) · 1 a file kept because its bytes no longer match the ledger · 5 a file that could not be removed.
 */
import type { CliContext } from '../context.js';
import { pruneExitCode } from '../exit-codes.js';
import { prune, type PruneReport } from '../../ops/prune.js';
import { localTime } from '../../ops/format.js';

export interface PruneArgs { dryRun: boolean }

function render(r: PruneReport): string {
  const { archive, received, ackCopies } = r;
  if (archive.days === null && received.days === null && ackCopies.days === null) {
    return 'retention is not configured: nothing removed (set retention.archiveDays, receivedDays or remoteAckDays in the config)\n';
  }
  const verb = r.dryRun ? 'would remove' : 'removed';
  let out = r.dryRun ? 'dry run: nothing is removed\n' : '';
  if (archive.days === null) out += 'archived files: kept forever (retention.archiveDays is null)\n';
  else {
    const n = (o: string) => archive.files.filter((f) => f.outcome === o);
    const removed = n('removed');
    const bytes = removed.reduce((s, f) => s + f.bytes, 0);
    out += `archived files finished before ${localTime(archive.cutoff!)} (${archive.days} days): ${verb} ${removed.length} (${bytes} bytes)`
      + `${n('missing').length > 0 ? `, ${n('missing').length} already gone` : ''}\n`;
    for (const f of [...n('changed'), ...n('failed')]) out += `  KEPT ${f.path} (ledger #${f.id}): ${f.reason}\n`;
  }
  if (received.days === null) out += 'bytes of MLLP messages: kept forever (retention.receivedDays is null)\n';
  else out += `bytes of MLLP messages imported before ${localTime(received.cutoff!)} (${received.days} days): ${verb} ${received.removed}\n`;
  if (ackCopies.days !== null) {
    out += `local copies of ACK files uploaded to remote sources, written before ${localTime(ackCopies.cutoff!)} (${ackCopies.days} days): `
      + `${verb} ${ackCopies.removed}${ackCopies.folders.length === 0 ? ' (no remote source)' : ''}\n`;
    if (ackCopies.failed > 0) out += `  KEPT ${ackCopies.failed} local ACK cop${ackCopies.failed === 1 ? 'y' : 'ies'} that could not be removed (permissions?)\n`;
  }
  return out;
}

export async function pruneCommand(ctx: CliContext, args: PruneArgs): Promise<number> {
  const db = await ctx.openStore();
  try {
    const report = await prune(db, ctx.config.retention, { dryRun: args.dryRun, now: ctx.clock.now(), log: ctx.log, sources: ctx.config.sources });
    ctx.out(ctx.json ? JSON.stringify(report, null, 2) + '\n' : render(report));
    return pruneExitCode(report);
  } finally {
    await db.close();
  }
}
