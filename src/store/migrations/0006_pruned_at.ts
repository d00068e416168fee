/**
 * 0006 — retention.
 * `files.pruned_at`: when `pamdrop prune` removed the file's archived copy (its retention period had passed). The
 * row stays, with everything the ledger knows of the file (name, size, SHA-256, outcomes, ACKs): a later resend is
 * still a duplicate, and `reimport` and `evidence` say why the file can no longer be read. Null: not removed.
 * Forward-only: never edited once released.
 */
import type { Knex } from 'knex';

export const name = '0006_pruned_at';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('files', (t) => {
    t.string('pruned_at', 32).nullable();
  });
}

export async function down(): Promise<void> {
  throw new Error('pamdrop migrations are forward-only');
}
