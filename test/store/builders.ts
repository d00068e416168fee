/**
 * Small builders for store tests: PAM commands as plain objects (the store must not depend on src/pam's parser).
 * Identifier authority and INS OIDs follow the §8 examples of test/fixtures/examples.ts (fictitious IPP OID,
 * test INS authority).
 */
import type {
  ChangeIdentifierCommand, ChangeInsCommand, Identifier, Ins, InsAction, LinkCommand, MergeCommand, MessageHeader,
  PatientData, PersonName, Address, UpsertCommand,
} from '../../src/pam/types.js';
import type { ApplyContext } from '../../src/store/apply.js';

export const IPP_OID = '1.2.250.1.999999.1';
export const NIR_OID = '1.2.250.1.213.1.4.8';
export const NIA_OID = '1.2.250.1.213.1.4.9';

/** An IPP (type PI) of the CHEX domain. */
export const ipp = (value: string, authority = 'CHEX', oid: string | null = IPP_OID): Identifier =>
  ({ value, authority, oid, type: 'PI' });

/** An INS-NIR. */
export const nir = (value: string, oid = NIR_OID): Ins => ({ value, oid, kind: 'NIR' });
/** An INS-NIA. */
export const nia = (value: string, oid = NIA_OID): Ins => ({ value, oid, kind: 'NIA' });

export const keep: InsAction = { action: 'keep' };
/** `set` of an INS; `beside`: an NIA sent beside the NIR. */
export const setIns = (ins: Ins, beside?: Ins): InsAction => (beside ? { action: 'set', ins, nia: beside } : { action: 'set', ins });
export const removeIns = (reason: 'not-qualified' | 'explicit-null' = 'not-qualified'): InsAction => ({ action: 'remove', reason });

/** MSH-7 as normalised by pam/time.ts: `YYYYMMDDHHMMSS.ssss`. */
export const t = (yyyymmddhhmm: string): string => `${yyyymmddhhmm}00.0000`;

let seq = 0;
/** A header with a fresh control id. */
export function header(event: string, messageTime: string | null = t('202503121015')): MessageHeader {
  return { sendingApp: 'GAM', sendingFacility: 'CHEX', controlId: `C${++seq}`, event, messageTime };
}

export const name = (family: string | null, given: string | null = null, givenNames: string | null = null): PersonName =>
  ({ family, given, givenNames, prefix: null });

export const address = (a: Partial<Address>): Address => ({
  street: null, other: null, city: null, state: null, zip: null, country: null, countyCode: null, ...a,
});

/** A qualified identity's data (L name, birth date, sex, BDL). */
export const traits = (family = 'CASANOVA', extra: PatientData = {}): PatientData => ({
  names: { L: name(family, 'MARIE', 'MARIE LAETITIA') },
  birthDate: '1985-03-17',
  sex: 'F',
  addresses: { BDL: address({ city: 'AJACCIO', country: 'FRA', countyCode: '2A004' }) },
  status: 'VALI',
  attributes: [],
  ...extra,
});

export const ctx = (over: Partial<ApplyContext> = {}): ApplyContext =>
  ({ now: '2025-03-12T10:15:00.000Z', staleUpdates: 'skip', ...over });

export function upsert(
  event: 'A28' | 'A31', identifiers: Identifier[], data: PatientData = {}, ins: InsAction = keep, time?: string | null,
): UpsertCommand {
  return { kind: 'upsert', event, header: header(event, time === undefined ? undefined : time), warnings: [], identifiers, data, ins };
}

/** `retiredInsDropped` null (default): the retired record's INS may move to the survivor. */
export function merge(
  survivor: Identifier[], retired: Identifier, data: PatientData = {}, ins: InsAction = keep, time?: string | null,
  retiredInsDropped: MergeCommand['retiredInsDropped'] = null,
): MergeCommand {
  return {
    kind: 'merge', event: 'A40', header: header('A40', time === undefined ? undefined : time), warnings: [], survivor, retired, data, ins,
    retiredInsDropped,
  };
}

export function changeId(
  old: Identifier, replacement: Identifier, others: Identifier[] = [], data: PatientData = {}, ins: InsAction = keep,
  time?: string | null,
): ChangeIdentifierCommand {
  return {
    kind: 'change-id', event: 'A47', header: header('A47', time === undefined ? undefined : time), warnings: [],
    old, replacement, identifiers: [replacement, ...others], data, ins,
  };
}

export function changeIns(
  old: { value: string; oid: string }, identifiers: Identifier[], ins: InsAction, data: PatientData = {}, time?: string | null,
): ChangeInsCommand {
  return { kind: 'change-ins', event: 'A47', header: header('A47', time === undefined ? undefined : time), warnings: [], old, identifiers, data, ins };
}

export function linkCmd(kind: 'link' | 'unlink', first: Identifier[], second: Identifier[], time?: string | null): LinkCommand {
  const event = kind === 'link' ? 'A24' : 'A37';
  return { kind, event, header: header(event, time === undefined ? undefined : time), warnings: [], first, second };
}
