/**
 * Interpretation of one parsed ITI-30 message into a PamCommand (types.ts), following docs/behaviour.md.
 * Order: header → acceptance (AR) → control characters in any field (AE 102, hl7/controls.ts) → required segments
 * (AE 100) → identifiers, INS syntax and data types (AE 101/102, every error reported at once) → INS action and
 * warnings → the command of the event.
 * Pure and allocation-light: it runs once per message in the import loop.
 */
import { controlCharacterFinding } from '../hl7/controls.js';
import { ErrorCode, Severity, type Finding, type Location } from '../hl7/errors.js';
import type { Hl7Message, Hl7Segment } from '../hl7/model.js';
import { acceptanceOf } from './acceptance.js';
import { extractPatientData, readCxField, type BirthplaceOut, type CxEntry, type FindingSink } from './extract.js';
import { insCoherence, type InsEnvironment } from './ins.js';
import { parseHl7Time } from './time.js';
import { sameAuthority, type AuthorityAliases } from './authority.js';
import {
  type Identifier,
  type Ins,
  type InsAction,
  type Interpretation,
  type MessageHeader,
  type PamOptions,
  type PatientData,
} from './types.js';

/** Status meaning "validated" in PID-32 (after the status map); with an INS it means qualified (PAM FR §6.6.1). */
export const VALIDATED_STATUS = 'VALI';
/** Attributes that forbid using the INS even with VALI (docs/behaviour.md "Qualified identity (INS)"). */
const DISQUALIFYING_ATTRIBUTES = ['FICT', 'DOUT'] as const;

/** Reads the header facts; never fails (absent values are ''). */
export function readHeader(msg: Hl7Message): MessageHeader {
  const msh = msg.msh;
  return {
    sendingApp: msh.get(3, 1),
    sendingFacility: msh.get(4, 1),
    controlId: msh.get(10),
    event: msh.get(9, 2),
    messageTime: parseHl7Time(msh.get(7, 1)),
  };
}

function segLabel(seg: { name: string; occurrence: number }): string {
  return seg.occurrence > 1 ? `${seg.name}(${seg.occurrence})` : seg.name;
}

function at(seg: Hl7Segment, field: number, repetition?: number, component?: number): Location {
  const l: Location = { segment: seg.name, sequence: seg.occurrence, field };
  if (repetition !== undefined) l.repetition = repetition;
  if (component !== undefined) l.component = component;
  return l;
}

function rep(seg: Hl7Segment, field: number, repetition: number): string {
  return repetition > 1 ? `${segLabel(seg)}-${field}[${repetition}]` : `${segLabel(seg)}-${field}`;
}

function error(code: ErrorCode, location: Location, text: string): Finding {
  return { code, severity: Severity.Error, location, text };
}

function warning(code: ErrorCode, location: Location, text: string): Finding {
  return { code, severity: Severity.Warning, location, text };
}

function sameIdentifier(a: Identifier, b: Identifier, aliases: AuthorityAliases): boolean {
  return a.value === b.value && a.type === b.type && sameAuthority(a, b, aliases);
}

const ENV_TEXT: Record<InsEnvironment, string> = { production: 'production', test: 'test', demo: 'demonstration' };

/** Identifiers and INS found in the PID-3 of one PID segment. */
interface PidIdentity {
  /** Non-INS identifiers, IPP (`PI`) first, then message order. */
  ids: Identifier[];
  nir?: { ins: Ins; repetition: number };
  nia?: { ins: Ins; repetition: number };
  explicitNull: boolean;
  /**
   * INS with a wrong key or a malformed value. Whether each is an error or a warning depends on PID-32, read later
   * (settleBadIns); `errorAt` / `warningAt` keep the place the finding takes among the others.
   */
  bad: Array<{ finding: Finding; errorAt: number; warningAt: number }>;
}

/**
 * Sorts the PID-3 repetitions. INS with a bad key / malformed value → kept aside for settleBadIns;
 * test/demo INS without acceptTestIns → ignored with W 103; two different INS of the same kind → AE 102.
 * @param checkIns false for A24/A37, where INS play no part and are skipped.
 */
