/**
 * A40 (merge) and A24 / A37 (link, unlink) against an IdentityRepo (docs/behaviour.md "Per event").
 */
import { ErrorCode, type Finding, type Location } from '../hl7/errors.js';
import { authorityKey, type Identifier, type LinkCommand, type MergeCommand } from '../pam/types.js';
import { decodeState, emptyState, laterTime } from './state.js';
import { link, moveLinks, unlink } from './links.js';
import {
  distinctRows, err, finalSurvivor, INS_COLLISION_TEXT, insView, lengthFinding, MRG1, PID3, planIns, primaryIns, rejected,
  resolveAll, retiredFinding, sameIns, sameInsRows, setTarget, staleAgainst, staleOutcome, updateKnown, view, warn,
  writeRecord, type ApplyContext, type ApplyOutcome, type InsPlan, type Resolved,
} from './rules.js';
import type { IdentityRepo } from './repo.js';
import type { FieldChange, IdentifierView, PatientRow } from './types.js';

// ---------------------------------------------------------------------------------------------------------
// A40

export async function applyMerge(repo: IdentityRepo, cmd: MergeCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  if (cmd.survivor.length === 0) return rejected(err(ErrorCode.RequiredFieldMissing, 'PID-3 carries no patient identifier', PID3));
  const tooLong = lengthFinding(cmd.header, cmd.data, cmd.survivor, cmd.ins);
  if (tooLong) return rejected(tooLong);

  const sRes = await resolveAll(repo, cmd.survivor);
  const sRows = distinctRows(sRes);
  const retired = await repo.patientByIdentifier(cmd.retired);
  if (sRows.length > 1) {
    const r = sRes.find((x) => x.row && x.row.active === 0);
    if (r) return rejected(await retiredFinding(repo, r.row!, r.id, PID3));
    return rejected(err(ErrorCode.DuplicateKey, 'PID-3 identifiers belong to different patient records', PID3));
  }
  const survivor = sRows[0];
  if (!survivor && !retired) {
    return rejected(err(ErrorCode.UnknownKey, 'neither PID-3 nor MRG-1 identifies a known patient record', MRG1));
  }
  const stale = staleAgainst(ctx, cmd.header, [survivor, retired]);
  if (stale) return staleOutcome(stale);

  if (!survivor) return mergeIntoUnknownSurvivor(repo, cmd, ctx, retired!, sRes);

  if (survivor.active === 0) {
    return rejected(await retiredFinding(repo, survivor, sRes.find((r) => r.row)!.id, PID3));
  }
  let nothingToMerge: Finding | undefined;
  if (!retired) {
    nothingToMerge = warn(ErrorCode.UnknownKey, 'MRG-1 identifier unknown: recorded as a retired alias of the PID-3 record; PID data applied', MRG1);
  } else if (retired.id === survivor.id) {
    nothingToMerge = warn(ErrorCode.Accepted, 'MRG-1 already identifies the PID-3 record: nothing to merge', MRG1);
  } else if (retired.active === 0) {
    if ((await finalSurvivor(repo, retired)).id !== survivor.id) return rejected(await retiredFinding(repo, retired, cmd.retired, MRG1));
    nothingToMerge = warn(ErrorCode.Accepted, 'MRG-1 already merged into the PID-3 record: nothing to merge', MRG1);
  }

  const add = sRes.filter((r) => !r.row).map((r) => r.id);
  if (nothingToMerge) {
    const planned = await planIns(repo, survivor.id, cmd.ins);
    if ('finding' in planned) return rejected(planned.finding);
    const extra: FieldChange[] = [];
    if (!retired) {
      // A40, retired unknown, survivor known (docs/behaviour.md "Per event"): an inactive record holding the
      // MRG-1 identifier, merged into the survivor, so later messages on it are answered AE 204 naming the survivor.
      const aliasId = await repo.createPatient(emptyState(), cmd.header.messageTime, ctx.now);
      await repo.addIdentifiers(aliasId, [cmd.retired], ctx.now);
      await repo.retirePatient(aliasId, survivor.id, cmd.header.messageTime, ctx.now);
      await repo.insertHistory(aliasId, cmd.header, [
        { field: 'identifier', before: null, after: view(cmd.retired) },
        { field: 'active', before: true, after: false },
        { field: 'mergedInto', before: null, after: view(cmd.survivor[0]!) },
      ], ctx.now);
      extra.push({ field: 'mergedFrom', before: null, after: view(cmd.retired) });
    }
    const changes = await updateKnown(repo, survivor, cmd.data, add, planned.plan, extra, cmd.header, ctx);
    return { kind: 'applied', patientId: survivor.id, created: false, changes, warnings: [nothingToMerge] };
  }
  return mergeRecords(repo, cmd, ctx, survivor, retired!, add);
}

