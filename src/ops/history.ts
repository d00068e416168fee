/**
 * `pamdrop history <identifier>`: the change history of one patient record — which message (control id,
 * event, sender, file) changed which fields, before → after — oldest first. Records merged into it (A40) come
 * with it, each entry saying which record it belongs to, because identity vigilance needs the whole story of a
 * surviving record.
 *
 * A history row is tied to its message by the idempotency key and the processing instant (the pipeline stamps
 * the history row and the message row with the same time), so a message applied again by `reimport --force` is
 * told apart from its first application.
 */
import type { Tx } from '../store/tx.js';
import { listIdentifiers, type FieldChange, type IdentifierView } from '../store/identity.js';
import type { PatientView } from '../store/patients.js';
import { recordHistory, type HistoryWithFile } from '../store/reads/history.js';
import { mergedRecordIds } from '../store/reads/patients.js';
import { classifyChanges, type ChangeKind } from './preview.js';

export interface HistoryItem {
  /** The record this entry belongs to (the one asked for, or a record merged into it). */
  record: IdentifierView | null;
  /** False for an entry of a record merged into the one asked for. */
  ownRecord: boolean;
  recordedAt: string;
  messageTime: string | null;
  event: string;
  controlId: string;
  sendingApp: string;
  sendingFacility: string;
  /** The file that carried the message (null when the ledger row is gone, e.g. history kept across a restore). */
  file: { id: number; name: string; source: string; reimportOf: number | null } | null;
  kinds: ChangeKind[];
  changes: FieldChange[];
}

export interface PatientHistory {
  patient: { id: number; identifiers: IdentifierView[]; active: boolean; mergedInto: IdentifierView | null };
  /** Records merged into this one. */
  merged: IdentifierView[];
  entries: HistoryItem[];
}

const pick = (ids: ReadonlyArray<IdentifierView>): IdentifierView | null => ids.find((i) => i.type === 'PI') ?? ids[0] ?? null;
const view = (i: IdentifierView): IdentifierView => ({ value: i.value, authority: i.authority, oid: i.oid, type: i.type });

/** The history of a record found by `store/patients.ts` (findPatients). */
export async function patientHistory(db: Tx, p: PatientView): Promise<PatientHistory> {
  const records: Array<{ id: number; label: IdentifierView | null }> = [{ id: p.id, label: pick(p.identifiers) }];
  const merged: IdentifierView[] = [];
  for (const id of await mergedRecordIds(db, p.id)) {
    const label = pick((await listIdentifiers(db, id)).map(view));
    records.push({ id, label });
    if (label) merged.push(label);
  }
  const rows: Array<HistoryWithFile & { label: IdentifierView | null; own: boolean }> = [];
  const seen = new Set<number>();
  for (const rec of records) {
    for (const r of await recordHistory(db, rec.id)) {
      // One entry per history row, even if two message rows share its key and instant (a pinned clock).
      if (seen.has(Number(r.id))) continue;
      seen.add(Number(r.id));
      rows.push({ ...r, label: rec.label, own: rec.id === p.id });
    }
  }
  rows.sort((a, b) => a.recorded_at.localeCompare(b.recorded_at) || Number(a.id) - Number(b.id));
  const firstOf = new Set<number>();
  const entries: HistoryItem[] = rows.map((r) => {
    const changes = JSON.parse(r.changes) as FieldChange[];
    // A record's first history row is its creation (A28/A31 create, or the alias an A40 records for an unknown MRG-1).
    const created = !firstOf.has(Number(r.patient_id));
    firstOf.add(Number(r.patient_id));
    return {
      record: r.label, ownRecord: r.own, recordedAt: r.recorded_at, messageTime: r.message_time, event: r.event, controlId: r.control_id,
      sendingApp: r.sending_app, sendingFacility: r.sending_facility,
      file: r.file_id === null ? null : { id: r.file_id, name: r.file_name!, source: r.source!, reimportOf: r.reimport_of },
      kinds: classifyChanges(changes, created), changes,
    };
  });
  return { patient: { id: p.id, identifiers: p.identifiers, active: p.active, mergedInto: p.mergedInto }, merged, entries };
}
