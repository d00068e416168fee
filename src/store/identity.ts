/**
 * The identity store over a transaction, as plain functions: the reads of the CLI's read views (patients.ts, ops/)
 * and single operations for tests and tools. The import applies commands through an IdentityRepo (identity/,
 * sql/identity-repo.ts) instead.
 */
import { authorityKey, type Identifier, type Ins } from '../pam/types.js';
import { link as linkPair, unlink as unlinkPair } from '../identity/links.js';
import type { HistoryRow, IdentifierRow, InsRow, LinkRow, PatientRow, PatientState } from '../identity/types.js';
import { SQL_IDENTIFIERS_OF, SqlIdentityRepo } from './sql/identity-repo.js';
import type { Tx } from './tx.js';

export type {
  FieldChange, HistoryRow, IdentifierRow, IdentifierView, InsRow, LinkRow, PatientRow, PatientState,
} from '../identity/types.js';
export { canonical, decodeState, diffStates, emptyState, encodeState, laterTime, mergeState } from '../identity/state.js';

const SQL_IDENTIFIERS_BY_VALUE = 'SELECT patient_id, value, authority, oid, type, auth_key FROM identifiers WHERE value = ? ORDER BY patient_id, id';
const SQL_MOVE_IDENTIFIER = 'UPDATE identifiers SET patient_id = ? WHERE auth_key = ? AND value = ? AND type = ?';
const SQL_HISTORY_OF = `SELECT id, patient_id, sending_app, sending_facility, control_id, event, message_time, recorded_at, changes
  FROM history WHERE patient_id = ? ORDER BY id`;

const repo = (tx: Tx) => new SqlIdentityRepo(tx);

export const getPatientRow = (tx: Tx, id: number): Promise<PatientRow | undefined> => repo(tx).patient(id);
export const findPatientByIdentifier = (tx: Tx, id: Identifier): Promise<PatientRow | undefined> => repo(tx).patientByIdentifier(id);
export const createPatient = (tx: Tx, state: PatientState, lastMessageTime: string | null, now: string): Promise<number> =>
  repo(tx).createPatient(state, lastMessageTime, now);
export const listIdentifiers = (tx: Tx, patientId: number): Promise<IdentifierRow[]> => tx.all<IdentifierRow>(SQL_IDENTIFIERS_OF, [patientId]);
/** Every identifier with this CX-1 value, whatever its authority or type. */
export const findIdentifiersByValue = (tx: Tx, value: string): Promise<IdentifierRow[]> => tx.all<IdentifierRow>(SQL_IDENTIFIERS_BY_VALUE, [value]);
export const addIdentifier = (tx: Tx, patientId: number, id: Identifier, now: string): Promise<void> => repo(tx).addIdentifiers(patientId, [id], now);
export const renameIdentifier = (tx: Tx, from: Identifier, to: Identifier): Promise<number> => repo(tx).renameIdentifier(from, to);
/** Gives an identifier to another patient. Returns the number of rows changed (0 or 1). */
export const moveIdentifier = (tx: Tx, id: Identifier, toPatientId: number): Promise<number> =>
  tx.run(SQL_MOVE_IDENTIFIER, [toPatientId, authorityKey(id), id.value, id.type]);
export const listIns = (tx: Tx, patientId: number): Promise<InsRow[]> => repo(tx).insOf(patientId);
export const findInsByValue = (tx: Tx, value: string): Promise<InsRow[]> => repo(tx).insByValue(value);
export const setIns = (tx: Tx, patientId: number, ins: Ins, now: string): Promise<void> => repo(tx).setIns(patientId, ins, now);
export const listHistory = (tx: Tx, patientId: number): Promise<HistoryRow[]> => tx.all<HistoryRow>(SQL_HISTORY_OF, [patientId]);
export const listLinks = (tx: Tx, patientId: number): Promise<LinkRow[]> => repo(tx).linksOf(patientId);
export const link = (tx: Tx, a: number, b: number, now: string): Promise<boolean> => linkPair(repo(tx), a, b, now);
export const unlink = (tx: Tx, a: number, b: number): Promise<boolean> => unlinkPair(repo(tx), a, b);