function readPidIdentity(pid: Hl7Segment, msg: Hl7Message, options: PamOptions, sink: FindingSink, checkIns: boolean): PidIdentity {
  const out: PidIdentity = { ids: [], explicitNull: false, bad: [] };
  const others: Identifier[] = [];
  for (const e of readCxField(pid, 3, msg.separators)) {
    const cx = e.cx;
    const n = e.repetition;
    switch (cx.kind) {
      case 'identifier':
        if (cx.id.value === '' || cx.id.value === '""') {
          sink.warnings.push(warning(ErrorCode.DataType, at(pid, 3, n, 1), `${rep(pid, 3, n)}: identifier without a value ignored`));
        } else if (cx.id.type === 'PI') out.ids.push(cx.id);
        else others.push(cx.id);
        break;
      case 'ins': {
        if (!checkIns) break;
        if (cx.environment !== 'production' && !options.acceptTestIns) {
          sink.warnings.push(warning(ErrorCode.TableValueNotFound, at(pid, 3, n),
            `${rep(pid, 3, n)}: INS with a ${ENV_TEXT[cx.environment]} authority ignored (test INS are not accepted)`));
          break;
        }
        if (cx.problem !== null) {
          out.bad.push({
            finding: error(ErrorCode.DataType, at(pid, 3, n, 1), cx.problem === 'key'
              ? `${rep(pid, 3, n)}: INS-${cx.ins.kind} key check failed`
              : `${rep(pid, 3, n)}: INS-${cx.ins.kind} malformed (15 characters: 13 digits, 2A/2B allowed for Corsica, then a 2-digit key)`),
            errorAt: sink.errors.length,
            warningAt: sink.warnings.length,
          });
          break;
        }
        const slot = cx.ins.kind === 'NIR' ? 'nir' : 'nia';
        const prev = out[slot];
        if (prev === undefined) out[slot] = { ins: cx.ins, repetition: n };
        else if (prev.ins.value !== cx.ins.value) {
          sink.errors.push(error(ErrorCode.DataType, at(pid, 3, n, 1),
            `${rep(pid, 3, n)}: a second INS-${cx.ins.kind} with a different value; one INS per kind is allowed`));
        }
        break;
      }
      case 'ins-null':
        if (!checkIns) break;
        if (cx.environment !== 'production' && !options.acceptTestIns) {
          sink.warnings.push(warning(ErrorCode.TableValueNotFound, at(pid, 3, n),
            `${rep(pid, 3, n)}: INS deletion with a ${ENV_TEXT[cx.environment]} authority ignored (test INS are not accepted)`));
        } else out.explicitNull = true;
        break;
      case 'ins-unknown-authority':
        if (!checkIns) break;
        sink.warnings.push(warning(ErrorCode.TableValueNotFound, at(pid, 3, n, 4),
          `${rep(pid, 3, n)}: identifier of type INS whose authority is not an INS OID ignored`));
        break;
      default:
        cx satisfies never;
    }
  }
  for (const id of others) out.ids.push(id);
  if (out.ids.length === 0) {
    sink.errors.push(error(ErrorCode.RequiredFieldMissing, at(pid, 3),
      `${segLabel(pid)}-3: at least one patient identifier other than the INS (IPP) is required`));
  }
  return out;
}

/** True when PID-32 claims a qualified identity: VALI (after the status map) and no FICT / DOUT attribute. */
function claimsQualified(data: PatientData): boolean {
  const attrs = data.attributes;
  return data.status === VALIDATED_STATUS
    && !(attrs && (attrs.includes(DISQUALIFYING_ATTRIBUTES[0]) || attrs.includes(DISQUALIFYING_ATTRIBUTES[1])));
}

/**
 * An INS with a wrong key or a malformed value (PAM FR §6.6.15, docs/behaviour.md "Qualified identity (INS)"): with a
 * qualified claim the sender claims what it cannot have → AE 102; otherwise the identity is integrated without that
 * INS → W 102 at the same place. Findings are put back where readPidIdentity met them, so that the order is the
 * message's.
 */
