/**
 * `pamdrop watch` (and `npm start`): the daemon. Holds the store's writer lock for its whole life (a `run`
 * meanwhile exits 3), serves every configured source, and stops cleanly on SIGTERM/SIGINT: the current
 * group of messages is finished and acknowledged, the file stays claimed and resumes at the next start;
 * exit 0. Errors on a file or a source are logged and retried with backoff; they never end the daemon.
 * With `listeners` (or `--mllp-port`) it also takes messages over MLLP (src/mllp, docs/mllp.md). With `retention`
 * it prunes between cycles (docs/operations.md "Retention").
 */
import { mkdirSync } from 'node:fs';
import type { CliContext } from '../context.js';
import type { SourceConfig } from '../../config/types.js';
import type { Db } from '../../store/tx.js';
import { withWriterLock } from '../../pipeline/runner.js';
import { usesSourceLeases, withSourceLeases } from '../../pipeline/lease.js';
import { preflight, watchSources, Wake, type Housekeeping } from '../../pipeline/service.js';
import { Progress } from '../../intake/progress.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { onStopSignals, pickSources, type IntakeArgs } from './run.js';
import type { Observer } from '../../observe/observer.js';
import type { StartupState } from '../../observe/server.js';
import { describeTarget } from '../../store/db.js';
import { pickListeners, startListeners, type RunningListeners } from '../../mllp/service.js';

/** Handler of `pamdrop watch`: resolves to 0 after a graceful stop (LockedError → 3 in main). */
export async function watchCommand(ctx: CliContext, args: IntakeArgs & { httpPort?: number; mllpPort?: number }): Promise<number> {
  const sources = pickSources(ctx.config, args);
  preflight(sources);
  const listeners = pickListeners(ctx.config, args.mllpPort);
  if (args.httpPort !== undefined && (!Number.isInteger(args.httpPort) || args.httpPort < 0 || args.httpPort > 65535)) {
    throw new ConfigError('--http-port: must be a TCP port (0–65535)');
  }
  const httpPort = args.httpPort ?? ctx.config.httpPort;
  // Zero configuration (`npm start`): the embedded ./inbox is created, ready for the first drop.
  for (const s of sources) mkdirSync(s.inbox, { recursive: true });
  let stopping = false;
  const wake = new Wake();
  const off = onStopSignals(ctx, () => { stopping = true; wake.notify(); });
  let db: Db | null;
  let port = httpPort;
  try {
    ({ db, port } = await openStoreRetrying(ctx, httpPort, () => stopping, wake));
  } catch (err) {
    off();
    throw err;
  }
  if (!db) { off(); return ExitCode.Ok; }
  const store: Db = db;
  try {
    const serve = async (owner: string, leases?: Parameters<typeof watchSources>[0]['leases']) => {
      // /metrics, /healthz and the status page (src/observe): only once this instance may write, closed with it.
      const http = port === null ? null : await startHttp(ctx, store, sources, port);
      let mllp: RunningListeners | null = null;
      try {
        // MLLP listeners (src/mllp): only once this instance may write, like the sources; closed before the store.
        if (listeners.length > 0) {
          mllp = await startListeners({ db: store, config: ctx.config, log: ctx.log, clock: ctx.clock, owner, fault: ctx.fault }, listeners, http?.observer);
          http?.observer.watchListeners(mllp);
        }
        await watchSources({
          db: store, config: ctx.config, log: ctx.log, clock: ctx.clock, fault: ctx.fault, sources,
          shouldStop: () => stopping, wake, leases, observer: http?.observer, housekeeping: await pruning(ctx, store),
          progress: new Progress({ tty: !!process.stderr.isTTY, write: (t) => process.stderr.write(t), log: ctx.log }),
        }, owner);
      } finally {
        // Listeners first: each connection answers the message in hand, then the store can close.
        await mllp?.close();
        await http?.close();
      }
    };
    // PostgreSQL: several instances share the feed, one per source at a time (pipeline/lease.ts); SQLite: one writer.
    if (usesSourceLeases(store)) {
      await withSourceLeases({ db: store, ttlMs: ctx.config.lockTtlMs, log: ctx.log, tag: 'watch' }, sources.map((s) => s.name), (leases) => serve(leases.owner, leases));
    } else {
      await withWriterLock({ db: store, clock: ctx.clock, config: ctx.config }, 'watch', (owner) => serve(owner));
    }
    return ExitCode.Ok;
  } finally {
    off();
    await store.close();
  }
}

/**
 * Retention (`retention` in the config): `watch` prunes as `pamdrop prune` does, a pass at a time between cycles
 * (ops/prune.ts `prunePass`), every `pruneEveryHours`. None when nothing is to be pruned or pruning is left to cron.
 */
async function pruning(ctx: CliContext, db: Db): Promise<Housekeeping | undefined> {
  const r = ctx.config.retention;
  if ((r.archiveDays === null && r.receivedDays === null && r.remoteAckDays === null) || r.pruneEveryHours === null) return undefined;
  const { prunePass } = await import('../../ops/prune.js');
  return { name: 'prune', everyMs: r.pruneEveryHours * 3600_000, run: () => prunePass(db, ctx.config, ctx.clock.now(), ctx.log) };
}

/**
 * Opens the store, retrying with backoff (1 s doubling to 30 s) while it is unreachable — PostgreSQL still starting
 * or down, a network mount not there yet: a daemon never exits on a transient fault. Each attempt is logged, and
 * with an HTTP port `/healthz` answers 503 "starting" meanwhile. A ConfigError (no such store, bad target) is not
 * transient: it ends the command (exit 2). Resolves to db null when a stop signal came first; `port` is the port
 * the start-up server bound (so that port 0 keeps its chosen port).
 */
async function openStoreRetrying(ctx: CliContext, httpPort: number | null, stopping: () => boolean, wake: Wake): Promise<{ db: Db | null; port: number | null }> {
  let state: StartupState | null = null;
  let http: { port: number; close(): Promise<void> } | null = null;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return { db: await ctx.openStore(), port: http?.port ?? httpPort };
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        const delay = Math.min(1000 * 2 ** (attempt - 1), 30_000);
        const e = err as NodeJS.ErrnoException;
        const error = `${typeof e.code === 'string' && !String(e.message).includes(e.code) ? `${e.code}: ` : ''}${String(e.message ?? err).split('\n')[0]}`;
        state = { waitingFor: 'store unreachable', attempt, error, retryAt: new Date(Date.now() + delay).toISOString() };
        ctx.log.warn('store unreachable at start-up: retrying', { store: describeTarget(ctx.config.database), attempt, retryInMs: delay, error });
        if (!http && httpPort !== null) {
          const { startStartupServer } = await import('../../observe/server.js');
          http = await startStartupServer({ host: ctx.config.httpHost, port: httpPort, log: ctx.log, state: () => state });
        }
        await wake.wait(delay);
        if (stopping()) return { db: null, port: null };
      }
    }
  } finally {
    await http?.close();
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
