/**
 * What every command needs: resolved config (file + flags, flags win), logger, clock, store.
 * No process.exit here: commands return exit codes to main.
 */
import { loadConfig } from '../config/load.js';
import type { ResolvedConfig } from '../config/types.js';
import { createLogger, type Level, type Logger } from '../shared/logger.js';
import { clockFromEnv, type Clock } from '../shared/clock.js';
import { openDb } from '../store/db.js';
import { checkStoreTarget, normalizeStoreTarget, type StoreMode } from '../store/target.js';
import type { Db } from '../store/tx.js';
import type { FaultPoint } from '../pipeline/process-file.js';

export interface GlobalArgs {
  config?: string;
  db?: string;
  json?: boolean;
  logLevel?: string;
  sqliteDriver?: string;
}

export interface CliContext {
  config: ResolvedConfig;
  log: Logger;
  clock: Clock;
  json: boolean;
  out: (text: string) => void;
  /** stderr (notices that must not mix with a report on stdout). */
  err: (text: string) => void;
  openStore(): Promise<Db>;
  fault?: (p: FaultPoint) => void;
}

/** PAMDROP_FAULT=point[:n] kills this process with SIGKILL at the n-th time `point` is reached (crash tests). */
export function faultFromEnv(env = process.env): ((p: FaultPoint) => void) | undefined {
  const spec = env.PAMDROP_FAULT;
  if (!spec) return undefined;
  const [point, nText] = spec.split(':');
  let left = Number(nText ?? '1');
  return (p) => {
    if (p === point && --left <= 0) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * How a command uses the store: `open` an existing one (read-only commands: a missing store is exit 2, never
 * created), `create` it when missing (`watch`, `run`, `import`, `reimport`), or `none` (no database at all).
 */
export type StoreUse = StoreMode | 'none';

/**
 * Resolves the configuration (file, then flags) and checks the store target for the command's use: every mistake
 * here is a ConfigError (exit 2) raised before anything is touched.
 */
export function makeContext(args: GlobalArgs, out: (t: string) => void = (t) => process.stdout.write(t), store: StoreUse = 'create',
  err: (t: string) => void = (t) => process.stderr.write(t)): CliContext {
  const config = loadConfig(args.config);
  if (args.db) config.database = normalizeStoreTarget(args.db, process.cwd(), '--db');
  if (args.sqliteDriver) config.sqliteDriver = args.sqliteDriver as ResolvedConfig['sqliteDriver'];
  if (args.logLevel) config.log.level = args.logLevel as Level;
  if (store !== 'none') checkStoreTarget(config.database, store);
  const log = createLogger({ level: config.log.level, format: config.log.format === 'auto' ? undefined : config.log.format });
  return {
    config, log, clock: clockFromEnv(), json: !!args.json, out, err,
    openStore: () => openDb(config.database, { sqliteDriver: config.sqliteDriver, log, create: store !== 'open' }),
    fault: faultFromEnv(),
  };
}
