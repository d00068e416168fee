/**
 * Typed commands produced by the pure PAM FR interpretation of one message (src/pam) and applied to the
 * identity store (src/store/apply.ts). See docs/behaviour.md for every rule.
 *
 * Tri-state convention for updates (HL7 null rules: absent keeps, "" clears):
 *   property `undefined` (absent)  → field absent from the message: keep the stored value;
 *   property `null`                → field sent as `""`: clear the stored value;
 *   any other value                → replace.
 */
import type { Finding } from '../hl7/errors.js';

/** ADT trigger events pamdrop applies. */
export const PamEvent = { A28: 'A28', A31: 'A31', A40: 'A40', A47: 'A47', A24: 'A24', A37: 'A37' } as const;
export type PamEvent = keyof typeof PamEvent;

/** A patient identifier (CX). INS values are never Identifiers: they are `Ins`. */
export interface Identifier {
  /** CX-1. */
  value: string;
  /** CX-4.1 namespace id (may be ''). */
  authority: string;
  /** CX-4.2 universal id (OID), or null when absent. */
  oid: string | null;
  /** CX-5 identifier type code (`PI`, `NH`, …). */
  type: string;
}

/** The key under which an identifier is stored and matched: OID, falling back to the namespace (docs/behaviour.md). */
export function authorityKey(id: Pick<Identifier, 'authority' | 'oid'>): string {
  return id.oid && id.oid !== '' ? id.oid : id.authority;
}

export const InsKind = { NIR: 'NIR', NIA: 'NIA' } as const;
export type InsKind = keyof typeof InsKind;

/** A national health identifier (INS): value with its key (15 characters), authority OID, NIR or NIA. */
export interface Ins {
  value: string;
  oid: string;
  kind: InsKind;
}

/** One PID-5 repetition (XPN). Type is the key of the map that holds it. */
export interface PersonName {
  /** XPN-1 family name. */
  family: string | null;
  /** XPN-2 first given name. */
  given: string | null;
  /** XPN-3 further given names, raw (space-separated list for the L name, kept as sent). */
  givenNames: string | null;
  /** XPN-5 prefix / civility (`M.`, `Mme`). */
  prefix: string | null;
}

/** One PID-11 repetition (XAD). Type is the key of the map that holds it. */
export interface Address {
  street: string | null;      // XAD-1.1
  other: string | null;       // XAD-2
  city: string | null;        // XAD-3
  state: string | null;       // XAD-4
  zip: string | null;         // XAD-5
  country: string | null;     // XAD-6 (ISO 3166 alpha-3)
  /** XAD-9: INSEE COG code of the birth commune or country for the BDL address. */
  countyCode: string | null;
}

/** Demographic data of a PID segment, with the tri-state convention above. */
export interface PatientData {
  /** PID-5 by name type (XPN-7: `L` birth name, `D` usual name, `S`, `U`…; '' when XPN-7 is empty). null = `""` (clear all). */
  names?: Record<string, PersonName | null> | null;
  /** PID-11 by address type (XAD-7: `H`, `BDL`…; `BDL` also recognised in XAD-8). null = clear all. */
  addresses?: Record<string, Address | null> | null;
  /** PID-7 as `YYYY-MM-DD` (or `YYYY-MM` / `YYYY` when sent with less precision). */
  birthDate?: string | null;
  /** PID-8 administrative sex (F, M, U…). */
  sex?: string | null;
  /** PID-6.1 mother's maiden name. */
  motherMaidenName?: string | null;
  /** PID-13 home phone(s), raw ER7 repetitions unescaped and joined with ' ~ '. */
  phone?: string | null;
  /** PID-16.1 marital status. */
  maritalStatus?: string | null;
  /** PID-29 death date/time as `YYYY-MM-DD`. */
  deathDate?: string | null;
  /** PID-30 death indicator (Y/N). */
  deathIndicator?: string | null;
  /** PID-32 identity reliability status code (VALI, PROV, …) after the configured status map. */
  status?: string | null;
  /** PID-32 attribute codes (HOMA, FICT, DOUT), in message order. */
  attributes?: string[] | null;
}

/**
 * What to do with the stored INS of the patient.
 * - keep:   message says nothing usable about the INS (PID-32 absent; for A40 also VALI without an integrated INS).
 * - set:    the identity is qualified (VALI, no FICT/DOUT, the strict traits all sent) and PID-3 carries a valid INS:
 *           store it (replacing any other INS). `nia`: an NIA sent beside the NIR, kept as a second INS row of kind
 *           NIA so that the same NIA on another record is a collision (docs/behaviour.md "Qualified identity
 *           (INS)"). A stored NIA beside an NIR stays when a later message sends the NIR alone.
 * - remove: the identity is no longer qualified (PID-32 present without VALI, or FICT/DOUT, or VALI without a usable
 *           INS), or PID-3 carries the explicit null INS (`""^^^…INS OID…^INS`): remove every stored INS (NIR and NIA).
 */
