/**
 * The port through which the identity rules read and write the identity store. The store implements it: plainly over
 * a transaction (store/sql/identity-repo.ts), and on PostgreSQL as a unit of work over that plain repository
 * (store/pg/unit-of-work.ts). The rules never know which one they run on: every answer is the same.
 */
import type { Identifier, Ins, MessageHeader } from '../pam/types.js';
import type { FieldChange, IdentifierRow, InsRow, LinkRow, PatientRow, PatientState } from './types.js';

/** A row of the assigning-authority registry. */
export interface AuthorityRow { namespace: string; oid: string | null }

export interface IdentityRepo {
  // --- patients ---
  /** A patient row by id. */
  patient(id: number): Promise<PatientRow | undefined>;
  /** The patient owning an identifier (matched on authority key, value and type). */
  patientByIdentifier(id: Identifier): Promise<PatientRow | undefined>;
  /** The owner of each identifier (undefined where none), in the order given. */
  patientsByIdentifiers(ids: readonly Identifier[]): Promise<Array<PatientRow | undefined>>;
  /** Creates an active patient; returns its id. */
  createPatient(state: PatientState, lastMessageTime: string | null, now: string): Promise<number>;
  /** Rewrites the demographic columns and the stale-guard time. */
  updatePatient(id: number, state: PatientState, lastMessageTime: string | null, updatedAt: string): Promise<void>;
  /**
   * Marks an active record as merged into `survivorId` and re-points the records merged into it to the survivor.
   * Throws when the record is not active.
   */
  retirePatient(id: number, survivorId: number, lastMessageTime: string | null, now: string): Promise<void>;

  // --- identifiers ---
  /** Identifiers of a patient, oldest first. */
  identifiersOf(patientId: number): Promise<IdentifierRow[]>;
  /** Attaches identifiers to a patient (rows created in the order given). */
  addIdentifiers(patientId: number, ids: readonly Identifier[], now: string): Promise<void>;
  /** Renames an identifier in place (same row, same owner); the number of rows changed (0 or 1). */
  renameIdentifier(from: Identifier, to: Identifier): Promise<number>;
  /** Detaches an identifier; the number of rows removed (0 or 1). */
  deleteIdentifier(id: Identifier): Promise<number>;

  // --- INS ---
  /** The INS rows of a patient, oldest first. */
  insOf(patientId: number): Promise<InsRow[]>;
  /** The INS rows of a patient (null: none) and the row holding `probe`, wherever it is (the patient's rows first). */
  insWithHolder(patientId: number | null, probe: { oid: string; value: string }): Promise<InsRow[]>;
  /** The INS row with this authority OID and value. */
  insHeld(oid: string, value: string): Promise<InsRow | undefined>;
  /** Every INS row with this value, whatever its OID, by patient then age. */
  insByValue(value: string): Promise<InsRow[]>;
  /** Deletes every INS row of a patient; how many. */
  removeIns(patientId: number): Promise<number>;
  /** Replaces the INS rows of a patient with `ins`. */
  setIns(patientId: number, ins: Ins, now: string): Promise<void>;
  /** Adds an INS row to a patient. */
  addIns(patientId: number, ins: Ins, now: string): Promise<void>;

  // --- history ---
  /** Records which message changed which fields of the patient. */
  insertHistory(patientId: number, header: MessageHeader, changes: readonly FieldChange[], recordedAt: string): Promise<void>;
  /** History rows of a record and of the records merged into it, oldest first. */
  historyOfRecord(patientId: number): Promise<Array<{ id: number; changes: string }>>;
  /** History rows of one record, oldest first. */
  historyEvents(patientId: number): Promise<Array<{ event: string; changes: string }>>;
  /** Replaces the changes of one history row. */
  rewriteHistory(id: number, changes: string): Promise<void>;

  // --- links ---
  /** Links the ordered pair (a < b); false when already linked. */
  link(a: number, b: number, now: string): Promise<boolean>;
  /** Unlinks the ordered pair (a < b); false when not linked. */
  unlink(a: number, b: number): Promise<boolean>;
  /** Links of a patient, oldest first. */
  linksOf(patientId: number): Promise<LinkRow[]>;
  /** Deletes one link by id. */
  deleteLink(id: number): Promise<void>;

  // --- assigning authorities ---
  /** Registry rows a spelling can match: every row when `all`, else those sharing the one spelling's OID or namespace. */
  authorities(spelling: { authority: string; oid: string | null }, all: boolean): Promise<AuthorityRow[]>;
  insertAuthority(row: AuthorityRow, now: string): Promise<void>;
  /** Rewrites a stored registry row (`before`) to its complete spelling. */
  completeAuthority(before: AuthorityRow, after: AuthorityRow, now: string): Promise<void>;
  /** Moves the identifiers of the domain keyed `fromKey` (stored without OID) to the complete spelling `to`. */
  rekeyIdentifiers(fromKey: string, to: AuthorityRow, toKey: string): Promise<void>;
  /** Sets the namespace of the identifiers of the domain `key`. */
  renameIdentifiersAuthority(key: string, namespace: string): Promise<void>;
}
