/**
 * PostgreSQL group mode: a group of messages (one transaction, groupSize messages) in a handful of round trips
 * instead of ~8 per message (BENCHMARKS.md "PostgreSQL").
 *
 * Every statement on PostgreSQL is a loopback round trip, and node-postgres 8 cannot pipeline prepared statements.
 * A group therefore runs optimistically:
 *
 * 1. **Prefetch.** One query each for everything the group's messages can read: the identifiers carrying any CX-1
 *    value seen in their PID-3 / MRG-1 (with their patient rows), the INS rows of those patients and of those values,
 *    and the live ledger rows of their MSH-10 values. The values are read from the raw bytes with a plain split;
 *    one read differently (escapes, another charset) is simply not prefetched. The answers are exact for every value
 *    asked about, so `GroupCache` answers a lookup of such a value from memory, and anything else from the database.
 * 2. **Write-behind.** Writes whose result is not needed (`Tx.defer`) are formatted with escaped literals and sent
 *    later, in order, as one multi-statement simple query (one round trip, not awaited: the database works while the
 *    next messages are parsed). Every write also updates the cache, so the group's later messages read their own
 *    writes. The id of a new patient is predicted from the sequence (nothing else draws from it under the store-wide
 *    apply lock) and checked against `RETURNING id` when the INSERT runs. A read the cache cannot answer first sends
 *    the pending writes, so it sees them.
 * 3. **Per-message atomicity** without a SAVEPOINT per message: a message that is rejected (or throws) before any of
 *    its writes left the process simply has them dropped and the cache changes undone. Anything else — a write that
 *    fails in the database, a wrong predicted id, a message failing after its writes were sent — marks the group
 *    failed: it is rolled back to its own savepoint and run again exactly as before this mode existed (a real
 *    SAVEPOINT per message, every statement in its own round trip), so a failing message still rolls back alone
 *    and gets its AE, and the other messages of the group commit.
 *
 * The cache is an exact model of the rows it holds, not a guess: the outcome, ACK bytes, history and every table
 * are the same as statement by statement. Rows ids are too: statements run in the original order, each sequence is
 * drawn in the same order, and a group redone after a failure is the only case where ids can differ (sequence values
 * used by the abandoned attempt are not given back, as for any rolled-back statement).
 */
import { authorityKey, type Identifier } from '../pam/types.js';
import { KnexTx, pgStatement, type PgConnection, type Row, type Tx } from './tx.js';
import type { InsRow, PatientRow } from './identity.js';
import type { AuthorityRow } from './authorities.js';

/** Key of the transaction-scoped advisory lock serialising group transactions (lease.ts APPLY_LOCK_KEY, 'pamd'). */
const APPLY_LOCK_KEY = 0x70616d64;

/** Answer of a cache lookup that the cache cannot give: ask the database. */
export const MISS: unique symbol = Symbol('miss');
export type Miss = typeof MISS;

/** The columns findOriginal reads (ledger.ts). */
export interface OriginalRow { id: number; content_sha256: string; outcome: string; status: string; ack: Buffer; patient_id: number | null }

const idKey = (authKey: string, value: string, type: string) => `${authKey}\u0000${value}\u0000${type}`;
const origKey = (app: string, fac: string, ctl: string) => `${app}\u0000${fac}\u0000${ctl}`;

/**
 * Exact in-memory model of the rows a group reads: patients, identifier → owner, INS rows, live ledger originals.
 * `MISS` means "not known here". Changes made inside a savepoint are undone when it is rolled back.
 */
export class GroupCache {
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

// ---------------------------------------------------------------------------------------------------------
// Literal formatting for the write-behind simple queries

class NotFormattable extends Error {}

/** A bound value as an SQL literal: escaped text (an untyped literal, typed by its column like a parameter), bytea hex, NULL. */
function literal(v: unknown, escapeLiteral: (s: string) => string): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? "'1'" : "'0'";
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new NotFormattable('number');
    return `'${v}'`;
  }
  if (typeof v === 'bigint') return `'${v}'`;
  if (typeof v === 'string') {
    // A NUL cannot be sent inside a query text (it would end it): such a statement runs as a prepared one.
    if (v.includes('\u0000')) throw new NotFormattable('NUL');
    // Without a quote or a backslash, escapeLiteral's answer is the text between quotes.
    return /['\\]/.test(v) ? escapeLiteral(v) : `'${v}'`;
  }
  if (Buffer.isBuffer(v)) return `'\\x${v.toString('hex')}'::bytea`;
  throw new NotFormattable(typeof v);
}

