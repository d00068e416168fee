/**
 * The PostgreSQL unit of work's model of the rows its group reads (unit-of-work.ts): patients, identifier → owner,
 * INS rows, links, the authority registry and the live ledger originals. Filled by the prefetch and by the database's
 * answers, kept exact by every write of the group; `MISS` means "not known here: ask the database". Changes made
 * inside an atomic step are undone when it fails.
 */
import { authorityKey, type Identifier } from '../../pam/types.js';
import type { AuthorityRow } from '../../identity/repo.js';
import type { InsRow, PatientRow } from '../../identity/types.js';
import type { OriginalRow } from '../ledger.js';

/** Answer of a cache lookup that the cache cannot give: ask the database. */
export const MISS: unique symbol = Symbol('miss');
export type Miss = typeof MISS;

const idKey = (authKey: string, value: string, type: string) => `${authKey}\u0000${value}\u0000${type}`;
const origKey = (app: string, fac: string, ctl: string) => `${app}\u0000${fac}\u0000${ctl}`;

/**
 * Exact in-memory model of the rows a group reads: patients, identifier → owner, INS rows, live ledger originals.
 * `MISS` means "not known here". Changes made inside a savepoint are undone when it is rolled back.
 */
export class GroupModel {
  private readonly patients = new Map<number, PatientRow>();
  /** identifier key → owning patient id, or null: known to have no row. */
  private readonly idOwner = new Map<string, number | null>();
  /** CX-1 values whose every identifier row is in idOwner (a key of such a value absent from idOwner has no row). */
  private readonly idValues = new Set<string>();
  /** Every INS row of a patient, in id order. */
  private readonly insOf = new Map<number, InsRow[]>();
  /** Every INS row with a value, in id order. */
  private readonly insByValue = new Map<string, InsRow[]>();
  /** Live ledger original per idempotency key (null: none); id undefined for a row this group inserted. */
  private readonly originals = new Map<string, (Omit<OriginalRow, 'id'> & { id: number | undefined }) | null>();
  /** MSH-10 values whose live originals are all in `originals`. */
  private readonly ctlValues = new Set<string>();
  /** Every link of a patient, in id order (id undefined: inserted by this group). */
  private readonly linksOf = new Map<number, Array<{ id: number | undefined; patient_a: number; patient_b: number }>>();
  /** Next id patients_id_seq will give, null when unknown. */
  private nextPatientId: number | null = null;
  private readonly undoLog: Array<() => void> = [];
  private depth = 0;

  // --- savepoints -----------------------------------------------------------------------------------------
  enter(): number { this.depth++; return this.undoLog.length; }
  leave(mark: number, rollback: boolean): void {
    if (rollback) while (this.undoLog.length > mark) this.undoLog.pop()!();
    if (--this.depth === 0) this.undoLog.length = 0;
  }
  private set<K, V>(m: Map<K, V>, k: K, v: V): void {
    if (this.depth > 0) {
      const had = m.has(k);
      const old = m.get(k);
      this.undoLog.push(() => { if (had) m.set(k, old as V); else m.delete(k); });
    }
    m.set(k, v);
  }
  private unset<K, V>(m: Map<K, V>, k: K): void {
    if (!m.has(k)) return;
    if (this.depth > 0) { const old = m.get(k) as V; this.undoLog.push(() => m.set(k, old)); }
    m.delete(k);
  }
  private forgetValue(set: Set<string>, v: string): void {
    if (!set.has(v)) return;
    if (this.depth > 0) this.undoLog.push(() => set.add(v));
    set.delete(v);
  }

