/**
 * PostgreSQL's unit of work for one group of messages: a decorator of the plain repository and ledger
 * (sql/identity-repo.ts, sql/message-store.ts) implementing the same ports, so the identity rules and the message
 * processing run on it unchanged.
 *
 * - Reads are answered by the model (model.ts) when it knows the answer (the prefetch filled it; every write keeps it
 *   exact), else by the plain repository after every queued write was sent (so the database sees them).
 * - Writes whose answer is not needed update the model and are queued as structured statements (write-behind.ts).
 *   Writes whose answer is needed and not known run at once.
 * - A new patient's id is predicted from the sequence (nothing else draws from it under the store-wide apply lock)
 *   and checked against `RETURNING id` when the INSERT runs: a wrong guess fails the attempt.
 * - An atomic step (a message's rules) that fails before any of its writes left the process has them dropped and the
 *   model's changes undone; one whose writes already left fails the attempt, which is then redone message by message
 *   with real savepoints (group.ts). Either way the store ends as statement-by-statement processing leaves it.
 */
import type { Identifier, Ins, MessageHeader } from '../../pam/types.js';
import type { AuthorityRow, IdentityRepo } from '../../identity/repo.js';
import { stateColumns } from '../../identity/state.js';
import type { FieldChange, IdentifierRow, InsRow, LinkRow, PatientRow, PatientState } from '../../identity/types.js';
import { MessageStatus, type NewMessage, type OriginalRow } from '../ledger.js';
import type { MessageLedger, MessageStore } from '../ports.js';
import { SqlIdentityRepo } from '../sql/identity-repo.js';
import { SqlLedger } from '../sql/message-store.js';
import { writes, type Write } from '../sql/writes.js';
import type { Row, Tx } from '../tx.js';
import { GroupModel, MISS } from './model.js';
import type { WriteBehind } from './write-behind.js';

/** The plain repository's reads, sent after every queued write. It never writes through here (the unit of work runs its writes). */
class SyncedTx implements Tx {
  readonly dialect = 'pg' as const;
  constructor(private readonly wb: WriteBehind) {}
  async all<T = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> { return (await this.wb.now(sql, params, false)).rows as T[]; }
  async get<T = Row>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> { return (await this.all<T>(sql, params))[0]; }
  async run(sql: string, params: readonly unknown[] = []): Promise<number> { return (await this.wb.now(sql, params, true)).rowCount; }
  savepoint<T>(): Promise<T> { throw new Error('the unit of work opens no savepoint'); }
}

export class PgUnitOfWork implements IdentityRepo, MessageLedger, MessageStore {
  readonly dialect = 'pg' as const;
  readonly identity: IdentityRepo = this;
  readonly ledger: MessageLedger = this;
  readonly model = new GroupModel();
  private readonly reads: SqlIdentityRepo;
  private readonly ledgerReads: SqlLedger;

  constructor(private readonly wb: WriteBehind) {
    const tx = new SyncedTx(wb);
    this.reads = new SqlIdentityRepo(tx);
    this.ledgerReads = new SqlLedger(tx);
  }

  /** Runs a write now; its answer. */
  private now(w: Write): Promise<{ rows: Row[]; rowCount: number }> { return this.wb.now(w.sql, w.params, true); }

  async atomic<T>(fn: (store: MessageStore) => Promise<T>): Promise<T> {
    this.wb.guard();
    const level = this.wb.open();
    const mark = this.model.enter();
    let ok = false;
    let closed = false;
    try {
      const out = await fn(this);
      ok = true;
      return out;
    } catch (err) {
      closed = true;
      if (!this.wb.close(level, true)) throw this.wb.fail(err);
      throw err;
    } finally {
      if (!closed) this.wb.close(level, false);
      this.model.leave(mark, !ok);
    }
  }

