/**
 * Short reads of patient records for the operations commands and the status page, beside store/patients.ts (the
 * full PatientView): a few records' names and identifiers, the records merged into one, and every identity row
 * at once for `reconcile`.
 */
import type { Tx } from '../tx.js';
import type { IdentifierRow, InsRow, PatientRow } from '../identity.js';

/** A record's names and its identifiers (INS aside), oldest first. */
export interface PatientNames {
  id: number; birth_name: string | null; used_name: string | null; first_name: string | null;
  identifiers: Array<{ value: string; authority: string | null; type: string | null }>;
}

/** Names and identifiers of the records `ids` (those that exist), in no particular order. */
export async function patientNames(db: Tx, ids: readonly number[]): Promise<PatientNames[]> {
  if (ids.length === 0) return [];
  const marks = ids.map(() => '?').join(', ');
  const names = await db.all<Omit<PatientNames, 'identifiers'>>(`SELECT id, birth_name, used_name, first_name FROM patients WHERE id IN (${marks})`, ids);
  const idents = await db.all<{ patient_id: number; value: string; authority: string | null; type: string | null }>(
    `SELECT patient_id, value, authority, type FROM identifiers WHERE patient_id IN (${marks}) ORDER BY id`, ids);
  return names.map((p) => ({
    ...p, id: Number(p.id),
    identifiers: idents.filter((i) => Number(i.patient_id) === Number(p.id)).map((i) => ({ value: i.value, authority: i.authority, type: i.type })),
  }));
}

/** Ids of the records merged into record `id` (retired by an A40), oldest first. */
export async function mergedRecordIds(db: Tx, id: number): Promise<number[]> {
  return (await db.all<{ id: number }>('SELECT id FROM patients WHERE merged_into = ? ORDER BY id', [id])).map((r) => Number(r.id));
}

/** Every record, identifier and INS row of the store, each table read once (memory grows with the store). */
export async function allIdentityRows(db: Tx): Promise<{ patients: PatientRow[]; identifiers: IdentifierRow[]; ins: InsRow[] }> {
  return {
    patients: await db.all<PatientRow>('SELECT * FROM patients'),
    identifiers: await db.all<IdentifierRow>('SELECT patient_id, value, authority, oid, type, auth_key FROM identifiers ORDER BY id'),
    ins: await db.all<InsRow>('SELECT patient_id, value, oid, kind FROM ins ORDER BY id'),
  };
}