  // --- prefetch -------------------------------------------------------------------------------------------
  learnPatient(row: PatientRow): void {
    if ('k' in row) { const { k: _k, ...rest } = row as PatientRow & { k?: unknown }; row = rest as PatientRow; }
    this.patients.set(row.id, row);
  }
  /** Every identifier row of each value in `values` (with its patient row). */
  learnIdentifierValues(values: Iterable<string>, rows: ReadonlyArray<{ auth_key: string; value: string; type: string; patient: PatientRow }>): void {
    for (const r of rows) { this.learnPatient(r.patient); this.idOwner.set(idKey(r.auth_key, r.value, r.type), r.patient.id); }
    for (const v of values) this.idValues.add(v);
  }
  /** Every INS row of the patients `owners` and of the values `values`, in id order. */
  learnIns(owners: Iterable<number>, values: Iterable<string>, rows: readonly InsRow[]): void {
    const own = new Set(owners);
    const vals = new Set(values);
    for (const p of own) this.insOf.set(p, []);
    for (const v of vals) this.insByValue.set(v, []);
    for (const r of rows) {
      const row: InsRow = { patient_id: r.patient_id, value: r.value, oid: r.oid, kind: r.kind };
      if (own.has(row.patient_id)) this.insOf.get(row.patient_id)!.push(row);
      if (vals.has(row.value)) this.insByValue.get(row.value)!.push(row);
    }
  }
  /** Every live original whose MSH-10 is in `controlIds`. */
  learnOriginals(controlIds: Iterable<string>, rows: ReadonlyArray<OriginalRow & { sending_app: string; sending_facility: string; control_id: string }>): void {
    for (const r of rows) {
      this.originals.set(origKey(r.sending_app, r.sending_facility, r.control_id),
        { id: r.id, content_sha256: r.content_sha256, outcome: r.outcome, status: r.status, ack: r.ack, patient_id: r.patient_id });
    }
    for (const c of controlIds) this.ctlValues.add(c);
  }
  private patientIdStep = 1;
  setNextPatientId(n: number | null, step = 1): void { this.nextPatientId = n; this.patientIdStep = step; }

  // --- patients -------------------------------------------------------------------------------------------
  patient(id: number): PatientRow | Miss { return this.patients.get(id) ?? MISS; }

  /** The owner of each identifier (undefined: none), or MISS when any of them is not known. */
  patientsByIdentifiers(ids: readonly Identifier[]): Array<PatientRow | undefined> | Miss {
    const out: Array<PatientRow | undefined> = [];
    for (const id of ids) {
      const owner = this.idOwner.get(idKey(authorityKey(id), id.value, id.type));
      if (owner === undefined) {
        if (!this.idValues.has(id.value)) return MISS;
        out.push(undefined);
      } else if (owner === null) out.push(undefined);
      else {
        const row = this.patients.get(owner);
        if (!row) return MISS;
        out.push(row);
      }
    }
    return out;
  }
  /** Database answers for these identifiers (read after every pending write was sent). */
  learnIdentifiers(ids: readonly Identifier[], rows: ReadonlyArray<PatientRow | undefined>): void {
    ids.forEach((id, i) => {
      const row = rows[i];
      if (row) this.learnPatient(row);
      this.idOwner.set(idKey(authorityKey(id), id.value, id.type), row ? row.id : null);
    });
  }

  /** The id the next patient INSERT will get, or null when unknown. */
  allocPatientId(): number | null {
    const id = this.nextPatientId;
    if (id === null) return null;
    if (this.depth > 0) this.undoLog.push(() => { this.nextPatientId = id; });
    this.nextPatientId = id + this.patientIdStep;
    return id;
  }
  /** A patient this group created: its row, and no INS or link yet. */
  putPatient(row: PatientRow): void {
    this.set(this.patients, row.id, row);
    this.set(this.insOf, row.id, []);
    this.set(this.linksOf, row.id, []);
  }
  /** Columns changed by an UPDATE of a cached row (a row not cached is left to the database). */
  patchPatient(id: number, patch: Partial<PatientRow>): void {
    const row = this.patients.get(id);
    if (row) this.set(this.patients, id, { ...row, ...patch });
  }
  /** `UPDATE patients SET merged_into = to WHERE merged_into = from` on the cached rows. */
  repoint(from: number, to: number): void {
    for (const [id, row] of this.patients) if (row.merged_into === from) this.set(this.patients, id, { ...row, merged_into: to });
  }