/** `?` placeholders (the store's portable SQL) replaced by literals; NotFormattable for knex.raw's other syntax. */
function inline(sql: string, params: readonly unknown[] | undefined, escapeLiteral: (s: string) => string): string {
  let parts = templates.get(sql);
  if (parts === undefined) {
    parts = pgStatement(sql) ? sql.split('?') : null;
    templates.set(sql, parts);
  }
  if (parts === null) throw new NotFormattable('syntax');
  const n = parts.length - 1;
  if ((params?.length ?? 0) !== n) throw new NotFormattable('arity');
  let out = parts[0]!;
  for (let i = 0; i < n; i++) out += literal(params![i], escapeLiteral) + parts[i + 1]!;
  return out;
}
/** SQL texts split at their `?` placeholders (null: knex.raw's other syntax, never inlined). */
const templates = new Map<string, string[] | null>();

/**
 * The shape of a deferred statement: its table, and for an `INSERT … VALUES (…)[, (…)] [RETURNING …]` the head and
 * tail that several of them share when merged into one multi-row INSERT (with its number of rows).
 */
interface Shape { table: string | null; head: string | null; tail: string; rows: number; valuesSql: string | null }
const shapes = new Map<string, Shape>();
function shapeOf(sql: string): Shape {
  let sh = shapes.get(sql);
  if (!sh) {
    const ins = /^\s*INSERT INTO (\w+) (\([^()]*\))\s+VALUES\s+([^]*?)(\s+RETURNING\s+[\w\s,]+)?\s*$/i.exec(sql);
    const other = /^\s*(?:UPDATE|DELETE FROM) (\w+)\s/i.exec(sql);
    sh = ins && !/\bON CONFLICT\b/i.test(sql) && /^\([^()]*\)(\s*,\s*\([^()]*\))*$/.test(ins[3]!)
      ? { table: ins[1]!.toLowerCase(), head: `INSERT INTO ${ins[1]} ${ins[2]} VALUES `, tail: ins[4] ?? '', rows: ins[3]!.split(/\)\s*,\s*\(/).length, valuesSql: ins[3]! }
      : { table: other ? other[1]!.toLowerCase() : null, head: null, tail: '', rows: 1, valuesSql: null };
    shapes.set(sql, sh);
  }
  return sh;
}

/**
 * Order in which the tables' deferred statements run in one round trip. Each table keeps its own statements in their
 * original order, so every sequence is drawn in the same order and a later statement on a row sees the earlier ones;
 * across tables the only dependencies are foreign keys to patients (inserted first), and no deferred statement
 * deletes a patient. A batch with any other statement runs in its original order.
 */
const TABLE_ORDER = ['patients', 'identifiers', 'ins', 'links', 'history', 'messages'];

interface Pending {
  /** The full statement (original order), and for an INSERT its VALUES rows alone (merging). */
  text: string; values: string | null; shape: Shape | null;
  check?: (r: { rows: Row[]; rowCount: number }) => boolean;
}
interface Sent { parts: Array<{ p: Pending; rows: number }> }

/**
 * The batch as statements: per table in TABLE_ORDER, consecutive INSERTs of the same shape merged into one; and the
 * batch's text, joined once from its pieces (the VALUES rows are ~2 MB per group: joining them per statement, then
 * the statements, copied them twice).
 */
function plan(batch: readonly Pending[]): { sent: Sent[]; text: string } {
  const tail: Pending[] = [];
  const byTable = new Map<string, Pending[]>(TABLE_ORDER.map((t) => [t, []]));
  for (const p of batch) {
    const list = p.shape?.table ? byTable.get(p.shape.table) : undefined;
    if (list) list.push(p);
    else if (p.shape === null && p === batch[batch.length - 1]) tail.push(p); // the RELEASE at the end of a group
    else return { sent: batch.map((x) => ({ parts: [{ p: x, rows: x.shape?.rows ?? 1 }] })), text: batch.map((x) => x.text).join(';\n') };
  }
  const out: Sent[] = [];
  const pieces: string[] = [];
  const statement = (...xs: string[]) => { if (pieces.length > 0) pieces.push(';\n'); pieces.push(...xs); };
  for (const t of TABLE_ORDER) {
    let cur: { sent: Sent; head: string; tail: string } | null = null;
    const close = () => { if (cur) { pieces.push(cur.tail); out.push(cur.sent); cur = null; } };
    for (const p of byTable.get(t)!) {
      const sh = p.shape!;
      if (sh.head !== null && p.values !== null) {
        const c = cur as { sent: Sent; head: string; tail: string } | null;
        if (c && c.head === sh.head && c.tail === sh.tail) {
          pieces.push(', ', p.values);
          c.sent.parts.push({ p, rows: sh.rows });
          continue;
        }
        close();
        cur = { sent: { parts: [{ p, rows: sh.rows }] }, head: sh.head, tail: sh.tail };
        statement(sh.head, p.values);
        continue;
      }
      close();
      statement(p.text);
      out.push({ parts: [{ p, rows: 1 }] });
    }
    close();
  }
  for (const p of tail) { statement(p.text); out.push({ parts: [{ p, rows: 1 }] }); }
  return { sent: out, text: pieces.join('') };
}

