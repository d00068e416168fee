/**
 * Shared by the hardening suites: the in-process equivalent of `pamdrop import` for a harness site (so that a
 * test can inject a failing AckSink or a fault hook), and what the environment allows (mount, chattr, root).
 */
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { resolveConfig } from '../../src/config/load.js';
import { openDb } from '../../src/store/db.js';
import { runJobs, withWriterLock, type RunReport } from '../../src/pipeline/runner.js';
import { naturalCompare } from '../../src/shared/natural.js';
import type { FaultPoint } from '../../src/pipeline/process-file.js';
import type { AckSink } from '../../src/pipeline/files.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { FIXED_TIME } from '../../bench/harden-fuzz.js';
import type { Site } from '../../bench/harden.js';

export interface InProcessOptions {
  ackSink?: AckSink;
  fault?: (p: FaultPoint) => void;
  busyTimeoutMs?: number;
  log?: Logger;
}

/** `pamdrop import` of the site's files still present, in-process (same config, folders and pinned clock as the CLI). */
export async function importInProcess(s: Site, o: InProcessOptions = {}): Promise<RunReport> {
  const config = resolveConfig(JSON.parse(readFileSync(s.config, 'utf8')), s.root);
  const db = await openDb(s.db, { busyTimeoutMs: o.busyTimeoutMs });
  const clock = fixedClock(FIXED_TIME);
  const log = o.log ?? createLogger({ level: 'silent' });
  try {
    const files = s.files.filter((f) => existsSync(f)).sort((a, b) => naturalCompare(basename(a), basename(b)));
    const jobs = files.map((path) => ({ source: config.sources[0]!.name, path, ackDir: s.outbox, archiveDir: s.archive, errorDir: s.error, ackSink: o.ackSink }));
    return await withWriterLock({ db, clock, config }, 'import', (owner) => runJobs(jobs, { db, config, log, clock, owner, fault: o.fault }));
  } finally {
    await db.close();
  }
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** chattr +i / -i on a path; false when the tool or the file system does not support it. */
export function chattr(path: string, flag: '+i' | '-i'): boolean {
  const r = spawnSync('chattr', [flag, path], { encoding: 'utf8' });
  return r.status === 0;
}

/** Remounts a tmpfs with another size. */
export function remountTmpfs(dir: string, size: string): boolean {
  return spawnSync('mount', ['-o', `remount,size=${size}`, dir]).status === 0;
}

export const lockFile = (s: Site) => join(s.root, 'data', 'pamdrop.sqlite');