  // --- identifiers ----------------------------------------------------------------------------------------
  /** Owner of one identifier: a patient id, null (none), or MISS. */
  owner(id: Identifier): number | null | Miss {
    const o = this.idOwner.get(idKey(authorityKey(id), id.value, id.type));
    if (o !== undefined) return o;
    return this.idValues.has(id.value) ? null : MISS;
  }
  setOwner(id: Identifier, patientId: number | null): void {
    this.set(this.idOwner, idKey(authorityKey(id), id.value, id.type), patientId);
  }
  /** After a change whose effect on this identifier is not known: nothing about its value is answered any more. */
  forgetIdentifier(id: Identifier): void {
    const k = idKey(authorityKey(id), id.value, id.type);
    if (this.idOwner.has(k)) {
      const old = this.idOwner.get(k);
      if (this.depth > 0) this.undoLog.push(() => this.idOwner.set(k, old!));
      this.idOwner.delete(k);
    }
    this.forgetValue(this.idValues, id.value);
  }

  // --- authorities (authorities.ts) ---------------------------------------------------------------------
  private authorityRows: AuthorityRow[] | null = null;
  /** Every registry row, or MISS before the group first read them. */
  authorities(): readonly AuthorityRow[] | Miss { return this.authorityRows ?? MISS; }
  learnAuthorities(rows: readonly AuthorityRow[]): void {
    this.authorityRows = rows.map((r) => ({ namespace: r.namespace, oid: r.oid }));
  }
  /** A registry row inserted (`before` null) or completed. */
  putAuthority(before: AuthorityRow | null, after: AuthorityRow): void {
    const rows = this.authorityRows;
    if (!rows) return;
    if (this.depth > 0) this.undoLog.push(() => { this.authorityRows = rows; });
    this.authorityRows = before === null ? [...rows, after]
      : rows.map((r) => (r.namespace === before.namespace && r.oid === before.oid ? after : r));
  }
  /** `UPDATE identifiers SET auth_key = to WHERE auth_key = from` on the known owners. */
  rekeyIdentifiers(fromKey: string, toKey: string): void {
    const prefix = `${fromKey}\u0000`;
    for (const [k, owner] of [...this.idOwner]) {
      if (!k.startsWith(prefix)) continue;
      const moved = `${toKey}\u0000${k.slice(prefix.length)}`;
      this.unset(this.idOwner, k);
      this.set(this.idOwner, moved, owner);
    }
  }

  // --- INS ------------------------------------------------------------------------------------------------
  insList(patientId: number): InsRow[] | Miss { return this.insOf.get(patientId) ?? MISS; }
  insOfValue(value: string): InsRow[] | Miss { return this.insByValue.get(value) ?? MISS; }
  learnInsList(patientId: number, rows: readonly InsRow[]): void {
    this.insOf.set(patientId, rows.map((r) => ({ patient_id: r.patient_id, value: r.value, oid: r.oid, kind: r.kind })));
  }
  learnInsValue(value: string, rows: readonly InsRow[]): void {
    this.insByValue.set(value, rows.map((r) => ({ patient_id: r.patient_id, value: r.value, oid: r.oid, kind: r.kind })));
  }
  /** `DELETE FROM ins WHERE patient_id = ?`; returns the rows removed when the patient's list is known. */
  removeIns(patientId: number): number | Miss {
    const list = this.insOf.get(patientId);
    const drop = (v: string, rows: InsRow[]) => {
      if (rows.some((r) => r.patient_id === patientId)) this.set(this.insByValue, v, rows.filter((r) => r.patient_id !== patientId));
    };
    if (list) {
      // The patient's rows are known: only their values can list it.
      for (const r of list) { const rows = this.insByValue.get(r.value); if (rows) drop(r.value, rows); }
    } else {
      for (const [v, rows] of this.insByValue) drop(v, rows);
    }
    if (list?.length !== 0) this.set(this.insOf, patientId, []);
    return list ? list.length : MISS;
  }
  addIns(row: InsRow): void {
    const list = this.insOf.get(row.patient_id);
    if (list) this.set(this.insOf, row.patient_id, [...list, row]);
    const byValue = this.insByValue.get(row.value);
    if (byValue) this.set(this.insByValue, row.value, [...byValue, row]);
  }

