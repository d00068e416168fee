/**
 * 0005 — the bytes of a message received over MLLP.
 * A file's messages can be read back from the archived file (the ledger keeps their hash); a message received on
 * a listener has no file, so its bytes as received are kept here, one row per ledger row of such a message, written
 * in the same transaction as that row. `pamdrop evidence` shows them, checked against `messages.content_sha256`.
 * Rows of file messages are never written: the archived file stays their one copy.
 * Forward-only: never edited once released.
 */
import type { Knex } from 'knex';

export const name = '0005_received_messages';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('received_messages', (t) => {
    t.integer('message_id').primary().references('id').inTable('messages');
    t.binary('bytes').notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error('pamdrop migrations are forward-only');
}
