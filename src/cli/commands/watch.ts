/**
 * `pamdrop watch` (and `npm start`): the daemon. Holds the store's writer lock for its whole life (a `run`
 * meanwhile exits 3), serves every configured source, and stops cleanly on SIGTERM/SIGINT: the current
 * group of messages is finished and acknowledged, the file stays claimed and resumes at the next start;
 * exit 0. Errors on a file or a source are logged and retried with backoff; they never end the daemon.
 */
import { mkdirSync } from 'node:fs';
import type { CliContext } from '../context.js';
import type { SourceConfig } from '../../config/types.js';
import type { Db } from '../../store/tx.js';
import { withWriterLock } from '../../pipeline/runner.js';
import { usesSourceLeases, withSourceLeases } from '../../pipeline/lease.js';
import { preflight, watchSources, Wake } from '../../intake/service.js';
import { Progress } from '../../intake/progress.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { onStopSignals, pickSources, type IntakeArgs } from './run.js';
import type { Observer } from '../../observe/observer.js';

/** Handler of `pamdrop watch`: resolves to 0 after a graceful stop (LockedError → 3 in main). */
export async function watchCommand(ctx: CliContext, args: IntakeArgs & { httpPort?: number }): Promise<number> {
  const sources = pickSources(ctx.config, args);
  preflight(sources);
  if (args.httpPort !== undefined && (!Number.isInteger(args.httpPort) || args.httpPort < 0 || args.httpPort > 65535)) {
    throw new ConfigError('--http-port: must be a TCP port (0–65535)');
  }
  const httpPort = args.httpPort ?? ctx.config.httpPort;
  // Zero configuration (`npm start`): the embedded ./inbox is created, ready for the first drop.
  for (const s of sources) mkdirSync(s.inbox, { recursive: true });
  const db = await ctx.openStore();
  let stopping = false;
  const wake = new Wake();
  const off = onStopSignals(ctx, () => { stopping = true; wake.notify(); });
  try {
    const serve = async (owner: string, leases?: Parameters<typeof watchSources>[0]['leases']) => {
      // /metrics, /healthz and the status page (issue 4, src/observe): only once this instance may write, closed with it.
      const http = httpPort === null ? null : await startHttp(ctx, db, sources, httpPort);
      try {
        await watchSources({
          db, config: ctx.config, log: ctx.log, clock: ctx.clock, fault: ctx.fault, sources,
          shouldStop: () => stopping, wake, leases, observer: http?.observer,
          progress: new Progress({ tty: !!process.stderr.isTTY, write: (t) => process.stderr.write(t), log: ctx.log }),
        }, owner);
      } finally {
        await http?.close();
      }
    };
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

/** Starts the observation server of `watch` with its own read connection to the store (src/observe). */
async function startHttp(ctx: CliContext, db: Db, sources: SourceConfig[], port: number): Promise<{ observer: Observer; close(): Promise<void> }> {
  const { Observer } = await import('../../observe/observer.js');
  const { openReadStore, startObserveServer } = await import('../../observe/server.js');
  const observer = new Observer(sources);
  const config = { ...ctx.config, sources };
  const read = await openReadStore(config, db);
  try {
    const server = await startObserveServer({ host: config.httpHost, port, config, observer, db: read.db, store: db.description, log: ctx.log, clock: ctx.clock });
    return { observer, close: async () => { await server.close(); await read.close(); } };
  } catch (err) {
    await read.close();
    throw err;
  }
}