/** A40, both records known and active: retire MRG-1 into PID-3. */
async function mergeRecords(
  repo: IdentityRepo, cmd: MergeCommand, ctx: ApplyContext, survivor: PatientRow, retired: PatientRow, add: Identifier[],
): Promise<ApplyOutcome> {
  const sIns = await repo.insOf(survivor.id);
  const rIns = await repo.insOf(retired.id);
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
      const owner = await repo.insHeld(i.oid, i.value);
      if (owner && owner.patient_id !== survivor.id && owner.patient_id !== retired.id) {
        return rejected(err(ErrorCode.DuplicateKey, INS_COLLISION_TEXT, PID3));
      }
    }
  }

  // Retired record: inactive, pointing at the survivor; its identifiers stay attached so they resolve to it.
  const last = laterTime(retired.last_message_time, cmd.header.messageTime);
  await repo.retirePatient(retired.id, survivor.id, last, ctx.now);
  const rChanges: FieldChange[] = [
    { field: 'active', before: true, after: false },
    { field: 'mergedInto', before: null, after: view(cmd.survivor[0]!) },
  ];
  if (rIns.length > 0) {
    await repo.removeIns(retired.id);
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
  for (const moved of await moveLinks(repo, retired.id, survivor.id, ctx.now)) {
    const otherView = await anyIdentifierView(repo, moved.other);
    rChanges.push({ field: 'link', before: otherView, after: null });
    // A link between the two merged records themselves disappears.
    if (moved.other === survivor.id) sExtra.push({ field: 'link', before: view(cmd.retired), after: null });
    else if (moved.added) sExtra.push({ field: 'link', before: null, after: otherView });
    if (moved.other !== survivor.id) {
      await repo.insertHistory(moved.other, cmd.header, [{
        field: 'link', before: view(cmd.retired), after: moved.added ? view(cmd.survivor[0]!) : null,
      }], ctx.now);
    }
  }
  await repo.insertHistory(retired.id, cmd.header, rChanges, ctx.now);
  const changes = await updateKnown(repo, survivor, cmd.data, add, insPlan, sExtra, cmd.header, ctx);
  return { kind: 'applied', patientId: survivor.id, created: false, changes, warnings };
}

/** A40 whose survivor is unknown: the retired record takes the PID-3 identifiers (like A47) and the PID data. */
async function mergeIntoUnknownSurvivor(
  repo: IdentityRepo, cmd: MergeCommand, ctx: ApplyContext, row: PatientRow, sRes: Resolved[],
): Promise<ApplyOutcome> {
  if (row.active === 0) return rejected(await retiredFinding(repo, row, cmd.retired, MRG1));
  // The record is the retired one: its INS stays only on the terms an INS moving to a survivor would
  // (docs/behaviour.md "Per event", A40).
  const keepsOwn = cmd.ins.action !== 'keep' || cmd.retiredInsDropped === null;
  const planned = await planIns(repo, row.id, keepsOwn ? cmd.ins : { action: 'remove', reason: 'not-qualified' });
  if ('finding' in planned) return rejected(planned.finding);
  const warnings = planned.plan.target?.length === 0 && cmd.ins.action !== 'set' ? [...(cmd.retiredInsDropped ?? [])] : [];
  // The PID-3 identifier of MRG-1's domain and type replaces it; the others are added.
  const heir = sRes.find((r) => authorityKey(r.id) === authorityKey(cmd.retired) && r.id.type === cmd.retired.type);
  const extra: FieldChange[] = [];
  if (heir) {
    await repo.renameIdentifier(cmd.retired, heir.id);
    extra.push({ field: 'identifier', before: view(cmd.retired), after: view(heir.id) });
  }
  const add = sRes.filter((r) => r !== heir).map((r) => r.id);
  const changes = await updateKnown(repo, row, cmd.data, add, planned.plan, extra, cmd.header, ctx);
  return { kind: 'applied', patientId: row.id, created: false, changes, warnings };
}

