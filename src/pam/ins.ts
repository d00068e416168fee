/**
 * INS (Identifiant National de Santé) rules: NIR/NIA syntax and key, the INS authority table
 * (DTFR N.1, docs/behaviour.md "Identity model"), classification of one CX repetition, and the coherence of a
 * NIR with the identity traits (docs/behaviour.md "Qualified identity (INS)": warnings only).
 * Pure functions; nothing here carries or returns patient data in text.
 */
import type { Separators } from '../hl7/encoding.js';
import { unescapeHl7 } from '../hl7/encoding.js';
import { NULL_VALUE } from '../hl7/model.js';
import type { Identifier, Ins, InsKind } from './types.js';

/** Where an INS authority OID belongs: production, test or demonstration (DTFR N.1). */
export const InsEnvironment = { Production: 'production', Test: 'test', Demo: 'demo' } as const;
export type InsEnvironment = (typeof InsEnvironment)[keyof typeof InsEnvironment];

/** One INS assigning authority. */
export interface InsAuthority {
  oid: string;
  kind: InsKind;
  environment: InsEnvironment;
}

/**
 * INS authorities, matched on OID (CX-4.2), never on the namespace text (DTFR N.1).
 * `.8` is also the OID of the billing NIR: that one has CX-5 `NH` and is not an INS (see classifyCx).
 */
export const INS_AUTHORITIES: ReadonlyMap<string, InsAuthority> = new Map<string, InsAuthority>([
  ['1.2.250.1.213.1.4.8', { oid: '1.2.250.1.213.1.4.8', kind: 'NIR', environment: 'production' }],
  ['1.2.250.1.213.1.4.9', { oid: '1.2.250.1.213.1.4.9', kind: 'NIA', environment: 'production' }],
  ['1.2.250.1.213.1.4.10', { oid: '1.2.250.1.213.1.4.10', kind: 'NIR', environment: 'test' }],
  ['1.2.250.1.213.1.4.11', { oid: '1.2.250.1.213.1.4.11', kind: 'NIR', environment: 'demo' }],
]);

/** The INS authority with this OID, or undefined. */
export function insAuthority(oid: string): InsAuthority | undefined {
  return INS_AUTHORITIES.get(oid);
}

/** CX-5 identifier type of an INS (DTFR N.1). */
export const INS_TYPE = 'INS';

/**
 * The key expected for a 15-character NIR/NIA: 97 − (first 13 characters mod 97), with Corsica `2A` → 19 and
 * `2B` → 18 (Corsica). Null when the value is not well formed: 5 digits, then 2 digits or `2A`/`2B`, then
 * 8 digits. The structure is deliberately lenient (month 20–42/50+ exist in real NIRs); uppercase only.
 * Computed digit by digit: no allocation.
 */
export function insExpectedKey(value: string): number | null {
  if (value.length !== 15) return null;
  let r = 0;
  for (let i = 0; i < 15; i++) {
    const c = value.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (i === 6 && value.charCodeAt(5) === 50 /* 2 */ && (c === 65 /* A */ || c === 66 /* B */)) d = -1;
    else return null;
    if (i >= 13) continue; // the key itself: digits only
    if (d === -1) {
      // 2A → 19, 2B → 18: the '2' already added must become '1', then 9 or 8.
      r = (r - 2 + 1 + 97) % 97;
      d = c === 65 ? 9 : 8;
    }
    r = (r * 10 + d) % 97;
  }
  return 97 - r;
}

/** True when the value is a well-formed NIR/NIA whose key (last 2 digits) is right. */
export function insKeyOk(value: string): boolean {
  const expected = insExpectedKey(value);
  if (expected === null) return false;
  const key = (value.charCodeAt(13) - 48) * 10 + (value.charCodeAt(14) - 48);
  return key === expected;
}

