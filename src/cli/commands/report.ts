/**
 * `pamdrop report [--since DATE] [--json]` (src/ops/report.ts). `--since`: `YYYY-MM-DD` (local midnight),
 * an ISO-8601 instant, or `7d` / `24h`; default `7d` (today and the six days before). Always exit 0: alerts are
 * listed, `doctor` and `status` are the checks.
 */
import type { CliContext } from '../context.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { buildReport, type Report } from '../../ops/report.js';
import { duration, localDay, parseSince, table } from '../../ops/format.js';
import { INBOX_REASON_TEXT } from '../../ops/inbox.js';

export interface ReportArgs { since?: string }

function render(r: Report, target: string): string {
  let out = `pamdrop report since ${localDay(r.since)} — ${target}\n`;
  for (const s of r.sources) {
    out += `\nsource ${s.source} (${s.type})\n`;
    const head = ['day', 'files', 'reimports', 'quarantined', 'messages', 'AA', 'AE', 'AR', 'duplicates', 'stale', 'conflicts', 'seq-missing'];
    const row = (label: string, d: Omit<Report['sources'][number]['days'][number], 'day'>) => [label, d.files, d.reimports, d.quarantined, d.messages, d.AA, d.AE, d.AR,
      d.duplicates, d.stale, d.conflicts, d.missingSequenceNumbers].map(String);
    if (s.days.length === 0) out += '  no file in the period\n';
    else out += table([head, ...s.days.map((d) => row(d.day, d)), row('total', s.totals)], '  ');
    for (const g of s.gaps) {
      out += `  MSH-13 gap ${g.sendingApp}/${g.sendingFacility}: ${g.from === g.to ? g.from : `${g.from}–${g.to}`} never received (${g.missing}, before a message of ${g.day})\n`;
    }
    if (s.inbox.length > 0) {
      out += `  inbox files not in the ledger: ${s.inbox.length}\n`;
      for (const f of s.inbox) out += `    ${f.name}  ${f.size} B  ${duration(f.ageMs)} old  ${INBOX_REASON_TEXT[f.reason]}\n`;
    }
    if (s.feed) {
      const when = s.feed.lastFileAt ? `last file ${duration(s.feed.silentForMs ?? 0)} ago` : 'no file ever received';
      out += `  feed: ${when}, expected every ${duration(s.feed.expectEveryMs)}${s.feed.quiet ? ' — QUIET' : ''}\n`;
    }
  }
  out += r.alerts.length > 0 ? `\nalerts:\n${r.alerts.map((a) => `  ${a}\n`).join('')}` : '\nno alerts\n';
  return out;
}

export async function reportCommand(ctx: CliContext, args: ReportArgs): Promise<number> {
  const now = ctx.clock.now();
  const since = parseSince(args.since ?? '7d', now);
  if (!since) throw new ConfigError(`--since ${args.since}: expected YYYY-MM-DD, an ISO-8601 time, or 7d / 24h`);
  const db = await ctx.openStore();
  try {
    const report = await buildReport(db, ctx.config, since, now);
    ctx.out(ctx.json ? JSON.stringify(report, null, 2) + '\n' : render(report, db.description));
    return ExitCode.Ok;
  } finally {
    await db.close();
  }
}
