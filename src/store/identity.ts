/**
 * Identity repository: the SQL behind patients, identifiers, INS, history and links (schema:
 * migrations/0001_init.ts). Every function takes the `Tx` the pipeline opened and uses
 * constant SQL texts, so that `SqliteTx` prepares each statement once for the whole run.
 *
 * The patient's demographic state lives in JSON columns (`names` by XPN-7 type, `addresses` by XAD-7 type,
 * `other`) with flat copies of the INS traits (birth name, first given name, given names list, used names,
 * birthplace COG) for lookups; `encodeState` is the only place that derives them, so they never drift.
 */
import { deferWrite, type Tx } from './tx.js';
import type { Address, Identifier, Ins, InsKind, MessageHeader, PatientData, PersonName } from '../pam/types.js';
import { authorityKey } from '../pam/types.js';
import { MISS } from './pg-group.js';

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

// ---------------------------------------------------------------------------------------------------------
// State: decode, merge (tri-state), diff, encode

const PATIENT_COLUMNS = `id, active, merged_into, status, attributes, birth_name, first_name, birth_given_names, used_name,
  used_first_name, birth_date, sex, birth_place, names, addresses, other, last_message_time, created_at, updated_at`;

/** PatientData keys with their own column; every other key goes to the `other` JSON column. */
const OWN_KEYS = new Set(['names', 'addresses', 'birthDate', 'sex', 'status', 'attributes']);

const parseJson = <T>(text: string | null, fallback: T): T => {
  if (text === null || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
};

/** An empty state (a patient about to be created). */
export const emptyState = (): PatientState => ({
  status: null, attributes: [], names: {}, addresses: {}, birthDate: null, sex: null, other: {},
});

/** Decodes the JSON and scalar columns of a row. */
export function decodeState(row: PatientRow): PatientState {
  return {
    status: row.status,
    attributes: parseJson<string[]>(row.attributes, []),
    names: parseJson<Record<string, PersonName>>(row.names, {}),
    addresses: parseJson<Record<string, Address>>(row.addresses, {}),
    birthDate: row.birth_date,
    sex: row.sex,
    other: parseJson<Record<string, unknown>>(row.other, {}),
  };
}

/** Column values of a state, in the order of the INSERT/UPDATE statements below (status … other). */
export function encodeState(s: PatientState): unknown[] {
  const [birthName, firstName, birthGivenNames, usedName, usedFirstName, birthPlace] = traitValues(s);
  const jsonOrNull = (o: object): string | null => (Object.keys(o).length === 0 ? null : JSON.stringify(o));
  return [
    s.status,
    s.attributes.length === 0 ? null : JSON.stringify(s.attributes),
    birthName, firstName, birthGivenNames, usedName, usedFirstName,
    s.birthDate,
    s.sex,
    birthPlace,
    jsonOrNull(s.names),
    jsonOrNull(s.addresses),
    jsonOrNull(s.other),
  ];
}

/** Applies a map update by type: null clears the whole map, a null entry removes that type, a value replaces it. */
function mergeByType<T>(cur: Record<string, T>, upd: Record<string, T | null> | null | undefined): Record<string, T> {
  if (upd === undefined) return cur;
  if (upd === null) return {};
  const out: Record<string, T> = { ...cur };
  for (const [type, v] of Object.entries(upd)) {
    if (v === undefined) continue;
    if (v === null) delete out[type];
    else out[type] = v;
  }
  return out;
}

/**
 * The state after a PID update, with the HL7 null rules (PAM FR §6.6.2): absent (undefined) keeps, null
 * clears, a value replaces. PID-5 / PID-11 repetitions are matched by type (docs/behaviour.md "Per event").
 */
export function mergeState(cur: PatientState, data: PatientData): PatientState {
  const next: PatientState = {
    status: data.status === undefined ? cur.status : data.status,
    attributes: data.attributes === undefined ? cur.attributes : (data.attributes ?? []),
    names: mergeByType(cur.names, data.names),
    addresses: mergeByType(cur.addresses, data.addresses),
    birthDate: data.birthDate === undefined ? cur.birthDate : data.birthDate,
    sex: data.sex === undefined ? cur.sex : data.sex,
    other: cur.other,
  };
  let other: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(data)) {
    if (OWN_KEYS.has(k) || v === undefined) continue;
    other ??= { ...cur.other };
    if (v === null) delete other[k];
    else other[k] = v;
  }
  if (other) next.other = other;
  return next;
}

