/**
 * `pamdrop validate`: offline PAM FR (ITI-30, HL7 v2.5) conformance report of files, no database.
 *
 * No second implementation of the importer: the file verdict (process, explicit empty batch, quarantine and its
 * reason) and each message's reading (size, MSH-18 decoding, parsing, acceptance and interpretation by
 * pam/interpret.ts: identifiers, INS syntax and key, dates, PID-32) come from pipeline/reading.ts, which `import`
 * calls too; they give the outcomes and most findings. Then the checks the importer does not need but a conformant
 * feed must pass are added:
 * header (MSH-3/4/7, MSH-9.3 structure, MSH-11, MSH-12 `2.5^FRA^2.x`, MSH-21 PAM FR profile), EVN and PV1 presence,
 * PV1-2 = N, table values (PID-8, PID-32, XPN-7), OID syntax, fields PAM FR excludes, and the INS rules for a
 * qualified identity (traits present). Severity E = not conformant (exit 1), W = tolerated but worth fixing.
 *
 * Where pamdrop and the spec differ, the report says so: `outcome` per message is what `import` would answer
 * offline (the store can add AE 204/205 and stale skips); a finding never carries patient data, only rules and
 * locations (the same PHI rule as ACKs).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { frameBuffer, type RawMessage } from '../hl7/batch.js';
import { NULL_VALUE, type Hl7Message, type Hl7Segment } from '../hl7/model.js';
import { describeLocation, ErrorCode, Severity, type Finding, type Location } from '../hl7/errors.js';
import { fileVerdict, FileShapeReader, oversizeShape, readMessage } from '../pipeline/reading.js';
import { classifyCx } from '../pam/ins.js';
import { IDENTITY_ATTRIBUTES } from '../pam/extract.js';
import { birthDate, parseHl7Time } from '../pam/time.js';
import type { ResolvedConfig } from '../config/types.js';

/** One finding of the report. */
export interface ValidationFinding {
  severity: 'E' | 'W';
  /** HL7 table 0357 code. */
  code: number;
  /** framing · envelope · charset · syntax · acceptance · header · structure · field · table · identifier · ins */
  rule: string;
  /** 1-based message position in the file; absent for file-level findings. */
  message?: number;
  /** 1-based line: the MSH of the message, or the envelope segment / junk line. */
  line?: number;
  controlId?: string;
  /** `PID-3[2].4.2` */
  location?: string;
  text: string;
}

export interface MessageSummary {
  position: number;
  line: number;
  controlId: string | null;
  event: string | null;
  charset: string | null;
  /** What `pamdrop import` would answer, offline (the store may still add AE 204/205 or a stale skip). */
  outcome: 'AA' | 'AE' | 'AR';
  errors: number;
  warnings: number;
}

export interface FileValidation {
  file: string;
  path: string;
  /** What `import` does with the file as a whole: processes it (archived as done), or quarantines it with `reason`. */
  outcome: 'done' | 'quarantined';
  reason: string | null;
  messages: MessageSummary[];
  envelope: { fhs: boolean; batches: number; ok: boolean };
  errors: number;
  warnings: number;
  findings: ValidationFinding[];
}

/** HL7 2.5 message structure of each ITI-30 event (PAM FR §2.1). */
const STRUCTURE: Readonly<Record<string, string>> = { A28: 'ADT_A05', A31: 'ADT_A05', A40: 'ADT_A39', A47: 'ADT_A30', A24: 'ADT_A24', A37: 'ADT_A37' };
/** PID-32 status codes of PAM FR table 0445 (PAM FR §6.6.15); attributes are IDENTITY_ATTRIBUTES. */
export const PID32_STATUSES: ReadonlySet<string> = new Set(['VIDE', 'PROV', 'VALI', 'DOUB', 'DESA', 'DPOT', 'DOUA', 'COLP', 'COLV', 'FILI',
  'CACH', 'ANOM', 'IDVER', 'RECD', 'IDRA', 'USUR', 'HOMD', 'INVA']);
