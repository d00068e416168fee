/**
 * `pamdrop status [--json]` (src/ops/status.ts): pending and unfinished files, failures, last activity,
 * lock holder, and with several instances (PostgreSQL) the source leases and live instances. Always exit 0 (informational); `healthy` in the JSON says whether anything needs a look.
 */
import type { CliContext } from '../context.js';
import { ExitCode } from '../../shared/errors.js';
import { buildStatus, type Status } from '../../ops/status.js';
import { duration, localTime } from '../../ops/format.js';
import { INBOX_REASON_TEXT } from '../../ops/inbox.js';

function render(s: Status, target: string): string {
  let out = `pamdrop status — ${target}${s.healthy ? '' : ' — NEEDS A LOOK'}\n`;
  out += s.lock
    ? `lock: held by ${s.lock.owner} since ${localTime(s.lock.acquiredAt)}, lease until ${localTime(s.lock.expiresAt)}${s.lock.expired ? ' (EXPIRED: the next run takes it over)' : ''}\n`
    : 'lock: free (no import running)\n';
  if (s.instances.length > 0) {
    const live = s.instances.filter((i) => !i.expired).length;
    out += `instances: ${live} live${s.instances.length > live ? `, ${s.instances.length - live} expired (crashed or stopped without cleaning up)` : ''}\n`;
  }
  for (const l of s.leases) {
    out += `  source ${l.source}: lease held by ${l.owner} until ${localTime(l.expiresAt)}${l.expired ? ' (EXPIRED: another instance takes the source over)' : ''}\n`;
  }
  const lf = s.lastRun.lastFile;
  out += `last run: ${lf ? `${lf.name} (${lf.source}, ledger #${lf.id}) ${lf.state} at ${localTime(lf.finishedAt)}${lf.summary ? ` — ${lf.summary.messages} messages: ${lf.summary.AA} AA, ${lf.summary.AE} AE, ${lf.summary.AR} AR` : ''}` : 'never'}`
    + `${s.lastRun.lastActivityAt ? `; last ledger activity ${localTime(s.lastRun.lastActivityAt)}` : ''}\n`;
  out += `pending: ${s.pending.unfinished.length} unfinished file(s) in the ledger, ${s.pending.inboxFiles} file(s) in inboxes\n`;
  for (const u of s.pending.unfinished) out += `  #${u.id} ${u.source}/${u.name} ${u.state} for ${duration(u.ageMs)} by ${u.owner ?? '?'}\n`;
  out += `failed: ${s.failed.quarantinedFiles} quarantined file(s), ${s.failed.failedMessages} message(s) with a live AE/AR (${s.failed.failedMessagesLast24h} in the last 24 h)\n`;
  for (const q of s.failed.recentQuarantined) out += `  #${q.id} ${q.source}/${q.name} at ${localTime(q.at)}: ${q.reason ?? '?'}\n`;
  for (const src of s.sources) {
    out += `source ${src.source} (${src.type}): inbox ${src.inbox.files} file(s), ${src.inbox.pending} pending`
      + `${src.inbox.oldestPendingAgeMs !== null ? ` (oldest ${duration(src.inbox.oldestPendingAgeMs)})` : ''}`
      + `; last file ${src.lastFile ? `${src.lastFile.name} at ${localTime(src.lastFile.finishedAt)}` : 'never'}`
      + `${src.feed ? `; feed ${src.feed.quiet ? 'QUIET' : 'ok'} (expected every ${duration(src.feed.expectEveryMs)})` : ''}\n`;
    for (const f of src.inbox.notTaken) out += `  never taken: ${f.name} (${INBOX_REASON_TEXT[f.reason]})\n`;
  }
  return out;
}

export async function statusCommand(ctx: CliContext): Promise<number> {
  const db = await ctx.openStore();
  try {
    const status = await buildStatus(db, ctx.config, ctx.clock.now());
    ctx.out(ctx.json ? JSON.stringify(status, null, 2) + '\n' : render(status, db.description));
    return ExitCode.Ok;
  } finally {
    await db.close();
  }
}