/** Result of classifying one CX repetition (PID-3, MRG-1). */
export type CxClass =
  /** An empty repetition (`PI~~…`, seen in real feeds): nothing. */
  | { kind: 'empty' }
  /** Any non-INS identifier: IPP, billing NIR (`.8` + `NH`), INS-C (type `INS-C`), NDP… */
  | { kind: 'identifier'; id: Identifier }
  /** An INS (CX-5 `INS`, INS OID). `problem` = 'malformed' (not 15 chars of the NIR shape) or 'key'. */
  | { kind: 'ins'; ins: Ins; environment: InsEnvironment; problem: 'malformed' | 'key' | null }
  /** The explicit-null INS `""^^^…INS OID…^INS`: delete every stored INS (PAM FR §4.4). */
  | { kind: 'ins-null'; oid: string; insKind: InsKind; environment: InsEnvironment }
  /** CX-5 `INS` with an authority that is not an INS OID: cannot be trusted as an INS nor used as a key. */
  | { kind: 'ins-unknown-authority' };

/**
 * Classifies one CX repetition given as raw (escaped) ER7 text.
 * - INS = CX-5 `INS` and an authority in INS_AUTHORITIES. The authority is the OID in CX-4.2, falling back to
 *   CX-4.1 like every identifier key (docs/behaviour.md "Identity model").
 * - `.8` with CX-5 `NH` (billing NIR), INS-C (`INS-C`) and everything else are ordinary identifiers.
 * - CX-1 `""` with an INS authority and CX-5 `INS` is the explicit-null INS.
 */
export function classifyCx(raw: string, seps: Separators): CxClass {
  return classifyCxIn(raw, 0, raw.length, seps);
}

/** indexOf(sep, pos) within text[…, to): -1 when the next one is at or beyond `to`. */
function indexBefore(text: string, sep: string, pos: number, to: number): number {
  const at = text.indexOf(sep, pos);
  return at < to ? at : -1;
}

/**
 * classifyCx of the repetition `text.slice(from, to)`, read in place (readCxField: no string cut per repetition).
 * @internal
 */
export function classifyCxIn(text: string, from: number, to: number, seps: Separators): CxClass {
  if (from === to) return { kind: 'empty' };
  // CX-1, CX-4 and CX-5 found with indexOf (hot: every PID-3 repetition), as raw.split(component)[0, 3, 4] would.
  const sep = seps.component;
  const e1 = indexBefore(text, sep, from, to);
  let value = text.slice(from, e1 < 0 ? to : e1);
  let hd = '';
  let type = '';
  const e2 = e1 < 0 ? -1 : indexBefore(text, sep, e1 + 1, to);
  const e3 = e2 < 0 ? -1 : indexBefore(text, sep, e2 + 1, to);
  if (e3 >= 0) {
    const e4 = indexBefore(text, sep, e3 + 1, to);
    hd = text.slice(e3 + 1, e4 < 0 ? to : e4);
    if (e4 >= 0) {
      const e5 = indexBefore(text, sep, e4 + 1, to);
      type = text.slice(e4 + 1, e5 < 0 ? to : e5);
    }
  }
  if (value !== '' && value.includes(seps.escape)) value = unescapeHl7(value, seps);
  if (type !== '' && type.includes(seps.escape)) type = unescapeHl7(type, seps);
  let authority = hd;
  let oid = '';
  const sub = hd.indexOf(seps.subcomponent);
  if (sub >= 0) {
    authority = hd.slice(0, sub);
    const end = hd.indexOf(seps.subcomponent, sub + 1);
    oid = end < 0 ? hd.slice(sub + 1) : hd.slice(sub + 1, end);
    if (oid.includes(seps.escape)) oid = unescapeHl7(oid, seps);
  }
  if (authority.includes(seps.escape)) authority = unescapeHl7(authority, seps);
  if (type === INS_TYPE) {
    const auth = INS_AUTHORITIES.get(oid !== '' ? oid : authority);
    if (!auth) return { kind: 'ins-unknown-authority' };
    if (value === NULL_VALUE) return { kind: 'ins-null', oid: auth.oid, insKind: auth.kind, environment: auth.environment };
    const expected = insExpectedKey(value);
    // insKeyOk without computing the key twice.
    const problem = expected === null ? 'malformed'
      : (value.charCodeAt(13) - 48) * 10 + (value.charCodeAt(14) - 48) === expected ? null : 'key';
    return { kind: 'ins', ins: { value, oid: auth.oid, kind: auth.kind }, environment: auth.environment, problem };
  }
  return { kind: 'identifier', id: { value, authority, oid: oid === '' ? null : oid, type } };
}