/** PID-8 values allowed by PAM FR 2.11 (`O` was removed in 2.11, PAM FR §6.6.5). */
const SEXES: ReadonlySet<string> = new Set(['F', 'M', 'U']);
/** XPN-7 name types (HL7 table 0200). */
const NAME_TYPES: ReadonlySet<string> = new Set(['L', 'D', 'S', 'U', 'A', 'B', 'BAD', 'C', 'I', 'K', 'M', 'MSK', 'N', 'NAV', 'NB', 'NOUSE', 'P', 'R', 'REL', 'T', 'TEMP']);
/**
 * PID fields PAM FR excludes: 10 (race), 17 (religion), 22 (ethnic group) are forbidden; the others are X (PAM FR
 * §6.3, §6.6).
 */
const PID_FORBIDDEN: ReadonlyMap<number, string> = new Map([[10, 'race'], [17, 'religion'], [22, 'ethnic group']]);
const PID_NOT_USED: readonly number[] = [2, 4, 9, 12, 19, 20, 28];
/** Segments of the ITI-30 structures and the French Z segments (PAM FR §2.1, §4.3). */
const KNOWN_SEGMENTS: ReadonlySet<string> = new Set(['MSH', 'SFT', 'EVN', 'PID', 'PD1', 'ROL', 'NK1', 'PV1', 'PV2', 'DB1', 'OBX', 'AL1', 'DG1',
  'DRG', 'PR1', 'GT1', 'IN1', 'IN2', 'IN3', 'ACC', 'UB1', 'UB2', 'MRG', 'ZBE', 'ZFA', 'ZFD', 'ZFS']);
/** ISO OID syntax (arcs without leading zeros, first arc 0–2). */
const OID_RE = /^[0-2](\.(0|[1-9]\d*))+$/;
const PROFILE_RE = /^IHE_FRANCE-(\d+\.\d+)-PAM$/;

/** Collects findings of one message. */
class Sink {
  readonly list: ValidationFinding[] = [];
  constructor(private readonly base: Pick<ValidationFinding, 'message' | 'line' | 'controlId'>) {}
  add(severity: 'E' | 'W', code: number, rule: string, text: string, location?: Location | string): void {
    const loc = typeof location === 'string' ? location : location ? describeLocation(location) : undefined;
    this.list.push({ severity, code, rule, ...this.base, ...(loc ? { location: loc } : {}), text });
  }
  error(code: number, rule: string, text: string, location?: Location | string): void { this.add('E', code, rule, text, location); }
  warn(code: number, rule: string, text: string, location?: Location | string): void { this.add('W', code, rule, text, location); }
}

const at = (seg: Hl7Segment, field?: number, repetition?: number, component?: number): Location => {
  const l: Location = { segment: seg.name, sequence: seg.occurrence };
  if (field !== undefined) l.field = field;
  if (repetition !== undefined) l.repetition = repetition;
  if (component !== undefined) l.component = component;
  return l;
};

/** Rule name for an interpretation finding, from its code. */
function ruleOf(f: Finding): string {
  if (f.code >= 200 && f.code <= 203) return 'acceptance';
  if (f.location?.segment === 'PID' && f.location.field === 3) return 'identifier';
  if (f.code === ErrorCode.SegmentSequence) return 'structure';
  if (f.code === ErrorCode.TableValueNotFound) return 'table';
  return 'field';
}

