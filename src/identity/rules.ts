/**
 * The shared steps of the identity rules (docs/behaviour.md: identity model, per event, INS rules, stale rule): findings,
 * resolving identifiers to records, planning INS changes, and writing a record's new state with its history row.
 * Every precondition is checked before the first write, so a rejected command has written nothing.
 *
 * Finding texts never carry names, birth dates or INS values: only rules, locations and, for an identifier retired
 * by a merge, the survivor's identifier (docs/behaviour.md "Per event": any later message addressing a retired
 * identifier).
 */
import { ErrorCode, Severity, type Finding, type Location } from '../hl7/errors.js';
import {
  authorityKey,
  type Identifier, type Ins, type InsAction, type MessageHeader, type PatientData,
} from '../pam/types.js';
import type { AuthorityAliases } from '../pam/authority.js';
import { decodeState, diffStates, laterTime, mergeState } from './state.js';
import type { IdentityRepo } from './repo.js';
import type { FieldChange, IdentifierView, InsRow, PatientRow, PatientState } from './types.js';

/** What the pipeline passes with each command. */
export interface ApplyContext {
  /** ISO-8601 time of the run, for created_at / updated_at / recorded_at. */
  now: string;
  /** A message older than the last one applied to the patient is skipped, unless 'apply' (docs/behaviour.md). */
  staleUpdates: 'skip' | 'apply';
  /** Namespace aliases (config `pam.authorityAliases`): CX-4.1 `OLD` matched as `NEW`. */
  authorityAliases?: AuthorityAliases;
}

/** Result of applying one command. */
export type ApplyOutcome =
  | { kind: 'applied'; patientId: number; created: boolean; changes: FieldChange[]; warnings: Finding[] }
  | { kind: 'stale'; patientId: number; warnings: Finding[] }
  /** At least one finding of severity E: the ACK is AE. Nothing was written. */
  | { kind: 'rejected'; findings: Finding[] };

// ---------------------------------------------------------------------------------------------------------
// Findings

export const PID3: Location = { segment: 'PID', field: 3 };
export const MRG1: Location = { segment: 'MRG', field: 1 };

export const err = (code: ErrorCode, text: string, location?: Location): Finding =>
  ({ code, severity: Severity.Error, text, ...(location ? { location } : {}) });
export const warn = (code: ErrorCode, text: string, location?: Location): Finding =>
  ({ code, severity: Severity.Warning, text, ...(location ? { location } : {}) });
export const rejected = (f: Finding): ApplyOutcome => ({ kind: 'rejected', findings: [f] });

export const STALE_TEXT = 'stale: older than the last update applied to this patient; not applied';
export const INS_COLLISION_TEXT = 'INS already held by another patient record (identity collision); not applied';

export const view = (i: Identifier): IdentifierView => ({ value: i.value, authority: i.authority, oid: i.oid, type: i.type });
export const insView = (rows: ReadonlyArray<Pick<InsRow, 'value' | 'oid' | 'kind'>>): unknown =>
  rows.length === 0 ? null
    : rows.length === 1 ? { value: rows[0]!.value, oid: rows[0]!.oid, kind: rows[0]!.kind }
      : rows.map((r) => ({ value: r.value, oid: r.oid, kind: r.kind }));
export const sameKey = (a: Identifier, b: Identifier): boolean =>
  a.value === b.value && a.type === b.type && authorityKey(a) === authorityKey(b);
export const sameIns = (a: { oid: string; value: string }, b: { oid: string; value: string }): boolean =>
  a.oid === b.oid && a.value === b.value;

/**
 * AE 204 for an identifier that resolves to a record retired by a merge: the text names an identifier of the
 * surviving record (same authority and type as the one addressed when it has one, else its first PI).
 */
export async function retiredFinding(repo: IdentityRepo, retired: PatientRow, addressed: Identifier, location: Location): Promise<Finding> {
  const survivor = await finalSurvivor(repo, retired);
  const ids = survivor.id === retired.id ? [] : await repo.identifiersOf(survivor.id);
  const pick = ids.find((i) => i.auth_key === authorityKey(addressed) && i.type === addressed.type)
    ?? ids.find((i) => i.type === 'PI') ?? ids[0];
  return err(ErrorCode.UnknownKey, pick
    ? `identifier retired by merge; use ${pick.value}^^^${pick.authority !== '' ? pick.authority : (pick.oid ?? '')}`
    : 'identifier retired by merge', location);
}

/**
 * The record at the end of a merge chain. retirePatient re-points earlier merges, so this is one hop in practice;
 * the loop (bounded) also copes with data written otherwise.
 */
export async function finalSurvivor(repo: IdentityRepo, row: PatientRow): Promise<PatientRow> {
  let cur = row;
  for (let hops = 0; hops < 32 && cur.active === 0 && cur.merged_into !== null; hops++) {
    const next = await repo.patient(cur.merged_into);
    if (!next) break;
    cur = next;
  }
  return cur;
}

