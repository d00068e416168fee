/**
 * PID / MRG → identifiers and PatientData, with the HL7 null rules (PAM FR §6.6.2, types.ts tri-state):
 * empty field → property absent (keep); field exactly `""` → null (clear); otherwise the value (replace).
 * Repeating fields PID-5 / PID-11 are keyed by name / address type (docs/behaviour.md "Per event", A31): a
 * repetition present in the message replaces the stored repetition of that type wholly, so its empty or `""`
 * components become null, and a typed repetition with no value at all (`""^^^^^^D`) maps its type to null (clear).
 * Pure; reads raw ER7 and splits each field once (hot loop).
 */
import { ErrorCode, Severity, type Finding } from '../hl7/errors.js';
import type { Separators } from '../hl7/encoding.js';
import { nthPiece, splitOn, unescapeHl7 } from '../hl7/encoding.js';
import { NULL_VALUE, type Hl7Segment } from '../hl7/model.js';
import { classifyCxIn, type CxClass } from './ins.js';
import { birthDate } from './time.js';
import type { Address, PamOptions, PatientData, PersonName } from './types.js';

/** Sink for what extraction finds: errors make the message AE, warnings go into the AA ACK. */
export interface FindingSink {
  errors: Finding[];
  warnings: Finding[];
}

/** One classified, non-empty CX repetition of a field, with its 1-based repetition number. */
export interface CxEntry {
  repetition: number;
  cx: Exclude<CxClass, { kind: 'empty' }>;
}

/** PID-32 codes that are attributes, not statuses (PAM FR §6.6.15). */
export const IDENTITY_ATTRIBUTES: ReadonlySet<string> = new Set(['HOMA', 'FICT', 'DOUT']);

/** Name types (HL7 table 0200) recognised in XPN-8 when a stray `^` shifted XPN-7 (as in DTFR N.10 examples). */
const SHIFTED_NAME_TYPES: ReadonlySet<string> = new Set(['L', 'D', 'S', 'U', 'A', 'B', 'C', 'M', 'N', 'P', 'T', 'I']);

/** Birthplace address type (DTFR N.6, XAD-7). */
export const BIRTHPLACE = 'BDL';

/**
 * The same string, as a constant when it is one of the usual type or status codes. A code sliced from the message
 * used as a property key (names and addresses by type, the status map) has to be looked up in V8's string table
 * on every access; a constant is already there. Pure speed: the value is unchanged.
 */
function codeKey(s: string): string {
  switch (s) {
    case 'L': return 'L';
    case 'D': return 'D';
    case 'H': return 'H';
    case 'BDL': return 'BDL';
    case 'S': return 'S';
    case 'U': return 'U';
    case 'M': return 'M';
    case 'B': return 'B';
    case 'A': return 'A';
    case 'C': return 'C';
    case 'N': return 'N';
    case 'P': return 'P';
    case 'T': return 'T';
    case 'I': return 'I';
    case 'O': return 'O';
    case 'BR': return 'BR';
    case 'VALI': return 'VALI';
    case 'PROV': return 'PROV';
    case 'QUAL': return 'QUAL';
    case 'VIDE': return 'VIDE';
    case 'HOMA': return 'HOMA';
    case 'FICT': return 'FICT';
    case 'DOUT': return 'DOUT';
    default: return s;
  }
}

/**
 * Classifies every non-empty repetition of a CX field (PID-3, MRG-1).
 * @returns the entries in message order; empty repetitions are skipped.
 */
export function readCxField(seg: Hl7Segment, field: number, seps: Separators): CxEntry[] {
  const raw = seg.raw(field);
  const out: CxEntry[] = [];
  if (raw === '') return out;
  // Repetitions classified in place (raw.split(repetition) without the array or the strings).
  const sep = seps.repetition;
  for (let from = 0, end = 0, i = 1; from <= raw.length; from = end + 1, i++) {
    end = raw.indexOf(sep, from);
    if (end < 0) end = raw.length;
    const cx = classifyCxIn(raw, from, end, seps);
    if (cx.kind !== 'empty') out.push({ repetition: i, cx });
  }
  return out;
}