/** MSH checks the importer does not need (it keys on MSH-3/4/10 and accepts any 2.x). */
function checkHeader(msg: Hl7Message, event: string, s: Sink): void {
  const msh = msg.msh;
  if (msh.get(3) === '') s.error(ErrorCode.RequiredFieldMissing, 'header', 'MSH-3: sending application is required', at(msh, 3));
  if (msh.get(4) === '') s.error(ErrorCode.RequiredFieldMissing, 'header', 'MSH-4: sending facility is required', at(msh, 4));
  const ts = msh.get(7, 1);
  if (ts === '') s.error(ErrorCode.RequiredFieldMissing, 'header', 'MSH-7: message date/time is required', at(msh, 7));
  else if (parseHl7Time(ts) === null) s.error(ErrorCode.DataType, 'header', 'MSH-7: not a valid HL7 date/time (YYYYMMDD[HHMM[SS]][+/-ZZZZ])', at(msh, 7));
  const structure = msh.get(9, 3);
  const expected = STRUCTURE[event];
  if (expected) {
    if (structure === '') s.warn(ErrorCode.RequiredFieldMissing, 'header', `MSH-9.3: message structure missing (${expected} for ${event})`, at(msh, 9, undefined, 3));
    else if (structure !== expected) s.error(ErrorCode.TableValueNotFound, 'header', `MSH-9.3: structure ${structure} does not match ${event} (expected ${expected})`, at(msh, 9, undefined, 3));
  }
  const pid = msh.get(11, 1);
  if (pid === '') s.error(ErrorCode.RequiredFieldMissing, 'header', 'MSH-11: processing id is required (P, T or D)', at(msh, 11));
  else if (!['P', 'T', 'D'].includes(pid)) s.error(ErrorCode.TableValueNotFound, 'header', 'MSH-11: processing id must be P, T or D (HL7 table 0103)', at(msh, 11));
  else if (pid !== 'P') s.warn(ErrorCode.UnsupportedProcessingId, 'header', `MSH-11: processing id ${pid} (not production); pamdrop applies it like P`, at(msh, 11));
  // MSH-12 = 2.5^FRA^2.11 (PAM FR §6.5).
  const version = msh.get(12, 1);
  const intl = msh.get(12, 2);
  const pamVersion = msh.get(12, 3);
  if (version !== '' && version !== '2.5') s.error(ErrorCode.UnsupportedVersion, 'header', `MSH-12.1: PAM FR uses HL7 2.5 (found ${version.slice(0, 10)})`, at(msh, 12, undefined, 1));
  if (intl === '') s.error(ErrorCode.RequiredFieldMissing, 'header', 'MSH-12.2: internationalization code FRA is required (2.5^FRA^2.11)', at(msh, 12, undefined, 2));
  else if (intl !== 'FRA') s.error(ErrorCode.TableValueNotFound, 'header', 'MSH-12.2: internationalization code must be FRA', at(msh, 12, undefined, 2));
  if (pamVersion === '') s.error(ErrorCode.RequiredFieldMissing, 'header', 'MSH-12.3: PAM FR version is required (e.g. 2.11)', at(msh, 12, undefined, 3));
  else if (!/^2\.\d{1,2}$/.test(pamVersion)) s.error(ErrorCode.DataType, 'header', 'MSH-12.3: PAM FR version must look like 2.11 (no patch level)', at(msh, 12, undefined, 3));
  // MSH-21 = 2.11^IHE_FRANCE-2.11-PAM: any repetition, any component naming the profile.
  const profiles = msh.reps(21).flatMap((r) => Array.from({ length: Math.max(1, r.componentCount) }, (_, i) => r.get(i + 1)));
  const profile = profiles.map((p) => PROFILE_RE.exec(p)).find((m) => m !== null);
  if (msh.raw(21) === '') s.warn(ErrorCode.RequiredFieldMissing, 'header', 'MSH-21: message profile missing (2.11^IHE_FRANCE-2.11-PAM)', at(msh, 21));
  else if (!profile) s.warn(ErrorCode.TableValueNotFound, 'header', 'MSH-21: no IHE_FRANCE-<version>-PAM profile identifier', at(msh, 21));
  else if (pamVersion !== '' && profile[1] !== pamVersion) {
    s.warn(ErrorCode.DataType, 'header', `MSH-21: profile version ${profile[1]} differs from MSH-12.3 ${pamVersion.slice(0, 10)}`, at(msh, 21));
  }
}