/** The stale guard: the first record whose last applied message is strictly newer than this one. */
export function staleAgainst(ctx: ApplyContext, header: MessageHeader, rows: ReadonlyArray<PatientRow | undefined>): PatientRow | undefined {
  const t = header.messageTime;
  if (ctx.staleUpdates === 'apply' || t === null) return undefined;
  return rows.find((r): r is PatientRow => r !== undefined && r.last_message_time !== null && t < r.last_message_time);
}
export const staleOutcome = (row: PatientRow): ApplyOutcome =>
  ({ kind: 'stale', patientId: row.id, warnings: [warn(ErrorCode.Accepted, STALE_TEXT)] });

/**
 * Column limits that PostgreSQL enforces and SQLite does not (0001_init.ts): checked up front so that both
 * databases answer the same AE 102 instead of PostgreSQL failing mid-message.
 */
export function lengthFinding(header: MessageHeader, data: PatientData | undefined, ids: readonly Identifier[], ins: InsAction | undefined): Finding | undefined {
  const checks: Array<[unknown, number, string, Location]> = [
    [header.event, 8, 'trigger event', { segment: 'MSH', field: 9, component: 2 }],
    [header.messageTime, 24, 'message time', { segment: 'MSH', field: 7 }],
  ];
  if (data) {
    checks.push(
      [data.status, 16, 'identity status', { segment: 'PID', field: 32 }],
      [data.sex, 4, 'sex', { segment: 'PID', field: 8 }],
      [data.birthDate, 10, 'birth date', { segment: 'PID', field: 7 }],
      [data.addresses?.BDL?.countyCode, 8, 'birthplace code', { segment: 'PID', field: 11, component: 9 }],
    );
  }
  for (const id of ids) checks.push([id.type, 16, 'identifier type', { segment: 'PID', field: 3, component: 5 }]);
  if (ins?.action === 'set') {
    for (const i of ins.nia ? [ins.ins, ins.nia] : [ins.ins]) {
      checks.push([i.value, 15, 'INS', PID3], [i.oid, 64, 'INS authority', PID3], [i.kind, 3, 'INS kind', PID3]);
    }
  }
  for (const [v, max, what, location] of checks) {
    if (typeof v === 'string' && v.length > max) return err(ErrorCode.DataType, `${what} longer than ${max} characters`, location);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Resolution and planning (reads only)

export interface Resolved { id: Identifier; row: PatientRow | undefined }

/** Resolves each identifier, dropping repeated ones (one statement for all of them). */
export async function resolveAll(repo: IdentityRepo, ids: readonly Identifier[]): Promise<Resolved[]> {
  const distinct: Identifier[] = [];
  for (const id of ids) if (!distinct.some((d) => sameKey(d, id))) distinct.push(id);
  const rows = await repo.patientsByIdentifiers(distinct);
  return distinct.map((id, i) => ({ id, row: rows[i] }));
}

/** Distinct records among resolutions, in the order met. */
export function distinctRows(res: readonly Resolved[]): PatientRow[] {
  const out: PatientRow[] = [];
  for (const r of res) if (r.row && !out.some((o) => o.id === r.row!.id)) out.push(r.row);
  return out;
}

/**
 * Checks that identifiers to be attached to record `ownerId` are free: one held by another record is AE 205 (or
 * AE 204 naming the survivor when that record is retired). Returns the ones to add.
 */
export async function freeIdentifiers(
  repo: IdentityRepo, res: readonly Resolved[], ownerId: number, location: Location,
): Promise<{ add: Identifier[] } | { finding: Finding }> {
  const add: Identifier[] = [];
  for (const r of res) {
    if (!r.row) add.push(r.id);
    else if (r.row.id !== ownerId) {
      if (r.row.active === 0) return { finding: await retiredFinding(repo, r.row, r.id, location) };
      return { finding: err(ErrorCode.DuplicateKey, 'identifier already belongs to another patient record', location) };
    }
  }
  return { add };
}

/** What to do with a record's INS rows: `target` null leaves them as they are. */
export interface InsPlan { current: InsRow[]; target: Ins[] | null }

/** The record's INS among its rows: the NIR when there is one (an NIA may be kept beside it), else the first. */
export const primaryIns = <T extends Pick<InsRow, 'kind'>>(rows: readonly T[]): T | undefined => rows.find((r) => r.kind === 'NIR') ?? rows[0];

/** True when two lists of INS rows hold the same INS (value, OID, kind), in any order. */
export const sameInsRows = (a: ReadonlyArray<Pick<InsRow, 'value' | 'oid' | 'kind'>>, b: ReadonlyArray<Pick<InsRow, 'value' | 'oid' | 'kind'>>): boolean =>
  a.length === b.length && a.every((x) => b.some((y) => sameIns(x, y) && x.kind === y.kind));

/**
 * The INS rows a record ends with after `set`: the INS, then the NIA sent beside it, or else an NIA the record
 * already kept beside an NIR (docs/behaviour.md "Qualified identity (INS)": the NIA stays an identifier of the record).
 */
export function setTarget(action: Extract<InsAction, { action: 'set' }>, current: readonly InsRow[]): Ins[] {
  const target: Ins[] = [action.ins];
  if (action.nia) target.push(action.nia);
  else if (action.ins.kind === 'NIR') {
    for (const r of current) if (r.kind === 'NIA' && !sameIns(r, action.ins)) target.push({ value: r.value, oid: r.oid, kind: r.kind });
  }
  return target;
}

/**
 * Plans an InsAction for `patientId` (null: a record about to be created). `set` of an INS (or of the NIA sent beside
 * it) held by another record is the identity collision AE 205 (docs/behaviour.md "Qualified identity (INS)").
 */
export async function planIns(repo: IdentityRepo, patientId: number | null, action: InsAction): Promise<{ plan: InsPlan } | { finding: Finding }> {
  switch (action.action) {
    case 'keep':
      return { plan: { current: [], target: null } };
    case 'set': {
      const rows = await repo.insWithHolder(patientId, action.ins);
      const owner = rows.find((r) => sameIns(r, action.ins));
      if (owner && owner.patient_id !== patientId) {
        return { finding: err(ErrorCode.DuplicateKey, INS_COLLISION_TEXT, PID3) };
      }
      if (action.nia) {
        // One more lookup, only when an NIA comes beside the NIR (rare: the NIA → NIR transition, PAM FR §4.4.1).
        const niaOwner = await repo.insHeld(action.nia.oid, action.nia.value);
        if (niaOwner && niaOwner.patient_id !== patientId) return { finding: err(ErrorCode.DuplicateKey, INS_COLLISION_TEXT, PID3) };
      }
      const current = rows.filter((r) => r.patient_id === patientId);
      const target = setTarget(action, current);
      return { plan: { current, target: sameInsRows(current, target) ? null : target } };
    }
    case 'remove': {
      const current = patientId === null ? [] : await repo.insOf(patientId);
      return { plan: { current, target: current.length === 0 ? null : [] } };
    }
    default: {
      const never: never = action;
      throw new Error(`unknown INS action ${JSON.stringify(never)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writes

/** Applies an INS plan and records it as one 'ins' change. */
export async function writeIns(repo: IdentityRepo, patientId: number, plan: InsPlan, changes: FieldChange[], now: string): Promise<void> {
  if (plan.target === null) return;
  if (plan.target.length === 0) await repo.removeIns(patientId);
  else {
    if (plan.current.length === 0) await repo.addIns(patientId, plan.target[0]!, now);
    else await repo.setIns(patientId, plan.target[0]!, now);
    for (const more of plan.target.slice(1)) await repo.addIns(patientId, more, now);
  }
  changes.push({ field: 'ins', before: insView(plan.current), after: insView(plan.target) });
}

/** Attaches identifiers and records each as an 'identifier' change. */
export async function writeIdentifiers(repo: IdentityRepo, patientId: number, ids: readonly Identifier[], changes: FieldChange[], now: string): Promise<void> {
  // One multi-row INSERT: the message's savepoint makes it all-or-nothing either way.
  await repo.addIdentifiers(patientId, ids, now);
  for (const id of ids) changes.push({ field: 'identifier', before: null, after: view(id) });
}

/**
 * Writes the new state of an existing record (one UPDATE, skipped when neither the data nor the stale-guard time
 * change) and its history row (skipped when nothing changed).
 */
export async function writeRecord(
  repo: IdentityRepo, row: PatientRow, after: PatientState, changes: readonly FieldChange[], header: MessageHeader, ctx: ApplyContext,
): Promise<void> {
  const last = laterTime(row.last_message_time, header.messageTime);
  const dataChanged = changes.length > 0;
  if (dataChanged || last !== row.last_message_time) {
    await repo.updatePatient(row.id, after, last, dataChanged ? ctx.now : row.updated_at);
  }
  if (dataChanged) await repo.insertHistory(row.id, header, changes, ctx.now);
}

/**
 * The common "apply PID data to a known, active record" step: data field by field, identifiers to add, INS plan.
 * `extra` changes (identifier renames, merge facts) come first in the history row.
 */
export async function updateKnown(
  repo: IdentityRepo, row: PatientRow, data: PatientData, add: readonly Identifier[], ins: InsPlan, extra: FieldChange[],
  header: MessageHeader, ctx: ApplyContext,
): Promise<FieldChange[]> {
  const before = decodeState(row);
  const after = mergeState(before, data);
  const changes = [...extra, ...diffStates(before, after)];
  await writeIdentifiers(repo, row.id, add, changes, ctx.now);
  await writeIns(repo, row.id, ins, changes, ctx.now);
  await writeRecord(repo, row, after, changes, header, ctx);
  return changes;
}