  // --- patients ---
  async patient(id: number): Promise<PatientRow | undefined> {
    const hit = this.model.patient(id);
    if (hit !== MISS) return hit;
    const row = await this.reads.patient(id);
    if (row) this.model.learnPatient(row);
    return row;
  }
  async patientByIdentifier(id: Identifier): Promise<PatientRow | undefined> {
    const hit = this.model.patientsByIdentifiers([id]);
    if (hit !== MISS) return hit[0];
    const row = await this.reads.patientByIdentifier(id);
    this.model.learnIdentifiers([id], [row]);
    return row;
  }
  async patientsByIdentifiers(ids: readonly Identifier[]): Promise<Array<PatientRow | undefined>> {
    if (ids.length <= 1) return ids.length === 0 ? [] : [await this.patientByIdentifier(ids[0]!)];
    const hit = this.model.patientsByIdentifiers(ids);
    if (hit !== MISS) return hit;
    const rows = await this.reads.patientsByIdentifiers(ids);
    this.model.learnIdentifiers(ids, rows);
    return rows;
  }
  async createPatient(state: PatientState, lastMessageTime: string | null, now: string): Promise<number> {
    const w = writes.createPatient(state, lastMessageTime, now);
    const predicted = this.model.allocPatientId();
    const id = predicted ?? Number((await this.now(w)).rows[0]!.id);
    this.model.putPatient({ id, active: 1, merged_into: null, ...stateColumns(state), last_message_time: lastMessageTime, created_at: now, updated_at: now });
    if (predicted !== null) await this.wb.push(w, (r) => Number(r.rows[0]?.id) === predicted);
    return id;
  }
  async updatePatient(id: number, state: PatientState, lastMessageTime: string | null, updatedAt: string): Promise<void> {
    this.model.patchPatient(id, { ...stateColumns(state), last_message_time: lastMessageTime, updated_at: updatedAt });
    await this.wb.push(writes.updatePatient(id, state, lastMessageTime, updatedAt));
  }
  async retirePatient(id: number, survivorId: number, lastMessageTime: string | null, now: string): Promise<void> {
    const cached = this.model.patient(id);
    if (cached !== MISS) {
      if (cached.active !== 1) throw new Error(`patient ${id} is not active: cannot be merged`);
      this.model.patchPatient(id, { active: 0, merged_into: survivorId, last_message_time: lastMessageTime, updated_at: now });
      this.model.repoint(id, survivorId);
      await this.wb.push(writes.retirePatient(id, survivorId, lastMessageTime, now), (r) => r.rowCount === 1);
      await this.wb.push(writes.repointMerged(id, survivorId));
      return;
    }
    if ((await this.now(writes.retirePatient(id, survivorId, lastMessageTime, now))).rowCount !== 1) {
      throw new Error(`patient ${id} is not active: cannot be merged`);
    }
    await this.now(writes.repointMerged(id, survivorId));
    this.model.repoint(id, survivorId);
  }