/** JSON with sorted keys: equality of stored and incoming objects must not depend on key order. */
export function canonical(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * `canonical(a) === canonical(b)` without building either string (diffStates runs for every applied message):
 * keys in any order, keys whose value is undefined ignored, undefined equal to null inside arrays.
 */
function canonicalEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ao = a !== null && typeof a === 'object';
  const bo = b !== null && typeof b === 'object';
  if (!ao || !bo) {
    // An object's canonical text starts with '{' or '[', a leaf's never does.
    if (ao || bo) return false;
    if (typeof a === 'string' && typeof b === 'string') return false;
    return (a === undefined ? 'null' : JSON.stringify(a)) === (b === undefined ? 'null' : JSON.stringify(b));
  }
  const aa = Array.isArray(a);
  if (aa !== Array.isArray(b)) return false;
  if (aa) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!canonicalEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k of Object.keys(x)) {
    const v = x[k];
    if (v === undefined) continue;
    n++;
    if (!hasOwn(y, k) || y[k] === undefined || !canonicalEqual(v, y[k])) return false;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined) n--;
  return n === 0;
}

/** Deep equality of two stored/incoming objects, whatever their key order (same verdict as comparing `canonical` texts). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined || typeof a !== 'object' || typeof b !== 'object') return false;
  return canonicalEqual(a, b);
}

/** The flat INS-trait columns of a state, in column order: the one derivation shared by encodeState and diffStates. */
function traitValues(s: PatientState): [string | null, string | null, string | null, string | null, string | null, string | null] {
  const l = s.names.L;
  const d = s.names.D;
  return [l?.family ?? null, l?.given ?? null, l?.givenNames ?? null, d?.family ?? null, d?.given ?? null,
    s.addresses.BDL?.countyCode ?? null];
}
const TRAIT_FIELDS = ['birthName', 'firstName', 'birthGivenNames', 'usedName', 'usedFirstName', 'birthPlace'] as const;

/**
 * Field-level differences between two states, for the history table. Every changed name / address
 * repetition is reported by type (`names.L`, `addresses.H`); changed INS traits are also reported under their
 * own names (`birthName`, `birthPlace`…) because identity vigilance reads those first.
 */
export function diffStates(a: PatientState, b: PatientState): FieldChange[] {
  const out: FieldChange[] = [];
  const ta = traitValues(a);
  const tb = traitValues(b);
  for (let i = 0; i < TRAIT_FIELDS.length; i++) if (ta[i] !== tb[i]) out.push({ field: TRAIT_FIELDS[i]!, before: ta[i], after: tb[i] });
  if (a.birthDate !== b.birthDate) out.push({ field: 'birthDate', before: a.birthDate, after: b.birthDate });
  if (a.sex !== b.sex) out.push({ field: 'sex', before: a.sex, after: b.sex });
  if (a.status !== b.status) out.push({ field: 'status', before: a.status, after: b.status });
  if (!same(a.attributes, b.attributes)) out.push({ field: 'attributes', before: a.attributes, after: b.attributes });
  const byType = (prefix: string, x: Record<string, unknown>, y: Record<string, unknown>) => {
    for (const t of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (!same(x[t], y[t])) out.push({ field: `${prefix}.${t}`, before: x[t] ?? null, after: y[t] ?? null });
    }
  };
  byType('names', a.names, b.names);
  byType('addresses', a.addresses, b.addresses);
  for (const k of new Set([...Object.keys(a.other), ...Object.keys(b.other)])) {
    if (!same(a.other[k], b.other[k])) out.push({ field: k, before: a.other[k] ?? null, after: b.other[k] ?? null });
  }
  return out;
}

