/**
 * 0002 — operations.
 * - MSH-13 sequence number on the message ledger (`pamdrop report`): senders that number their messages (HL7
 *   sequence number protocol) let the report show gaps, i.e. messages that never arrived. Nullable: most feeds
 *   leave MSH-13 empty, and rows written before this migration have none. Not indexed: the report reaches the
 *   messages through their files (uq_messages_position).
 * - A partial index of failed messages (`pamdrop errors`, `status`).
 * Forward-only: later changes are new numbered migrations.
 */
import type { Knex } from 'knex';

export const name = '0002_sequence_number';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    // MSH-13 as sent when it is an integer (NM); null when empty or not a number.
    t.bigInteger('sequence_number').nullable();
  });
  // `pamdrop errors` / `status` read the failed messages: a partial index holds only them, so the import of an
  // accepted message (the hot path) pays nothing for it. Queries repeat the predicate so both planners use it.
  await knex.raw(`CREATE INDEX ix_messages_failed ON messages (created_at) WHERE outcome <> 'AA'`);
}

export async function down(): Promise<void> {
  throw new Error('pamdrop migrations are forward-only');
}
