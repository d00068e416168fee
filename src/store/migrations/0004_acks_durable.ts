/**
 * 0004 — resume without rewriting every ACK.
 * `files.acks_durable`: how many of the file's message rows, in ledger order (messages.id), have their ACK files
 * written and synced to disk. A file resumed after a crash rewrites only the ACK files of the rows after those
 * (at most the last group or two), instead of every ACK already written: the resume no longer grows with what was
 * done, and ACK files the sender may already have fetched are not created again. Null (rows written before this
 * migration, single-group files): none known, every ACK of the file is rewritten, as before.
 * Forward-only: never edited once released.
 */
import type { Knex } from 'knex';

export const name = '0004_acks_durable';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('files', (t) => {
    t.integer('acks_durable').nullable();
  });
}

export async function down(): Promise<void> {
  throw new Error('pamdrop migrations are forward-only');
}