/** The later of two normalised message times (`YYYYMMDDHHMMSS.ssss` sorts as text); null counts as "no time". */
export function laterTime(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return b > a ? b : a;
}

// ---------------------------------------------------------------------------------------------------------
// Patients

const SQL_PATIENT = `SELECT ${PATIENT_COLUMNS} FROM patients WHERE id = ?`;
const SQL_PATIENT_BY_IDENTIFIER = `SELECT ${PATIENT_COLUMNS.replace(/(^|\s)(\w+)/g, '$1p.$2')}
  FROM identifiers i JOIN patients p ON p.id = i.patient_id WHERE i.auth_key = ? AND i.value = ? AND i.type = ?`;
const SQL_CREATE_PATIENT = `INSERT INTO patients (active, merged_into, status, attributes, birth_name, first_name,
  birth_given_names, used_name, used_first_name, birth_date, sex, birth_place, names, addresses, other, last_message_time,
  created_at, updated_at) VALUES (1, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`;
const SQL_UPDATE_PATIENT = `UPDATE patients SET status = ?, attributes = ?, birth_name = ?, first_name = ?,
  birth_given_names = ?, used_name = ?, used_first_name = ?, birth_date = ?, sex = ?, birth_place = ?, names = ?,
  addresses = ?, other = ?, last_message_time = ?, updated_at = ? WHERE id = ?`;
// Compare-and-set: only an active record can be retired.
const SQL_RETIRE_PATIENT = `UPDATE patients SET active = 0, merged_into = ?, last_message_time = ?, updated_at = ?
  WHERE id = ? AND active = 1`;
const SQL_REPOINT_MERGED = 'UPDATE patients SET merged_into = ? WHERE merged_into = ?';

// In a PostgreSQL group (pg-group.ts) `tx.groupCache` answers the reads below from memory when it knows the answer, and
// every write below keeps it exact; the writes whose result is not needed go through `tx.defer`.

/** A patient row by id. */
export async function getPatientRow(tx: Tx, id: number): Promise<PatientRow | undefined> {
  const c = tx.groupCache;
  const hit = c ? c.patient(id) : MISS;
  if (hit !== MISS) return hit;
  const row = await tx.get<PatientRow>(SQL_PATIENT, [id]);
  if (c && row) c.learnPatient(row);
  return row;
}

/** The patient owning an identifier (matched on authority key, value and type), with its whole row. */
export async function findPatientByIdentifier(tx: Tx, id: Identifier): Promise<PatientRow | undefined> {
  const c = tx.groupCache;
  const hit = c ? c.patientsByIdentifiers([id]) : MISS;
  if (hit !== MISS) return hit[0];
  const row = await tx.get<PatientRow>(SQL_PATIENT_BY_IDENTIFIER, [authorityKey(id), id.value, id.type]);
  c?.learnIdentifiers([id], [row]);
  return row;
}

/** `SQL_PATIENT_BY_IDENTIFIER` for n identifiers in one statement: one UNION ALL branch each, `k` = branch number. */
const patientsByIdentifiersSql: string[] = [];
function sqlPatientsByIdentifiers(n: number): string {
  let sql = patientsByIdentifiersSql[n];
  if (!sql) {
    sql = Array.from({ length: n }, (_, k) => SQL_PATIENT_BY_IDENTIFIER.replace(/^SELECT /, `SELECT ${k} AS k, `)).join('\nUNION ALL\n');
    patientsByIdentifiersSql[n] = sql;
  }
  return sql;
}

