/**
 * Applies one interpreted PAM FR command (src/pam/types.ts) to the identity store, following
 * the behaviour reference docs/behaviour.md (identity model, per event, INS rules, stale rule).
 *
 * The pipeline runs this inside one savepoint per message and rolls it back on `rejected` or on a throw; still,
 * every precondition is checked before the first write, so a rejected command has written nothing.
 *
 * Cost (BENCHMARKS.md): an A31 on a known patient is one query for all its PID-3 identifiers (which
 * also reads the patient row), one INS query when the message speaks about the INS, one UPDATE and one history
 * INSERT; a creation adds its identifiers with one multi-row INSERT.
 *
 * Finding texts never carry names, birth dates or INS values: only rules, locations and, for an identifier retired
 * by a merge, the survivor's identifier (docs/behaviour.md "Per event": any later message addressing a retired
 * identifier).
 */
import type { Tx } from './tx.js';
import {
  ErrorCode, Severity, type Finding, type Location,
} from '../hl7/errors.js';
import {
  authorityKey,
  type ChangeIdentifierCommand, type ChangeInsCommand, type Identifier, type Ins, type InsAction, type LinkCommand,
  type MergeCommand, type MessageHeader, type PamCommand, type PatientData, type UpsertCommand,
} from '../pam/types.js';
import {
  addIdentifier, addIdentifiers, addIns, createPatient, decodeState, deleteIdentifier, diffStates, emptyState, findIns, findInsByValue,
  findPatientByIdentifier, findPatientsByIdentifiers, getPatientRow, insertHistory, laterTime, link, listIdentifiers, listIns, listInsWithOwner,
  mergeState, moveLinks, removeIns, renameIdentifier, retirePatient, setIns, unlink, updatePatient,
  type FieldChange, type IdentifierView, type InsRow, type PatientRow, type PatientState,
} from './identity.js';
import { resolveAuthorities } from './authorities.js';
import type { AuthorityAliases } from '../pam/authority.js';
import { eraseFromChanges, eraseInsFromHistory, removedByDowngrade } from './ins-erasure.js';

export type { FieldChange } from './identity.js';

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

const PID3: Location = { segment: 'PID', field: 3 };
const MRG1: Location = { segment: 'MRG', field: 1 };

const err = (code: ErrorCode, text: string, location?: Location): Finding =>
  ({ code, severity: Severity.Error, text, ...(location ? { location } : {}) });
const warn = (code: ErrorCode, text: string, location?: Location): Finding =>
  ({ code, severity: Severity.Warning, text, ...(location ? { location } : {}) });
const rejected = (f: Finding): ApplyOutcome => ({ kind: 'rejected', findings: [f] });

const STALE_TEXT = 'stale: older than the last update applied to this patient; not applied';
const INS_COLLISION_TEXT = 'INS already held by another patient record (identity collision); not applied';

const view = (i: Identifier): IdentifierView => ({ value: i.value, authority: i.authority, oid: i.oid, type: i.type });
const insView = (rows: ReadonlyArray<Pick<InsRow, 'value' | 'oid' | 'kind'>>): unknown =>
  rows.length === 0 ? null
    : rows.length === 1 ? { value: rows[0]!.value, oid: rows[0]!.oid, kind: rows[0]!.kind }
      : rows.map((r) => ({ value: r.value, oid: r.oid, kind: r.kind }));
const sameKey = (a: Identifier, b: Identifier): boolean =>
  a.value === b.value && a.type === b.type && authorityKey(a) === authorityKey(b);
const sameIns = (a: { oid: string; value: string }, b: { oid: string; value: string }): boolean =>
  a.oid === b.oid && a.value === b.value;

/**
 * AE 204 for an identifier that resolves to a record retired by a merge: the text names an identifier of the
 * surviving record (same authority and type as the one addressed when it has one, else its first PI).
 */
