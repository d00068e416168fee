/**
 * Runs store and pipeline suites on every database (knex's `withDbs` pattern): SQLite always, PostgreSQL at
 * PAMDROP_TEST_PG_URL. CI sets PAMDROP_TEST_REQUIRE_PG=1, so a missing URL or an unreachable server fails
 * the run instead of silently testing SQLite only. Each opened database is private to its test: a temporary
 * SQLite file, or a fresh PostgreSQL schema dropped afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { openDb } from '../../src/store/db.js';
import type { Db } from '../../src/store/tx.js';

export type DbKind = 'sqlite' | 'pg';

/** The database kinds this run covers. */
export function dbKinds(): DbKind[] {
  const kinds: DbKind[] = ['sqlite'];
  if (process.env.PAMDROP_TEST_PG_URL) kinds.push('pg');
  else if (process.env.PAMDROP_TEST_REQUIRE_PG === '1') {
    throw new Error('PAMDROP_TEST_REQUIRE_PG=1 but PAMDROP_TEST_PG_URL is not set: the PostgreSQL suites cannot run');
  }
  return kinds;
}

export interface TestDb {
  db: Db;
  /** The --db target string for this database (SQLite path or postgres URL with ?schema=). */
  target: string;
  /** Closes the connection and removes the database. */
  cleanup(): Promise<void>;
}

/** Makes a fresh, private database target of the given kind (not opened). */
export function makeTarget(kind: DbKind): { target: string; dispose(): Promise<void> } {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'pamdrop-db-'));
    return { target: join(dir, 'pamdrop.sqlite'), dispose: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const base = process.env.PAMDROP_TEST_PG_URL!;
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const sep = base.includes('?') ? '&' : '?';
  return {
    target: `${base}${sep}schema=${schema}`,
    dispose: async () => {
      const k = knexFactory({ client: 'pg', connection: base });
      try { await k.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]); } finally { await k.destroy(); }
    },
  };
}

/** Opens a fresh migrated database of the given kind. */
export async function openTestDb(kind: DbKind, opts: Parameters<typeof openDb>[1] = {}): Promise<TestDb> {
  const t = makeTarget(kind);
  const db = await openDb(t.target, opts);
  return { db, target: t.target, cleanup: async () => { await db.close(); await t.dispose(); } };
}
