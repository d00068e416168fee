/**
 * Read model of the identity store for the CLI (`pamdrop patient`, `pamdrop patients`): one PatientView per
 * record, active or retired by a merge, with its identifiers, INS, links and history.
 *
 * Not on the import path. `listPatients` reads each table once (no per-patient queries); `getPatient` and
 * `findPatients` read one record's rows.
 */
import type { Tx } from './tx.js';
import type { InsKind } from '../pam/types.js';
import {
  decodeState, findIdentifiersByValue, findInsByValue, getPatientRow, listHistory, listIdentifiers, listIns, listLinks,
  type FieldChange, type HistoryRow, type IdentifierRow, type IdentifierView, type InsRow, type LinkRow, type PatientRow,
} from './identity.js';

export type { FieldChange, IdentifierView } from './identity.js';

/** One history entry: which message changed what. */
export interface HistoryEntry {
  controlId: string;
  event: string;
  messageTime: string | null;
  recordedAt: string;
  sendingApp: string;
  sendingFacility: string;
  changes: FieldChange[];
}

/** A record's identity traits as shown (patient views here, evidence pages in ops/evidence.ts). */
export interface TraitsView {
  status: string | null;
  attributes: string[];
  /** Qualified identity (docs/behaviour.md): status VALI and an INS present. */
  qualified: boolean;
  birthName: string | null;
  firstName: string | null;
  birthGivenNames: string | null;
  usedName: string | null;
  usedFirstName: string | null;
  /** YYYY-MM-DD (or less precise when sent so). */
  birthDate: string | null;
  sex: string | null;
  birthPlace: string | null;
  /** PID-5 by name type. */
  names: Record<string, unknown>;
  /** PID-11 by address type. */
  addresses: Record<string, unknown>;
  active: boolean;
  /** A PI identifier of the surviving record when this one was retired by a merge. */
  mergedInto: IdentifierView | null;
}

/** Everything known about one patient record. */
export interface PatientView extends TraitsView {
  id: number;
  /** Identifiers other than the INS, oldest first. */
  identifiers: IdentifierView[];
  ins: { value: string; oid: string; kind: InsKind } | null;
  /** One identifier (PI preferred) of each linked record. */
  links: IdentifierView[];
  lastMessageTime: string | null;
  history: HistoryEntry[];
}

const SQL_ALL_PATIENTS = `SELECT id, active, merged_into, status, attributes, birth_name, first_name, birth_given_names,
  used_name, used_first_name, birth_date, sex, birth_place, names, addresses, other, last_message_time, created_at,
  updated_at FROM patients ORDER BY id`;
const SQL_ALL_IDENTIFIERS = 'SELECT patient_id, value, authority, oid, type, auth_key FROM identifiers ORDER BY id';
const SQL_ALL_INS = 'SELECT patient_id, value, oid, kind FROM ins ORDER BY id';
const SQL_ALL_LINKS = 'SELECT id, patient_a, patient_b FROM links ORDER BY id';
const SQL_ALL_HISTORY = `SELECT id, patient_id, sending_app, sending_facility, control_id, event, message_time, recorded_at,
  changes FROM history ORDER BY id`;

const toView = (r: IdentifierRow): IdentifierView => ({ value: r.value, authority: r.authority, oid: r.oid, type: r.type });
/** The identifier that stands for a record elsewhere: its first PI, else its first identifier. */
const representative = (ids: readonly IdentifierRow[] | undefined): IdentifierView | null => {
  const pick = ids?.find((i) => i.type === 'PI') ?? ids?.[0];
  return pick ? toView(pick) : null;
};

const parseChanges = (text: string): FieldChange[] => {
  try {
    return JSON.parse(text) as FieldChange[];
  } catch {
    return [];
  }
};

/** Rows gathered for a set of records, and the identifiers of every record they refer to. */
interface Loaded {
  identifiers: Map<number, IdentifierRow[]>;
  ins: Map<number, InsRow[]>;
  links: Map<number, LinkRow[]>;
  history: Map<number, HistoryRow[]>;
}

function push<T>(m: Map<number, T[]>, k: number, v: T): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