/** EVN, PV1 and segment inventory per event (PAM FR §2.1, §6.10.1). */
function checkStructure(msg: Hl7Message, event: string, s: Sink): void {
  const evn = msg.segment('EVN');
  if (!evn) s.error(ErrorCode.SegmentSequence, 'structure', `EVN: segment required for ${event}`, { segment: 'EVN' });
  else {
    if (evn.index !== 1 && !(evn.index === 2 && msg.segments[1]?.name === 'SFT')) s.warn(ErrorCode.SegmentSequence, 'structure', 'EVN: should follow MSH (and SFT)', at(evn));
    const recorded = evn.get(2, 1);
    if (recorded === '') s.error(ErrorCode.RequiredFieldMissing, 'field', 'EVN-2: recorded date/time is required', at(evn, 2));
    else if (parseHl7Time(recorded) === null) s.error(ErrorCode.DataType, 'field', 'EVN-2: not a valid HL7 date/time', at(evn, 2));
    const occurred = evn.get(6, 1);
    if (occurred !== '' && parseHl7Time(occurred) === null) s.error(ErrorCode.DataType, 'field', 'EVN-6: not a valid HL7 date/time', at(evn, 6));
  }
  const pv1s = msg.all('PV1');
  if ((event === 'A28' || event === 'A31') && pv1s.length === 0) {
    s.error(ErrorCode.SegmentSequence, 'structure', `PV1: segment required by ADT_A05 (${event}), with PV1-2 = N`, { segment: 'PV1' });
  }
  if (event === 'A47' && pv1s.length > 0) s.warn(ErrorCode.SegmentSequence, 'structure', 'PV1: not part of ADT_A30 (A47); ignored', at(pv1s[0]!));
  for (const pv1 of pv1s) {
    const cls = pv1.get(2);
    if (cls === '') s.error(ErrorCode.RequiredFieldMissing, 'field', 'PV1-2: patient class is required (N in ITI-30)', at(pv1, 2));
    else if (cls !== 'N') s.error(ErrorCode.TableValueNotFound, 'field', 'PV1-2: patient class must be N (not applicable) in ITI-30', at(pv1, 2));
  }
  for (const seg of msg.segments) {
    if (!KNOWN_SEGMENTS.has(seg.name) && !seg.name.startsWith('Z')) {
      s.warn(ErrorCode.SegmentSequence, 'structure', `${seg.name}: segment not part of the ITI-30 structures; ignored`, at(seg));
    }
  }
}

/** CX checks of PID-3 / MRG-1 repetitions: OID syntax, assigning authority type, identifier type, INS CX-7/8. */
function checkCx(seg: Hl7Segment, field: number, msg: Hl7Message, s: Sink): void {
  const seps = msg.separators;
  seg.reps(field).forEach((rep, i) => {
    const n = i + 1;
    if (rep.isEmpty || rep.isNull) return;
    const oid = rep.get(4, 2);
    const universalType = rep.get(4, 3);
    if (oid !== '' && !OID_RE.test(oid)) s.error(ErrorCode.DataType, 'identifier', `${seg.name}-${field}[${n}].4.2: not an OID (digits separated by dots)`, at(seg, field, n, 4));
    if (oid !== '' && universalType !== '' && universalType !== 'ISO') s.warn(ErrorCode.TableValueNotFound, 'identifier', `${seg.name}-${field}[${n}].4.3: universal id type should be ISO for an OID`, at(seg, field, n, 4));
    if (rep.get(4, 1) === '' && oid === '') s.error(ErrorCode.RequiredFieldMissing, 'identifier', `${seg.name}-${field}[${n}].4: assigning authority is required`, at(seg, field, n, 4));
    const type = rep.get(5);
    if (type === '') s.error(ErrorCode.RequiredFieldMissing, 'identifier', `${seg.name}-${field}[${n}].5: identifier type code is required (PI, INS, NH…)`, at(seg, field, n, 5));
    const cx = classifyCx(rep.raw, seps);
    if (cx.kind === 'ins' || cx.kind === 'ins-null') {
      if (rep.get(7) !== '' || rep.get(8) !== '') s.warn(ErrorCode.DataType, 'ins', `${seg.name}-${field}[${n}].7/8: must be empty for an INS (tolerated)`, at(seg, field, n, 7));
      if (oid === '') s.warn(ErrorCode.RequiredFieldMissing, 'ins', `${seg.name}-${field}[${n}].4.2: the INS authority should be given by its OID`, at(seg, field, n, 4));
    }
  });
}