/** Identity traits a NIR is compared with. Empty strings mean "not sent": no check. */
export interface InsTraits {
  /** PID-8. */
  sex: string;
  /** PID-7.1 as sent (TS). */
  birth: string;
  /** XAD-9 (INSEE COG) of the PID-11 BDL repetition. */
  birthplace: string;
}

/** Which trait a NIR disagrees with. */
export type CoherenceMismatch = 'sex' | 'birth' | 'birthplace';

/**
 * Normalises a 5-character INSEE place code for comparison: Corsica `2A`/`2B` → `20` (NIRs of people born before
 * 1976 use department 20), and the arrondissements of Paris (751xx), Lyon (6938x) and Marseille (132xx) → the
 * commune code (NIRs carry the arrondissement, the birthplace COG may carry the commune or the arrondissement).
 */
function placeKey(code: string): string {
  if (code.length !== 5) return code;
  if (code.startsWith('2A') || code.startsWith('2B')) return '20' + code.slice(2);
  if (code.startsWith('751') && code >= '75101' && code <= '75120') return '75056';
  if (code.startsWith('6938') && code >= '69381' && code <= '69389') return '69123';
  if (code.startsWith('132') && code >= '13201' && code <= '13216') return '13055';
  return code;
}

/**
 * Compares a well-formed NIR with the identity traits (docs/behaviour.md: mismatches are warnings, never rejections):
 * - sex digit 1/2 vs PID-8 M/F (other digits or sexes: no check);
 * - YY (and MM when the NIR month is 01–12) vs PID-7;
 * - characters 6–10 (department + commune, or 99 + country) vs the BDL COG code, see placeKey.
 * @returns the mismatching traits, in the order sex, birth, birthplace ([] when coherent).
 */
export function insCoherence(nir: string, traits: InsTraits): CoherenceMismatch[] {
  const out: CoherenceMismatch[] = [];
  const sexDigit = nir.charCodeAt(0);
  if ((sexDigit === 49 /* 1 */ && traits.sex === 'F') || (sexDigit === 50 /* 2 */ && traits.sex === 'M')) out.push('sex');
  const birth = traits.birth.trim();
  if (birth.length >= 4) {
    // Compared character by character: the answers of birth.slice(2, 4) !== nir.slice(1, 3),
    // Number(nir.slice(3, 5)) and birth.slice(4, 6) !== nir.slice(3, 5), without the strings.
    let bad = !(nir.length >= 3 && birth.charCodeAt(2) === nir.charCodeAt(1) && birth.charCodeAt(3) === nir.charCodeAt(2));
    if (!bad && birth.length >= 6) {
      const m1 = nir.charCodeAt(3) - 48;
      const m2 = nir.charCodeAt(4) - 48;
      const nirMonth = m1 >= 0 && m1 <= 9 && m2 >= 0 && m2 <= 9 ? m1 * 10 + m2 : Number(nir.slice(3, 5));
      if (nirMonth >= 1 && nirMonth <= 12) {
        bad = !(nir.length >= 5 && birth.charCodeAt(4) === nir.charCodeAt(3) && birth.charCodeAt(5) === nir.charCodeAt(4));
      }
    }
    if (bad) out.push('birth');
  }
  if (traits.birthplace !== '' && placeKey(traits.birthplace) !== placeKey(nir.slice(5, 10))) out.push('birthplace');
  return out;
}
