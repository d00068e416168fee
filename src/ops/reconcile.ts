/**
 * `pamdrop reconcile --snapshot <file>`: nightly reconciliation against the hospital's full list of active
 * identities, exported as A28/A31 messages (one per patient).
 *
 * Matching: a snapshot patient is the store record its PID-3 identifiers (IPP…, never the INS) resolve to, as the
 * importer resolves them. Reported:
 * - `missing-in-store`: no record holds any of its identifiers;
 * - `missing-in-snapshot`: an active record of a domain present in the snapshot (an authority of its PID-3
 *   identifiers) that no snapshot patient matched — records of other domains (other senders) are out of scope;
 * - `retired-in-store`: the snapshot patient resolves to a record retired by a merge (A40);
 * - `split`: its identifiers belong to different records;
 * - `different`: trait, INS or status differences, field by field (`store` vs `snapshot`). The comparison is strict
 *   (the snapshot is the hospital's whole truth: a trait it does not send counts as empty). `fixedByApply` tells
 *   whether `--apply` would change that field: applying the snapshot follows the A31 rules (absent field → kept),
 *   so a value the snapshot merely omits is reported but not erased;
 * - `duplicate-in-snapshot`, `invalid-in-snapshot` (would be AE/AR), `ignored-in-snapshot` (not an A28/A31).
 *
 * `--apply` (in the command) then runs the snapshot through the ordinary pipeline: ledger, history, ACK files.
 * Nothing is ever deactivated: PAM has no "delete patient" event (A29 is refused), so records missing from the
 * snapshot are reported for identity vigilance only.
 *
 * The store's identity tables are read once each (memory grows with the number of records).
 */
