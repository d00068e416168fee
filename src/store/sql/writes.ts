/**
 * Every write of the import hot path as a structured statement: the table it writes, its SQL with `?` placeholders and
 * its parameters, and for an INSERT … VALUES the pieces several such INSERTs share (so that a batch can merge them
 * into one multi-row INSERT). The plain repository runs them as they come; PostgreSQL's unit of work (store/pg/)
 * queues them and batches them by these fields, never by reading the SQL text.
 */
import { authorityKey, type Identifier, type Ins, type MessageHeader } from '../../pam/types.js';
import { encodeState } from '../../identity/state.js';
import type { AuthorityRow } from '../../identity/repo.js';
import type { FieldChange, PatientState } from '../../identity/types.js';
import type { NewMessage } from '../ledger.js';

export type Table = 'patients' | 'identifiers' | 'ins' | 'history' | 'links' | 'authorities' | 'messages';

export interface Write {
  readonly table: Table;
  readonly sql: string;
  readonly params: readonly unknown[];
  /** An INSERT … VALUES: `sql` is `head + rows + tail`, `rows` holding `count` row tuples. */
  readonly insert?: { readonly head: string; readonly rows: string; readonly tail: string; readonly count: number };
}

interface InsertShape { head: string; row: string; tail: string }

const insertShape = (table: Table, columns: string, row: string, returning?: string): InsertShape =>
  ({ head: `INSERT INTO ${table} (${columns}) VALUES `, row, tail: returning ? ` RETURNING ${returning}` : '' });

/** INSERT texts by shape and row count, built once (SQLite prepares each text once and finds it by its string). */
const insertTexts = new Map<InsertShape, Array<{ rows: string; sql: string }>>();

function insert(table: Table, shape: InsertShape, params: readonly unknown[], count = 1): Write {
  let byCount = insertTexts.get(shape);
  if (!byCount) insertTexts.set(shape, (byCount = []));
  let t = byCount[count];
  if (!t) {
    const rows = Array.from({ length: count }, () => shape.row).join(', ');
    t = byCount[count] = { rows, sql: shape.head + rows + shape.tail };
  }
  return { table, sql: t.sql, params, insert: { head: shape.head, rows: t.rows, tail: shape.tail, count } };
}

const statement = (table: Table, sql: string) => (params: readonly unknown[]): Write => ({ table, sql, params });

const CREATE_PATIENT = insertShape('patients', `active, merged_into, status, attributes, birth_name, first_name,
  birth_given_names, used_name, used_first_name, birth_date, sex, birth_place, names, addresses, other, last_message_time,
  created_at, updated_at`, '(1, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', 'id');
const ADD_IDENTIFIER = insertShape('identifiers', 'patient_id, value, authority, oid, type, auth_key, created_at', '(?, ?, ?, ?, ?, ?, ?)');
const ADD_INS = insertShape('ins', 'patient_id, value, oid, kind, created_at', '(?, ?, ?, ?, ?)');
const ADD_HISTORY = insertShape('history', `patient_id, sending_app, sending_facility, control_id, event, message_time,
  recorded_at, changes`, '(?, ?, ?, ?, ?, ?, ?, ?)');
const ADD_AUTHORITY = insertShape('authorities', 'namespace, oid, created_at, updated_at', '(?, ?, ?, ?)');
const ADD_MESSAGE = insertShape('messages', `file_id, idx, sending_app, sending_facility, control_id, content_sha256, event,
  message_time, status, outcome, error_code, error_text, patient_id, ack_name, ack, superseded, created_at, sequence_number`,
'(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)');

const UPDATE_PATIENT = statement('patients', `UPDATE patients SET status = ?, attributes = ?, birth_name = ?, first_name = ?,
  birth_given_names = ?, used_name = ?, used_first_name = ?, birth_date = ?, sex = ?, birth_place = ?, names = ?,
  addresses = ?, other = ?, last_message_time = ?, updated_at = ? WHERE id = ?`);
const RETIRE_PATIENT = statement('patients', `UPDATE patients SET active = 0, merged_into = ?, last_message_time = ?, updated_at = ?
  WHERE id = ? AND active = 1`);
const REPOINT_MERGED = statement('patients', 'UPDATE patients SET merged_into = ? WHERE merged_into = ?');
const RENAME_IDENTIFIER = statement('identifiers', `UPDATE identifiers SET value = ?, authority = ?, oid = ?, type = ?, auth_key = ?
  WHERE auth_key = ? AND value = ? AND type = ?`);