/** A PI identifier of a record (else its first one), for history entries about another record. */
async function anyIdentifierView(repo: IdentityRepo, patientId: number): Promise<IdentifierView | null> {
  const ids = await repo.identifiersOf(patientId);
  const pick = ids.find((i) => i.type === 'PI') ?? ids[0];
  return pick ? { value: pick.value, authority: pick.authority, oid: pick.oid, type: pick.type } : null;
}

// ---------------------------------------------------------------------------------------------------------
// A24 / A37

/** Resolves one PID of a link message to a single record (possibly retired: the caller decides). */
async function resolveOne(repo: IdentityRepo, ids: readonly Identifier[], location: Location): Promise<{ res: Resolved; row: PatientRow } | { finding: Finding }> {
  if (ids.length === 0) return { finding: err(ErrorCode.RequiredFieldMissing, 'PID-3 carries no patient identifier', location) };
  const res = await resolveAll(repo, ids);
  const rows = distinctRows(res);
  if (rows.length === 0) return { finding: err(ErrorCode.UnknownKey, 'PID-3 identifies no known patient record', location) };
  if (rows.length > 1) {
    const r = res.find((x) => x.row && x.row.active === 0);
    if (r) return { finding: await retiredFinding(repo, r.row!, r.id, location) };
    return { finding: err(ErrorCode.DuplicateKey, 'PID-3 identifiers belong to different patient records', location) };
  }
  return { res: res.find((r) => r.row)!, row: rows[0]! };
}

export async function applyLink(repo: IdentityRepo, cmd: LinkCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  const tooLong = lengthFinding(cmd.header, undefined, [...cmd.first, ...cmd.second], undefined);
  if (tooLong) return rejected(tooLong);
  const locA: Location = { segment: 'PID', sequence: 1, field: 3 };
  const locB: Location = { segment: 'PID', sequence: 2, field: 3 };
  const a = await resolveOne(repo, cmd.first, locA);
  if ('finding' in a) return rejected(a.finding);
  const b = await resolveOne(repo, cmd.second, locB);
  if ('finding' in b) return rejected(b.finding);
  const stale = staleAgainst(ctx, cmd.header, [a.row, b.row]);
  if (stale) return staleOutcome(stale);
  if (a.row.active === 0) return rejected(await retiredFinding(repo, a.row, a.res.id, locA));
  if (b.row.active === 0) return rejected(await retiredFinding(repo, b.row, b.res.id, locB));
  if (a.row.id === b.row.id) return rejected(err(ErrorCode.DuplicateKey, 'both PID segments identify the same patient record', locB));

  const done = cmd.kind === 'link' ? await link(repo, a.row.id, b.row.id, ctx.now) : await unlink(repo, a.row.id, b.row.id);
  const aView = view(a.res.id);
  const bView = view(b.res.id);
  const aChanges: FieldChange[] = done
    ? [{ field: 'link', before: cmd.kind === 'link' ? null : bView, after: cmd.kind === 'link' ? bView : null }] : [];
  const bChanges: FieldChange[] = done
    ? [{ field: 'link', before: cmd.kind === 'link' ? null : aView, after: cmd.kind === 'link' ? aView : null }] : [];
  await writeRecord(repo, a.row, decodeState(a.row), aChanges, cmd.header, ctx);
  await writeRecord(repo, b.row, decodeState(b.row), bChanges, cmd.header, ctx);
  const warnings = done ? [] : [warn(ErrorCode.Accepted,
    cmd.kind === 'link' ? 'records already linked: nothing to do' : 'records were not linked: nothing to do', locB)];
  return { kind: 'applied', patientId: a.row.id, created: false, changes: aChanges, warnings };
}

