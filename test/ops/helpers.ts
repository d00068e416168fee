/**
 * Helpers of the operations suites: a site whose config names its folders (so that `reimport`,
 * `reconcile --apply`, `status`… find them without flags), and a small ITI-30 message builder with production
 * INS and key-valid NIRs. Fictitious data, the conventions of
 * test/fixtures/examples.ts (IPP authority 1.2.250.1.999999.1).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import type { DbKind } from '../helpers/db.js';
import { nirKey } from '../../bench/generate.js';

export const IPP_OID = '1.2.250.1.999999.1';
export const NIR_OID = '1.2.250.1.213.1.4.8';

/** A config whose single source uses the workspace folders. */
export function siteConfig(extra: Record<string, unknown> = {}, source: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sources: [{ name: 'local', inbox: 'inbox', ackDir: 'outbox', archiveDir: 'archive', errorDir: 'archive/error', ...source }],
    ...extra,
  };
}

export interface Site extends Workspace {
  /** Rewrites config.json (the next command reads it). */
  setConfig(config: Record<string, unknown>): void;
  /** Drops files into the inbox and imports them with the configured folders. */
  importNamed(...files: Array<[string, string]>): Promise<{ code: number; stdout: string; stderr: string }>;
}

export async function makeSite(kind: DbKind = 'sqlite', config: Record<string, unknown> = siteConfig()): Promise<Site> {
  const ws = await makeWorkspace(kind, { config });
  return Object.assign(ws, {
    setConfig(c: Record<string, unknown>) { writeFileSync(join(ws.root, 'config.json'), JSON.stringify(c)); },
    async importNamed(...files: Array<[string, string]>) {
      for (const [name, content] of files) ws.drop(name, content);
      return ws.cli('import', ...files.map(([n]) => join(ws.inbox, n)), '--json');
    },
  });
}

/** A key-valid production NIR for a 13-character body. */
export const nir = (body13: string): string => body13 + nirKey(body13);

export interface PatientSpec {
  event?: 'A28' | 'A31';
  ctl: string;
  /** MSH-7 / EVN-2, YYYYMMDDHHMMSS. */
  time: string;
  ipp: string;
  /** IPP authority OID (another domain in reconcile tests). */
  oid?: string;
  family?: string;
  given?: string;
  used?: string;
  birth?: string;
  sex?: string;
  /** BDL COG code. */
  place?: string;
  /** 15-character NIR (production OID). */
  ins?: string;
  status?: string;
  /** MSH-13 sequence number. */
  seq?: number;
  sender?: string;
}

const msh = (event: string, struct: string, ctl: string, time: string, seq?: number, sender = 'GAM') =>
  `MSH|^~\\&|${sender}|CHEX|TLSV|EDITEUR|${time}||ADT^${event}^${struct}|${ctl}|P|2.5^FRA^2.11|${seq ?? ''}||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM`;

/** PID with the traits of a patient (fields by number). */
export function pidSegment(p: PatientSpec): string {
  const f: string[] = ['PID', '1'];
  f[3] = [`${p.ipp}^^^CHEX&${p.oid ?? IPP_OID}&ISO^PI`, ...(p.ins ? [`${p.ins}^^^ASIP-SANTE-INS-NIR&${NIR_OID}&ISO^INS`] : [])].join('~');
  const given = p.given ?? 'MARIE';
  f[5] = [...(p.used ? [`${p.used}^${given}^^^^^D`] : []), `${p.family ?? 'MARTIN'}^${given}^${given}^^^^L`].join('~');
  f[7] = p.birth ?? '19850317';
  f[8] = p.sex ?? 'F';
  f[11] = `^^PARIS^^^FRA^BDL^^${p.place ?? '75056'}`;
  f[32] = p.status ?? 'VALI';
  return Array.from({ length: f.length }, (_, i) => f[i] ?? '').join('|');
}

/** An A28 / A31 message. */
export function patientMessage(p: PatientSpec): string {
  const ev = p.event ?? 'A28';
  return `${msh(ev, 'ADT_A05', p.ctl, p.time, p.seq, p.sender)}\rEVN||${p.time}\r${pidSegment(p)}\rPV1|1|N\r`;
}

/** An A24 (link) of two IPPs. */
export function linkMessage(ctl: string, time: string, a: string, b: string): string {
  return `${msh('A24', 'ADT_A24', ctl, time)}\rEVN||${time}\rPID|1||${a}^^^CHEX&${IPP_OID}&ISO^PI\rPID|2||${b}^^^CHEX&${IPP_OID}&ISO^PI\r`;
}

/** An A47 IPP change (old → new) of a patient. */
export function ippChange(ctl: string, time: string, p: PatientSpec, oldIpp: string): string {
  return `${msh('A47', 'ADT_A30', ctl, time)}\rEVN||${time}\r${pidSegment(p)}\rMRG|${oldIpp}^^^CHEX&${IPP_OID}&ISO^PI\r`;
}

/** An A40 merge of `retired` into the survivor `p`. */
export function mergeMessage(ctl: string, time: string, p: PatientSpec, retired: string): string {
  return `${msh('A40', 'ADT_A39', ctl, time)}\rEVN||${time}\r${pidSegment(p)}\rMRG|${retired}^^^CHEX&${IPP_OID}&ISO^PI\r`;
}

/** Messages concatenated into a file body. */
export const file = (...messages: string[]): string => messages.join('');

/** Parses `--json` output, failing with the CLI's stderr when it is not JSON. */
export function json(r: { code: number; stdout: string; stderr: string }): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}