import { createReadStream, writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { frameStream } from '../hl7/batch.js';
import { describeLocation, type Finding } from '../hl7/errors.js';
import { readMessage } from '../pipeline/reading.js';
import { authorityKey, type Identifier, type InsAction, type PatientData } from '../pam/types.js';
import { listAuthorities, matchAuthority } from '../store/authorities.js';
import { aliasNamespace } from '../pam/authority.js';
import { decodeState, mergeState, type IdentifierRow, type IdentifierView, type InsRow, type PatientRow, type PatientState } from '../store/identity.js';
import { allIdentityRows } from '../store/reads/patients.js';
import type { Tx } from '../store/tx.js';
import type { ResolvedConfig } from '../config/types.js';
import { formatValue } from './format.js';

export type ReconcileKind =
  | 'missing-in-store' | 'missing-in-snapshot' | 'retired-in-store' | 'split' | 'different'
  | 'duplicate-in-snapshot' | 'invalid-in-snapshot' | 'ignored-in-snapshot';

/** One field that differs. */
export interface Difference {
  field: string;
  store: unknown;
  snapshot: unknown;
  /** `--apply` would set the store to the snapshot's value. */
  fixedByApply: boolean;
}

export interface ReconcileItem {
  kind: ReconcileKind;
  /** The patient: the snapshot's first PI (snapshot side) or the record's identifier in the snapshot's domain (store side). */
  patient: IdentifierView | null;
  /** 1-based message position in the snapshot file. */
  position?: number;
  controlId?: string;
  differences?: Difference[];
  /** Human detail without patient data (reasons, merge target). */
  detail?: string;
}

export interface ReconcileReport {
  snapshot: string;
  generatedAt: string;
  counts: {
    snapshotMessages: number; snapshotPatients: number; storeActiveInScope: number; matched: number; identical: number;
    different: number; missingInStore: number; missingInSnapshot: number; retiredInStore: number; split: number;
    duplicates: number; invalid: number; ignored: number;
  };
  /** Authorities (OID, else namespace) of the snapshot's identifiers: the scope of `missing-in-snapshot`. */
  domains: string[];
  items: ReconcileItem[];
}

/** The traits compared, read from a state (the same derivation as the store's flat columns). */
const TRAITS: ReadonlyArray<[string, (s: PatientState) => unknown]> = [
  ['birthName', (s) => s.names.L?.family ?? null],
  ['firstName', (s) => s.names.L?.given ?? null],
  ['birthGivenNames', (s) => s.names.L?.givenNames ?? null],
  ['usedName', (s) => s.names.D?.family ?? null],
  ['usedFirstName', (s) => s.names.D?.given ?? null],
  ['birthDate', (s) => s.birthDate],
  ['sex', (s) => s.sex],
  ['birthPlace', (s) => s.addresses.BDL?.countyCode ?? null],
  ['status', (s) => s.status],
  ['attributes', (s) => [...s.attributes].sort()],
];

interface SnapshotEntry { position: number; controlId: string; identifiers: Identifier[]; data: PatientData; ins: InsAction }

const view = (i: Pick<Identifier, 'value' | 'authority' | 'oid' | 'type'>): IdentifierView => ({ value: i.value, authority: i.authority, oid: i.oid, type: i.type });
const idKey = (authKey: string, value: string, type: string): string => `${authKey}\u0000${value}\u0000${type}`;
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** An invalid message's detail, as its ACK would say it: outcome, 0357 code, location and rule (no patient data). */
function invalidDetail(outcome: string, f: Finding | undefined): string {
  return `${outcome}${f ? ` ${f.code}${f.location ? ` ${describeLocation(f.location)}` : ''}: ${f.text}` : ''}`;
}

/**
 * Reads the snapshot: A28/A31 entries, and items for what cannot be used. Each message is read by the importer's
 * own reader (pipeline/reading.ts), so a message is invalid here exactly when `import` would refuse it before the
 * store (AE/AR).
 */
async function readSnapshot(path: string, config: ResolvedConfig): Promise<{ entries: SnapshotEntry[]; items: ReconcileItem[]; messages: number }> {
  const entries: SnapshotEntry[] = [];
  const items: ReconcileItem[] = [];
  let messages = 0;
  for await (const it of frameStream(createReadStream(path) as AsyncIterable<Buffer>, { maxMessageBytes: config.maxMessageBytes })) {
    if (it.kind !== 'message') continue;
    messages++;
    const position = it.message.index + 1;
    const read = readMessage(it.message, config);
    const controlId = read.header.controlId ?? undefined;
    const at = { patient: null, position, ...(controlId !== undefined ? { controlId } : {}) };
    if (read.unreadable) {
      items.push({ kind: 'invalid-in-snapshot', ...at, detail: invalidDetail(read.outcome, read.unreadable.error.toFinding()) });
      continue;
    }
    const r = read.interpretation!;
    if (!r.ok) {
      items.push({ kind: 'invalid-in-snapshot', ...at, detail: invalidDetail(r.ack, r.findings.find((f) => f.severity === 'E') ?? r.findings[0]) });
      continue;
    }
    const cmd = r.command;
    if (cmd.kind !== 'upsert') {
      items.push({ kind: 'ignored-in-snapshot', ...at, detail: `${cmd.event}: a snapshot holds A28/A31 messages only` });
      continue;
    }
    entries.push({ position, controlId: controlId ?? '', identifiers: cmd.identifiers, data: cmd.data, ins: cmd.ins });
  }
  return { entries, items, messages };
}

/** Compares the snapshot file with the store (read-only). */
export async function reconcile(db: Tx, snapshotPath: string, config: ResolvedConfig, now: Date): Promise<ReconcileReport> {
  const snap = await readSnapshot(snapshotPath, config);
  const items: ReconcileItem[] = [...snap.items];

  const store = await allIdentityRows(db);
  const patients = new Map<number, PatientRow>();
  for (const r of store.patients) patients.set(Number(r.id), r);
  const owner = new Map<string, number>();
  const idsOf = new Map<number, IdentifierRow[]>();
  for (const r of store.identifiers) {
    const pid = Number(r.patient_id);
    owner.set(idKey(r.auth_key, r.value, r.type), pid);
    const list = idsOf.get(pid);
    if (list) list.push(r); else idsOf.set(pid, [r]);
  }
  const insOf = new Map<number, InsRow>();
  for (const r of store.ins) {
    if (!insOf.has(Number(r.patient_id))) insOf.set(Number(r.patient_id), r);
  }

  // The importer's authority matching (DTFR 1.8.2 N.1): a snapshot identifier's key is its stored domain's key,
  // whatever its spelling; a spelling matching no stored authority keeps its own key (nothing holds it).
  const registry = await listAuthorities(db);
  const aliases = config.pam.authorityAliases ?? {};
  const keyOf = (i: Identifier): string => {
    const m = matchAuthority({ authority: aliasNamespace(i.authority, aliases), oid: i.oid || null }, registry, aliases);
    return m.length === 1 ? authorityKey({ authority: m[0]!.namespace, oid: m[0]!.oid }) : authorityKey(i);
  };
  const domains = new Set<string>();
  const matched = new Set<number>();
  let identical = 0;
  const counts = { matched: 0, different: 0, missingInStore: 0, retiredInStore: 0, split: 0, duplicates: 0 };
  for (const e of snap.entries) {
    for (const id of e.identifiers) domains.add(keyOf(id));
    const label = view(e.identifiers.find((i) => i.type === 'PI') ?? e.identifiers[0]!);
    const base = { patient: label, position: e.position, controlId: e.controlId };
    const pids = [...new Set(e.identifiers.map((i) => owner.get(idKey(keyOf(i), i.value, i.type))).filter((p): p is number => p !== undefined))];
    if (pids.length === 0) { counts.missingInStore++; items.push({ kind: 'missing-in-store', ...base }); continue; }
    if (pids.length > 1) { counts.split++; items.push({ kind: 'split', ...base, detail: `PID-3 identifiers belong to ${pids.length} different records` }); continue; }
    const pid = pids[0]!;
    const row = patients.get(pid)!;
    if (Number(row.active) === 0) {
      counts.retiredInStore++;
      const survivor = row.merged_into !== null ? idsOf.get(Number(row.merged_into)) : undefined;
      const pick = survivor?.find((i) => i.type === 'PI') ?? survivor?.[0];
      items.push({ kind: 'retired-in-store', ...base, detail: `retired by a merge${pick ? ` into ${pick.value} (${pick.authority || pick.oid})` : ''}; active in the snapshot` });
      matched.add(pid);
      continue;
    }
    if (matched.has(pid)) { counts.duplicates++; items.push({ kind: 'duplicate-in-snapshot', ...base, detail: 'a second snapshot message for the same record' }); continue; }
    matched.add(pid);
    counts.matched++;

    // Strict comparison: snapshot values from the snapshot alone; store values from the record.
    const stored = decodeState(row);
    const fromSnapshot = mergeState({ status: null, attributes: [], names: {}, addresses: {}, birthDate: null, sex: null, other: {} }, e.data);
    const afterApply = mergeState(stored, e.data);
    const differences: Difference[] = [];
    for (const [field, read] of TRAITS) {
      const a = read(stored);
      const b = read(fromSnapshot);
      if (!same(a, b)) differences.push({ field, store: a, snapshot: b, fixedByApply: same(read(afterApply), b) });
    }
    const storedIns = insOf.get(pid);
    const a = storedIns ? { value: storedIns.value, oid: storedIns.oid, kind: storedIns.kind } : null;
    const b = e.ins.action === 'set' ? { value: e.ins.ins.value, oid: e.ins.ins.oid, kind: e.ins.ins.kind } : null;
    if (!same(a, b)) {
      // 'keep' (PID-32 absent) leaves the stored INS alone; 'set' and 'remove' make it the snapshot's.
      differences.push({ field: 'ins', store: a, snapshot: b, fixedByApply: e.ins.action !== 'keep' });
    }
    if (differences.length === 0) { identical++; continue; }
    counts.different++;
    items.push({ kind: 'different', ...base, differences });
  }

  // Active records of the snapshot's domains that no snapshot patient matched.
  let inScope = 0;
  let missingInSnapshot = 0;
  for (const [pid, row] of patients) {
    if (Number(row.active) === 0) continue;
    const ids = idsOf.get(pid) ?? [];
    const inDomain = ids.filter((i) => domains.has(i.auth_key));
    if (inDomain.length === 0) continue;
    inScope++;
    if (matched.has(pid)) continue;
    missingInSnapshot++;
    const pick = inDomain.find((i) => i.type === 'PI') ?? inDomain[0]!;
    items.push({ kind: 'missing-in-snapshot', patient: view(pick), detail: 'active here, absent from the snapshot' });
  }

  const order: Record<ReconcileKind, number> = {
    'missing-in-store': 0, 'missing-in-snapshot': 1, 'retired-in-store': 2, split: 3, different: 4,
    'duplicate-in-snapshot': 5, 'invalid-in-snapshot': 6, 'ignored-in-snapshot': 7,
  };
  items.sort((x, y) => order[x.kind] - order[y.kind] || (x.position ?? Infinity) - (y.position ?? Infinity)
    || (x.patient?.value ?? '').localeCompare(y.patient?.value ?? ''));
  return {
    snapshot: basename(snapshotPath),
    generatedAt: now.toISOString(),
    counts: {
      snapshotMessages: snap.messages, snapshotPatients: snap.entries.length, storeActiveInScope: inScope, matched: counts.matched, identical,
      different: counts.different, missingInStore: counts.missingInStore, missingInSnapshot, retiredInStore: counts.retiredInStore,
      split: counts.split, duplicates: counts.duplicates,
      invalid: items.filter((i) => i.kind === 'invalid-in-snapshot').length, ignored: items.filter((i) => i.kind === 'ignored-in-snapshot').length,
    },
    domains: [...domains].sort(),
    items,
  };
}

/** True when the report found anything to look at. */
export function hasFindings(r: ReconcileReport): boolean {
  return r.items.length > 0;
}

/** CSV cell: quoted when needed; a leading = + - @ is neutralised so that a spreadsheet never runs it as a formula. */
function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n;]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One CSV row per difference (per item when it has none). UTF-8 with BOM so that spreadsheets read the accents. */
export function reportCsv(r: ReconcileReport): string {
  const rows: string[][] = [['kind', 'identifier', 'authority', 'position', 'control_id', 'field', 'store', 'snapshot', 'fixed_by_apply', 'detail']];
  for (const it of r.items) {
    const head = [it.kind, it.patient?.value ?? '', it.patient ? (it.patient.authority || it.patient.oid || '') : '', it.position?.toString() ?? '', it.controlId ?? ''];
    if (it.differences && it.differences.length > 0) {
      const cell = (v: unknown) => (v === null || v === undefined || (Array.isArray(v) && v.length === 0) ? '' : formatValue(v));
      for (const d of it.differences) rows.push([...head, d.field, cell(d.store), cell(d.snapshot), d.fixedByApply ? 'yes' : 'no', it.detail ?? '']);
    } else rows.push([...head, '', '', '', '', it.detail ?? '']);
  }
  return '\ufeff' + rows.map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** Writes the report (`.csv` → CSV, anything else → JSON) atomically (temporary name, then rename). */
export function writeReport(path: string, r: ReconcileReport): void {
  const text = extname(path).toLowerCase() === '.csv' ? reportCsv(r) : JSON.stringify(r, null, 2) + '\n';
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  writeFileSync(tmp, text, 'utf8');
  renameSync(tmp, path);
}