const DELETE_IDENTIFIER = statement('identifiers', 'DELETE FROM identifiers WHERE auth_key = ? AND value = ? AND type = ?');
const DELETE_INS_OF = statement('ins', 'DELETE FROM ins WHERE patient_id = ?');
const REWRITE_HISTORY = statement('history', 'UPDATE history SET changes = ? WHERE id = ?');
const LINK = statement('links', 'INSERT INTO links (patient_a, patient_b, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING id');
const UNLINK = statement('links', 'DELETE FROM links WHERE patient_a = ? AND patient_b = ? RETURNING id');
const DELETE_LINK = statement('links', 'DELETE FROM links WHERE id = ?');
const UPDATE_AUTHORITY_BY_OID = statement('authorities', 'UPDATE authorities SET namespace = ?, oid = ?, updated_at = ? WHERE oid = ?');
const UPDATE_AUTHORITY_BY_NAMESPACE = statement('authorities', 'UPDATE authorities SET namespace = ?, oid = ?, updated_at = ? WHERE oid IS NULL AND namespace = ?');
// auth_key leads uq_identifiers_key: both rewrites are index range updates.
const REKEY_IDENTIFIERS = statement('identifiers', 'UPDATE identifiers SET authority = ?, oid = ?, auth_key = ? WHERE auth_key = ? AND oid IS NULL');
const RENAME_AUTHORITY_IDENTIFIERS = statement('identifiers', 'UPDATE identifiers SET authority = ? WHERE auth_key = ?');
const SUPERSEDE_ORIGINAL = statement('messages', 'UPDATE messages SET superseded = 1 WHERE id = ? AND file_id <> ? AND superseded = 0');

/** The writes, one typed builder each. */
export const writes = {
  /** Answers the new id (`RETURNING id`). */
  createPatient: (state: PatientState, lastMessageTime: string | null, now: string) =>
    insert('patients', CREATE_PATIENT, [...encodeState(state), lastMessageTime, now, now]),
  updatePatient: (id: number, state: PatientState, lastMessageTime: string | null, updatedAt: string) =>
    UPDATE_PATIENT([...encodeState(state), lastMessageTime, updatedAt, id]),
  /** Compare-and-set: only an active record can be retired (one row changed, else none). */
  retirePatient: (id: number, survivorId: number, lastMessageTime: string | null, now: string) =>
    RETIRE_PATIENT([survivorId, lastMessageTime, now, id]),
  repointMerged: (from: number, to: number) => REPOINT_MERGED([to, from]),
  addIdentifiers: (patientId: number, ids: readonly Identifier[], now: string) => {
    const params: unknown[] = [];
    for (const id of ids) params.push(patientId, id.value, id.authority, id.oid, id.type, authorityKey(id), now);
    return insert('identifiers', ADD_IDENTIFIER, params, ids.length);
  },
  renameIdentifier: (from: Identifier, to: Identifier) =>
    RENAME_IDENTIFIER([to.value, to.authority, to.oid, to.type, authorityKey(to), authorityKey(from), from.value, from.type]),
  deleteIdentifier: (id: Identifier) => DELETE_IDENTIFIER([authorityKey(id), id.value, id.type]),
  deleteInsOf: (patientId: number) => DELETE_INS_OF([patientId]),
  addIns: (patientId: number, ins: Ins, now: string) => insert('ins', ADD_INS, [patientId, ins.value, ins.oid, ins.kind, now]),
  addHistory: (patientId: number, header: MessageHeader, changes: readonly FieldChange[], recordedAt: string) =>
    insert('history', ADD_HISTORY, [patientId, header.sendingApp, header.sendingFacility, header.controlId, header.event,
      header.messageTime, recordedAt, JSON.stringify(changes)]),
  rewriteHistory: (id: number, changes: string) => REWRITE_HISTORY([changes, id]),
  /** Answers the new link's id, none when the pair was linked (the sequence is drawn either way). */
  link: (a: number, b: number, now: string) => LINK([a, b, now]),
  /** Answers the removed link's id, none when the pair was not linked. */
  unlink: (a: number, b: number) => UNLINK([a, b]),
  deleteLink: (id: number) => DELETE_LINK([id]),
  insertAuthority: (row: AuthorityRow, now: string) => insert('authorities', ADD_AUTHORITY, [row.namespace, row.oid, now, now]),
  completeAuthority: (before: AuthorityRow, after: AuthorityRow, now: string) => (before.oid !== null
    ? UPDATE_AUTHORITY_BY_OID([after.namespace, after.oid, now, before.oid])
    : UPDATE_AUTHORITY_BY_NAMESPACE([after.namespace, after.oid, now, before.namespace])),
  rekeyIdentifiers: (fromKey: string, to: AuthorityRow, toKey: string) => REKEY_IDENTIFIERS([to.namespace, to.oid, toKey, fromKey]),
  renameIdentifiersAuthority: (key: string, namespace: string) => RENAME_AUTHORITY_IDENTIFIERS([namespace, key]),
  insertMessage: (m: NewMessage) => insert('messages', ADD_MESSAGE, [m.fileId, m.idx, m.sendingApp, m.sendingFacility, m.controlId,
    m.contentSha256, m.event, m.messageTime, m.status, m.outcome, m.errorCode, m.errorText, m.patientId, m.ackName, m.ack, m.now,
    m.sequenceNumber ?? null]),
  /** Compare-and-set (one row changed, else none). */
  supersedeOriginal: (id: number, fileId: number) => SUPERSEDE_ORIGINAL([id, fileId]),
};