/** True when text[from, to) is the HL7 explicit null `""`. */
function isNullAt(text: string, from: number, to: number): boolean {
  return to - from === 2 && text.charCodeAt(from) === 34 && text.charCodeAt(from + 1) === 34;
}

/** Components located by cutComponents: component k + 1 is `text.slice(COMP_START[k], COMP_END[k])`. */
const COMP_START = new Int32Array(9);
const COMP_END = new Int32Array(9);

/**
 * Locates components 1…9 (all that names and addresses read) of the repetition text[from, to) into COMP_START /
 * COMP_END, as `text.slice(from, to).split(sep)` would cut them, without the array or the strings.
 * @returns how many components were located (at most 9).
 */
function cutComponents(text: string, from: number, to: number, sep: string): number {
  let n = 0;
  let start = from;
  while (n < 9) {
    const at = text.indexOf(sep, start);
    COMP_START[n] = start;
    if (at < 0 || at >= to) {
      COMP_END[n++] = to;
      return n;
    }
    COMP_END[n++] = at;
    start = at + 1;
  }
  return n;
}

/**
 * Component i (1-based) of the repetition last located by cutComponents (n components), subcomponent 1,
 * unescaped; '' when absent. `plain`: as for comp.
 */
function compAt(text: string, n: number, i: number, seps: Separators, plain: boolean): string {
  if (i > n) return '';
  const from = COMP_START[i - 1]!;
  const to = COMP_END[i - 1]!;
  if (from === to) return '';
  const c = text.slice(from, to);
  return plain ? c : compValue(c, seps);
}

/** wholeValue of the repetition last located by cutComponents. */
function wholeAt(text: string, n: number, i: number, seps: Separators, plain: boolean): string | null {
  if (i > n) return null;
  const from = COMP_START[i - 1]!;
  const to = COMP_END[i - 1]!;
  if (from === to || (plain && isNullAt(text, from, to))) return null;
  const v = plain ? text.slice(from, to) : compValue(text.slice(from, to), seps);
  return v === '' || v === NULL_VALUE ? null : v;
}

/**
 * Component i (1-based) of pre-split components, subcomponent 1, unescaped; '' when absent. `plain`: the caller
 * checked that the whole field has neither a subcomponent separator nor an escape character (the usual case), so
 * the component is already its own value.
 */
function comp(comps: string[], i: number, seps: Separators, plain = false): string {
  const c = comps[i - 1];
  if (c === undefined || c === '') return '';
  return plain ? c : compValue(c, seps);
}

/** A raw component's value: subcomponent 1, unescaped. */
function compValue(c: string, seps: Separators): string {
  if (c === '') return '';
  const s = c.indexOf(seps.subcomponent);
  if (s >= 0) c = c.slice(0, s);
  return c.includes(seps.escape) ? unescapeHl7(c, seps) : c;
}

/** A component of a repetition that replaces a stored one wholly: '' and `""` both become null. */
function wholeValue(comps: string[], i: number, seps: Separators, plain = false): string | null {
  const v = comp(comps, i, seps, plain);
  return v === '' || v === NULL_VALUE ? null : v;
}

/**
 * Tri-state value of a simple field (component `c`, subcomponent 1): undefined when the field is empty or that
 * component is empty, null when the field or component is `""`, else the unescaped value.
 */
function triState(seg: Hl7Segment, field: number, c: number, seps: Separators): string | null | undefined {
  if (c === 1 && field > 2) {
    // seg.get reads component 1 of repetition 1 in place, as below. An empty answer may still come from a `""`
    // field (when `"` is the escape character): the raw field decides then.
    const v = seg.get(field, 1);
    if (v === '') return seg.raw(field) === NULL_VALUE ? null : undefined;
    return v === NULL_VALUE ? null : v;
  }
  const raw = seg.raw(field);
  if (raw === '') return undefined;
  if (raw === NULL_VALUE) return null;
  let first = raw;
  const r = raw.indexOf(seps.repetition);
  if (r >= 0) first = raw.slice(0, r);
  const v = compValue(nthPiece(first, seps.component, c), seps);
  if (v === '') return undefined;
  return v === NULL_VALUE ? null : v;
}

