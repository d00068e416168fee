/**
 * Sites for the kill-and-rerun tests of `pamdrop import` (test/pipeline/crash.test.ts, resume.test.ts): folders, a
 * config with the group size, the given inbox files, and a database of the kind asked for; and the built CLI run as
 * a child process, killed at a FaultPoint (PAMDROP_FAULT) when asked, with the clock pinned so that ACK bytes compare.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeTarget, type DbKind } from './db.js';

const BIN = resolve('bin/pamdrop.js');
export const FIXED_TIME = '2026-03-01T10:00:00.000Z';

export interface KillSite { root: string; db: string }

export class KillSites {
  private readonly disposers: Array<() => Promise<void>> = [];

  /** `files`: inbox name → the file copied there. */
  constructor(private readonly work: () => string, private readonly groupSize: number, private readonly files: () => Record<string, string>) {}

  /** A site (folders, config) with its own database of `kind`; `db` is the --db target of dumpSite. */
  site(kind: DbKind, name: string): KillSite {
    const root = join(this.work(), kind, name);
    for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d), { recursive: true });
    const target = kind === 'sqlite' ? { target: join(root, 'data', 'pamdrop.sqlite'), dispose: async () => {} } : makeTarget(kind);
    this.disposers.push(target.dispose);
    writeFileSync(join(root, 'config.json'), JSON.stringify({ groupSize: this.groupSize, database: target.target }));
    for (const [inboxName, from] of Object.entries(this.files())) copyFileSync(from, join(root, 'inbox', inboxName));
    return { root, db: target.target };
  }

  /** `pamdrop import` of every inbox file of the site (in the order given), killed at `fault` when given. */
  import(root: string, fault?: string): SpawnSyncReturns<string> {
    const inbox = Object.keys(this.files()).map((n) => join(root, 'inbox', n));
    return spawnSync(process.execPath, [BIN, '--config', join(root, 'config.json'), '--log-level', 'silent', 'import', ...inbox,
      '--ack-dir', join(root, 'outbox'), '--archive-dir', join(root, 'archive'), '--error-dir', join(root, 'archive', 'error')], {
      cwd: root, encoding: 'utf8', env: { ...process.env, PAMDROP_FIXED_TIME: FIXED_TIME, PAMDROP_FAULT: fault ?? '' },
    });
  }

  /** Drops every site's database (PostgreSQL schemas). */
  async dispose(): Promise<void> {
    for (const d of this.disposers.splice(0)) await d();
  }
}