/** Table values and fields PAM FR excludes, and the qualified-identity INS rules of one PID. */
function checkPid(pid: Hl7Segment, msg: Hl7Message, config: ResolvedConfig, s: Sink): void {
  checkCx(pid, 3, msg, s);
  for (const [f, what] of PID_FORBIDDEN) {
    if (pid.raw(f) !== '') s.error(ErrorCode.DataType, 'field', `PID-${f}: ${what} must not be sent (forbidden in PAM FR)`, at(pid, f));
  }
  for (const f of PID_NOT_USED) if (pid.raw(f) !== '') s.warn(ErrorCode.DataType, 'field', `PID-${f}: not used in PAM FR (X); ignored`, at(pid, f));
  // PID-5 name types.
  pid.reps(5).forEach((rep, i) => {
    if (rep.isEmpty || rep.isNull) return;
    const type = rep.get(7);
    if (type === '') {
      if (rep.get(8) === '') s.warn(ErrorCode.RequiredFieldMissing, 'table', `PID-5[${i + 1}].7: name type missing (L birth name, D used name…)`, at(pid, 5, i + 1, 7));
    } else if (!NAME_TYPES.has(type)) s.error(ErrorCode.TableValueNotFound, 'table', `PID-5[${i + 1}].7: name type not in HL7 table 0200`, at(pid, 5, i + 1, 7));
  });
  // PID-8: F, M, U.
  const sex = pid.get(8);
  if (sex !== '' && sex !== NULL_VALUE && !SEXES.has(sex)) {
    s.error(ErrorCode.TableValueNotFound, 'table', sex === 'O'
      ? 'PID-8: O (other) was removed in PAM FR 2.11; use F, M or U'
      : 'PID-8: administrative sex must be F, M or U', at(pid, 8));
  }
  // PID-32: table 0445 (French content) + attributes; codes mapped by the statusMap are understood by pamdrop only.
  let status = '';
  const attributes: string[] = [];
  pid.reps(32).forEach((rep, i) => {
    const code = rep.get(1);
    if (code === '' || rep.isNull) return;
    if (IDENTITY_ATTRIBUTES.has(code)) { attributes.push(code); return; }
    if (!status) status = config.pam.statusMap[code] ?? code;
    if (PID32_STATUSES.has(code)) return;
    const mapped = config.pam.statusMap[code];
    if (mapped) s.warn(ErrorCode.TableValueNotFound, 'table', `PID-32[${i + 1}]: ${code} is not a PAM FR HL7 v2 code (read as ${mapped} by the statusMap)`, at(pid, 32, i + 1));
    else s.error(ErrorCode.TableValueNotFound, 'table', `PID-32[${i + 1}]: identity status not in table 0445 (VIDE, PROV, VALI, …) nor an attribute (HOMA, FICT, DOUT)`, at(pid, 32, i + 1));
  });
  if (status === 'VALI' && (attributes.includes('FICT') || attributes.includes('DOUT'))) {
    s.warn(ErrorCode.TableValueNotFound, 'ins', 'PID-32: FICT/DOUT go with a provisional status, not VALI (RNIV); the INS is not integrated', at(pid, 32));
  }
  // A qualified identity (VALI + INS): the five INS traits are required (PAM FR §6.6.2, §6.6.4; DTFR N.6, N.10).
  const hasIns = pid.reps(3).some((r) => {
    const cx = classifyCx(r.raw, msg.separators);
    return cx.kind === 'ins' && cx.problem === null;
  });
  if (hasIns && status === 'VALI') {
    const l = pid.reps(5).findIndex((r) => r.get(7) === 'L' || (r.get(7) === '' && r.get(8) === 'L'));
    if (l < 0) s.error(ErrorCode.RequiredFieldMissing, 'ins', 'PID-5: birth name (name type L) required with an INS and a qualified identity', at(pid, 5));
    else {
      const rep = pid.reps(5)[l]!;
      if (rep.get(1) === '') s.error(ErrorCode.RequiredFieldMissing, 'ins', `PID-5[${l + 1}].1: birth name required with an INS`, at(pid, 5, l + 1, 1));
      if (rep.get(2) === '') s.error(ErrorCode.RequiredFieldMissing, 'ins', `PID-5[${l + 1}].2: first birth given name required with an INS`, at(pid, 5, l + 1, 2));
      if (rep.get(3) === '') s.warn(ErrorCode.RequiredFieldMissing, 'ins', `PID-5[${l + 1}].3: list of birth given names expected with an INS`, at(pid, 5, l + 1, 3));
    }
    const birth = pid.get(7);
    if (birth === '' || birth === NULL_VALUE) s.error(ErrorCode.RequiredFieldMissing, 'ins', 'PID-7: birth date required with an INS and a qualified identity', at(pid, 7));
    else if ((birthDate(birth) ?? '').length < 10) s.warn(ErrorCode.DataType, 'ins', 'PID-7: birth date should be a full date (YYYYMMDD) with an INS', at(pid, 7));
    if (sex === '' || sex === NULL_VALUE) s.error(ErrorCode.RequiredFieldMissing, 'ins', 'PID-8: sex required with an INS and a qualified identity', at(pid, 8));
    const reps11 = pid.reps(11);
    const bdl = reps11.findIndex((r) => r.get(7) === 'BDL' || (r.get(7) === '' && r.get(8) === 'BDL'));
    if (bdl < 0) s.error(ErrorCode.RequiredFieldMissing, 'ins', 'PID-11: birthplace (address type BDL) required with an INS and a qualified identity', at(pid, 11));
    else {
      const cog = reps11[bdl]!.get(9);
      if (cog === '') s.error(ErrorCode.RequiredFieldMissing, 'ins', `PID-11[${bdl + 1}].9: INSEE code of the birthplace required with an INS`, at(pid, 11, bdl + 1, 9));
      else if (!/^(\d{5}|2[AB]\d{3})$/.test(cog)) s.error(ErrorCode.DataType, 'ins', `PID-11[${bdl + 1}].9: not an INSEE COG code (5 characters)`, at(pid, 11, bdl + 1, 9));
      else if (cog === '99999') s.warn(ErrorCode.DataType, 'ins', `PID-11[${bdl + 1}].9: unknown birthplace (99999) for a qualified identity`, at(pid, 11, bdl + 1, 9));
    }
  }
}

