/**
 * What `pamdrop doctor` reads from the store: that it answers, which migrations it has applied, and what the
 * migrations changed in the data. Read only: doctor never migrates, and knex's own listing would create its table,
 * so the migration table is read directly.
 */
import type { Tx } from '../tx.js';
import { migrationSource } from '../migrations/index.js';

/** A trivial query: resolves when the store answers. */
export async function ping(db: Tx): Promise<void> {
  await db.get('SELECT 1 AS ok');
}

/** One change a migration made to the data (no patient data: authorities, record ids, counts). */
export interface MaintenanceEntry { migration: string; kind: string; detail: string }

/** Every data change the migrations recorded, in order. */
export async function maintenanceLog(db: Tx): Promise<MaintenanceEntry[]> {
  return db.all<MaintenanceEntry>('SELECT migration, kind, detail FROM maintenance_log ORDER BY id');
}

/** Applied vs known migrations (names without extension), read without writing anything. */
export async function migrationState(db: Tx): Promise<{ applied: string[]; known: string[] }> {
  const known = (await migrationSource.getMigrations([])).map((m) => migrationSource.getMigrationName(m));
  const exists = db.dialect === 'pg'
    ? (await db.get<{ t: string | null }>(`SELECT to_regclass('knex_migrations')::text AS t`))?.t
    : (await db.get<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'knex_migrations'`))?.name;
  const applied = exists ? (await db.all<{ name: string }>('SELECT name FROM knex_migrations ORDER BY id')).map((r) => r.name.replace(/\.(js|ts)$/, '')) : [];
  return { applied, known };
}
