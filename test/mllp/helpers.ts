/** A listener on a real store, in process, for the MLLP store tests. */
import { resolveConfig } from '../../src/config/load.js';
import type { ImporterConfig } from '../../src/config/types.js';
import { fixedClock, type Clock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { makeOwner } from '../../src/store/ledger.js';
import { MllpListener } from '../../src/mllp/listener.js';
import { StoreSink } from '../../src/mllp/store-sink.js';
import { Journal } from '../../src/mllp/journal.js';
import { main } from '../../src/cli/main.js';
import type { Db } from '../../src/store/tx.js';

export const FIXED_TIME = '2025-06-01T10:00:00.000Z';

export interface StoreListener { listener: MllpListener; sink: StoreSink; close(): Promise<void> }

export async function storeListener(db: Db, o: { name?: string; maxMessageBytes?: number; config?: ImporterConfig; clock?: Clock; journalDir?: string } = {}): Promise<StoreListener> {
  const name = o.name ?? 'adt';
  const maxMessageBytes = o.maxMessageBytes ?? 1 << 20;
  const sink = new StoreSink({ db, config: resolveConfig(o.config ?? {}), log: silentLogger, clock: o.clock ?? fixedClock(FIXED_TIME), owner: makeOwner('mllp-test') },
    { name, maxMessageBytes });
  await sink.recover();
  const listener = new MllpListener({ name, host: '127.0.0.1', port: 0, maxMessageBytes, idleTimeoutMs: 60_000, maxConnections: 8, sink, log: silentLogger,
    journal: o.journalDir ? new Journal(o.journalDir, name) : null });
  await listener.start();
  return { listener, sink, close: () => listener.close() };
}

/** Runs the CLI in process against `db` (a --db target); resolves its exit code and output. */
export async function runCli(target: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '', stderr = '';
  const code = await main([...args, '--db', target, '--log-level', 'silent'], (t) => { stdout += t; }, (t) => { stderr += t; });
  return { code, stdout, stderr };
}
