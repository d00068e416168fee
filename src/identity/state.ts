/**
 * A patient's demographic state: decoded from its row, merged with a message's PID data (HL7 null rules), compared
 * field by field for history, and encoded back to column values.
 *
 * The state lives in JSON columns (`names` by XPN-7 type, `addresses` by XAD-7 type, `other`) with flat copies of the
 * INS traits (birth name, first given name, given names list, used names, birthplace COG) for lookups; `encodeState`
 * is the only place that derives them, so they never drift.
 */
import type { Address, PatientData, PersonName } from '../pam/types.js';
import type { FieldChange, PatientRow, PatientState } from './types.js';

// ---------------------------------------------------------------------------------------------------------
// State: decode, merge (tri-state), diff, encode

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

/** The demographic columns of a state as a row patch (the values encodeState binds, by column). */
export function stateColumns(state: PatientState): Pick<PatientRow, 'status' | 'attributes' | 'birth_name' | 'first_name' | 'birth_given_names'
  | 'used_name' | 'used_first_name' | 'birth_date' | 'sex' | 'birth_place' | 'names' | 'addresses' | 'other'> {
  const v = encodeState(state) as Array<string | null>;
  return {
    status: v[0]!, attributes: v[1]!, birth_name: v[2]!, first_name: v[3]!, birth_given_names: v[4]!, used_name: v[5]!,
    used_first_name: v[6]!, birth_date: v[7]!, sex: v[8]!, birth_place: v[9]!, names: v[10]!, addresses: v[11]!, other: v[12]!,
  };
}

