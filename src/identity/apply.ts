/**
 * Applies one interpreted PAM FR command (pam/types.ts) to the identity store through an IdentityRepo, following
 * the behaviour reference docs/behaviour.md (identity model, per event, INS rules, stale rule). A28/A31 and A47 are
 * here, A40 and A24/A37 in merge.ts.
 *
 * The store runs this in one atomic step per message and undoes it on `rejected` or on a throw; still, every
 * precondition is checked before the first write, so a rejected command has written nothing.
 *
 * Cost (BENCHMARKS.md): an A31 on a known patient is one lookup for all its PID-3 identifiers (which also reads the
 * patient row), one INS lookup when the message speaks about the INS, one UPDATE and one history INSERT; a creation
 * adds its identifiers with one multi-row INSERT.
 */
import { ErrorCode, type Finding } from '../hl7/errors.js';
import type { ChangeIdentifierCommand, ChangeInsCommand, PamCommand, UpsertCommand } from '../pam/types.js';
import { diffStates, emptyState, mergeState } from './state.js';
import { resolveAuthorities } from './authorities.js';
import { eraseFromChanges, eraseInsFromHistory, removedByDowngrade } from './erasure.js';
import { applyLink, applyMerge } from './merge.js';
import {
  distinctRows, err, freeIdentifiers, lengthFinding, MRG1, PID3, planIns, rejected, resolveAll, retiredFinding, sameKey,
  staleAgainst, staleOutcome, updateKnown, view, warn, writeIdentifiers, writeIns, type ApplyContext, type ApplyOutcome,
} from './rules.js';
import type { IdentityRepo } from './repo.js';
import type { FieldChange, PatientRow } from './types.js';

export type { ApplyContext, ApplyOutcome } from './rules.js';

// ---------------------------------------------------------------------------------------------------------
// A28 / A31

async function applyUpsert(repo: IdentityRepo, cmd: UpsertCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  if (cmd.identifiers.length === 0) return rejected(err(ErrorCode.RequiredFieldMissing, 'PID-3 carries no patient identifier', PID3));
  const tooLong = lengthFinding(cmd.header, cmd.data, cmd.identifiers, cmd.ins);
  if (tooLong) return rejected(tooLong);

  const res = await resolveAll(repo, cmd.identifiers);
  const rows = distinctRows(res);
  if (rows.length > 1) {
    const retired = res.find((r) => r.row && r.row.active === 0);
    if (retired) return rejected(await retiredFinding(repo, retired.row!, retired.id, PID3));
    return rejected(err(ErrorCode.DuplicateKey, 'PID-3 identifiers belong to different patient records', PID3));
  }

  if (rows.length === 0) {
    // Unknown patient: create (A31 carries the full identity).
    const planned = await planIns(repo, null, cmd.ins);
    if ('finding' in planned) return rejected(planned.finding);
    const state = mergeState(emptyState(), cmd.data);
    const id = await repo.createPatient(state, cmd.header.messageTime, ctx.now);
    const changes = diffStates(emptyState(), state);
    await writeIdentifiers(repo, id, res.map((r) => r.id), changes, ctx.now);
    await writeIns(repo, id, planned.plan, changes, ctx.now);
    await repo.insertHistory(id, cmd.header, changes, ctx.now);
    const warnings = cmd.event === 'A31' ? [warn(ErrorCode.UnknownKey, 'A31 for an unknown patient: created', PID3)] : [];
    return { kind: 'applied', patientId: id, created: true, changes, warnings };
  }

  const row = rows[0]!;
  if (staleAgainst(ctx, cmd.header, [row])) return staleOutcome(row);
  if (row.active === 0) {
    const r = res.find((x) => x.row !== undefined)!;
    return rejected(await retiredFinding(repo, row, r.id, PID3));
  }
  const planned = await planIns(repo, row.id, cmd.ins);
  if ('finding' in planned) return rejected(planned.finding);
  const add = res.filter((r) => !r.row).map((r) => r.id);
  const changes = await updateKnown(repo, row, cmd.data, add, planned.plan, [], cmd.header, ctx);
  const warnings = cmd.event === 'A28' ? [warn(ErrorCode.DuplicateKey, 'A28 for a known patient: applied as an update', PID3)] : [];
  return { kind: 'applied', patientId: row.id, created: false, changes, warnings };
}

// ---------------------------------------------------------------------------------------------------------
// A47 with an identifier in MRG-1

async function applyChangeId(repo: IdentityRepo, cmd: ChangeIdentifierCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  const tooLong = lengthFinding(cmd.header, cmd.data, [cmd.replacement, ...cmd.identifiers], cmd.ins);
  if (tooLong) return rejected(tooLong);

  const row = await repo.patientByIdentifier(cmd.old);
  if (!row) return rejected(err(ErrorCode.UnknownKey, 'MRG-1 identifier unknown', MRG1));
  if (staleAgainst(ctx, cmd.header, [row])) return staleOutcome(row);
  if (row.active === 0) return rejected(await retiredFinding(repo, row, cmd.old, MRG1));

  const renaming = !sameKey(cmd.old, cmd.replacement);
  let replacementOwned = false;
  if (renaming) {
    const owner = await repo.patientByIdentifier(cmd.replacement);
    if (owner && owner.id !== row.id) {
      if (owner.active === 0) return rejected(await retiredFinding(repo, owner, cmd.replacement, PID3));
      return rejected(err(ErrorCode.DuplicateKey,
        'replacement identifier already belongs to another patient record; merge the two records with A40', PID3));
    }
    replacementOwned = owner !== undefined;
  }
  // Other PID-3 identifiers (unchanged ones, new domains): must be free or already this record's.
  const others = cmd.identifiers.filter((i) => !sameKey(i, cmd.replacement) && !sameKey(i, cmd.old));
  const free = await freeIdentifiers(repo, await resolveAll(repo, others), row.id, PID3);
  if ('finding' in free) return rejected(free.finding);
  const planned = await planIns(repo, row.id, cmd.ins);
  if ('finding' in planned) return rejected(planned.finding);

  const extra: FieldChange[] = [];
  if (renaming) {
    if (replacementOwned) {
      // The record already holds the new identifier: the obsolete one simply goes.
      await repo.deleteIdentifier(cmd.old);
      extra.push({ field: 'identifier', before: view(cmd.old), after: null });
    } else {
      await repo.renameIdentifier(cmd.old, cmd.replacement);
      extra.push({ field: 'identifier', before: view(cmd.old), after: view(cmd.replacement) });
    }
  }
  const changes = await updateKnown(repo, row, cmd.data, free.add, planned.plan, extra, cmd.header, ctx);
  return { kind: 'applied', patientId: row.id, created: false, changes, warnings: [] };
}