/** Rule name of a message that could not be read, by the stage that failed. */
const UNREADABLE_RULE = { size: 'framing', charset: 'charset', syntax: 'syntax' } as const;

/**
 * Validates one framed message on the importer's own reading of it (pipeline/reading.ts): its outcome is the
 * importer's, offline; the conformance checks the importer does not need are added on top.
 * @param seen first reading of each idempotency key in the file: content hash and outcome.
 */
function validateMessage(raw: RawMessage, config: ResolvedConfig, seen: Map<string, { sha: string; outcome: MessageSummary['outcome'] }>): { summary: MessageSummary; findings: ValidationFinding[] } {
  const position = raw.index + 1;
  const reading = readMessage(raw, config);
  const { header } = reading;
  const controlId = header.controlId;
  const summary: MessageSummary = { position, line: raw.line, controlId: reading.unreadable ? null : controlId, event: reading.unreadable ? null : header.event,
    charset: reading.unreadable?.stage === 'size' || reading.unreadable?.stage === 'charset' ? null : reading.charset, outcome: reading.outcome, errors: 0, warnings: 0 };
  const s = new Sink({ message: position, line: raw.line, ...(controlId && !reading.unreadable ? { controlId } : {}) });
  const done = () => {
    summary.errors = s.list.filter((f) => f.severity === 'E').length;
    summary.warnings = s.list.length - summary.errors;
    return { summary, findings: s.list };
  };
  for (const w of reading.warnings) s.warn(w.code, 'charset', w.text, w.location);

  // Duplicates inside the file, as the importer's idempotency key sees them: the same content replays the first
  // answer; other content is AE 205 whatever the message says (the importer checks the key first).
  if (controlId) {
    const key = `${header.sendingApp}\u0000${header.sendingFacility}\u0000${controlId}`;
    const sha = createHash('sha256').update(raw.bytes).digest('hex');
    const prev = seen.get(key);
    if (prev === undefined) seen.set(key, { sha, outcome: reading.outcome });
    else if (prev.sha === sha) {
      s.warn(ErrorCode.DuplicateKey, 'identifier', 'MSH-10: same message already in this file (a duplicate: ACK replayed, not applied again)', { segment: 'MSH', field: 10 });
      summary.outcome = prev.outcome;
    } else {
      s.error(ErrorCode.DuplicateKey, 'identifier', 'MSH-10: control id already used in this file by a different message (AE 205)', { segment: 'MSH', field: 10 });
      summary.outcome = 'AE';
    }
  }

  if (reading.unreadable) {
    const e = reading.unreadable.error;
    const text = reading.unreadable.stage === 'size'
      ? `message larger than maxMessageBytes (${config.maxMessageBytes} bytes): the importer answers ${reading.outcome} without reading it`
      : e.message;
    s.error(e.code, UNREADABLE_RULE[reading.unreadable.stage], text, e.location);
    return done();
  }
  const msg = reading.msg!;
  const event = header.event ?? '';
  if ((reading.declared ?? '').trim() === '') s.warn(ErrorCode.RequiredFieldMissing, 'charset', `MSH-18: character set not declared; read as ${config.charset.default} (the configured default)`, { segment: 'MSH', field: 18 });

  const interp = reading.interpretation!;
  const interpFindings = interp.ok ? interp.command.warnings : interp.findings;
  for (const f of interpFindings) {
    // MSH-7 is checked (as required) by checkHeader.
    if (f.location?.segment === 'MSH' && f.location.field === 7) continue;
    s.add(f.severity === Severity.Error ? 'E' : 'W', f.code, ruleOf(f), f.text, f.location);
  }
  if (!interp.ok && interp.ack === 'AR') return done(); // not an ITI-30 message: nothing more to check
  checkHeader(msg, event, s);
  checkStructure(msg, event, s);
  for (const pid of msg.all('PID')) checkPid(pid, msg, config, s);
  for (const mrg of msg.all('MRG')) checkCx(mrg, 1, msg, s);
  return done();
}