/** The owner's id of each of n identifiers, one UNION ALL branch each (`k` = branch number): SQLite's lookup. */
const ownersByIdentifiersSql: string[] = [];
function sqlOwnersByIdentifiers(n: number): string {
  let sql = ownersByIdentifiersSql[n];
  if (!sql) {
    sql = Array.from({ length: n }, (_, k) => `SELECT ${k} AS k, patient_id FROM identifiers WHERE auth_key = ? AND value = ? AND type = ?`)
      .join('\nUNION ALL\n');
    ownersByIdentifiersSql[n] = sql;
  }
  return sql;
}

/**
 * The patient owning each identifier (undefined where none), in the order given: findPatientByIdentifier for every
 * identifier, in one statement (one round trip on PostgreSQL). Rows carry the extra column `k` (branch number).
 * On SQLite (no round trips) the owners' ids come first and each distinct patient row is then read once: the
 * identifiers of one message nearly always name one patient, whose whole row (JSON columns included) the join
 * would copy out once per identifier (lookup ~30 % cheaper for a known patient with 2–3 identifiers).
 */
export async function findPatientsByIdentifiers(tx: Tx, ids: readonly Identifier[]): Promise<Array<PatientRow | undefined>> {
  if (ids.length <= 1) return ids.length === 0 ? [] : [await findPatientByIdentifier(tx, ids[0]!)];
  const c = tx.groupCache;
  const hit = c ? c.patientsByIdentifiers(ids) : MISS;
  if (hit !== MISS) return hit;
  const params: unknown[] = [];
  for (const id of ids) params.push(authorityKey(id), id.value, id.type);
  const out: Array<PatientRow | undefined> = new Array(ids.length).fill(undefined);
  if (tx.dialect === 'sqlite' && !c) {
    const owners = await tx.all<{ k: number; patient_id: number }>(sqlOwnersByIdentifiers(ids.length), params);
    for (const o of owners) {
      const pid = Number(o.patient_id);
      // A copy for a patient already read: callers get one row object per identifier, as from the join.
      const seen = out.find((r) => r !== undefined && r.id === pid);
      out[Number(o.k)] = seen ? { ...seen } : await tx.get<PatientRow>(SQL_PATIENT, [pid]);
    }
    return out;
  }
  for (const row of await tx.all<PatientRow & { k: number }>(sqlPatientsByIdentifiers(ids.length), params)) out[Number(row.k)] = row;
  c?.learnIdentifiers(ids, out);
  return out;
}

/** The demographic columns of a state as a row patch (the values encodeState binds, by column). */
function stateColumns(state: PatientState): Pick<PatientRow, 'status' | 'attributes' | 'birth_name' | 'first_name' | 'birth_given_names'
  | 'used_name' | 'used_first_name' | 'birth_date' | 'sex' | 'birth_place' | 'names' | 'addresses' | 'other'> {
  const v = encodeState(state) as Array<string | null>;
  return {
    status: v[0]!, attributes: v[1]!, birth_name: v[2]!, first_name: v[3]!, birth_given_names: v[4]!, used_name: v[5]!,
    used_first_name: v[6]!, birth_date: v[7]!, sex: v[8]!, birth_place: v[9]!, names: v[10]!, addresses: v[11]!, other: v[12]!,
  };
}

/** Creates an active patient; returns its id. */
export async function createPatient(tx: Tx, state: PatientState, lastMessageTime: string | null, now: string): Promise<number> {
  const params = [...encodeState(state), lastMessageTime, now, now];
  const c = tx.groupCache;
  // In a group the id is the one the sequence will give (checked when the INSERT runs).
  const predicted = c ? c.allocPatientId() : null;
  const id = predicted ?? Number((await tx.get<{ id: number }>(SQL_CREATE_PATIENT, params))!.id);
  if (c) {
    c.putPatient({ id, active: 1, merged_into: null, ...stateColumns(state), last_message_time: lastMessageTime, created_at: now, updated_at: now });
  }
  if (predicted !== null) await deferWrite(tx, SQL_CREATE_PATIENT, params, (r) => Number(r.rows[0]?.id) === predicted);
  return id;
}

