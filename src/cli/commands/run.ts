/**
 * `pamdrop run`: cron / run-once. Every configured source (or the one given by flags): everything pending
 * and complete is processed, then a run report is printed and the exit code says how it went
 * (docs/behaviour.md "Exit codes": 0 all accepted, 1 some AE/AR, a quarantined or failed file, 3 locked).
 */
import { resolve } from 'node:path';
import type { CliContext } from '../context.js';
import type { ResolvedConfig, SourceConfig } from '../../config/types.js';
import { getDefaultSource } from '../../config/defaults.js';
import { ConfigError } from '../../shared/errors.js';
import { withWriterLock } from '../../pipeline/runner.js';
import { runExitCode } from '../exit-codes.js';
import { usesSourceLeases, withAvailableSourceLeases } from '../../pipeline/lease.js';
import { preflight, runOnce, Wake } from '../../pipeline/service.js';
import { Progress } from '../../intake/progress.js';
import { printReport } from './import.js';
import { assertFolders } from '../../config/folders.js';

/** Flags shared by `run` and `watch`. */
export interface IntakeArgs {
  inbox?: string;
  ackDir?: string;
  archiveDir?: string;
  errorDir?: string;
  /** Restrict to these configured sources (or name the flag-defined one). */
  source?: string[];
}

/**
 * The sources a command serves. `--inbox` defines one local source from flags (the other folders default to
 * ./outbox, ./archive, ./archive/error; a configured source of the same name lends its other settings).
 * Otherwise the configured sources, optionally narrowed by `--source`; folder flags then need exactly one.
 */
export function pickSources(config: ResolvedConfig, a: IntakeArgs): SourceConfig[] {
  const sources = chooseSources(config, a);
  assertFolders(sources);
  return sources;
}

function chooseSources(config: ResolvedConfig, a: IntakeArgs): SourceConfig[] {
  const names = a.source ?? [];
  if (a.inbox !== undefined) {
    if (names.length > 1) throw new ConfigError('--inbox defines one source: give at most one --source name');
    const name = names[0] ?? 'local';
    const base = config.sources.find((s) => s.name === name && s.type === 'local') ?? { ...getDefaultSource(), name };
    return [{ ...base, type: 'local', inbox: resolve(a.inbox),
      ackDir: resolve(a.ackDir ?? base.ackDir),
      archiveDir: resolve(a.archiveDir ?? base.archiveDir),
      errorDir: resolve(a.errorDir ?? base.errorDir) }];
  }
  let sources = config.sources;
  if (names.length > 0) {
    for (const n of names) if (!sources.some((s) => s.name === n)) throw new ConfigError(`--source ${n}: no such source in the config (${sources.map((s) => s.name).join(', ')})`);
    sources = sources.filter((s) => names.includes(s.name));
  }
  if (a.ackDir !== undefined || a.archiveDir !== undefined || a.errorDir !== undefined) {
    if (sources.length !== 1) throw new ConfigError('--ack-dir/--archive-dir/--error-dir apply to one source: add --inbox, or pick one with --source');
    const s = sources[0]!;
    sources = [{ ...s,
      ackDir: a.ackDir !== undefined ? resolve(a.ackDir) : s.ackDir,
      archiveDir: a.archiveDir !== undefined ? resolve(a.archiveDir) : s.archiveDir,
      errorDir: a.errorDir !== undefined ? resolve(a.errorDir) : s.errorDir }];
  }
  return sources;
}

/**
 * SIGTERM/SIGINT: the first asks for a graceful stop (after the current group of messages and its ACK
 * files); a second one exits at once (the ledger makes that as safe as a crash). Returns the remover.
 */
export function onStopSignals(ctx: CliContext, stop: () => void): () => void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      ctx.log.info('stop requested: finishing the current group of messages', { signal: sig });
      stop();
    } else {
      ctx.log.warn('second stop signal: exiting now; the current file resumes on the next run', { signal: sig });
      process.exit(130);
    }
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => { process.off('SIGTERM', handler); process.off('SIGINT', handler); };
}

/** Handler of `pamdrop run`: resolves to the exit code. */
export async function runCommand(ctx: CliContext, args: IntakeArgs): Promise<number> {
  const sources = pickSources(ctx.config, args);
  preflight(sources);
  const db = await ctx.openStore();
  let stopping = false;
  const wake = new Wake();
  const off = onStopSignals(ctx, () => { stopping = true; wake.notify(); });
  try {
    const serve = (owner: string, leases?: Parameters<typeof runOnce>[0]['leases']) => runOnce({
      db, config: ctx.config, log: ctx.log, clock: ctx.clock, fault: ctx.fault,
      sources: leases ? sources.filter((s) => leases.holds(s.name)) : sources,
      shouldStop: () => stopping, wake, leases,
      progress: new Progress({ tty: !!process.stderr.isTTY, write: (t) => process.stderr.write(t), log: ctx.log }),
    }, owner);
    // PostgreSQL: the sources whose lease is free (exit 3 when all are held by other instances); SQLite: one writer.
    const report = usesSourceLeases(db)
      ? await withAvailableSourceLeases({ db, ttlMs: ctx.config.lockTtlMs, log: ctx.log, tag: 'run' }, sources.map((s) => s.name), (leases) => serve(leases.owner, leases))
      : await withWriterLock({ db, clock: ctx.clock, config: ctx.config }, 'run', (owner) => serve(owner));
    const { stopped, ...plain } = report;
    if (stopped) ctx.log.info('run stopped before the end; the interrupted file resumes on the next run');
    printReport(ctx, plain);
    return runExitCode(plain);
  } finally {
    off();
    await db.close();
  }
}
