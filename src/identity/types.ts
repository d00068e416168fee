/**
 * The identity store's data as the identity rules see it: rows as stored (flags as integers, JSON as text), the
 * decoded demographic state, and the field changes recorded in history.
 */
import type { Address, InsKind, PersonName } from '../pam/types.js';

/** One recorded change of a patient field (history.changes holds an array of them). */
export interface FieldChange {
  /** e.g. 'birthName', 'names.D', 'addresses.H', 'sex', 'status', 'attributes', 'identifier', 'ins', 'mergedInto', 'active', 'link'. */
  field: string;
  before: unknown;
  after: unknown;
}

/** An identifier as shown in history entries and read views. */
export interface IdentifierView { value: string; authority: string; oid: string | null; type: string }

/** A `patients` row as stored (flags as integers, JSON as text). */
export interface PatientRow {
  id: number;
  active: number;
  merged_into: number | null;
  status: string | null;
  attributes: string | null;
  birth_name: string | null;
  first_name: string | null;
  birth_given_names: string | null;
  used_name: string | null;
  used_first_name: string | null;
  birth_date: string | null;
  sex: string | null;
  birth_place: string | null;
  names: string | null;
  addresses: string | null;
  other: string | null;
  last_message_time: string | null;
  created_at: string;
  updated_at: string;
}

/** An `identifiers` row. */
export interface IdentifierRow {
  patient_id: number;
  value: string;
  authority: string;
  oid: string | null;
  type: string;
  auth_key: string;
}

/** An `ins` row. */
export interface InsRow {
  patient_id: number;
  value: string;
  oid: string;
  kind: InsKind;
}

/** A `links` row: an unordered pair stored as (smaller id, larger id). */
export interface LinkRow {
  id: number;
  patient_a: number;
  patient_b: number;
}

/** A `history` row. */
export interface HistoryRow {
  id: number;
  patient_id: number;
  sending_app: string;
  sending_facility: string;
  control_id: string;
  event: string;
  message_time: string | null;
  recorded_at: string;
  changes: string;
}

/** Decoded demographic state of a patient (what PatientData updates field by field). */
export interface PatientState {
  status: string | null;
  /** PID-32 attributes; [] when none. */
  attributes: string[];
  /** PID-5 by name type. */
  names: Record<string, PersonName>;
  /** PID-11 by address type. */
  addresses: Record<string, Address>;
  birthDate: string | null;
  sex: string | null;
  /** Every other PatientData field (motherMaidenName, phone, maritalStatus, deathDate, deathIndicator…). */
  other: Record<string, unknown>;
}