/** Rewrites the demographic columns (flat and JSON, kept in sync by encodeState) and the stale-guard time. */
export async function updatePatient(
  tx: Tx, id: number, state: PatientState, lastMessageTime: string | null, updatedAt: string,
): Promise<void> {
  tx.groupCache?.patchPatient(id, { ...stateColumns(state), last_message_time: lastMessageTime, updated_at: updatedAt });
  await deferWrite(tx, SQL_UPDATE_PATIENT, [...encodeState(state), lastMessageTime, updatedAt, id]);
}

/**
 * Marks an active record as merged into `survivorId` (A40). Records previously merged into it are re-pointed to
 * the survivor so that `merged_into` always names an active record. Throws if the record was not active.
 */
export async function retirePatient(
  tx: Tx, id: number, survivorId: number, lastMessageTime: string | null, now: string,
): Promise<void> {
  const c = tx.groupCache;
  const cached = c ? c.patient(id) : MISS;
  if (c && cached !== MISS) {
    if (cached.active !== 1) throw new Error(`patient ${id} is not active: cannot be merged`);
    c.patchPatient(id, { active: 0, merged_into: survivorId, last_message_time: lastMessageTime, updated_at: now });
    c.repoint(id, survivorId);
    await deferWrite(tx, SQL_RETIRE_PATIENT, [survivorId, lastMessageTime, now, id], (r) => r.rowCount === 1);
    await deferWrite(tx, SQL_REPOINT_MERGED, [survivorId, id]);
    return;
  }
  const n = await tx.run(SQL_RETIRE_PATIENT, [survivorId, lastMessageTime, now, id]);
  if (n !== 1) throw new Error(`patient ${id} is not active: cannot be merged`);
  await tx.run(SQL_REPOINT_MERGED, [survivorId, id]);
  c?.repoint(id, survivorId);
}

// ---------------------------------------------------------------------------------------------------------
// Identifiers

const IDENTIFIER_COLUMNS = 'patient_id, value, authority, oid, type, auth_key';
const SQL_IDENTIFIERS_OF = `SELECT ${IDENTIFIER_COLUMNS} FROM identifiers WHERE patient_id = ? ORDER BY id`;
const SQL_IDENTIFIERS_BY_VALUE = `SELECT ${IDENTIFIER_COLUMNS} FROM identifiers WHERE value = ? ORDER BY patient_id, id`;
const SQL_ADD_IDENTIFIER = `INSERT INTO identifiers (patient_id, value, authority, oid, type, auth_key, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)`;
const SQL_RENAME_IDENTIFIER = `UPDATE identifiers SET value = ?, authority = ?, oid = ?, type = ?, auth_key = ?
  WHERE auth_key = ? AND value = ? AND type = ?`;
const SQL_MOVE_IDENTIFIER = 'UPDATE identifiers SET patient_id = ? WHERE auth_key = ? AND value = ? AND type = ?';
const SQL_DELETE_IDENTIFIER = 'DELETE FROM identifiers WHERE auth_key = ? AND value = ? AND type = ?';

/** Identifiers of a patient, oldest first. */
export async function listIdentifiers(tx: Tx, patientId: number): Promise<IdentifierRow[]> {
  return tx.all<IdentifierRow>(SQL_IDENTIFIERS_OF, [patientId]);
}

/** Every identifier with this CX-1 value, whatever its authority or type. */
export async function findIdentifiersByValue(tx: Tx, value: string): Promise<IdentifierRow[]> {
  return tx.all<IdentifierRow>(SQL_IDENTIFIERS_BY_VALUE, [value]);
}

/** Attaches an identifier to a patient. The unique index uq_identifiers_key rejects one owned by another record. */
export async function addIdentifier(tx: Tx, patientId: number, id: Identifier, now: string): Promise<void> {
  tx.groupCache?.setOwner(id, patientId);
  await deferWrite(tx, SQL_ADD_IDENTIFIER, [patientId, id.value, id.authority, id.oid, id.type, authorityKey(id), now]);
}