  // --- identifiers ---
  identifiersOf(patientId: number): Promise<IdentifierRow[]> { return this.reads.identifiersOf(patientId); }
  async addIdentifiers(patientId: number, ids: readonly Identifier[], now: string): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) this.model.setOwner(id, patientId);
    await this.wb.push(writes.addIdentifiers(patientId, ids, now));
  }
  async renameIdentifier(from: Identifier, to: Identifier): Promise<number> {
    const owner = this.model.owner(from);
    if (owner !== MISS) {
      if (owner !== null) { this.model.setOwner(from, null); this.model.setOwner(to, owner); }
      await this.wb.push(writes.renameIdentifier(from, to));
      return owner === null ? 0 : 1;
    }
    const n = (await this.now(writes.renameIdentifier(from, to))).rowCount;
    this.model.setOwner(from, null);
    this.model.forgetIdentifier(to);
    return n;
  }
  async deleteIdentifier(id: Identifier): Promise<number> {
    const n = (await this.now(writes.deleteIdentifier(id))).rowCount;
    this.model.setOwner(id, null);
    return n;
  }

  // --- INS ---
  async insOf(patientId: number): Promise<InsRow[]> {
    const hit = this.model.insList(patientId);
    if (hit !== MISS) return [...hit];
    const rows = await this.reads.insOf(patientId);
    this.model.learnInsList(patientId, rows);
    return rows;
  }
  /** From the model the patient's rows come first (callers only look the probe's row up and filter the patient's rows). */
  async insWithHolder(patientId: number | null, probe: { oid: string; value: string }): Promise<InsRow[]> {
    const own = patientId === null ? [] : this.model.insList(patientId);
    const byValue = this.model.insOfValue(probe.value);
    if (own !== MISS && byValue !== MISS) return [...own, ...byValue.filter((r) => r.oid === probe.oid && r.patient_id !== patientId)];
    const rows = await this.reads.insWithHolder(patientId, probe);
    if (patientId !== null) this.model.learnInsList(patientId, rows.filter((r) => r.patient_id === patientId));
    return rows;
  }
  async insHeld(oid: string, value: string): Promise<InsRow | undefined> {
    const hit = this.model.insOfValue(value);
    if (hit !== MISS) return hit.find((r) => r.oid === oid);
    return this.reads.insHeld(oid, value);
  }
  async insByValue(value: string): Promise<InsRow[]> {
    const hit = this.model.insOfValue(value);
    // ORDER BY patient_id, id: the model's rows are in id order and the sort is stable.
    if (hit !== MISS) return [...hit].sort((a, b) => a.patient_id - b.patient_id);
    const rows = await this.reads.insByValue(value);
    this.model.learnInsValue(value, rows);
    return rows;
  }
  async removeIns(patientId: number): Promise<number> {
    const n = this.model.removeIns(patientId);
    if (n === MISS) return (await this.now(writes.deleteInsOf(patientId))).rowCount;
    await this.wb.push(writes.deleteInsOf(patientId));
    return n;
  }
  async setIns(patientId: number, ins: Ins, now: string): Promise<void> {
    this.model.removeIns(patientId);
    await this.wb.push(writes.deleteInsOf(patientId));
    await this.addIns(patientId, ins, now);
  }
  async addIns(patientId: number, ins: Ins, now: string): Promise<void> {
    this.model.addIns({ patient_id: patientId, value: ins.value, oid: ins.oid, kind: ins.kind });
    await this.wb.push(writes.addIns(patientId, ins, now));
  }

  // --- history ---
  async insertHistory(patientId: number, header: MessageHeader, changes: readonly FieldChange[], recordedAt: string): Promise<void> {
    await this.wb.push(writes.addHistory(patientId, header, changes, recordedAt));
  }
  historyOfRecord(patientId: number): Promise<Array<{ id: number; changes: string }>> { return this.reads.historyOfRecord(patientId); }
  historyEvents(patientId: number): Promise<Array<{ event: string; changes: string }>> { return this.reads.historyEvents(patientId); }
  async rewriteHistory(id: number, changes: string): Promise<void> { await this.wb.push(writes.rewriteHistory(id, changes)); }

  // --- links ---
  async link(a: number, b: number, now: string): Promise<boolean> {
    const linked = this.model.hasLink(a, b);
    if (linked !== MISS) {
      // Sent even when linked: ON CONFLICT DO NOTHING still draws an id from the sequence, as statement by statement.
      if (!linked) this.model.addLink(a, b);
      await this.wb.push(writes.link(a, b, now));
      return !linked;
    }
    const done = (await this.now(writes.link(a, b, now))).rows.length > 0;
    this.model.forgetLinks(a, b);
    return done;
  }
  async unlink(a: number, b: number): Promise<boolean> {
    const linked = this.model.hasLink(a, b);
    if (linked !== MISS) {
      if (linked) this.model.removeLink((l) => l.patient_a === a && l.patient_b === b);
      await this.wb.push(writes.unlink(a, b));
      return linked;
    }
    const done = (await this.now(writes.unlink(a, b))).rows.length > 0;
    this.model.forgetLinks(a, b);
    return done;
  }
  async linksOf(patientId: number): Promise<LinkRow[]> {
    const hit = this.model.links(patientId);
    if (hit !== MISS) return [...hit];
    const rows = await this.reads.linksOf(patientId);
    this.model.learnLinkList(patientId, rows);
    return rows;
  }
  async deleteLink(id: number): Promise<void> {
    this.model.removeLink((l) => l.id === id);
    await this.wb.push(writes.deleteLink(id));
  }

  // --- assigning authorities: the whole registry, read once per group ---
  async authorities(spelling: { authority: string; oid: string | null }): Promise<AuthorityRow[]> {
    const hit = this.model.authorities();
    if (hit !== MISS) return [...hit];
    const rows = await this.reads.authorities(spelling, true);
    this.model.learnAuthorities(rows);
    return rows;
  }
  async insertAuthority(row: AuthorityRow, now: string): Promise<void> {
    await this.wb.push(writes.insertAuthority(row, now));
    this.model.putAuthority(null, row);
  }
  async completeAuthority(before: AuthorityRow, after: AuthorityRow, now: string): Promise<void> {
    await this.wb.push(writes.completeAuthority(before, after, now));
    this.model.putAuthority(before, after);
  }
  async rekeyIdentifiers(fromKey: string, to: AuthorityRow, toKey: string): Promise<void> {
    await this.wb.push(writes.rekeyIdentifiers(fromKey, to, toKey));
    this.model.rekeyIdentifiers(fromKey, toKey);
  }
  async renameIdentifiersAuthority(key: string, namespace: string): Promise<void> {
    await this.wb.push(writes.renameIdentifiersAuthority(key, namespace));
  }

  // --- ledger ---
  async findOriginal(app: string, facility: string, controlId: string): Promise<OriginalRow | undefined> {
    const hit = this.model.original(app, facility, controlId);
    if (hit !== MISS) return hit as OriginalRow | undefined;
    return this.ledgerReads.findOriginal(app, facility, controlId);
  }
  async supersedeOriginal(id: number, fileId: number): Promise<boolean> {
    const done = (await this.now(writes.supersedeOriginal(id, fileId))).rowCount === 1;
    if (done) this.model.supersede(id);
    return done;
  }
  async insertMessage(m: NewMessage): Promise<void> {
    // A row that owns its key (uq_messages_key) is the live original later messages of the group must find.
    if (m.controlId !== null && m.status !== MessageStatus.Duplicate && m.status !== MessageStatus.Conflict) {
      this.model.addOriginal(m.sendingApp, m.sendingFacility, m.controlId,
        { content_sha256: m.contentSha256, outcome: m.outcome, status: m.status, ack: m.ack, patient_id: m.patientId });
    }
    await this.wb.push(writes.insertMessage(m));
  }
}