function loc(seg: Hl7Segment, field: number, repetition?: number, component?: number): Finding['location'] {
  const l: NonNullable<Finding['location']> = { segment: seg.name, sequence: seg.occurrence, field };
  if (repetition !== undefined) l.repetition = repetition;
  if (component !== undefined) l.component = component;
  return l;
}

function where(seg: Hl7Segment, field: number, repetition?: number): string {
  const s = seg.occurrence > 1 ? `${seg.name}(${seg.occurrence})` : seg.name;
  return repetition !== undefined && repetition > 1 ? `${s}-${field}[${repetition}]` : `${s}-${field}`;
}

/** PID-5: names keyed by XPN-7 (XPN-8 when a stray `^` shifted it there). */
function readNames(pid: Hl7Segment, seps: Separators, sink: FindingSink): Record<string, PersonName | null> | null | undefined {
  const raw = pid.raw(5);
  if (raw === '') return undefined;
  if (raw === NULL_VALUE) return null;
  const out: Record<string, PersonName | null> = {};
  const plain = !raw.includes(seps.subcomponent) && !raw.includes(seps.escape);
  const rsep = seps.repetition;
  for (let from = 0, end = 0, i = 1; from <= raw.length; from = end + 1, i++) {
    end = raw.indexOf(rsep, from);
    if (end < 0) end = raw.length;
    if (from === end || isNullAt(raw, from, end)) continue; // a typeless repetition: nothing to key it on
    const n = cutComponents(raw, from, end, seps.component);
    let type = codeKey(compAt(raw, n, 7, seps, plain));
    if (type === '') {
      const shifted = compAt(raw, n, 8, seps, plain);
      if (SHIFTED_NAME_TYPES.has(shifted)) {
        type = codeKey(shifted);
        sink.warnings.push({
          code: ErrorCode.DataType, severity: Severity.Warning, location: loc(pid, 5, i, 8),
          text: `${where(pid, 5, i)}: name type found in XPN-8 instead of XPN-7; read as the name type`,
        });
      }
    }
    if (Object.prototype.hasOwnProperty.call(out, type)) {
      sink.warnings.push({
        code: ErrorCode.DataType, severity: Severity.Warning, location: loc(pid, 5, i, 7),
        text: `${where(pid, 5, i)}: second name of the same type ignored; the first one is used`,
      });
      continue;
    }
    const name: PersonName = {
      family: wholeAt(raw, n, 1, seps, plain),
      given: wholeAt(raw, n, 2, seps, plain),
      givenNames: wholeAt(raw, n, 3, seps, plain), // kept raw: space- or comma-separated as sent (DTFR N.10)
      prefix: wholeAt(raw, n, 5, seps, plain),
    };
    // A typed repetition with nothing in it (`""^^^^^^D`) clears the stored name of that type.
    out[type] = name.family === null && name.given === null && name.givenNames === null && name.prefix === null ? null : name;
  }
  return out;
}

/** Address type of an XAD: XAD-7, or `BDL` found in XAD-8 (Gazelle-style samples). */
function addressType(comps: string[], seps: Separators): string {
  const t = comp(comps, 7, seps);
  if (t === '' && comp(comps, 8, seps) === BIRTHPLACE) return BIRTHPLACE;
  return codeKey(t);
}

/** Where extractPatientData reports the birthplace it met in PID-11 (what findBirthplace answers, without a second pass). */
export interface BirthplaceOut {
  birthplace?: { repetition: number; cog: string };
}