/** addIdentifier for several identifiers in one multi-row INSERT (rows created in the order given). */
export async function addIdentifiers(tx: Tx, patientId: number, ids: readonly Identifier[], now: string): Promise<void> {
  if (ids.length <= 1) {
    if (ids.length === 1) await addIdentifier(tx, patientId, ids[0]!, now);
    return;
  }
  const params: unknown[] = [];
  for (const id of ids) params.push(patientId, id.value, id.authority, id.oid, id.type, authorityKey(id), now);
  for (const id of ids) tx.groupCache?.setOwner(id, patientId);
  await deferWrite(tx, sqlAddIdentifiers(ids.length), params);
}
const addIdentifiersSql: string[] = [];
function sqlAddIdentifiers(n: number): string {
  let sql = addIdentifiersSql[n];
  if (!sql) {
    sql = SQL_ADD_IDENTIFIER + ', (?, ?, ?, ?, ?, ?, ?)'.repeat(n - 1);
    addIdentifiersSql[n] = sql;
  }
  return sql;
}

/** Renames an identifier in place (A47): same row, same owner. Returns the number of rows changed (0 or 1). */
export async function renameIdentifier(tx: Tx, from: Identifier, to: Identifier): Promise<number> {
  const params = [to.value, to.authority, to.oid, to.type, authorityKey(to), authorityKey(from), from.value, from.type];
  const c = tx.groupCache;
  const owner = c ? c.owner(from) : MISS;
  if (c && owner !== MISS) {
    if (owner !== null) { c.setOwner(from, null); c.setOwner(to, owner); }
    await deferWrite(tx, SQL_RENAME_IDENTIFIER, params);
    return owner === null ? 0 : 1;
  }
  const n = await tx.run(SQL_RENAME_IDENTIFIER, params);
  if (c) { c.setOwner(from, null); c.forgetIdentifier(to); }
  return n;
}

/** Gives an identifier to another patient. Returns the number of rows changed (0 or 1). */
export async function moveIdentifier(tx: Tx, id: Identifier, toPatientId: number): Promise<number> {
  const n = await tx.run(SQL_MOVE_IDENTIFIER, [toPatientId, authorityKey(id), id.value, id.type]);
  tx.groupCache?.setOwner(id, n === 1 ? toPatientId : null);
  return n;
}

