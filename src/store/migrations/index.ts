/**
 * Migrations as code modules behind a custom knex migration source, so that the compiled dist/ needs no
 * migrations folder (knex docs, "Custom migration sources"). Append new migrations to the list; never edit one.
 */
import type { Knex } from 'knex';
import * as m0001 from './0001_init.js';
import * as m0002 from './0002_sequence_number.js';
import * as m0003 from './0003_authorities.js';
import * as m0004 from './0004_acks_durable.js';
import * as m0005 from './0005_received_messages.js';
import * as m0006 from './0006_pruned_at.js';

interface Migration { name: string; up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> }

const MIGRATIONS: readonly Migration[] = [m0001, m0002, m0003, m0004, m0005, m0006];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};

/** Name of the newest migration (for `doctor`/`status`). */
export const LATEST_MIGRATION = MIGRATIONS[MIGRATIONS.length - 1]!.name;
