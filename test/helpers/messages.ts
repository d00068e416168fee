/**
 * Building test messages by editing the §8 examples (test/fixtures/examples.ts), one change at a time,
 * and asserting ACK files field by field.
 *
 * Paths are `SEG-n` (first occurrence) or `SEG(k)-n` (k-th occurrence), numbered as in the spec: `MSH-10` is the
 * control id even though MSH-1 is the separator itself. Messages are CR-terminated strings with the default
 * separators `|^~\&`.
 */
import { expect } from 'vitest';
import { ackSegments } from './workspace.js';

/** IPP authority of the examples (fictitious). */
export const IPP_OID = '1.2.250.1.999999.1';
/** INS authorities (DTFR N.1). */
export const NIR_OID = '1.2.250.1.213.1.4.8';
export const NIA_OID = '1.2.250.1.213.1.4.9';
export const TEST_NIR_OID = '1.2.250.1.213.1.4.10';
export const DEMO_NIR_OID = '1.2.250.1.213.1.4.11';

/** PID-3 repetition of an IPP of CHEX. */
export const ipp = (value: string, oid = IPP_OID): string => `${value}^^^CHEX&${oid}&ISO^PI`;
/** PID-3 repetition of an INS-NIR (production authority unless told). */
export const nir = (value: string, oid = NIR_OID): string => `${value}^^^ASIP-SANTE-INS-NIR&${oid}&ISO^INS`;
/** PID-3 repetition of an INS-NIA (production authority). */
export const nia = (value: string): string => `${value}^^^ASIP-SANTE-INS-NIA&${NIA_OID}&ISO^INS`;

/** The examples use the test INS authority (.10); this gives the same message with the production one (.8). */
export const prod = (msg: string): string => msg.split(`&${TEST_NIR_OID}&`).join(`&${NIR_OID}&`);

function locate(path: string): { seg: string; occurrence: number; field: number } {
  const m = /^([A-Z0-9]{3})(?:\((\d+)\))?-(\d+)$/.exec(path);
  if (!m) throw new Error(`bad field path ${path}`);
  return { seg: m[1]!, occurrence: Number(m[2] ?? '1'), field: Number(m[3]) };
}

const segmentsOf = (msg: string): string[] => msg.split('\r').filter((s) => s !== '');
const join = (segs: string[]): string => segs.map((s) => `${s}\r`).join('');

/** Index in `split('|')` of field n of a segment (MSH-1 is the separator itself). */
const indexOf = (seg: string, n: number): number => (seg === 'MSH' ? n - 1 : n);

/** Reads one field (raw ER7), '' when absent. */
export function get(msg: string, path: string): string {
  const { seg, occurrence, field } = locate(path);
  const found = segmentsOf(msg).filter((s) => s.startsWith(`${seg}|`))[occurrence - 1];
  if (found === undefined) throw new Error(`${path}: no such segment`);
  return found.split('|')[indexOf(seg, field)] ?? '';
}

/** Sets fields (raw ER7 values): `edit(A28_CREATE, { 'MSH-10': 'X1', 'PID-32': 'PROV' })`. */
export function edit(msg: string, fields: Record<string, string>): string {
  const segs = segmentsOf(msg);
  for (const [path, value] of Object.entries(fields)) {
    const { seg, occurrence, field } = locate(path);
    let seen = 0;
    const i = segs.findIndex((s) => s.startsWith(`${seg}|`) && ++seen === occurrence);
    if (i < 0) throw new Error(`${path}: no such segment`);
    const parts = segs[i]!.split('|');
    const k = indexOf(seg, field);
    while (parts.length <= k) parts.push('');
    parts[k] = value;
    let last = parts.length - 1;
    while (last > indexOf(seg, 2) && parts[last] === '') last--;
    segs[i] = parts.slice(0, last + 1).join('|');
  }
  return join(segs);
}

/** Removes every segment with that name. */
export const without = (msg: string, name: string): string => join(segmentsOf(msg).filter((s) => !s.startsWith(`${name}|`)));

/** Adds segments at the end. */
export const append = (msg: string, ...segments: string[]): string => msg + segments.map((s) => `${s}\r`).join('');

/** The MSH of a message with another event: `ADT^A31^ADT_A05` etc. */
export const event = (msg: string, msh9: string, controlId: string, time?: string): string =>
  edit(msg, { 'MSH-9': msh9, 'MSH-10': controlId, ...(time ? { 'MSH-7': time, 'EVN-2': time } : {}) });

/** What an ACK must say: MSA-1 and each ERR as [ERR-2 location, ERR-3 code (number), ERR-4 severity], in order. */
export interface AckExpectation {
  code: 'AA' | 'AE' | 'AR';
  errors?: Array<[string, number, 'E' | 'W']>;
}

/** ERR-3 text per 0357 code, as the ACK must carry it (HL7 v2.5 table 0357). */
const CODE_TEXT: Record<number, string> = {
  0: 'Message accepted', 100: 'Segment sequence error', 101: 'Required field missing', 102: 'Data type error',
  103: 'Table value not found', 200: 'Unsupported message type', 201: 'Unsupported event code', 203: 'Unsupported version id',
  204: 'Unknown key identifier', 205: 'Duplicate key identifier', 207: 'Application internal error',
};

/**
 * Asserts an ACK file against the inbound message (docs/behaviour.md "ACK files"): MSH-3..6 swapped, MSH-9
 * `ACK^<event>^ACK`, own MSH-10 (not the inbound one), MSH-12 and MSH-18 echoed, MSA-1 code, MSA-2 = inbound MSH-10,
 * exactly the expected ERR segments (ERR-3 `code^text^HL70357`). Returns the ERR-8 texts (human detail).
 */
export function expectAck(ack: Buffer | undefined, inbound: string, want: AckExpectation): string[] {
  expect(ack, `no ACK file for ${get(inbound, 'MSH-10')}`).toBeDefined();
  const segs = ackSegments(ack!);
  const [msh, msa, ...errs] = segs;
  expect(msh![0]).toBe('MSH');
  expect(msh!.slice(2, 6), 'MSH-3..6 = inbound MSH-5, MSH-6, MSH-3, MSH-4')
    .toEqual([get(inbound, 'MSH-5'), get(inbound, 'MSH-6'), get(inbound, 'MSH-3'), get(inbound, 'MSH-4')]);
  expect(msh![8], 'MSH-9').toBe(`ACK^${get(inbound, 'MSH-9').split('^')[1]}^ACK`);
  expect(msh![9], 'MSH-10 is our own').not.toBe(get(inbound, 'MSH-10'));
  expect(msh![9]).toMatch(/^\S+$/);
  expect(msh![11] ?? '', 'MSH-12 echoed').toBe(get(inbound, 'MSH-12'));
  expect(msh![17] ?? '', 'MSH-18 echoed').toBe(get(inbound, 'MSH-18'));
  expect(msa, 'MSA').toEqual(['MSA', want.code, get(inbound, 'MSH-10')]);
  expect(errs.every((e) => e[0] === 'ERR'), 'only ERR segments after MSA').toBe(true);
  expect(errs.map((e) => [e[2], e[3], e[4]]), 'ERR-2/3/4')
    .toEqual((want.errors ?? []).map(([loc, code, sev]) => [loc, `${code}^${CODE_TEXT[code]}^HL70357`, sev]));
  return errs.map((e) => e[8] ?? '');
}

/** MSH-10 of an ACK file. */
export const ackControlId = (ack: Buffer): string => ackSegments(ack)[0]![9]!;