/** Validates the bytes of one file. */
export function validateBuffer(buf: Buffer, file: string, path: string, config: ResolvedConfig): FileValidation {
  const findings: ValidationFinding[] = [];
  const messages: MessageSummary[] = [];
  const shape = new FileShapeReader();
  const seen = new Map<string, { sha: string; outcome: MessageSummary['outcome'] }>();
  let fhs = false;
  const charsets = new Set<string>();
  const oversize = buf.length > config.maxFileBytes;
  for (const item of oversize ? [] : frameBuffer(buf, { maxMessageBytes: config.maxMessageBytes })) {
    shape.push(item);
    if (item.kind === 'junk') {
      findings.push({ severity: 'W', code: ErrorCode.SegmentSequence, rule: 'framing', line: item.line, text: `${item.reason}: ignored by the importer` });
    } else if (item.kind === 'envelope') {
      if (item.segment.name === 'FHS') fhs = true;
    } else {
      const r = validateMessage(item.message, config, seen);
      messages.push(r.summary);
      findings.push(...r.findings);
      if (r.summary.charset) charsets.add(r.summary.charset);
    }
  }
  // The importer's own verdict on the whole file.
  const fileShape = oversize ? oversizeShape(buf.length, config.maxFileBytes) : shape.finish();
  const env = fileShape.envelope;
  const verdict = fileVerdict(fileShape);
  if (verdict.kind === 'quarantine') {
    findings.push({ severity: 'E', code: ErrorCode.SegmentSequence, rule: env.ok ? 'framing' : 'envelope', text: `${verdict.reason}: the importer quarantines the whole file` });
  }
  if (charsets.size > 1) findings.push({ severity: 'W', code: ErrorCode.DataType, rule: 'charset', text: `messages of this file use several character sets (${[...charsets].join(', ')})` });
  const errors = findings.filter((f) => f.severity === 'E').length;
  return { file, path, outcome: verdict.kind === 'quarantine' ? 'quarantined' : 'done', reason: verdict.kind === 'quarantine' ? verdict.reason : null,
    messages, envelope: { fhs, batches: env.batchCount, ok: env.ok }, errors, warnings: findings.length - errors, findings };
}

/** Validates a file on disk (read whole: validation is an offline, interactive check). */
export function validateFile(path: string, config: ResolvedConfig): FileValidation {
  return validateBuffer(readFileSync(path), basename(path), path, config);
}