function settleBadIns(identity: PidIdentity, qualifiedClaim: boolean, sink: FindingSink): void {
  for (let i = identity.bad.length - 1; i >= 0; i--) {
    const b = identity.bad[i]!;
    if (qualifiedClaim) sink.errors.splice(b.errorAt, 0, b.finding);
    else sink.warnings.splice(b.warningAt, 0, { ...b.finding, severity: Severity.Warning, text: `${b.finding.text}; INS not integrated` });
  }
}

/** The strict INS traits (DTFR 1.8.2 XPN-1/XPN-2, PAM FR §6.6.4/6.6.5, DTFR XAD-9) a qualified identity needs. */
const STRICT_TRAITS: ReadonlyArray<{ field: number; what: string; present: (d: PatientData) => boolean }> = [
  { field: 5, what: 'birth name (PID-5 name type L, XPN-1)', present: (d) => !!d.names?.L?.family },
  { field: 5, what: 'first given name (PID-5 name type L, XPN-2)', present: (d) => !!d.names?.L?.given },
  { field: 7, what: 'birth date at day precision (YYYYMMDD)', present: (d) => typeof d.birthDate === 'string' && d.birthDate.length === 10 },
  { field: 8, what: 'sex M or F', present: (d) => d.sex === 'M' || d.sex === 'F' },
  { field: 11, what: 'birthplace code (PID-11 address type BDL, XAD-9)', present: (d) => !!d.addresses?.BDL?.countyCode },
];

/** One W 101 per strict trait missing from the message, at the trait's field; `why` ends the text. Never a value. */
function missingTraits(pid: Hl7Segment, data: PatientData, why: string): Finding[] {
  const out: Finding[] = [];
  for (const t of STRICT_TRAITS) {
    if (!t.present(data)) out.push(warning(ErrorCode.RequiredFieldMissing, at(pid, t.field), `${segLabel(pid)}-${t.field}: ${t.what} missing; ${why}`));
  }
  return out;
}

/**
 * The INS action (types.ts InsAction) from PID-3 and PID-32, per docs/behaviour.md "Identity model" / "Qualified
 * identity (INS)" and PAM FR §6.6.1, §6.6.15: qualified claim (VALI, no FICT/DOUT) + INS + the strict traits → set
 * (NIR wins, an NIA beside it is kept); qualified claim + INS without a trait → W 101 per missing trait, integrated
 * without the INS; not qualified → an INS sent is dropped with a warning at its PID-3 repetition; PID-3 explicit-null
 * INS → remove explicit-null; PID-32 absent → keep; otherwise (not VALI, FICT/DOUT, VALI without a usable INS) →
 * remove not-qualified.
 */
function insAction(pid: Hl7Segment, identity: PidIdentity, data: PatientData, qualified: boolean, warnings: Finding[]): InsAction {
  const selected = identity.nir ?? identity.nia;
  const pid32Present = data.status !== undefined || data.attributes !== undefined;
  if (selected && qualified) {
    const missing = missingTraits(pid, data, 'INS not integrated (a qualified identity needs it)');
    if (missing.length === 0) {
      return identity.nir && identity.nia ? { action: 'set', ins: identity.nir.ins, nia: identity.nia.ins } : { action: 'set', ins: selected.ins };
    }
    for (const m of missing) warnings.push(m);
  } else {
    for (const sent of [identity.nir, identity.nia]) {
      if (!sent) continue;
      const n = sent.repetition;
      warnings.push(pid32Present
        ? warning(ErrorCode.TableValueNotFound, at(pid, 3, n),
          `${rep(pid, 3, n)}: INS not integrated: identity not qualified (PID-32 without ${VALIDATED_STATUS}, or FICT/DOUT)`)
        : warning(ErrorCode.RequiredFieldMissing, at(pid, 3, n),
          `${rep(pid, 3, n)}: INS not integrated: PID-32 absent, identity not declared qualified`));
    }
  }
  if (identity.explicitNull) return { action: 'remove', reason: 'explicit-null' };
  if (!pid32Present) return { action: 'keep' };
  return { action: 'remove', reason: 'not-qualified' };
}