/** Detaches an identifier. Returns the number of rows removed (0 or 1). */
export async function deleteIdentifier(tx: Tx, id: Identifier): Promise<number> {
  const n = await tx.run(SQL_DELETE_IDENTIFIER, [authorityKey(id), id.value, id.type]);
  tx.groupCache?.setOwner(id, null);
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// INS

const INS_COLUMNS = 'patient_id, value, oid, kind';
const SQL_INS_OF = `SELECT ${INS_COLUMNS} FROM ins WHERE patient_id = ? ORDER BY id`;
// One statement answers both "what does this patient hold" and "who holds this INS" (upsert hot path).
const SQL_INS_OF_OR_OWNER = `SELECT ${INS_COLUMNS} FROM ins WHERE patient_id = ? OR (oid = ? AND value = ?) ORDER BY id`;
const SQL_INS_OWNER = `SELECT ${INS_COLUMNS} FROM ins WHERE oid = ? AND value = ?`;
const SQL_INS_BY_VALUE = `SELECT ${INS_COLUMNS} FROM ins WHERE value = ? ORDER BY patient_id, id`;
const SQL_DELETE_INS_OF = 'DELETE FROM ins WHERE patient_id = ?';
const SQL_ADD_INS = 'INSERT INTO ins (patient_id, value, oid, kind, created_at) VALUES (?, ?, ?, ?, ?)';

/** The INS rows of a patient (at most one in practice). */
export async function listIns(tx: Tx, patientId: number): Promise<InsRow[]> {
  const c = tx.groupCache;
  const hit = c ? c.insList(patientId) : MISS;
  if (hit !== MISS) return [...hit];
  const rows = await tx.all<InsRow>(SQL_INS_OF, [patientId]);
  c?.learnInsList(patientId, rows);
  return rows;
}

/**
 * The INS rows of a patient (`patientId` null: none) together with the row holding `probe`, wherever it is. From the
 * group cache the patient's rows come first (callers only look the probe's row up and filter the patient's rows).
 */
export async function listInsWithOwner(tx: Tx, patientId: number | null, probe: { oid: string; value: string }): Promise<InsRow[]> {
  const c = tx.groupCache;
  if (c) {
    const own = patientId === null ? [] : c.insList(patientId);
    const byValue = c.insOfValue(probe.value);
    if (own !== MISS && byValue !== MISS) {
      return [...own, ...byValue.filter((r) => r.oid === probe.oid && r.patient_id !== patientId)];
    }
  }
  const rows = await tx.all<InsRow>(SQL_INS_OF_OR_OWNER, [patientId, probe.oid, probe.value]);
  if (c && patientId !== null) c.learnInsList(patientId, rows.filter((r) => r.patient_id === patientId));
  return rows;
}

/** The INS row with this authority OID and value. */
export async function findIns(tx: Tx, oid: string, value: string): Promise<InsRow | undefined> {
  const hit = tx.groupCache ? tx.groupCache.insOfValue(value) : MISS;
  if (hit !== MISS) return hit.find((r) => r.oid === oid);
  return tx.get<InsRow>(SQL_INS_OWNER, [oid, value]);
}

/** Every INS row with this value, whatever its OID (NIR/NIA, production/test). */
export async function findInsByValue(tx: Tx, value: string): Promise<InsRow[]> {
  const c = tx.groupCache;
  const hit = c ? c.insOfValue(value) : MISS;
  // ORDER BY patient_id, id: the cached rows are in id order and the sort is stable.
  if (hit !== MISS) return [...hit].sort((a, b) => a.patient_id - b.patient_id);
  const rows = await tx.all<InsRow>(SQL_INS_BY_VALUE, [value]);
  c?.learnInsValue(value, rows);
  return rows;
}

/** Deletes every INS row (NIR and NIA) of a patient; returns how many. */
export async function removeIns(tx: Tx, patientId: number): Promise<number> {
  const c = tx.groupCache;
  const n = c ? c.removeIns(patientId) : MISS;
  if (n !== MISS) {
    await deferWrite(tx, SQL_DELETE_INS_OF, [patientId]);
    return n;
  }
  return tx.run(SQL_DELETE_INS_OF, [patientId]);
}

/** Replaces the INS rows of a patient with `ins` (one INS per patient). The unique index uq_ins_value rejects an INS held elsewhere. */
export async function setIns(tx: Tx, patientId: number, ins: Ins, now: string): Promise<void> {
  const c = tx.groupCache;
  if (c) c.removeIns(patientId);
  await deferWrite(tx, SQL_DELETE_INS_OF, [patientId]);
  await addIns(tx, patientId, ins, now);
}

/** Adds an INS row to a patient known to hold none (a new record): saves setIns's DELETE on the create path. */
export async function addIns(tx: Tx, patientId: number, ins: Ins, now: string): Promise<void> {
  tx.groupCache?.addIns({ patient_id: patientId, value: ins.value, oid: ins.oid, kind: ins.kind });
  await deferWrite(tx, SQL_ADD_INS, [patientId, ins.value, ins.oid, ins.kind, now]);
}

// ---------------------------------------------------------------------------------------------------------
// History

const SQL_ADD_HISTORY = `INSERT INTO history (patient_id, sending_app, sending_facility, control_id, event, message_time,
  recorded_at, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
const HISTORY_COLUMNS = 'id, patient_id, sending_app, sending_facility, control_id, event, message_time, recorded_at, changes';
const SQL_HISTORY_OF = `SELECT ${HISTORY_COLUMNS} FROM history WHERE patient_id = ? ORDER BY id`;

/** Records one history row: which message changed which fields of the patient, before → after. */
export async function insertHistory(
  tx: Tx, patientId: number, header: MessageHeader, changes: readonly FieldChange[], recordedAt: string,
): Promise<void> {
  await deferWrite(tx, SQL_ADD_HISTORY, [
    patientId, header.sendingApp, header.sendingFacility, header.controlId, header.event, header.messageTime,
    recordedAt, JSON.stringify(changes),
  ]);
}

/** History rows of a patient, oldest first. */
export async function listHistory(tx: Tx, patientId: number): Promise<HistoryRow[]> {
  return tx.all<HistoryRow>(SQL_HISTORY_OF, [patientId]);
}

// ---------------------------------------------------------------------------------------------------------
// Links (A24 / A37)

const SQL_LINK = 'INSERT INTO links (patient_a, patient_b, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING id';
const SQL_UNLINK = 'DELETE FROM links WHERE patient_a = ? AND patient_b = ? RETURNING id';
const SQL_LINKS_OF = 'SELECT id, patient_a, patient_b FROM links WHERE patient_a = ? OR patient_b = ? ORDER BY id';
const SQL_DELETE_LINK = 'DELETE FROM links WHERE id = ?';

const pair = (a: number, b: number): [number, number] => (a < b ? [a, b] : [b, a]);

/** Links two records (stored as the ordered pair). Returns false when they were already linked. */
export async function link(tx: Tx, a: number, b: number, now: string): Promise<boolean> {
  if (a === b) throw new Error('a patient record cannot be linked to itself');
  const [x, y] = pair(a, b);
  const c = tx.groupCache;
  const linked = c ? c.hasLink(x, y) : MISS;
  if (c && linked !== MISS) {
    // Sent even when linked: ON CONFLICT DO NOTHING still draws an id from the sequence, as it always did.
    if (!linked) c.addLink(x, y);
    await deferWrite(tx, SQL_LINK, [x, y, now]);
    return !linked;
  }
  const done = (await tx.get(SQL_LINK, [x, y, now])) !== undefined;
  c?.forgetLinks(x, y);
  return done;
}

/** Unlinks two records. Returns false when they were not linked. */
export async function unlink(tx: Tx, a: number, b: number): Promise<boolean> {
  const [x, y] = pair(a, b);
  const c = tx.groupCache;
  const linked = c ? c.hasLink(x, y) : MISS;
  if (c && linked !== MISS) {
    if (linked) c.removeLink((l) => l.patient_a === x && l.patient_b === y);
    await deferWrite(tx, SQL_UNLINK, [x, y]);
    return linked;
  }
  const done = (await tx.get(SQL_UNLINK, [x, y])) !== undefined;
  c?.forgetLinks(x, y);
  return done;
}

/** Links of a patient. */
export async function listLinks(tx: Tx, patientId: number): Promise<LinkRow[]> {
  const c = tx.groupCache;
  const hit = c ? c.links(patientId) : MISS;
  if (hit !== MISS) return [...hit];
  const rows = await tx.all<LinkRow>(SQL_LINKS_OF, [patientId, patientId]);
  c?.learnLinkList(patientId, rows);
  return rows;
}

/**
 * Moves every link of `fromId` to `toId` (A40). A link between the two records themselves disappears. Returns the
 * other end of every link that was moved (or dropped), with whether the survivor gained a new link.
 */
export async function moveLinks(
  tx: Tx, fromId: number, toId: number, now: string,
): Promise<Array<{ other: number; added: boolean }>> {
  const out: Array<{ other: number; added: boolean }> = [];
  for (const l of await listLinks(tx, fromId)) {
    const other = l.patient_a === fromId ? l.patient_b : l.patient_a;
    tx.groupCache?.removeLink((x) => x.id === l.id);
    await deferWrite(tx, SQL_DELETE_LINK, [l.id]);
    out.push({ other, added: other !== toId && (await link(tx, other, toId, now)) });
  }
  return out;
}
