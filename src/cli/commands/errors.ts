/**
 * `pamdrop errors [--since DATE] [--source NAME] [--limit N] [--json]` (src/ops/failures.ts): failed
 * messages with control id, event, code, reason and file. Exit 0 (a listing, not a check).
 */
import type { CliContext } from '../context.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { listFailures, type FailedMessage } from '../../ops/failures.js';
import { localTime, parseSince } from '../../ops/format.js';
import { formatFinding } from '../../ops/ack-read.js';

export interface ErrorsArgs { since?: string; source?: string; limit?: number }

function render(list: readonly FailedMessage[]): string {
  if (list.length === 0) return 'no failed message\n';
  let out = '';
  for (const m of list) {
    out += `${localTime(m.at)}  ${m.source}/${m.file} (ledger #${m.fileId}) #${m.position}  ${m.controlId ?? '(no MSH-10)'}  ${m.event ?? '?'}  ${m.outcome} ${m.code ?? ''}`
      + `${m.resent > 0 ? `  resent ${m.resent}×` : ''}\n`;
    const findings = m.findings.length > 0 ? m.findings.map(formatFinding) : [m.reason ?? ''];
    for (const f of findings) out += `    ${f}\n`;
  }
  out += `${list.length} failed message(s); fix the cause, then: pamdrop reimport <ledger #>\n`;
  return out;
}

export async function errorsCommand(ctx: CliContext, args: ErrorsArgs): Promise<number> {
  let since: Date | undefined;
  if (args.since !== undefined) {
    const d = parseSince(args.since, ctx.clock.now());
    if (!d) throw new ConfigError(`--since ${args.since}: expected YYYY-MM-DD, an ISO-8601 time, or 7d / 24h`);
    since = d;
  }
  if (args.limit !== undefined && (!Number.isInteger(args.limit) || args.limit < 1)) throw new ConfigError('--limit must be a positive integer');
  const db = await ctx.openStore();
  try {
    const list = await listFailures(db, { since, source: args.source, limit: args.limit });
    ctx.out(ctx.json ? JSON.stringify({ count: list.length, errors: list }, null, 2) + '\n' : render(list));
    return ExitCode.Ok;
  } finally {
    await db.close();
  }
}
