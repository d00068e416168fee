/**
 * 0001 — identity store, file and message ledgers, lock. Forward-only: once shipped, never edited in place;
 * later changes are new numbered migrations.
 * Portable between SQLite and PostgreSQL: integers for flags, ISO-8601 text for timestamps.
 */
import type { Knex } from 'knex';

export const name = '0001_init';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('patients', (t) => {
    t.increments('id').primary();
    t.integer('active').notNullable().defaultTo(1);
    // A40: the retired record points at its survivor; its identifiers stay resolvable to it.
    t.integer('merged_into').nullable().references('id').inTable('patients');
    t.string('status', 16).nullable();              // PID-32 status code (VALI, PROV…)
    t.text('attributes').nullable();                // PID-32 attributes, JSON array (["DOUT"])
    t.text('birth_name').nullable();                // PID-5 L XPN-1
    t.text('first_name').nullable();                // PID-5 L XPN-2
    t.text('birth_given_names').nullable();         // PID-5 L XPN-3 (raw)
    t.text('used_name').nullable();                 // PID-5 D XPN-1
    t.text('used_first_name').nullable();           // PID-5 D XPN-2
    t.string('birth_date', 10).nullable();          // PID-7 as YYYY-MM-DD
    t.string('sex', 4).nullable();                  // PID-8
    t.string('birth_place', 8).nullable();          // PID-11 BDL XAD-9 (INSEE COG)
    t.text('names').nullable();                     // JSON: PID-5 by name type
    t.text('addresses').nullable();                 // JSON: PID-11 by address type
    t.text('other').nullable();                     // JSON: remaining PatientData fields
    t.string('last_message_time', 24).nullable();   // normalised MSH-7 of the last applied message (stale guard)
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
    t.index(['merged_into'], 'ix_patients_merged_into');
  });

  await knex.schema.createTable('identifiers', (t) => {
    t.increments('id').primary();
    t.integer('patient_id').notNullable().references('id').inTable('patients');
    t.text('value').notNullable();                  // CX-1
    t.text('authority').notNullable();              // CX-4.1
    t.text('oid').nullable();                       // CX-4.2
    t.string('type', 16).notNullable();             // CX-5
    t.text('auth_key').notNullable();               // oid, falling back to authority (docs/behaviour.md)
    t.string('created_at', 32).notNullable();
    // One record owns an identifier (docs/behaviour.md "Identity model").
    t.unique(['auth_key', 'value', 'type'], { indexName: 'uq_identifiers_key' });
    t.index(['patient_id'], 'ix_identifiers_patient');
    t.index(['value'], 'ix_identifiers_value');
  });

  await knex.schema.createTable('ins', (t) => {
    t.increments('id').primary();
    t.integer('patient_id').notNullable().references('id').inTable('patients');
    t.string('value', 15).notNullable();
    t.string('oid', 64).notNullable();
    t.string('kind', 3).notNullable();              // NIR | NIA
    t.string('created_at', 32).notNullable();
    // INS rows exist only for active records, so this is "INS unique among active records".
    t.unique(['oid', 'value'], { indexName: 'uq_ins_value' });
    t.index(['patient_id'], 'ix_ins_patient');
    t.index(['value'], 'ix_ins_value');
  });

  await knex.schema.createTable('history', (t) => {
    t.increments('id').primary();
    t.integer('patient_id').notNullable().references('id').inTable('patients');
    t.text('sending_app').notNullable();
    t.text('sending_facility').notNullable();
    t.text('control_id').notNullable();
    t.string('event', 8).notNullable();
    t.string('message_time', 24).nullable();
    t.string('recorded_at', 32).notNullable();
    t.text('changes').notNullable();                // JSON [{field, before, after}]
    t.index(['patient_id'], 'ix_history_patient');
  });

  await knex.schema.createTable('links', (t) => {
    t.increments('id').primary();
    t.integer('patient_a').notNullable().references('id').inTable('patients');
    t.integer('patient_b').notNullable().references('id').inTable('patients');
    t.string('created_at', 32).notNullable();
    t.unique(['patient_a', 'patient_b'], { indexName: 'uq_links' });
  });

  // File ledger: one row per processing of a file (a re-dropped or reimported file gets a new row).
  await knex.schema.createTable('files', (t) => {
    t.increments('id').primary();
    t.text('source').notNullable();                 // configured source name ('local' by default)
    t.text('name').notNullable();                   // file name as found in the inbox
    t.text('path').notNullable();                   // where it was read from
    t.bigInteger('size').notNullable();
    t.string('sha256', 64).notNullable();
    // claimed → done | quarantined. A claimed file is resumed from its first message without an outcome.
    t.string('state', 16).notNullable();
    t.integer('message_count').nullable();
    t.text('summary').nullable();                   // JSON counts by outcome
    t.text('reason').nullable();                    // quarantine reason
    t.text('archived_path').nullable();
    t.integer('reimport_of').nullable().references('id').inTable('files');
    t.text('owner').nullable();                     // instance holding the claim
    t.string('lease_until', 32).nullable();
    t.string('claimed_at', 32).notNullable();
    t.string('finished_at', 32).nullable();
    t.index(['source', 'name', 'sha256'], 'ix_files_identity');
    t.index(['sha256'], 'ix_files_sha256');
    t.index(['state'], 'ix_files_state');
  });

  // Message ledger: one row per message position of a processed file, with the exact ACK bytes.
  await knex.schema.createTable('messages', (t) => {
    t.increments('id').primary();
    t.integer('file_id').notNullable().references('id').inTable('files');
    t.integer('idx').notNullable();                 // 0-based position in the file
    t.text('sending_app').notNullable();            // MSH-3.1
    t.text('sending_facility').notNullable();       // MSH-4.1
    t.text('control_id').nullable();                // MSH-10 (null when unreadable)
    t.string('content_sha256', 64).notNullable();
    t.string('event', 8).nullable();
    t.string('message_time', 24).nullable();
    // applied | stale | duplicate | rejected (AE/AR without effect) | conflict (same key, other content)
    t.string('status', 16).notNullable();
    t.string('outcome', 2).notNullable();           // AA | AE | AR
    t.integer('error_code').nullable();             // first 0357 code of the findings
    t.text('error_text').nullable();
    t.integer('patient_id').nullable();
    t.text('ack_name').notNullable();
    t.binary('ack').notNullable();                  // exact ACK bytes (inbound charset): the truth for replays
    t.integer('superseded').notNullable().defaultTo(0);
    t.string('created_at', 32).notNullable();
    t.unique(['file_id', 'idx'], { indexName: 'uq_messages_position' });
    t.index(['control_id'], 'ix_messages_control');
  });
  // Idempotency key MSH-3 + MSH-4 + MSH-10 (docs/behaviour.md): one live original per key. Duplicates and
  // conflicts are recorded for their file but never own the key.
  await knex.raw(`CREATE UNIQUE INDEX uq_messages_key ON messages (sending_app, sending_facility, control_id)
    WHERE control_id IS NOT NULL AND status NOT IN ('duplicate', 'conflict') AND superseded = 0`);

  // Single-writer lock (and leases for several instances).
  await knex.schema.createTable('locks', (t) => {
    t.string('name', 64).primary();
    t.text('owner').notNullable();
    t.string('acquired_at', 32).notNullable();
    t.string('expires_at', 32).notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error('pamdrop migrations are forward-only');
}