/** PID-11: addresses keyed by XAD-7; the first BDL repetition also goes to `place` (as findBirthplace finds it). */
function readAddresses(pid: Hl7Segment, seps: Separators, sink: FindingSink, place?: BirthplaceOut): Record<string, Address | null> | null | undefined {
  const raw = pid.raw(11);
  if (raw === '') return undefined;
  if (raw === NULL_VALUE) return null;
  const out: Record<string, Address | null> = {};
  const plain = !raw.includes(seps.subcomponent) && !raw.includes(seps.escape);
  const rsep = seps.repetition;
  for (let from = 0, end = 0, i = 1; from <= raw.length; from = end + 1, i++) {
    end = raw.indexOf(rsep, from);
    if (end < 0) end = raw.length;
    if (from === end || isNullAt(raw, from, end)) continue;
    const n = cutComponents(raw, from, end, seps.component);
    // addressType: XAD-7, or BDL found in XAD-8.
    const t = compAt(raw, n, 7, seps, plain);
    const type = t === '' && compAt(raw, n, 8, seps, plain) === BIRTHPLACE ? BIRTHPLACE : codeKey(t);
    // The first BDL repetition is never a duplicate here (skipped repetitions '' and `""` have no type).
    if (place && type === BIRTHPLACE && place.birthplace === undefined) {
      const cog = compAt(raw, n, 9, seps, plain);
      place.birthplace = { repetition: i, cog: cog === NULL_VALUE ? '' : cog };
    }
    if (Object.prototype.hasOwnProperty.call(out, type)) {
      sink.warnings.push({
        code: ErrorCode.DataType, severity: Severity.Warning, location: loc(pid, 11, i, 7),
        text: `${where(pid, 11, i)}: second address of the same type ignored; the first one is used`,
      });
      continue;
    }
    const a: Address = {
      street: wholeAt(raw, n, 1, seps, plain),
      other: wholeAt(raw, n, 2, seps, plain),
      city: wholeAt(raw, n, 3, seps, plain),
      state: wholeAt(raw, n, 4, seps, plain),
      zip: wholeAt(raw, n, 5, seps, plain),
      country: wholeAt(raw, n, 6, seps, plain),
      countyCode: wholeAt(raw, n, 9, seps, plain),
    };
    // A typed repetition with nothing in it (`""^^^^^^H`) clears the stored address of that type.
    const empty = a.street === null && a.other === null && a.city === null && a.state === null && a.zip === null
      && a.country === null && a.countyCode === null;
    out[type] = empty ? null : a;
  }
  return out;
}

/**
 * The birthplace (PID-11 BDL repetition) of a PID: its repetition number and XAD-9 COG code ('' when absent).
 * Undefined when PID-11 has no BDL repetition.
 */
export function findBirthplace(pid: Hl7Segment, seps: Separators): { repetition: number; cog: string } | undefined {
  const raw = pid.raw(11);
  if (raw === '' || raw === NULL_VALUE) return undefined;
  const reps = splitOn(raw, seps.repetition);
  for (let i = 0; i < reps.length; i++) {
    const comps = splitOn(reps[i]!, seps.component);
    if (addressType(comps, seps) === BIRTHPLACE) {
      const cog = comp(comps, 9, seps);
      return { repetition: i + 1, cog: cog === NULL_VALUE ? '' : cog };
    }
  }
  return undefined;
}

/** A date field (PID-7, PID-29) → tri-state `YYYY[-MM[-DD]]`; a malformed value is an AE 102 at that field. */
function readDate(seg: Hl7Segment, field: number, seps: Separators, sink: FindingSink): string | null | undefined {
  const v = triState(seg, field, 1, seps);
  if (v === undefined || v === null) return v;
  const d = birthDate(v);
  if (d === null) {
    sink.errors.push({
      code: ErrorCode.DataType, severity: Severity.Error, location: loc(seg, field),
      text: `${where(seg, field)}: not a valid HL7 date (YYYY[MM[DD[HHMM[SS]]]])`,
    });
    return undefined;
  }
  return d;
}

/**
 * PID-13: every non-empty repetition as ER7 with the standard separators (`^` components, `&` subcomponents,
 * whatever MSH-2 declared, so that the stored value does not depend on the sender's separators), unescaped,
 * joined with ' ~ ' (types.ts).
 */