// ---------------------------------------------------------------------------------------------------------
// The group's Tx

/**
 * The group attempt cannot be trusted any more: it is rolled back and redone statement by statement. The original
 * error is `reason`, not `cause`: it is not this message's error, so the pipeline must not retry the message for it
 * (store/retry.ts follows `cause`); the redo meets the error again, in its own savepoint, if it is real.
 */
export class GroupFailed extends Error {
  override readonly name = 'GroupFailed';
  constructor(readonly reason: unknown) { super(`group attempt abandoned: ${(reason as Error)?.message ?? String(reason)}`); }
}

type PgResult = { rows?: Row[]; rowCount?: number | null };

/**
 * Write-behind batching. One batch is in flight at a time (node-postgres runs one query at a time per client). When
 * none is, the buffer is sent as soon as it holds EAGER_STATEMENTS, so PostgreSQL works while the next messages are
 * processed and little is left to wait for at the end of the group; while one is in flight the buffer grows (bigger
 * batches when PostgreSQL is the slower side) and is sent when that batch's answer is read. Past MAX_BUFFERED the
 * messages wait for the batch in flight.
 */
const EAGER_STATEMENTS = 100;
const MAX_BUFFERED = 1600;
/** A group's message loop lets the event loop run (read a batch's answer, send the next) at least this often (ms). */
const YIELD_MS = 1;