// ---------------------------------------------------------------------------------------------------------
// A47 with an INS in MRG-1 (PAM FR §4.4)

async function applyChangeIns(repo: IdentityRepo, cmd: ChangeInsCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  const tooLong = lengthFinding(cmd.header, cmd.data, cmd.identifiers, cmd.ins);
  if (tooLong) return rejected(tooLong);

  let holder = await repo.insHeld(cmd.old.oid, cmd.old.value);
  if (!holder) {
    // Fall back to the value alone (a sender labelling the OID differently from the one stored).
    const byValue = await repo.insByValue(cmd.old.value);
    const owners = [...new Set(byValue.map((r) => r.patient_id))];
    if (owners.length > 1) return rejected(err(ErrorCode.DuplicateKey, 'MRG-1 INS matches several patient records', MRG1));
    holder = byValue[0];
  }
  let downgraded: Finding | undefined;
  let row: PatientRow;
  if (holder) {
    row = (await repo.patient(holder.patient_id))!;
  } else {
    // Held by nobody → AE 204 (PAM FR 2.11.2 §4.4.3), except after the fact: the PID-3 record's own history shows it held
    // exactly that INS until a downgrade (status no longer VALI) removed it, before the GAM's A47 arrived.
    const byPid = distinctRows(await resolveAll(repo, cmd.identifiers));
    const only = byPid.length === 1 && byPid[0]!.active === 1 ? byPid[0]! : undefined;
    if (!only || (await repo.insOf(only.id)).length > 0 || !(await removedByDowngrade(repo, only.id, cmd.old))) {
      return rejected(err(ErrorCode.UnknownKey, 'MRG-1 INS is held by no patient record', MRG1));
    }
    row = only;
    downgraded = warn(ErrorCode.UnknownKey, 'MRG-1 INS already removed (by a downgrade): message applied to the PID-3 record', MRG1);
  }
  if (staleAgainst(ctx, cmd.header, [row])) return staleOutcome(row);
  // INS rows exist only for active records (0001_init.ts); kept as a guard.
  if (row.active === 0) return rejected(err(ErrorCode.UnknownKey, 'MRG-1 INS belongs to a record retired by merge', MRG1));

  const free = await freeIdentifiers(repo, await resolveAll(repo, cmd.identifiers), row.id, PID3);
  if ('finding' in free) return rejected(free.finding);
  const planned = await planIns(repo, row.id, cmd.ins);
  if ('finding' in planned) return rejected(planned.finding);
  const changes = await updateKnown(repo, row, cmd.data, free.add, planned.plan, [], cmd.header, ctx);
  // An A47 that leaves the record without its INS deletes it, and its history with it (PAM FR 2.11.2 §4.4.3); a
  // replacement keeps the old value in history, like a downgrade does.
  const deleted = downgraded !== undefined || planned.plan.target?.length === 0;
  if (!deleted) return { kind: 'applied', patientId: row.id, created: false, changes, warnings: [] };
  const values = new Set([cmd.old.value, ...planned.plan.current.map((r) => r.value)]);
  await eraseInsFromHistory(repo, row.id, values);
  return { kind: 'applied', patientId: row.id, created: false, changes: eraseFromChanges(changes, values), warnings: downgraded ? [downgraded] : [] };
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Applies one command. Never throws for a business rule (those are `rejected` / `stale` outcomes); a throw means
 * a database failure, and the pipeline rolls the message's savepoint back.
 *
 * `warnings` holds the store's own findings only: the interpretation warnings of `cmd.warnings` are the
 * pipeline's to add to the ACK.
 */
export async function applyCommand(repo: IdentityRepo, cmd: PamCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  // Every identifier in its domain's stored spelling first (DTFR 1.8.2 N.1: one authority, several spellings).
  const resolved = await resolveAuthorities(repo, cmd, ctx.authorityAliases ?? {});
  if ('finding' in resolved) return rejected(resolved.finding);
  const out = await applyResolved(repo, resolved.command, ctx);
  if (out.kind === 'applied') await resolved.commit(repo, ctx.now);
  return out;
}

function applyResolved(repo: IdentityRepo, cmd: PamCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  switch (cmd.kind) {
    case 'upsert': return applyUpsert(repo, cmd, ctx);
    case 'change-id': return applyChangeId(repo, cmd, ctx);
    case 'change-ins': return applyChangeIns(repo, cmd, ctx);
    case 'merge': return applyMerge(repo, cmd, ctx);
    case 'link':
    case 'unlink': return applyLink(repo, cmd, ctx);
    default: {
      const never: never = cmd;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
}