  // --- links ----------------------------------------------------------------------------------------------
  /** Every link of the patients `owners`, in id order. */
  learnLinks(owners: Iterable<number>, rows: ReadonlyArray<{ id: number; patient_a: number; patient_b: number }>): void {
    const own = new Set(owners);
    for (const p of own) this.linksOf.set(p, []);
    for (const r of rows) {
      const l = { id: r.id, patient_a: r.patient_a, patient_b: r.patient_b };
      if (own.has(l.patient_a)) this.linksOf.get(l.patient_a)!.push(l);
      if (own.has(l.patient_b) && l.patient_b !== l.patient_a) this.linksOf.get(l.patient_b)!.push(l);
    }
  }
  /** The links of a patient (listLinks), or MISS when unknown or when one was inserted by this group (its id is not known). */
  links(patientId: number): Array<{ id: number; patient_a: number; patient_b: number }> | Miss {
    const list = this.linksOf.get(patientId);
    if (!list || list.some((l) => l.id === undefined)) return MISS;
    return list as Array<{ id: number; patient_a: number; patient_b: number }>;
  }
  /** Whether the ordered pair (a < b) is linked, or MISS. */
  hasLink(a: number, b: number): boolean | Miss {
    const list = this.linksOf.get(a);
    return list ? list.some((l) => l.patient_a === a && l.patient_b === b) : MISS;
  }
  addLink(a: number, b: number): void {
    const l = { id: undefined, patient_a: a, patient_b: b };
    for (const p of [a, b]) { const list = this.linksOf.get(p); if (list) this.set(this.linksOf, p, [...list, l]); }
  }
  /** Removes the link of the ordered pair (a, b), or the link with this id, from the known lists. */
  removeLink(match: (l: { id: number | undefined; patient_a: number; patient_b: number }) => boolean): void {
    for (const [p, list] of this.linksOf) if (list.some(match)) this.set(this.linksOf, p, list.filter((l) => !match(l)));
  }
  learnLinkList(patientId: number, rows: ReadonlyArray<{ id: number; patient_a: number; patient_b: number }>): void {
    this.linksOf.set(patientId, rows.map((r) => ({ id: r.id, patient_a: r.patient_a, patient_b: r.patient_b })));
  }
  /** After a link change whose effect on these patients' lists is not known. */
  forgetLinks(...patientIds: number[]): void {
    for (const p of patientIds) {
      if (!this.linksOf.has(p)) continue;
      const old = this.linksOf.get(p)!;
      if (this.depth > 0) this.undoLog.push(() => this.linksOf.set(p, old));
      this.linksOf.delete(p);
    }
  }

  // --- ledger ---------------------------------------------------------------------------------------------
  /** The live original of a key: a row, undefined (none), or MISS (unknown, or inserted by this group: its id is not known). */
  original(app: string, fac: string, ctl: string): OriginalRow | undefined | Miss {
    const o = this.originals.get(origKey(app, fac, ctl));
    if (o === undefined) return this.ctlValues.has(ctl) ? undefined : MISS;
    if (o === null) return undefined;
    if (o.id === undefined) return MISS;
    return o as OriginalRow;
  }
  /** A ledger row inserted by this group that owns its key (status neither duplicate nor conflict). */
  addOriginal(app: string, fac: string, ctl: string, row: Omit<OriginalRow, 'id'>): void {
    this.set(this.originals, origKey(app, fac, ctl), { ...row, id: undefined });
  }
  /** The original with this ledger id was superseded (no longer live). */
  supersede(id: number): void {
    for (const [k, o] of this.originals) if (o && o.id === id) this.set(this.originals, k, null);
  }
}