export type InsAction =
  | { action: 'keep' }
  | { action: 'set'; ins: Ins; nia?: Ins }
  | { action: 'remove'; reason: 'not-qualified' | 'explicit-null' };

/** Message header facts used by the pipeline and the ledger. */
export interface MessageHeader {
  /** MSH-3.1 sending application. */
  sendingApp: string;
  /** MSH-4.1 sending facility. */
  sendingFacility: string;
  /** MSH-10 message control id. */
  controlId: string;
  /** MSH-9.2 trigger event. */
  event: string;
  /** MSH-7 normalised to a sortable UTC string `YYYYMMDDHHMMSS.ssss` (see pam/time.ts), or null when absent/invalid. */
  messageTime: string | null;
}

interface CommandBase {
  header: MessageHeader;
  /** Warnings (severity W) found while interpreting: they go into the AA ACK as ERR segments. */
  warnings: Finding[];
}

/** A28 / A31: create or update the patient keyed by its PID-3 identifiers. */
export interface UpsertCommand extends CommandBase {
  kind: 'upsert';
  event: 'A28' | 'A31';
  /** PID-3 identifiers other than INS (IPP first), non-empty. */
  identifiers: Identifier[];
  data: PatientData;
  ins: InsAction;
}

/** A40: merge MRG-1 (retired) into PID-3 (survivor). */
export interface MergeCommand extends CommandBase {
  kind: 'merge';
  event: 'A40';
  survivor: Identifier[];
  retired: Identifier;
  data: PatientData;
  ins: InsAction;
  /**
   * null when the retired record's INS may move to the survivor (docs/behaviour.md "Per event", A40: PID-32 VALI, no
   * other INS in PID-3, the strict traits all sent). Otherwise that INS is dropped, and these warnings (W 101) go
   * into the ACK when the retired record held one ([] when the message already said why).
   */
  retiredInsDropped: Finding[] | null;
}

/** A47 with an IPP (or other non-INS identifier) in MRG-1: rename it to the PID-3 identifier of the same authority. */
export interface ChangeIdentifierCommand extends CommandBase {
  kind: 'change-id';
  event: 'A47';
  /** The obsolete identifier (MRG-1). */
  old: Identifier;
  /** The replacement identifier: the PID-3 identifier with the same authority key and type as `old`. */
  replacement: Identifier;
  /** Every PID-3 identifier (replacement included), for unchanged ones that must not be lost. */
  identifiers: Identifier[];
  data: PatientData;
  ins: InsAction;
}

/** A47 with an INS in MRG-1: find the patient by that INS, then replace or delete its INS (PAM FR §4.4). */
export interface ChangeInsCommand extends CommandBase {
  kind: 'change-ins';
  event: 'A47';
  /** The INS in MRG-1 (syntax checked, key not required to be valid: it is only used to find the patient). */
  old: { value: string; oid: string };
  /** PID-3 non-INS identifiers (IPP…), added to the record if missing. */
  identifiers: Identifier[];
  data: PatientData;
  /** set (new INS) or remove (explicit null / not qualified). */
  ins: InsAction;
}

/** A24 link / A37 unlink: PID(1) and PID(2) identify the two records. */
export interface LinkCommand extends CommandBase {
  kind: 'link' | 'unlink';
  event: 'A24' | 'A37';
  first: Identifier[];
  second: Identifier[];
}

export type PamCommand = UpsertCommand | MergeCommand | ChangeIdentifierCommand | ChangeInsCommand | LinkCommand;

/** Result of interpreting one parsed message. */
export type Interpretation =
  | { ok: true; command: PamCommand }
  /** Not applied: AR for acceptance failures (type, event, version), AE for content errors (bad INS key…). */
  | { ok: false; ack: 'AE' | 'AR'; header: MessageHeader; findings: Finding[] };

/** Options of the PAM FR interpretation (from the config file). */
export interface PamOptions {
  /** Accept INS with the test (.10) and demo (.11) OIDs. Default false. */
  acceptTestIns: boolean;
  /** PID-32 status codes mapped before any rule, e.g. { QUAL: 'VALI', RECUP: 'PROV' }. */
  statusMap: Record<string, string>;
  /** Support A24/A37 (Link/Unlink option). Default true. */
  linkUnlink: boolean;
  /** CX-4.1 namespace renames, e.g. { OLDNAME: 'NEWNAME' }: OLDNAME is matched as NEWNAME (pam/authority.ts). */
  authorityAliases: Record<string, string>;
}

export const defaultPamOptions = (): PamOptions => ({
  acceptTestIns: false,
  statusMap: { QUAL: 'VALI', RECUP: 'PROV' },
  linkUnlink: true,
  authorityAliases: {},
});