/**
 * A40 (docs/behaviour.md "Per event"): whether the retired record's INS may move to the survivor — null when it may
 * (qualified claim, the strict traits sent, PID-3 without an INS or with one the store compares), else the W 101
 * findings to give when it is dropped ([] when the message's own INS warnings already say why).
 */
function retiredInsDropped(pid: Hl7Segment, identity: PidIdentity, data: PatientData, qualified: boolean, ins: InsAction): Finding[] | null {
  const why = 'INS of the MRG-1 record not moved to the survivor';
  if (ins.action === 'remove' && ins.reason === 'explicit-null') {
    return [warning(ErrorCode.RequiredFieldMissing, at(pid, 3), `${segLabel(pid)}-3: the INS is deleted; ${why}`)];
  }
  if (!qualified) {
    return [warning(ErrorCode.RequiredFieldMissing, at(pid, 32),
      `${segLabel(pid)}-32: identity not declared qualified (${VALIDATED_STATUS} without FICT/DOUT); ${why}`)];
  }
  if (ins.action === 'set') return null;
  // An INS sent but not integrated: its W 101 per missing trait already went into the ACK.
  if (identity.nir || identity.nia) return [];
  const missing = missingTraits(pid, data, why);
  return missing.length === 0 ? null : missing;
}

/** Coherence of the NIR with PID-8, PID-7 and the PID-11 BDL code (docs/behaviour.md): W 102 per mismatch. */
function coherenceWarnings(pid: Hl7Segment, place: BirthplaceOut['birthplace'], nir: string, warnings: Finding[]): void {
  const sex = pid.get(8);
  const birth = pid.get(7);
  const mismatches = insCoherence(nir, { sex: sex === '""' ? '' : sex, birth: birth === '""' ? '' : birth, birthplace: place?.cog ?? '' });
  for (const m of mismatches) {
    if (m === 'sex') {
      warnings.push(warning(ErrorCode.DataType, at(pid, 8), `${segLabel(pid)}-8: sex does not match the sex digit of the INS-NIR`));
    } else if (m === 'birth') {
      warnings.push(warning(ErrorCode.DataType, at(pid, 7), `${segLabel(pid)}-7: birth date does not match the year/month of the INS-NIR`));
    } else {
      const n = place!.repetition;
      warnings.push(warning(ErrorCode.DataType, at(pid, 11, n, 9), `${rep(pid, 11, n)}.9: birthplace code does not match the place of birth of the INS-NIR`));
    }
  }
}

/** First MRG-1 entry; a W warning when MRG-1 has more than one (only the first is used). */
function firstMrgEntry(mrg: Hl7Segment, msg: Hl7Message, sink: FindingSink): CxEntry | undefined {
  const entries = readCxField(mrg, 1, msg.separators);
  if (entries.length === 0) {
    sink.errors.push(error(ErrorCode.RequiredFieldMissing, at(mrg, 1), `${segLabel(mrg)}-1: the prior patient identifier is required`));
    return undefined;
  }
  if (entries.length > 1) {
    const n = entries[1]!.repetition;
    sink.warnings.push(warning(ErrorCode.SegmentSequence, at(mrg, 1, n),
      `${segLabel(mrg)}-1: more than one prior identifier; only the first one is used (send one message per identifier)`));
  }
  return entries[0];
}

/** MRG-1 as an ordinary identifier (A40, A47 with an IPP); AE 101 when it is not one. */
function mrgIdentifier(mrg: Hl7Segment, entry: CxEntry, event: string, sink: FindingSink): Identifier | undefined {
  const n = entry.repetition;
  if (entry.cx.kind === 'identifier' && entry.cx.id.value !== '' && entry.cx.id.value !== '""') return entry.cx.id;
  sink.errors.push(error(ErrorCode.RequiredFieldMissing, at(mrg, 1, n, 1),
    `${rep(mrg, 1, n)}: ${event} needs the prior patient identifier (a non-INS identifier with a value)`));
  return undefined;
}

function reject(header: MessageHeader, sink: FindingSink): Interpretation {
  return { ok: false, ack: 'AE', header, findings: sink.errors.concat(sink.warnings) };
}