function build(row: PatientRow, l: Loaded): PatientView {
  const s = decodeState(row);
  // The record's INS is its NIR when it holds one: an NIA may be kept beside it (docs/behaviour.md "Qualified
  // identity (INS)").
  const insRows = l.ins.get(row.id);
  const insRow = insRows?.find((r) => r.kind === 'NIR') ?? insRows?.[0];
  const ins = insRow ? { value: insRow.value, oid: insRow.oid, kind: insRow.kind } : null;
  const links: IdentifierView[] = [];
  for (const link of l.links.get(row.id) ?? []) {
    const v = representative(l.identifiers.get(link.patient_a === row.id ? link.patient_b : link.patient_a));
    if (v) links.push(v);
  }
  return {
    id: Number(row.id),
    identifiers: (l.identifiers.get(row.id) ?? []).map(toView),
    ins,
    status: row.status,
    attributes: s.attributes,
    qualified: row.status === 'VALI' && ins !== null,
    birthName: row.birth_name,
    firstName: row.first_name,
    birthGivenNames: row.birth_given_names,
    usedName: row.used_name,
    usedFirstName: row.used_first_name,
    birthDate: row.birth_date,
    sex: row.sex,
    birthPlace: row.birth_place,
    names: s.names,
    addresses: s.addresses,
    active: Number(row.active) === 1,
    mergedInto: row.merged_into === null ? null : representative(l.identifiers.get(Number(row.merged_into))),
    links,
    lastMessageTime: row.last_message_time,
    history: (l.history.get(row.id) ?? []).map((h) => ({
      controlId: h.control_id,
      event: h.event,
      messageTime: h.message_time,
      recordedAt: h.recorded_at,
      sendingApp: h.sending_app,
      sendingFacility: h.sending_facility,
      changes: parseChanges(h.changes),
    })),
  };
}

/** Every record, active and merged, ordered by id. Reads each table once. */
export async function listPatients(tx: Tx): Promise<PatientView[]> {
  const rows = await tx.all<PatientRow>(SQL_ALL_PATIENTS);
  const l: Loaded = { identifiers: new Map(), ins: new Map(), links: new Map(), history: new Map() };
  for (const r of await tx.all<IdentifierRow>(SQL_ALL_IDENTIFIERS)) push(l.identifiers, Number(r.patient_id), r);
  for (const r of await tx.all<InsRow>(SQL_ALL_INS)) push(l.ins, Number(r.patient_id), r);
  for (const r of await tx.all<LinkRow>(SQL_ALL_LINKS)) {
    push(l.links, Number(r.patient_a), r);
    push(l.links, Number(r.patient_b), r);
  }
  for (const r of await tx.all<HistoryRow>(SQL_ALL_HISTORY)) push(l.history, Number(r.patient_id), r);
  return rows.map((r) => build(r, l));
}

/** One record by id, or undefined. */
export async function getPatient(tx: Tx, id: number): Promise<PatientView | undefined> {
  const row = await getPatientRow(tx, id);
  if (!row) return undefined;
  const l: Loaded = {
    identifiers: new Map([[row.id, await listIdentifiers(tx, row.id)]]),
    ins: new Map([[row.id, await listIns(tx, row.id)]]),
    links: new Map([[row.id, await listLinks(tx, row.id)]]),
    history: new Map([[row.id, await listHistory(tx, row.id)]]),
  };
  // Identifiers of the records this one refers to (survivor, linked records).
  const related = new Set<number>();
  if (row.merged_into !== null) related.add(Number(row.merged_into));
  for (const link of l.links.get(row.id)!) related.add(link.patient_a === row.id ? link.patient_b : link.patient_a);
  for (const other of related) if (!l.identifiers.has(other)) l.identifiers.set(other, await listIdentifiers(tx, other));
  return build(row, l);
}

/**
 * Records matching every criterion given: an identifier value (any type), optionally of an authority given by
 * namespace (CX-4.1) or OID (CX-4.2); an INS value (any INS authority). A retired (merged) identifier resolves to the
 * retired record, which shows `mergedInto`. No criterion → no record. Ordered by id.
 */
export async function findPatients(tx: Tx, q: { value?: string; authority?: string; ins?: string }): Promise<PatientView[]> {
  if (q.value === undefined && q.ins === undefined) return [];
  let ids: Set<number> | undefined;
  if (q.value !== undefined) {
    const hits = (await findIdentifiersByValue(tx, q.value))
      .filter((i) => q.authority === undefined || i.authority === q.authority || i.oid === q.authority);
    ids = new Set(hits.map((i) => Number(i.patient_id)));
  }
  if (q.ins !== undefined) {
    const byIns = new Set((await findInsByValue(tx, q.ins)).map((r) => Number(r.patient_id)));
    ids = ids ? new Set([...ids].filter((i) => byIns.has(i))) : byIns;
  }
  const out: PatientView[] = [];
  for (const id of [...ids!].sort((a, b) => a - b)) {
    const v = await getPatient(tx, id);
    if (v) out.push(v);
  }
  return out;
}