let groupSeq = 0;
/** A statement that cannot write: a plain SELECT without a sequence function (nextval, setval). */
const READ_ONLY = /^(?![^]*\b(?:nextval|setval)\s*\()\s*SELECT\b/i;
/** PAMDROP_PG_GROUP_TRACE=1: cache misses and abandoned attempts on stderr (diagnosis, counting round trips). */
const TRACE = !!process.env.PAMDROP_PG_GROUP_TRACE;
/** PAMDROP_PG_GROUP_TRACE: when the previous group attempt finished (the time between two groups: COMMIT, ACK files, reading). */
let lastGroupEnd = 0;

/** Tx of one optimistic group attempt on a PostgreSQL transaction's connection. */
export class PgGroupTx implements Tx {
  readonly dialect = 'pg' as const;
  readonly groupCache = new GroupCache();
  private buf: Pending[] = [];
  /** The write-behind batch in flight, settled (never rejected) when its answer was read and checked. */
  private running: Promise<void> | null = null;
  private lastYield = 0;
  /** Set once the attempt must be abandoned; every later call throws it. */
  failure: GroupFailed | null = null;
  /**
   * Per open savepoint (innermost last): where its writes begin in `buf`, and whether any write of it has left the
   * process (sent in a write-behind batch, or run directly). A batch sent because of a read holds only earlier
   * messages' writes when the savepoint had not deferred any yet: a message rejected after such a read is still
   * dropped alone, without abandoning the group.
   */
  private readonly marks: number[] = [];
  private readonly sent: boolean[] = [];
  private readonly savepointName = `pamdrop_grp${++groupSeq}`;
  private started = false;
  /** PAMDROP_PG_GROUP_TRACE: time spent waiting for write-behind round trips. */
  waitedMs = 0;

  /** node-postgres's own escaping (Client#escapeLiteral: quotes doubled, E'' with backslashes doubled when needed). */
  private readonly escapeLiteral: (s: string) => string;

  constructor(private readonly conn: PgConnection & { escapeLiteral?: (s: string) => string }) {
    if (typeof conn.escapeLiteral !== 'function') throw new Error('PostgreSQL client without escapeLiteral');
    this.escapeLiteral = conn.escapeLiteral.bind(conn);
  }

  private fail(err: unknown): GroupFailed {
    if (!this.failure) this.failure = err instanceof GroupFailed ? err : new GroupFailed(err);
    return this.failure;
  }
  private guard(): void { if (this.failure) throw this.failure; }

  private async query(config: string | { name?: string; text: string; values?: unknown[] }): Promise<PgResult | PgResult[]> {
    try {
      return await this.conn.query(config) as PgResult | PgResult[];
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Sends the pending writes as one round trip, not awaited, unless a batch is in flight (its answer sends them). */
  private send(): void {
    if (this.running || this.buf.length === 0 || this.failure) return;
    const batch = this.buf;
    this.buf = [];
    for (let i = 0; i < this.marks.length; i++) {
      if (batch.length > this.marks[i]!) this.sent[i] = true;
      this.marks[i] = 0;
    }
    const { sent, text } = plan(batch);
    const p = this.query(text).then((res) => {
      const list = Array.isArray(res) ? res : [res];
      if (list.length !== sent.length) throw this.fail(new Error(`group write-behind: ${list.length} results for ${sent.length} statements`));
      sent.forEach((x, i) => {
        const r = list[i]!;
        let row = 0;
        for (const { p: part, rows } of x.parts) {
          // A merged INSERT … RETURNING answers its rows in VALUES order: each part gets its own.
          const mine = x.parts.length === 1 ? { rows: r.rows ?? [], rowCount: r.rowCount ?? 0 } : { rows: (r.rows ?? []).slice(row, row + rows), rowCount: rows };
          row += rows;
          if (part.check && !part.check(mine)) throw this.fail(new Error(`group write-behind check failed: ${part.text.slice(0, 60)}`));
        }
      });
    }).then(() => {
      this.running = null;
      // What was deferred meanwhile goes at once: the connection is free again.
      if (this.buf.length >= EAGER_STATEMENTS) this.send();
    }, (err: unknown) => {
      this.running = null;
      this.fail(err); // every later call throws it
    });
    this.running = p;
  }
  /** Waits for the batch in flight, if any; throws if the attempt failed. */
  private async waitRunning(): Promise<void> {
    const tw = TRACE ? performance.now() : 0;
    if (this.running) await this.running;
    if (TRACE) this.waitedMs += performance.now() - tw;
    this.guard();
  }
  /**
   * Sends the pending writes and waits for all of them: the database then holds everything written so far, and every
   * answer was read and checked. The answer of a batch may send the next one at once (eager write-behind): after a
   * wait, a batch can be in flight again with the buffer empty, so the loop ends only when neither is left. (Returning
   * on an empty buffer alone let finish() return while its last batch was in flight: a failure in that batch aborted
   * the transaction unseen, and PostgreSQL answers COMMIT in an aborted transaction with a silent ROLLBACK.)
   */
  private async sync(): Promise<void> {
    for (;;) {
      await this.waitRunning();
      if (this.running) continue;
      if (this.buf.length === 0) return;
      this.send();
    }
  }
  /**
   * Called by the group's message loop between messages: while a batch is in flight, lets the event loop run now and
   * then (the messages' awaits are answered from the cache, without I/O), so that its answer is read and the
   * buffered writes are sent without waiting for the end of the group.
   */
  async between(): Promise<void> {
    if (!this.running) return;
    const now = performance.now();
    if (now - this.lastYield < YIELD_MS) return;
    this.lastYield = now;
    await new Promise<void>((r) => setImmediate(r));
  }

  /** Advisory lock, the group savepoint, and the prefetch for these raw messages. */
  async begin(raws: ReadonlyArray<{ bytes: Buffer }>): Promise<void> {
    // The store-wide apply lock (lease.ts takes it too when fencing; it is re-entrant): no other instance writes
    // identities until COMMIT, so what is read now stays true for the whole group.
    // No JIT for this transaction (SET LOCAL: until its COMMIT or ROLLBACK; before the savepoint, so a redo keeps it):
    // the prefetch's nested loops of ~1,400 index lookups are estimated from default statistics on a store not yet
    // analysed, above jit_above_cost, and compiling them (inlining, optimisation) took ~150 ms per group for a query
    // that runs in ~5 ms. Nothing this mode runs is long enough to gain from JIT.
    // Two round trips in all (there were seven): the lock, the savepoint and every read that does not depend on
    // another, then the reads that need the owners found by the first (prefetch below). The lists travel as array
    // literals (escapeLiteral) in simple queries, which run several statements per round trip.
    // Set before the first round trip: a failure after its SAVEPOINT still rolls back to it (abandon).
    this.started = true;
    let seq: { name: string | null; inc: string } | undefined;
    await prefetch(this.groupCache, raws, this.escapeLiteral, async (reads, first) => {
      const head = first ? [`SET LOCAL jit = off`, `SELECT pg_advisory_xact_lock(${APPLY_LOCK_KEY})`, `SAVEPOINT ${this.savepointName}`] : [];
      // The sequence's state as nextval() reads it: its name first, then last_value and whether it was drawn (else
      // last_value comes next). pg_get_serial_sequence answers the name quoted as needed.
      const tail = first ? [SQL_PATIENT_SEQUENCE] : seq?.name ? [`SELECT last_value AS last, is_called AS called FROM ${seq.name}`] : [];
      const all = [...head, ...reads, ...tail];
      if (all.length === 0) return [];
      const tq = TRACE ? performance.now() : 0;
      const res = await this.query(all.join(';\n'));
      if (TRACE) process.stderr.write(`pg-group prefetch ${(performance.now() - tq).toFixed(0)} ms (${first ? 'lock, savepoint, ' : ''}${reads.length} reads)\n`);
      const list = (Array.isArray(res) ? res : [res]).map((r) => r.rows ?? []);
      if (first) seq = list[list.length - 1]![0] as typeof seq;
      else if (tail.length > 0) {
        const st = list[list.length - 1]![0] as { last: string; called: boolean } | undefined;
        const inc = Number(seq!.inc);
        if (st) this.groupCache.setNextPatientId(st.called ? Number(st.last) + inc : Number(st.last), inc);
      }
      return list.slice(head.length, head.length + reads.length);
    });
  }

  /** Sends what is left and releases the group savepoint; throws GroupFailed when anything failed. */
  async finish(): Promise<void> {
    this.guard();
    this.buf.push({ text: `RELEASE SAVEPOINT ${this.savepointName}`, values: null, shape: null });
    await this.sync();
    // The caller commits next: nothing may still be unsent or unanswered (see sync()).
    if (this.running || this.buf.length > 0) throw this.fail(new Error('group write-behind: writes still pending at the end of the group'));
    this.guard();
  }

  /** Abandons the attempt: rolls back to the group savepoint (the transaction is usable again). */
  async abandon(): Promise<void> {
    if (TRACE) process.stderr.write(`pg-group abandoned: ${this.failure?.message ?? 'error'}\n`);
    this.buf = [];
    while (this.running) await this.running;
    if (!this.started) return;
    try {
      await this.conn.query(`ROLLBACK TO SAVEPOINT ${this.savepointName}; RELEASE SAVEPOINT ${this.savepointName}`);
    } catch (err) {
      // The first round trip failed before its SAVEPOINT (the lock): the transaction cannot be saved; its error, not this one.
      throw this.failure && !(this.failure.reason instanceof GroupFailed) && this.failure.reason instanceof Error ? this.failure.reason : err;
    }
  }

  // --- Tx ---------------------------------------------------------------------------------------------------
  private async read(sql: string, params?: readonly unknown[]): Promise<{ rows: Row[]; changes: number }> {
    this.guard();
    // A statement that may write (run/get of an INSERT, UPDATE, DELETE…) runs at once: it belongs to every open savepoint.
    if (this.sent.length > 0 && !READ_ONLY.test(sql)) this.sent.fill(true);
    if (TRACE) process.stderr.write(`pg-group read ${sql.slice(0, 80).replace(/\s+/g, ' ')}\n`);
    const tw = TRACE ? performance.now() : 0;
    await this.sync();
    if (TRACE) this.waitedMs += performance.now() - tw;
    const st = pgStatement(sql);
    const values = (params ?? []).map((p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : p));
    let res: PgResult | PgResult[];
    try {
      res = await this.conn.query(st ? { name: st.name, text: st.text, values } : { text: sql, values });
    } catch (err) {
      if (err instanceof Error && st) err.message = `${st.text} - ${err.message}`;
      throw this.fail(err);
    }
    const r = Array.isArray(res) ? res[res.length - 1]! : res;
    return { rows: r.rows ?? [], changes: r.rowCount ?? 0 };
  }
  async all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]> { return (await this.read(sql, params)).rows as T[]; }
  async get<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined> { return (await this.read(sql, params)).rows[0] as T | undefined; }
  async run(sql: string, params?: readonly unknown[]): Promise<number> { return (await this.read(sql, params)).changes; }

  async defer(sql: string, params?: readonly unknown[], check?: Pending['check']): Promise<void> {
    this.guard();
    let text: string;
    let values: string | null = null;
    const shape = shapeOf(sql);
    try {
      if (shape.head !== null && shape.valuesSql !== null) {
        // An INSERT: its VALUES rows alone (merged with others), and the statement rebuilt around them.
        values = inline(shape.valuesSql, params, this.escapeLiteral);
        text = shape.head + values + shape.tail;
      } else text = inline(sql, params, this.escapeLiteral);
    } catch (err) {
      if (!(err instanceof NotFormattable)) throw err;
      const r = await this.read(sql, params);
      if (check && !check({ rows: r.rows, rowCount: r.changes })) throw this.fail(new Error('group write check failed'));
      return;
    }
    this.buf.push(check ? { text, values, shape, check } : { text, values, shape });
    if (this.running) {
      if (this.buf.length >= MAX_BUFFERED) { await this.waitRunning(); this.send(); }
    } else if (this.buf.length >= EAGER_STATEMENTS) this.send();
  }

  /**
   * No SAVEPOINT is sent: a failure before any of fn's writes were sent drops them and undoes the cache; any
   * other failure abandons the group attempt (it is redone with real savepoints).
   */
  async savepoint<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    this.guard();
    const mark = this.groupCache.enter();
    const level = this.marks.length;
    this.marks.push(this.buf.length);
    this.sent.push(false);
    let ok = false;
    try {
      const out = await fn(this);
      ok = true;
      return out;
    } catch (err) {
      if (this.failure || this.sent[level]) throw this.fail(err);
      this.buf.length = this.marks[level]!;
      throw err;
    } finally {
      this.marks.length = level;
      this.sent.length = level;
      this.groupCache.leave(mark, !ok);
    }
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> { return this.savepoint(fn); }
}

// Prefetch statements (one array parameter per list). Every value is looked up on its own through a LATERAL
// subquery fenced with OFFSET 0, so each one is an index lookup whatever the planner's statistics say. Left to the
// planner, a join with `unnest()` (or `= ANY(array)`) is planned from estimates that lag behind a store growing by
// thousands of rows a second: on the 100k benchmark it became hash joins over sequential scans of identifiers and
// patients, growing from ~35 to ~200 ms per group, half the import's wall time. The messages lookup keeps the
// partial key index's predicate outside the fence: inside, the planner picks uq_messages_key, whose control_id is
// its third column (a full index scan per value, ~2 ms each), over ix_messages_control. Not links.patient_b, which has no index of its own (uq_links leads with
// patient_a): one join, a single scan of the (small) links table at worst. They run unnamed (a plan for these values).
const PREFETCH_SQL = {
  identifiers: `SELECT i.auth_key AS ik_auth, i.value AS ik_value, i.type AS ik_type, p.id, p.active, p.merged_into,
  p.status, p.attributes, p.birth_name, p.first_name, p.birth_given_names, p.used_name, p.used_first_name, p.birth_date, p.sex,
  p.birth_place, p.names, p.addresses, p.other, p.last_message_time, p.created_at, p.updated_at
  FROM unnest(?::text[]) AS u(v)
  CROSS JOIN LATERAL (SELECT auth_key, value, type, patient_id FROM identifiers WHERE value = u.v OFFSET 0) i
  CROSS JOIN LATERAL (SELECT * FROM patients WHERE id = i.patient_id OFFSET 0) p`,
  ins: `SELECT n.id, n.patient_id, n.value, n.oid, n.kind FROM unnest(?::text[]) AS u(v)
    CROSS JOIN LATERAL (SELECT id, patient_id, value, oid, kind FROM ins WHERE value = u.v OFFSET 0) n
  UNION SELECT n.id, n.patient_id, n.value, n.oid, n.kind FROM unnest(?::int[]) AS o(p)
    CROSS JOIN LATERAL (SELECT id, patient_id, value, oid, kind FROM ins WHERE patient_id = o.p OFFSET 0) n
  ORDER BY id`,
  links: `SELECT l.id, l.patient_a, l.patient_b FROM unnest(?::int[]) AS o(p)
    CROSS JOIN LATERAL (SELECT id, patient_a, patient_b FROM links WHERE patient_a = o.p OFFSET 0) l
  UNION SELECT l.id, l.patient_a, l.patient_b FROM unnest(?::int[]) AS o(p) JOIN links l ON l.patient_b = o.p
  ORDER BY id`,
  originals: `SELECT m.id, m.sending_app, m.sending_facility, m.control_id, m.content_sha256, m.outcome, m.status, m.ack, m.patient_id
  FROM unnest(?::text[]) AS u(v)
  CROSS JOIN LATERAL (SELECT * FROM messages WHERE control_id = u.v OFFSET 0) m
  WHERE m.status NOT IN ('duplicate', 'conflict') AND m.superseded = 0`,
};

/** A list as a PostgreSQL array literal in a string literal, cast: `'{"a","b"}'::text[]`. */
function arrayLiteral(xs: ReadonlyArray<string | number>, type: 'text' | 'int', escapeLiteral: (s: string) => string): string {
  const body = xs.map((x) => (typeof x === 'number' ? String(x) : `"${x.replace(/[\\"]/g, '\\$&')}"`)).join(',');
  return `${escapeLiteral(`{${body}}`)}::${type}[]`;
}
/** `sql` with its `?` placeholders replaced by these literals, in order. */
function fill(sql: string, literals: readonly string[]): string {
  const parts = sql.split('?');
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i++) out += literals[i - 1]! + parts[i]!;
  return out;
}

/**
 * Reads into `cache` everything the group's messages can look up: the identifiers of every CX-1 value of their PID-3 /
 * MRG-1 with their patient rows, the INS rows of those patients and values, their links, and the live originals of
 * their MSH-10 values. `run` sends a list of statements in one round trip and answers their rows: first the reads
 * that depend on nothing (`first`), then those that need the owners.
 */
async function prefetch(cache: GroupCache, raws: ReadonlyArray<{ bytes: Buffer }>, escapeLiteral: (s: string) => string,
  run: (reads: string[], first: boolean) => Promise<Row[][]>): Promise<void> {
  const sql = PREFETCH_SQL;
  const { values, controlIds } = prefetchKeys(raws);
  // A NUL cannot be in a query text (nor in a PostgreSQL text value): such a value is just not prefetched.
  const vals = [...values].filter((v) => !v.includes('\u0000'));
  const ctls = [...controlIds].filter((v) => !v.includes('\u0000'));
  const text = (xs: readonly string[]) => arrayLiteral(xs, 'text', escapeLiteral);
  const first: string[] = [];
  if (vals.length > 0) first.push(fill(sql.identifiers, [text(vals)]));
  if (ctls.length > 0) first.push(fill(sql.originals, [text(ctls)]));
  const r1 = await run(first, true);
  const idRows = vals.length === 0 ? [] : r1.shift()!;
  const origRows = ctls.length === 0 ? [] : r1.shift()!;
  // One row per identifier: a patient's row is built once, with the columns a PatientRow has (no ik_* ones).
  const rowsById = new Map<number, PatientRow>();
  const patients = idRows.map((r) => {
    const x = r as unknown as PatientRow & { ik_auth: string; ik_value: string; ik_type: string };
    let patient = rowsById.get(x.id);
    if (!patient) {
      patient = {
        id: x.id, active: x.active, merged_into: x.merged_into, status: x.status, attributes: x.attributes, birth_name: x.birth_name,
        first_name: x.first_name, birth_given_names: x.birth_given_names, used_name: x.used_name, used_first_name: x.used_first_name,
        birth_date: x.birth_date, sex: x.sex, birth_place: x.birth_place, names: x.names, addresses: x.addresses, other: x.other,
        last_message_time: x.last_message_time, created_at: x.created_at, updated_at: x.updated_at,
      };
      rowsById.set(x.id, patient);
    }
    return { auth_key: x.ik_auth, value: x.ik_value, type: x.ik_type, patient };
  });
  cache.learnIdentifierValues(vals, patients);
  cache.learnOriginals(ctls, origRows as never);
  const owners = [...new Set(patients.map((p) => p.patient.id))];
  const ints = arrayLiteral(owners, 'int', escapeLiteral);
  const second: string[] = [];
  const withIns = vals.length > 0 || owners.length > 0;
  if (withIns) second.push(fill(sql.ins, [text(vals), ints]));
  if (owners.length > 0) second.push(fill(sql.links, [ints, ints]));
  const r2 = await run(second, false);
  cache.learnIns(owners, vals, (withIns ? r2.shift()! : []) as unknown as InsRow[]);
  cache.learnLinks(owners, (owners.length > 0 ? r2.shift()! : []) as never);
}
const SQL_PATIENT_SEQUENCE = `SELECT pg_get_serial_sequence('patients', 'id') AS name, seqincrement AS inc FROM pg_sequence
  WHERE seqrelid = pg_get_serial_sequence('patients', 'id')::regclass`;

/**
 * The CX-1 values of every PID-3 and MRG-1 repetition and the MSH-10 of each raw message, read with a plain split of
 * the latin1 text (what the prefetch asks for; a value read differently here is just not prefetched).
 */
function prefetchKeys(raws: ReadonlyArray<{ bytes: Buffer }>): { values: Set<string>; controlIds: Set<string> } {
  const values = new Set<string>();
  const controlIds = new Set<string>();
  for (const raw of raws) {
    const text = raw.bytes.toString('latin1');
    let fs = '|', cs = '^', rs = '~';
    for (const line of text.split(/\r\n|\r|\n/)) {
      const tag = line.slice(0, 3);
      if (tag === 'MSH') {
        fs = line[3] ?? '|'; cs = line[4] ?? '^'; rs = line[5] ?? '~';
        const ctl = line.split(fs)[9];
        if (ctl) controlIds.add(ctl.split(cs)[0]!);
      } else if (tag === 'PID' || tag === 'MRG') {
        const field = line.split(fs)[tag === 'PID' ? 3 : 1];
        if (!field) continue;
        for (const rep of field.split(rs)) {
          const v = rep.split(cs)[0];
          if (v) values.add(v);
        }
      }
    }
  }
  return { values, controlIds };
}

/** A Set that records additions apart from its base until `commit()` (ACK names of a group attempt that may be redone). */
class OverlaySet extends Set<string> {
  constructor(private readonly base: Set<string>) { super(); }
  override has(v: string): boolean { return super.has(v) || this.base.has(v); }
  commit(): void { for (const v of super.values()) this.base.add(v); }
}

/** Group mode is on unless PAMDROP_PG_GROUP=0 (a switch for comparisons and for ruling it out when diagnosing). */
const enabled = () => process.env.PAMDROP_PG_GROUP !== '0';

/**
 * Whether the import loop may open a group's transaction before the previous group's has committed (PostgreSQL in
 * group mode): that transaction begins, takes the apply lock and prefetches (the lock waits for the previous COMMIT,
 * so it reads what that group wrote), then waits for its gate (applyGroup) before it applies anything. It must be
 * opened only once the previous group holds the lock (`locked`), or it could take the lock first and wait for its
 * gate while the previous group waits for the lock.
 */
export function groupsOverlap(db: Tx): boolean {
  return enabled() && db.dialect === 'pg' && db instanceof KnexTx;
}

/**
 * The gate of a group opened ahead: `wait` is opened (resolved) or closed (rejected) once, from outside; `hasLock`
 * resolves when applyGroup holds the apply lock (or reads nothing before the gate).
 */
export class Gate {
  readonly wait: Promise<void>;
  readonly hasLock: Promise<void>;
  readonly locked: () => void;
  private settle!: (err?: unknown) => void;
  constructor() {
    this.wait = new Promise<void>((resolve, reject) => { this.settle = (err) => (err === undefined ? resolve() : reject(err)); });
    this.wait.catch(() => {}); // observed by applyGroup; never an unhandled rejection
    let locked!: () => void;
    this.hasLock = new Promise<void>((resolve) => { locked = resolve; });
    this.locked = locked;
  }
  open(): void { this.settle(); }
  close(err: unknown): void { this.settle(err ?? new Error('gate closed')); }
}


/**
 * Runs one group of messages inside an open transaction: on PostgreSQL as an optimistic group attempt (above), redone
 * message by message on `tx` if the attempt fails; elsewhere message by message. `one` processes a message with
 * the Tx and ACK-name set it is given.
 */
export async function applyGroup<M extends { bytes: Buffer }, R>(
  tx: Tx, raws: readonly M[], usedNames: Set<string>, one: (tx: Tx, raw: M, names: Set<string>) => Promise<R>,
  gate?: { wait: Promise<void>; locked: () => void },
): Promise<R[]> {
  const conn = raws.length > 1 && enabled() && tx instanceof KnexTx && tx.dialect === 'pg' ? await tx.pgConnection() : null;
  if (conn) {
    const g = new PgGroupTx(conn);
    const names = new OverlaySet(usedNames);
    const out: R[] = [];
    const t0 = TRACE ? performance.now() : 0;
    try {
      await g.begin(raws);
      // Opened ahead of time (groupsOverlap): lock and prefetch are done; nothing is applied before the gate opens.
      if (gate) { gate.locked(); await gate.wait; }
      const tb = TRACE ? performance.now() : 0;
      for (const raw of raws) {
        out.push(await one(g, raw, names));
        if (g.failure) break;
        await g.between();
      }
      if (!g.failure) {
        const t1 = TRACE ? performance.now() : 0;
        await g.finish();
        if (TRACE) {
          const t2 = performance.now();
          process.stderr.write(`pg-group ${raws.length} messages: prefetch ${(tb - t0).toFixed(0)} ms, ${(t1 - tb).toFixed(0)} ms, then ${(t2 - t1).toFixed(0)} ms to finish; waited ${g.waitedMs.toFixed(0)} ms for writes; ${lastGroupEnd ? (t0 - lastGroupEnd).toFixed(0) : '-'} ms since the previous group\n`);
          lastGroupEnd = t2;
        }
        names.commit();
        return out;
      }
    } catch (err) {
      // Before the group savepoint exists the transaction cannot be saved: the group fails as it always did.
      if (!g.failure && !(err instanceof GroupFailed)) {
        await g.abandon().catch(() => {});
        throw err;
      }
    }
    await g.abandon();
  }
  // Without group mode nothing is read before the gate opens (a fence took its lock before this call).
  if (gate) { gate.locked(); await gate.wait; }
  const out: R[] = [];
  for (const raw of raws) out.push(await one(tx, raw, usedNames));
  return out;
}