async function retiredFinding(tx: Tx, retired: PatientRow, addressed: Identifier, location: Location): Promise<Finding> {
  const survivor = await finalSurvivor(tx, retired);
  const ids = survivor.id === retired.id ? [] : await listIdentifiers(tx, survivor.id);
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
async function finalSurvivor(tx: Tx, row: PatientRow): Promise<PatientRow> {
  let cur = row;
  for (let hops = 0; hops < 32 && cur.active === 0 && cur.merged_into !== null; hops++) {
    const next = await getPatientRow(tx, cur.merged_into);
    if (!next) break;
    cur = next;
  }
  return cur;
}

/** The stale guard: the first record whose last applied message is strictly newer than this one. */
function staleAgainst(ctx: ApplyContext, header: MessageHeader, rows: ReadonlyArray<PatientRow | undefined>): PatientRow | undefined {
  const t = header.messageTime;
  if (ctx.staleUpdates === 'apply' || t === null) return undefined;
  return rows.find((r): r is PatientRow => r !== undefined && r.last_message_time !== null && t < r.last_message_time);
}
const staleOutcome = (row: PatientRow): ApplyOutcome =>
  ({ kind: 'stale', patientId: row.id, warnings: [warn(ErrorCode.Accepted, STALE_TEXT)] });

/**
 * Column limits that PostgreSQL enforces and SQLite does not (0001_init.ts): checked up front so that both
 * databases answer the same AE 102 instead of PostgreSQL failing mid-message.
 */
function lengthFinding(header: MessageHeader, data: PatientData | undefined, ids: readonly Identifier[], ins: InsAction | undefined): Finding | undefined {
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

interface Resolved { id: Identifier; row: PatientRow | undefined }

/** Resolves each identifier, dropping repeated ones (one statement for all of them). */
async function resolveAll(tx: Tx, ids: readonly Identifier[]): Promise<Resolved[]> {
  const distinct: Identifier[] = [];
  for (const id of ids) if (!distinct.some((d) => sameKey(d, id))) distinct.push(id);
  const rows = await findPatientsByIdentifiers(tx, distinct);
  return distinct.map((id, i) => ({ id, row: rows[i] }));
}

/** Distinct records among resolutions, in the order met. */
function distinctRows(res: readonly Resolved[]): PatientRow[] {
  const out: PatientRow[] = [];
  for (const r of res) if (r.row && !out.some((o) => o.id === r.row!.id)) out.push(r.row);
  return out;
}

/**
 * Checks that identifiers to be attached to record `ownerId` are free: one held by another record is AE 205 (or
 * AE 204 naming the survivor when that record is retired). Returns the ones to add.
 */
async function freeIdentifiers(
  tx: Tx, res: readonly Resolved[], ownerId: number, location: Location,
): Promise<{ add: Identifier[] } | { finding: Finding }> {
  const add: Identifier[] = [];
  for (const r of res) {
    if (!r.row) add.push(r.id);
    else if (r.row.id !== ownerId) {
      if (r.row.active === 0) return { finding: await retiredFinding(tx, r.row, r.id, location) };
      return { finding: err(ErrorCode.DuplicateKey, 'identifier already belongs to another patient record', location) };
    }
  }
  return { add };
}

/** What to do with a record's INS rows: `target` null leaves them as they are. */
interface InsPlan { current: InsRow[]; target: Ins[] | null }

/** The record's INS among its rows: the NIR when there is one (an NIA may be kept beside it), else the first. */
const primaryIns = <T extends Pick<InsRow, 'kind'>>(rows: readonly T[]): T | undefined => rows.find((r) => r.kind === 'NIR') ?? rows[0];

/** True when two lists of INS rows hold the same INS (value, OID, kind), in any order. */
const sameInsRows = (a: ReadonlyArray<Pick<InsRow, 'value' | 'oid' | 'kind'>>, b: ReadonlyArray<Pick<InsRow, 'value' | 'oid' | 'kind'>>): boolean =>
  a.length === b.length && a.every((x) => b.some((y) => sameIns(x, y) && x.kind === y.kind));

/**
 * The INS rows a record ends with after `set`: the INS, then the NIA sent beside it, or else an NIA the record
 * already kept beside an NIR (docs/behaviour.md "Qualified identity (INS)": the NIA stays an identifier of the record).
 */
function setTarget(action: Extract<InsAction, { action: 'set' }>, current: readonly InsRow[]): Ins[] {
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
async function planIns(tx: Tx, patientId: number | null, action: InsAction): Promise<{ plan: InsPlan } | { finding: Finding }> {
  switch (action.action) {
    case 'keep':
      return { plan: { current: [], target: null } };
    case 'set': {
      const rows = await listInsWithOwner(tx, patientId, action.ins);
      const owner = rows.find((r) => sameIns(r, action.ins));
      if (owner && owner.patient_id !== patientId) {
        return { finding: err(ErrorCode.DuplicateKey, INS_COLLISION_TEXT, PID3) };
      }
      if (action.nia) {
        // One more lookup, only when an NIA comes beside the NIR (rare: the NIA → NIR transition, PAM FR §4.4.1).
        const niaOwner = await findIns(tx, action.nia.oid, action.nia.value);
        if (niaOwner && niaOwner.patient_id !== patientId) return { finding: err(ErrorCode.DuplicateKey, INS_COLLISION_TEXT, PID3) };
      }
      const current = rows.filter((r) => r.patient_id === patientId);
      const target = setTarget(action, current);
      return { plan: { current, target: sameInsRows(current, target) ? null : target } };
    }
    case 'remove': {
      const current = patientId === null ? [] : await listIns(tx, patientId);
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
async function writeIns(tx: Tx, patientId: number, plan: InsPlan, changes: FieldChange[], now: string): Promise<void> {
  if (plan.target === null) return;
  if (plan.target.length === 0) await removeIns(tx, patientId);
  else {
    if (plan.current.length === 0) await addIns(tx, patientId, plan.target[0]!, now);
    else await setIns(tx, patientId, plan.target[0]!, now);
    for (const more of plan.target.slice(1)) await addIns(tx, patientId, more, now);
  }
  changes.push({ field: 'ins', before: insView(plan.current), after: insView(plan.target) });
}

/** Attaches identifiers and records each as an 'identifier' change. */
async function writeIdentifiers(tx: Tx, patientId: number, ids: readonly Identifier[], changes: FieldChange[], now: string): Promise<void> {
  // One multi-row INSERT: the message's savepoint makes it all-or-nothing either way.
  await addIdentifiers(tx, patientId, ids, now);
  for (const id of ids) changes.push({ field: 'identifier', before: null, after: view(id) });
}

/**
 * Writes the new state of an existing record (one UPDATE, skipped when neither the data nor the stale-guard time
 * change) and its history row (skipped when nothing changed).
 */
async function writeRecord(
  tx: Tx, row: PatientRow, after: PatientState, changes: readonly FieldChange[], header: MessageHeader, ctx: ApplyContext,
): Promise<void> {
  const last = laterTime(row.last_message_time, header.messageTime);
  const dataChanged = changes.length > 0;
  if (dataChanged || last !== row.last_message_time) {
    await updatePatient(tx, row.id, after, last, dataChanged ? ctx.now : row.updated_at);
  }
  if (dataChanged) await insertHistory(tx, row.id, header, changes, ctx.now);
}

/**
 * The common "apply PID data to a known, active record" step: data field by field, identifiers to add, INS plan.
 * `extra` changes (identifier renames, merge facts) come first in the history row.
 */
async function updateKnown(
  tx: Tx, row: PatientRow, data: PatientData, add: readonly Identifier[], ins: InsPlan, extra: FieldChange[],
  header: MessageHeader, ctx: ApplyContext,
): Promise<FieldChange[]> {
  const before = decodeState(row);
  const after = mergeState(before, data);
  const changes = [...extra, ...diffStates(before, after)];
  await writeIdentifiers(tx, row.id, add, changes, ctx.now);
  await writeIns(tx, row.id, ins, changes, ctx.now);
  await writeRecord(tx, row, after, changes, header, ctx);
  return changes;
}

// ---------------------------------------------------------------------------------------------------------
// A28 / A31

async function applyUpsert(tx: Tx, cmd: UpsertCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  if (cmd.identifiers.length === 0) return rejected(err(ErrorCode.RequiredFieldMissing, 'PID-3 carries no patient identifier', PID3));
  const tooLong = lengthFinding(cmd.header, cmd.data, cmd.identifiers, cmd.ins);
  if (tooLong) return rejected(tooLong);

  const res = await resolveAll(tx, cmd.identifiers);
  const rows = distinctRows(res);
  if (rows.length > 1) {
    const retired = res.find((r) => r.row && r.row.active === 0);
    if (retired) return rejected(await retiredFinding(tx, retired.row!, retired.id, PID3));
    return rejected(err(ErrorCode.DuplicateKey, 'PID-3 identifiers belong to different patient records', PID3));
  }

  if (rows.length === 0) {
    // Unknown patient: create (A31 carries the full identity).
    const planned = await planIns(tx, null, cmd.ins);
    if ('finding' in planned) return rejected(planned.finding);
    const state = mergeState(emptyState(), cmd.data);
    const id = await createPatient(tx, state, cmd.header.messageTime, ctx.now);
    const changes = diffStates(emptyState(), state);
    await writeIdentifiers(tx, id, res.map((r) => r.id), changes, ctx.now);
    await writeIns(tx, id, planned.plan, changes, ctx.now);
    await insertHistory(tx, id, cmd.header, changes, ctx.now);
    const warnings = cmd.event === 'A31' ? [warn(ErrorCode.UnknownKey, 'A31 for an unknown patient: created', PID3)] : [];
    return { kind: 'applied', patientId: id, created: true, changes, warnings };
  }

  const row = rows[0]!;
  if (staleAgainst(ctx, cmd.header, [row])) return staleOutcome(row);
  if (row.active === 0) {
    const r = res.find((x) => x.row !== undefined)!;
    return rejected(await retiredFinding(tx, row, r.id, PID3));
  }
  const planned = await planIns(tx, row.id, cmd.ins);
  if ('finding' in planned) return rejected(planned.finding);
  const add = res.filter((r) => !r.row).map((r) => r.id);
  const changes = await updateKnown(tx, row, cmd.data, add, planned.plan, [], cmd.header, ctx);
  const warnings = cmd.event === 'A28' ? [warn(ErrorCode.DuplicateKey, 'A28 for a known patient: applied as an update', PID3)] : [];
  return { kind: 'applied', patientId: row.id, created: false, changes, warnings };
}

// ---------------------------------------------------------------------------------------------------------
// A47 with an identifier in MRG-1

async function applyChangeId(tx: Tx, cmd: ChangeIdentifierCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  const tooLong = lengthFinding(cmd.header, cmd.data, [cmd.replacement, ...cmd.identifiers], cmd.ins);
  if (tooLong) return rejected(tooLong);

  const row = await findPatientByIdentifier(tx, cmd.old);
  if (!row) return rejected(err(ErrorCode.UnknownKey, 'MRG-1 identifier unknown', MRG1));
  if (staleAgainst(ctx, cmd.header, [row])) return staleOutcome(row);
  if (row.active === 0) return rejected(await retiredFinding(tx, row, cmd.old, MRG1));

  const renaming = !sameKey(cmd.old, cmd.replacement);
  let replacementOwned = false;
  if (renaming) {
    const owner = await findPatientByIdentifier(tx, cmd.replacement);
    if (owner && owner.id !== row.id) {
      if (owner.active === 0) return rejected(await retiredFinding(tx, owner, cmd.replacement, PID3));
      return rejected(err(ErrorCode.DuplicateKey,
        'replacement identifier already belongs to another patient record; merge the two records with A40', PID3));
    }
    replacementOwned = owner !== undefined;
  }
  // Other PID-3 identifiers (unchanged ones, new domains): must be free or already this record's.
  const others = cmd.identifiers.filter((i) => !sameKey(i, cmd.replacement) && !sameKey(i, cmd.old));
  const free = await freeIdentifiers(tx, await resolveAll(tx, others), row.id, PID3);
  if ('finding' in free) return rejected(free.finding);
  const planned = await planIns(tx, row.id, cmd.ins);
  if ('finding' in planned) return rejected(planned.finding);

  const extra: FieldChange[] = [];
  if (renaming) {
    if (replacementOwned) {
      // The record already holds the new identifier: the obsolete one simply goes.
      await deleteIdentifier(tx, cmd.old);
      extra.push({ field: 'identifier', before: view(cmd.old), after: null });
    } else {
      await renameIdentifier(tx, cmd.old, cmd.replacement);
      extra.push({ field: 'identifier', before: view(cmd.old), after: view(cmd.replacement) });
    }
  }
  const changes = await updateKnown(tx, row, cmd.data, free.add, planned.plan, extra, cmd.header, ctx);
  return { kind: 'applied', patientId: row.id, created: false, changes, warnings: [] };
}

// ---------------------------------------------------------------------------------------------------------
// A47 with an INS in MRG-1 (PAM FR §4.4)

async function applyChangeIns(tx: Tx, cmd: ChangeInsCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  const tooLong = lengthFinding(cmd.header, cmd.data, cmd.identifiers, cmd.ins);
  if (tooLong) return rejected(tooLong);

  let holder = await findIns(tx, cmd.old.oid, cmd.old.value);
  if (!holder) {
    // Fall back to the value alone (a sender labelling the OID differently from the one stored).
    const byValue = await findInsByValue(tx, cmd.old.value);
    const owners = [...new Set(byValue.map((r) => r.patient_id))];
    if (owners.length > 1) return rejected(err(ErrorCode.DuplicateKey, 'MRG-1 INS matches several patient records', MRG1));
    holder = byValue[0];
  }
  let downgraded: Finding | undefined;
  let row: PatientRow;
  if (holder) {
    row = (await getPatientRow(tx, holder.patient_id))!;
  } else {
    // Held by nobody → AE 204 (PAM FR 2.11.2 §4.4.3), except after the fact: the PID-3 record's own history shows it held
    // exactly that INS until a downgrade (status no longer VALI) removed it, before the GAM's A47 arrived.
    const byPid = distinctRows(await resolveAll(tx, cmd.identifiers));
    const only = byPid.length === 1 && byPid[0]!.active === 1 ? byPid[0]! : undefined;
    if (!only || (await listIns(tx, only.id)).length > 0 || !(await removedByDowngrade(tx, only.id, cmd.old))) {
      return rejected(err(ErrorCode.UnknownKey, 'MRG-1 INS is held by no patient record', MRG1));
    }
    row = only;
    downgraded = warn(ErrorCode.UnknownKey, 'MRG-1 INS already removed (by a downgrade): message applied to the PID-3 record', MRG1);
  }
  if (staleAgainst(ctx, cmd.header, [row])) return staleOutcome(row);
  // INS rows exist only for active records (0001_init.ts); kept as a guard.
  if (row.active === 0) return rejected(err(ErrorCode.UnknownKey, 'MRG-1 INS belongs to a record retired by merge', MRG1));

  const free = await freeIdentifiers(tx, await resolveAll(tx, cmd.identifiers), row.id, PID3);
  if ('finding' in free) return rejected(free.finding);
  const planned = await planIns(tx, row.id, cmd.ins);
  if ('finding' in planned) return rejected(planned.finding);
  const changes = await updateKnown(tx, row, cmd.data, free.add, planned.plan, [], cmd.header, ctx);
  // An A47 that leaves the record without its INS deletes it, and its history with it (PAM FR 2.11.2 §4.4.3); a
  // replacement keeps the old value in history, like a downgrade does.
  const deleted = downgraded !== undefined || planned.plan.target?.length === 0;
  if (!deleted) return { kind: 'applied', patientId: row.id, created: false, changes, warnings: [] };
  const values = new Set([cmd.old.value, ...planned.plan.current.map((r) => r.value)]);
  await eraseInsFromHistory(tx, row.id, values);
  return { kind: 'applied', patientId: row.id, created: false, changes: eraseFromChanges(changes, values), warnings: downgraded ? [downgraded] : [] };
}

// ---------------------------------------------------------------------------------------------------------
// A40

async function applyMerge(tx: Tx, cmd: MergeCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  if (cmd.survivor.length === 0) return rejected(err(ErrorCode.RequiredFieldMissing, 'PID-3 carries no patient identifier', PID3));
  const tooLong = lengthFinding(cmd.header, cmd.data, cmd.survivor, cmd.ins);
  if (tooLong) return rejected(tooLong);

  const sRes = await resolveAll(tx, cmd.survivor);
  const sRows = distinctRows(sRes);
  const retired = await findPatientByIdentifier(tx, cmd.retired);
  if (sRows.length > 1) {
    const r = sRes.find((x) => x.row && x.row.active === 0);
    if (r) return rejected(await retiredFinding(tx, r.row!, r.id, PID3));
    return rejected(err(ErrorCode.DuplicateKey, 'PID-3 identifiers belong to different patient records', PID3));
  }
  const survivor = sRows[0];
  if (!survivor && !retired) {
    return rejected(err(ErrorCode.UnknownKey, 'neither PID-3 nor MRG-1 identifies a known patient record', MRG1));
  }
  const stale = staleAgainst(ctx, cmd.header, [survivor, retired]);
  if (stale) return staleOutcome(stale);

  if (!survivor) return mergeIntoUnknownSurvivor(tx, cmd, ctx, retired!, sRes);

  if (survivor.active === 0) {
    return rejected(await retiredFinding(tx, survivor, sRes.find((r) => r.row)!.id, PID3));
  }
  let nothingToMerge: Finding | undefined;
  if (!retired) {
    nothingToMerge = warn(ErrorCode.UnknownKey, 'MRG-1 identifier unknown: recorded as a retired alias of the PID-3 record; PID data applied', MRG1);
  } else if (retired.id === survivor.id) {
    nothingToMerge = warn(ErrorCode.Accepted, 'MRG-1 already identifies the PID-3 record: nothing to merge', MRG1);
  } else if (retired.active === 0) {
    if ((await finalSurvivor(tx, retired)).id !== survivor.id) return rejected(await retiredFinding(tx, retired, cmd.retired, MRG1));
    nothingToMerge = warn(ErrorCode.Accepted, 'MRG-1 already merged into the PID-3 record: nothing to merge', MRG1);
  }

  const add = sRes.filter((r) => !r.row).map((r) => r.id);
  if (nothingToMerge) {
    const planned = await planIns(tx, survivor.id, cmd.ins);
    if ('finding' in planned) return rejected(planned.finding);
    const extra: FieldChange[] = [];
    if (!retired) {
      // A40, retired unknown, survivor known (docs/behaviour.md "Per event"): an inactive record holding the
      // MRG-1 identifier, merged into the survivor, so later messages on it are answered AE 204 naming the survivor.
      const aliasId = await createPatient(tx, emptyState(), cmd.header.messageTime, ctx.now);
      await addIdentifier(tx, aliasId, cmd.retired, ctx.now);
      await retirePatient(tx, aliasId, survivor.id, cmd.header.messageTime, ctx.now);
      await insertHistory(tx, aliasId, cmd.header, [
        { field: 'identifier', before: null, after: view(cmd.retired) },
        { field: 'active', before: true, after: false },
        { field: 'mergedInto', before: null, after: view(cmd.survivor[0]!) },
      ], ctx.now);
      extra.push({ field: 'mergedFrom', before: null, after: view(cmd.retired) });
    }
    const changes = await updateKnown(tx, survivor, cmd.data, add, planned.plan, extra, cmd.header, ctx);
    return { kind: 'applied', patientId: survivor.id, created: false, changes, warnings: [nothingToMerge] };
  }
  return mergeRecords(tx, cmd, ctx, survivor, retired!, add);
}

/** A40, both records known and active: retire MRG-1 into PID-3. */
async function mergeRecords(
  tx: Tx, cmd: MergeCommand, ctx: ApplyContext, survivor: PatientRow, retired: PatientRow, add: Identifier[],
): Promise<ApplyOutcome> {
  const sIns = await listIns(tx, survivor.id);
  const rIns = await listIns(tx, retired.id);
  // Two records with different INS are two people: identity-vigilance alert, nothing merged (docs/behaviour.md "Per
  // event", A40).
  const rPrimary = primaryIns(rIns);
  const effective = cmd.ins.action === 'set' ? cmd.ins.ins : primaryIns(sIns);
  if (rPrimary && effective && !sameIns(rPrimary, effective)) {
    return rejected(err(ErrorCode.DuplicateKey,
      'PID-3 and MRG-1 records hold different INS: identity-vigilance check required; not merged', MRG1));
  }
  if (cmd.ins.action === 'set') {
    for (const i of cmd.ins.nia ? [cmd.ins.ins, cmd.ins.nia] : [cmd.ins.ins]) {
      const owner = await findIns(tx, i.oid, i.value);
      if (owner && owner.patient_id !== survivor.id && owner.patient_id !== retired.id) {
        return rejected(err(ErrorCode.DuplicateKey, INS_COLLISION_TEXT, PID3));
      }
    }
  }

  // Retired record: inactive, pointing at the survivor; its identifiers stay attached so they resolve to it.
  const last = laterTime(retired.last_message_time, cmd.header.messageTime);
  await retirePatient(tx, retired.id, survivor.id, last, ctx.now);
  const rChanges: FieldChange[] = [
    { field: 'active', before: true, after: false },
    { field: 'mergedInto', before: null, after: view(cmd.survivor[0]!) },
  ];
  if (rIns.length > 0) {
    await removeIns(tx, retired.id);
    rChanges.push({ field: 'ins', before: insView(rIns), after: null });
  }

  // Survivor INS: the message decides when it speaks. The retired record's INS moves over only onto a survivor that
  // ends qualified with it (docs/behaviour.md "Per event", A40); otherwise it is dropped with the command's W 101.
  const mayMove = cmd.retiredInsDropped === null;
  const warnings: Finding[] = [];
  let insPlan: InsPlan;
  if (cmd.ins.action === 'set') {
    // The retired record's NIA kept beside its NIR comes along when the INS itself does.
    const carried = mayMove ? rIns.filter((r) => r.kind === 'NIA' && !sIns.some((x) => sameIns(x, r))) : [];
    const target = setTarget(cmd.ins, [...sIns, ...carried]);
    insPlan = { current: sIns, target: sameInsRows(sIns, target) ? null : target };
  } else if (cmd.ins.action === 'remove') {
    insPlan = { current: sIns, target: sIns.length === 0 ? null : [] };
  } else {
    const moved = mayMove && sIns.length === 0 && rIns.length > 0;
    insPlan = { current: sIns, target: moved ? rIns.map((r) => ({ value: r.value, oid: r.oid, kind: r.kind })) : null };
  }
  const survivorGets = insPlan.target ?? sIns;
  if (rPrimary && !survivorGets.some((i) => sameIns(i, rPrimary))) warnings.push(...(cmd.retiredInsDropped ?? []));

  const sExtra: FieldChange[] = [{ field: 'mergedFrom', before: null, after: view(cmd.retired) }];
  for (const moved of await moveLinks(tx, retired.id, survivor.id, ctx.now)) {
    const otherView = await anyIdentifierView(tx, moved.other);
    rChanges.push({ field: 'link', before: otherView, after: null });
    // A link between the two merged records themselves disappears.
    if (moved.other === survivor.id) sExtra.push({ field: 'link', before: view(cmd.retired), after: null });
    else if (moved.added) sExtra.push({ field: 'link', before: null, after: otherView });
    if (moved.other !== survivor.id) {
      await insertHistory(tx, moved.other, cmd.header, [{
        field: 'link', before: view(cmd.retired), after: moved.added ? view(cmd.survivor[0]!) : null,
      }], ctx.now);
    }
  }
  await insertHistory(tx, retired.id, cmd.header, rChanges, ctx.now);
  const changes = await updateKnown(tx, survivor, cmd.data, add, insPlan, sExtra, cmd.header, ctx);
  return { kind: 'applied', patientId: survivor.id, created: false, changes, warnings };
}

/** A40 whose survivor is unknown: the retired record takes the PID-3 identifiers (like A47) and the PID data. */
async function mergeIntoUnknownSurvivor(
  tx: Tx, cmd: MergeCommand, ctx: ApplyContext, row: PatientRow, sRes: Resolved[],
): Promise<ApplyOutcome> {
  if (row.active === 0) return rejected(await retiredFinding(tx, row, cmd.retired, MRG1));
  // The record is the retired one: its INS stays only on the terms an INS moving to a survivor would
  // (docs/behaviour.md "Per event", A40).
  const keepsOwn = cmd.ins.action !== 'keep' || cmd.retiredInsDropped === null;
  const planned = await planIns(tx, row.id, keepsOwn ? cmd.ins : { action: 'remove', reason: 'not-qualified' });
  if ('finding' in planned) return rejected(planned.finding);
  const warnings = planned.plan.target?.length === 0 && cmd.ins.action !== 'set' ? [...(cmd.retiredInsDropped ?? [])] : [];
  // The PID-3 identifier of MRG-1's domain and type replaces it; the others are added.
  const heir = sRes.find((r) => authorityKey(r.id) === authorityKey(cmd.retired) && r.id.type === cmd.retired.type);
  const extra: FieldChange[] = [];
  if (heir) {
    await renameIdentifier(tx, cmd.retired, heir.id);
    extra.push({ field: 'identifier', before: view(cmd.retired), after: view(heir.id) });
  }
  const add = sRes.filter((r) => r !== heir).map((r) => r.id);
  const changes = await updateKnown(tx, row, cmd.data, add, planned.plan, extra, cmd.header, ctx);
  return { kind: 'applied', patientId: row.id, created: false, changes, warnings };
}

/** A PI identifier of a record (else its first one), for history entries about another record. */
async function anyIdentifierView(tx: Tx, patientId: number): Promise<IdentifierView | null> {
  const ids = await listIdentifiers(tx, patientId);
  const pick = ids.find((i) => i.type === 'PI') ?? ids[0];
  return pick ? { value: pick.value, authority: pick.authority, oid: pick.oid, type: pick.type } : null;
}

// ---------------------------------------------------------------------------------------------------------
// A24 / A37

/** Resolves one PID of a link message to a single record (possibly retired: the caller decides). */
async function resolveOne(tx: Tx, ids: readonly Identifier[], location: Location): Promise<{ res: Resolved; row: PatientRow } | { finding: Finding }> {
  if (ids.length === 0) return { finding: err(ErrorCode.RequiredFieldMissing, 'PID-3 carries no patient identifier', location) };
  const res = await resolveAll(tx, ids);
  const rows = distinctRows(res);
  if (rows.length === 0) return { finding: err(ErrorCode.UnknownKey, 'PID-3 identifies no known patient record', location) };
  if (rows.length > 1) {
    const r = res.find((x) => x.row && x.row.active === 0);
    if (r) return { finding: await retiredFinding(tx, r.row!, r.id, location) };
    return { finding: err(ErrorCode.DuplicateKey, 'PID-3 identifiers belong to different patient records', location) };
  }
  return { res: res.find((r) => r.row)!, row: rows[0]! };
}

async function applyLink(tx: Tx, cmd: LinkCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  const tooLong = lengthFinding(cmd.header, undefined, [...cmd.first, ...cmd.second], undefined);
  if (tooLong) return rejected(tooLong);
  const locA: Location = { segment: 'PID', sequence: 1, field: 3 };
  const locB: Location = { segment: 'PID', sequence: 2, field: 3 };
  const a = await resolveOne(tx, cmd.first, locA);
  if ('finding' in a) return rejected(a.finding);
  const b = await resolveOne(tx, cmd.second, locB);
  if ('finding' in b) return rejected(b.finding);
  const stale = staleAgainst(ctx, cmd.header, [a.row, b.row]);
  if (stale) return staleOutcome(stale);
  if (a.row.active === 0) return rejected(await retiredFinding(tx, a.row, a.res.id, locA));
  if (b.row.active === 0) return rejected(await retiredFinding(tx, b.row, b.res.id, locB));
  if (a.row.id === b.row.id) return rejected(err(ErrorCode.DuplicateKey, 'both PID segments identify the same patient record', locB));

  const done = cmd.kind === 'link' ? await link(tx, a.row.id, b.row.id, ctx.now) : await unlink(tx, a.row.id, b.row.id);
  const aView = view(a.res.id);
  const bView = view(b.res.id);
  const aChanges: FieldChange[] = done
    ? [{ field: 'link', before: cmd.kind === 'link' ? null : bView, after: cmd.kind === 'link' ? bView : null }] : [];
  const bChanges: FieldChange[] = done
    ? [{ field: 'link', before: cmd.kind === 'link' ? null : aView, after: cmd.kind === 'link' ? aView : null }] : [];
  await writeRecord(tx, a.row, decodeState(a.row), aChanges, cmd.header, ctx);
  await writeRecord(tx, b.row, decodeState(b.row), bChanges, cmd.header, ctx);
  const warnings = done ? [] : [warn(ErrorCode.Accepted,
    cmd.kind === 'link' ? 'records already linked: nothing to do' : 'records were not linked: nothing to do', locB)];
  return { kind: 'applied', patientId: a.row.id, created: false, changes: aChanges, warnings };
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Applies one command. Never throws for a business rule (those are `rejected` / `stale` outcomes); a throw means
 * a database failure, and the pipeline rolls the message's savepoint back.
 *
 * `warnings` holds the store's own findings only: the interpretation warnings of `cmd.warnings` are the
 * pipeline's to add to the ACK.
 */
export async function applyCommand(tx: Tx, cmd: PamCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  // Every identifier in its domain's stored spelling first (DTFR 1.8.2 N.1: one authority, several spellings).
  const resolved = await resolveAuthorities(tx, cmd, ctx.authorityAliases ?? {});
  if ('finding' in resolved) return rejected(resolved.finding);
  const out = await applyResolved(tx, resolved.command, ctx);
  if (out.kind === 'applied') await resolved.commit(tx, ctx.now);
  return out;
}

function applyResolved(tx: Tx, cmd: PamCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  switch (cmd.kind) {
    case 'upsert': return applyUpsert(tx, cmd, ctx);
    case 'change-id': return applyChangeId(tx, cmd, ctx);
    case 'change-ins': return applyChangeIns(tx, cmd, ctx);
    case 'merge': return applyMerge(tx, cmd, ctx);
    case 'link':
    case 'unlink': return applyLink(tx, cmd, ctx);
    default: {
      const never: never = cmd;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
}
