/**
 * `pamdrop watch` (and `npm start`): the daemon. Holds the store's writer lock for its whole life (a `run`
 * meanwhile exits 3), serves every configured source, and stops cleanly on SIGTERM/SIGINT: the current
 * group of messages is finished and acknowledged, the file stays claimed and resumes at the next start;
 * exit 0. Errors on a file or a source are logged and retried with backoff; they never end the daemon.
 */
import { mkdirSync } from 'node:fs';
import type { CliContext } from '../context.js';
import { withWriterLock } from '../../pipeline/runner.js';
import { usesSourceLeases, withSourceLeases } from '../../pipeline/lease.js';
import { preflight, watchSources, Wake } from '../../intake/service.js';
import { Progress } from '../../intake/progress.js';
import { ExitCode } from '../../shared/errors.js';
import { onStopSignals, pickSources, type IntakeArgs } from './run.js';

/** Handler of `pamdrop watch`: resolves to 0 after a graceful stop (LockedError → 3 in main). */
export async function watchCommand(ctx: CliContext, args: IntakeArgs): Promise<number> {
  const sources = pickSources(ctx.config, args);
  preflight(sources);
  // Zero configuration (`npm start`): the embedded ./inbox is created, ready for the first drop.
  for (const s of sources) mkdirSync(s.inbox, { recursive: true });
  const db = await ctx.openStore();
  let stopping = false;
  const wake = new Wake();
  const off = onStopSignals(ctx, () => { stopping = true; wake.notify(); });
  try {
    const serve = (owner: string, leases?: Parameters<typeof watchSources>[0]['leases']) => watchSources({
      db, config: ctx.config, log: ctx.log, clock: ctx.clock, fault: ctx.fault, sources,
      shouldStop: () => stopping, wake, leases,
      progress: new Progress({ tty: !!process.stderr.isTTY, write: (t) => process.stderr.write(t), log: ctx.log }),
    }, owner);
    // PostgreSQL: several instances share the feed, one per source at a time (pipeline/lease.ts); SQLite: one writer.
    if (usesSourceLeases(db)) {
      await withSourceLeases({ db, ttlMs: ctx.config.lockTtlMs, log: ctx.log, tag: 'watch' }, sources.map((s) => s.name), (leases) => serve(leases.owner, leases));
    } else {
      await withWriterLock({ db, clock: ctx.clock, config: ctx.config }, 'watch', (owner) => serve(owner));
    }
    return ExitCode.Ok;
  } finally {
    off();
    await db.close();
  }
}