function readPhones(pid: Hl7Segment, seps: Separators): string | null | undefined {
  const raw = pid.raw(13);
  if (raw === '') return undefined;
  if (raw === NULL_VALUE) return null;
  const standard = seps.component === '^' && seps.subcomponent === '&';
  const piece = (p: string) => (p.includes(seps.escape) ? unescapeHl7(p, seps) : p);
  let out = '';
  const rsep = seps.repetition;
  for (let from = 0, end = 0; from <= raw.length; from = end + 1) {
    end = raw.indexOf(rsep, from);
    if (end < 0) end = raw.length;
    if (from === end || isNullAt(raw, from, end)) continue;
    const r = from === 0 && end === raw.length ? raw : raw.slice(from, end);
    const v = standard ? piece(r) : splitOn(r, seps.component).map((c) => c.split(seps.subcomponent).map(piece).join('&')).join('^');
    out = out === '' ? v : `${out} ~ ${v}`;
  }
  return out === '' ? undefined : out;
}

/**
 * PID-32: the first code (after options.statusMap) that is not an attribute is the status; attributes
 * (HOMA/FICT/DOUT) are listed in message order. Field `""` → both null. Field present → attributes is a list
 * (possibly empty: a sent PID-32 replaces the stored attributes); status stays undefined when only attributes are sent.
 */
function readReliability(pid: Hl7Segment, seps: Separators, options: PamOptions, sink: FindingSink, data: PatientData): void {
  const raw = pid.raw(32);
  if (raw === '') return;
  if (raw === NULL_VALUE) {
    data.status = null;
    data.attributes = null;
    return;
  }
  const attributes: string[] = [];
  const rsep = seps.repetition;
  for (let from = 0, end = 0, i = 0; from <= raw.length; from = end + 1, i++) {
    end = raw.indexOf(rsep, from);
    if (end < 0) end = raw.length;
    if (from === end || isNullAt(raw, from, end)) continue;
    // Component 1 of the repetition.
    let c1 = raw.indexOf(seps.component, from);
    if (c1 < 0 || c1 > end) c1 = end;
    let code = codeKey(compValue(from === 0 && c1 === raw.length ? raw : raw.slice(from, c1), seps));
    if (code === '') continue;
    if (Object.prototype.hasOwnProperty.call(options.statusMap, code)) code = options.statusMap[code]!;
    if (IDENTITY_ATTRIBUTES.has(code)) {
      if (!attributes.includes(code)) attributes.push(code);
    } else if (data.status === undefined) {
      data.status = code;
    } else {
      sink.warnings.push({
        code: ErrorCode.TableValueNotFound, severity: Severity.Warning, location: loc(pid, 32, i + 1, 1),
        text: `${where(pid, 32, i + 1)}: more than one identity status; the first one is used`,
      });
    }
  }
  data.attributes = attributes;
}

/**
 * Demographic data of a PID segment (types.ts PatientData). Malformed dates (PID-7, PID-29) are pushed to
 * `sink.errors` (AE 102); tolerated irregularities to `sink.warnings`. With `place`, the PID-11 birthplace is
 * reported there too (`place.birthplace` stays undefined when there is none; equal to findBirthplace's answer).
 */
export function extractPatientData(pid: Hl7Segment, seps: Separators, options: PamOptions, sink: FindingSink, place?: BirthplaceOut): PatientData {
  const data: PatientData = {};
  const names = readNames(pid, seps, sink);
  if (names !== undefined) data.names = names;
  const addresses = readAddresses(pid, seps, sink, place);
  if (addresses !== undefined) data.addresses = addresses;
  const birth = readDate(pid, 7, seps, sink);
  if (birth !== undefined) data.birthDate = birth;
  const sex = triState(pid, 8, 1, seps);
  if (sex !== undefined) data.sex = sex;
  const mother = triState(pid, 6, 1, seps);
  if (mother !== undefined) data.motherMaidenName = mother;
  const phone = readPhones(pid, seps);
  if (phone !== undefined) data.phone = phone;
  const marital = triState(pid, 16, 1, seps);
  if (marital !== undefined) data.maritalStatus = marital;
  const death = readDate(pid, 29, seps, sink);
  if (death !== undefined) data.deathDate = death;
  const deathIndicator = triState(pid, 30, 1, seps);
  if (deathIndicator !== undefined) data.deathIndicator = deathIndicator;
  readReliability(pid, seps, options, sink, data);
  return data;
}
