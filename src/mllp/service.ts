/**
 * The MLLP listeners of `watch` (docs/mllp.md): started once this instance may write to the store (the writer lock
 * on SQLite; on PostgreSQL every message takes the apply lock), each with its store sink and journal; closed
 * before the store is.
 */
import type { ListenerConfig, ResolvedConfig } from '../config/types.js';
import { getDefaultListener } from '../config/defaults.js';
import { ConfigError } from '../shared/errors.js';
import type { PipelineContext } from '../pipeline/context.js';
import { Journal } from './journal.js';
import { MllpListener, type ListenerObserver, type ListenerView } from './listener.js';
import { StoreSink } from './store-sink.js';

/** The listeners to run: the configured ones, and `--mllp-port` (the port of the listener named `mllp`, made when absent). */
export function pickListeners(config: ResolvedConfig, mllpPort?: number): ListenerConfig[] {
  const out = config.listeners.map((l) => ({ ...l }));
  if (mllpPort === undefined) return out;
  if (!Number.isInteger(mllpPort) || mllpPort < 0 || mllpPort > 65535) throw new ConfigError('--mllp-port: must be a TCP port (0–65535)');
  const named = out.find((l) => l.name === 'mllp');
  if (named) named.port = mllpPort;
  else {
    if (config.sources.some((s) => s.name === 'mllp')) throw new ConfigError('--mllp-port: a source is named mllp; configure the listener under listeners[] with another name');
    out.push(getDefaultListener('mllp', mllpPort));
  }
  return out;
}

export interface RunningListeners {
  readonly listeners: MllpListener[];
  views(): ListenerView[];
  close(): Promise<void>;
}

/** Starts every listener; a port that cannot be bound, or certificates that cannot be read, is a ConfigError (exit 2). */
export async function startListeners(ctx: Omit<PipelineContext, 'fence'>, configs: readonly ListenerConfig[], observer?: ListenerObserver): Promise<RunningListeners> {
  const started: MllpListener[] = [];
  const close = async () => { await Promise.all(started.map((l) => l.close())); };
  try {
    for (const cfg of configs) {
      const sink = new StoreSink(ctx, cfg);
      const left = await sink.recover();
      if (left > 0) ctx.log.info('MLLP connections of an earlier run closed in the ledger', { listener: cfg.name, connections: left });
      const l = new MllpListener({
        name: cfg.name, host: cfg.host, port: cfg.port, tls: cfg.tls, maxMessageBytes: cfg.maxMessageBytes, idleTimeoutMs: cfg.idleTimeoutMs,
        maxConnections: cfg.maxConnections, sink, log: ctx.log, observer, journal: cfg.journalDir ? new Journal(cfg.journalDir, cfg.name) : null,
      });
      try {
        await l.start();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new ConfigError(`listener ${cfg.name}: cannot listen on ${cfg.host}:${cfg.port}: ${e.code ?? e.message}${e.code === 'EADDRINUSE' ? ' (port in use)' : ''}`, { cause: err });
      }
      started.push(l);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { listeners: started, views: () => started.map((l) => l.view()), close };
}