function segmentMissing(header: MessageHeader, segment: string, sequence: number, text: string): Interpretation {
  return { ok: false, ack: 'AE', header, findings: [error(ErrorCode.SegmentSequence, { segment, sequence }, text)] };
}

/**
 * Interprets one parsed message (see the file comment for the order of checks).
 * @returns `{ ok: true, command }` with W findings in `command.warnings`, or `{ ok: false, ack, findings }`:
 *   AR for acceptance failures (checkAcceptance), AE for content errors (errors first, then warnings so far).
 */
export function interpret(msg: Hl7Message, options: PamOptions): Interpretation {
  const header = readHeader(msg);
  // checkAcceptance(msg, options), with the MSH-9.2 and MSH-10 just read.
  const refused = acceptanceOf(msg.msh, header.event, header.controlId, options);
  if (refused) return { ok: false, ack: 'AR', header, findings: [refused] };
  // A control character in any field: refused before anything reads a value (hl7/controls.ts).
  const control = controlCharacterFinding(msg);
  if (control) return { ok: false, ack: 'AE', header, findings: [control] };
  const event = header.event;
  const sink: FindingSink = { errors: [], warnings: [] };
  if (header.messageTime === null) {
    sink.warnings.push(msg.msh.get(7, 1) === ''
      ? warning(ErrorCode.RequiredFieldMissing, { segment: 'MSH', sequence: 1, field: 7 }, 'MSH-7: message date/time is missing')
      : warning(ErrorCode.DataType, { segment: 'MSH', sequence: 1, field: 7 }, 'MSH-7: not a valid HL7 date/time'));
  }

  const pid = msg.segment('PID', 1);
  if (!pid) return segmentMissing(header, 'PID', 1, `PID: segment required for ${event}`);

  // --- A24 / A37: two PID segments, identifiers only. ---
  if (event === 'A24' || event === 'A37') {
    const pid2 = msg.segment('PID', 2);
    if (!pid2) return segmentMissing(header, 'PID', 2, `PID(2): ${event} needs a second PID segment (the other patient)`);
    if (msg.segment('PID', 3)) return segmentMissing(header, 'PID', 3, `PID(3): ${event} links exactly two patients`);
    const first = readPidIdentity(pid, msg, options, sink, false).ids;
    const second = readPidIdentity(pid2, msg, options, sink, false).ids;
    if (sink.errors.length > 0) return reject(header, sink);
    return {
      ok: true,
      command: { kind: event === 'A24' ? 'link' : 'unlink', event, header, warnings: sink.warnings, first, second },
    };
  }

  // --- A28 / A31 / A40 / A47: one patient group. ---
  if (msg.segment('PID', 2)) {
    return segmentMissing(header, 'PID', 2, `PID(2): ${event} carries exactly one patient (send one message per patient)`);
  }
  const needsMrg = event === 'A40' || event === 'A47';
  const mrg = needsMrg ? msg.segment('MRG', 1) : undefined;
  if (needsMrg) {
    if (!mrg) return segmentMissing(header, 'MRG', 1, `MRG: segment required for ${event}`);
    if (msg.segment('MRG', 2)) return segmentMissing(header, 'MRG', 2, `MRG(2): ${event} carries exactly one merge group`);
  }

  const identity = readPidIdentity(pid, msg, options, sink, true);
  // The PID-11 birthplace (for the INS coherence check) is picked up while the addresses are read.
  const place: BirthplaceOut = {};
  const data = extractPatientData(pid, msg.separators, options, sink, place);
  if (identity.bad.length > 0) settleBadIns(identity, claimsQualified(data), sink);
  const mrgEntry = mrg ? firstMrgEntry(mrg, msg, sink) : undefined;

  // MRG-1 meaning, checked before anything is built so that every error is reported at once.
  let retired: Identifier | undefined;
  let oldIns: { value: string; oid: string } | undefined;
  if (mrg && mrgEntry) {
    const cx = mrgEntry.cx;
    const n = mrgEntry.repetition;
    if (event === 'A47' && cx.kind === 'ins') {
      if (cx.environment !== 'production' && !options.acceptTestIns) {
        sink.errors.push(error(ErrorCode.TableValueNotFound, at(mrg, 1, n, 4),
          `${rep(mrg, 1, n)}: INS with a ${ENV_TEXT[cx.environment]} authority refused (test INS are not accepted)`));
      } else if (cx.problem === 'malformed') {
        // The key is not required to be valid: the old INS is only used to find the patient (types.ts).
        sink.errors.push(error(ErrorCode.DataType, at(mrg, 1, n, 1), `${rep(mrg, 1, n)}: INS-${cx.ins.kind} malformed`));
      } else oldIns = { value: cx.ins.value, oid: cx.ins.oid };
    } else if (event === 'A47' && (cx.kind === 'ins-null' || cx.kind === 'ins-unknown-authority')) {
      sink.errors.push(error(ErrorCode.DataType, at(mrg, 1, n, 1), cx.kind === 'ins-null'
        ? `${rep(mrg, 1, n)}: an explicit null is not a prior identifier`
        : `${rep(mrg, 1, n)}: identifier of type INS whose authority is not an INS OID`));
    } else {
      retired = mrgIdentifier(mrg, mrgEntry, event, sink);
    }
  }
  if (sink.errors.length > 0) return reject(header, sink);

  const warnings = sink.warnings;
  const qualified = claimsQualified(data);
  let ins = insAction(pid, identity, data, qualified, warnings);
  if (ins.action === 'set' && ins.ins.kind === 'NIR') coherenceWarnings(pid, place.birthplace, ins.ins.value, warnings);

  switch (event) {
    case 'A28':
    case 'A31':
      return { ok: true, command: { kind: 'upsert', event, header, warnings, identifiers: identity.ids, data, ins } };
    case 'A40': {
      const old = retired!;
      if (identity.ids.some((id) => sameIdentifier(id, old, options.authorityAliases))) {
        return reject(header, { errors: [error(ErrorCode.DuplicateKey, at(mrg!, 1, mrgEntry!.repetition, 1),
          `${rep(mrg!, 1, mrgEntry!.repetition)}: the retired identifier is also in PID-3; nothing to merge`)], warnings });
      }
      // A VALI A40 without an INS in PID-3 keeps the survivor's own INS (docs/behaviour.md "Per event", A40); so
      // does one whose INS is not integrated for a missing trait: the message is integrated as if PID-3 carried none.
      if (qualified && ins.action === 'remove' && ins.reason === 'not-qualified') ins = { action: 'keep' };
      const retiredIns = retiredInsDropped(pid, identity, data, qualified, ins);
      return {
        ok: true,
        command: { kind: 'merge', event, header, warnings, survivor: identity.ids, retired: old, data, ins, retiredInsDropped: retiredIns },
      };
    }
    case 'A47': {
      if (oldIns) {
        // An INS change/deletion always ends the old INS: "keep" (PID-32 absent) becomes remove (types.ts ChangeInsCommand).
        if (ins.action === 'keep') ins = { action: 'remove', reason: 'not-qualified' };
        return { ok: true, command: { kind: 'change-ins', event, header, warnings, old: oldIns, identifiers: identity.ids, data, ins } };
      }
      const old = retired!;
      // Same domain by DTFR 1.8.2 N.1 (the two may be spelled differently).
      const replacement = identity.ids.find((id) => id.type === old.type && sameAuthority(id, old, options.authorityAliases) && id.value !== old.value);
      if (!replacement) {
        return reject(header, { errors: [error(ErrorCode.RequiredFieldMissing, at(pid, 3),
          `${segLabel(pid)}-3: no new identifier with the authority and type of MRG-1`)], warnings });
      }
      const identifiers = identity.ids.filter((id) => !sameIdentifier(id, old, options.authorityAliases));
      return { ok: true, command: { kind: 'change-id', event, header, warnings, old, replacement, identifiers, data, ins } };
    }
    default:
      // checkAcceptance only lets the events above through; answer rather than throw if that ever changes.
      return reject(header, { errors: [error(ErrorCode.InternalError, { segment: 'MSH', sequence: 1, field: 9, repetition: 1, component: 2 },
        'MSH-9.2: accepted event without a handler')], warnings });
  }
}
