/**
 * The identity repository over a transaction: the SQL behind patients, identifiers, INS, history, links and the
 * authority registry (schema: migrations/0001_init.ts, 0003). Constant SQL texts, so that `SqliteTx` prepares each
 * statement once for the whole run; SQL portable between SQLite and PostgreSQL (tx.ts).
 */
import { authorityKey, type Identifier, type Ins, type MessageHeader } from '../../pam/types.js';
import type { AuthorityRow, IdentityRepo } from '../../identity/repo.js';
import type { FieldChange, IdentifierRow, InsRow, LinkRow, PatientRow, PatientState } from '../../identity/types.js';
import type { Tx } from '../tx.js';
import { writes, type Write } from './writes.js';

export const PATIENT_COLUMNS = `id, active, merged_into, status, attributes, birth_name, first_name, birth_given_names, used_name,
  used_first_name, birth_date, sex, birth_place, names, addresses, other, last_message_time, created_at, updated_at`;
const SQL_PATIENT = `SELECT ${PATIENT_COLUMNS} FROM patients WHERE id = ?`;
const SQL_PATIENT_BY_IDENTIFIER = `SELECT ${PATIENT_COLUMNS.replace(/(^|\s)(\w+)/g, '$1p.$2')}
  FROM identifiers i JOIN patients p ON p.id = i.patient_id WHERE i.auth_key = ? AND i.value = ? AND i.type = ?`;
const IDENTIFIER_COLUMNS = 'patient_id, value, authority, oid, type, auth_key';
export const SQL_IDENTIFIERS_OF = `SELECT ${IDENTIFIER_COLUMNS} FROM identifiers WHERE patient_id = ? ORDER BY id`;
const INS_COLUMNS = 'patient_id, value, oid, kind';
const SQL_INS_OF = `SELECT ${INS_COLUMNS} FROM ins WHERE patient_id = ? ORDER BY id`;
// One statement answers both "what does this patient hold" and "who holds this INS" (upsert hot path).
const SQL_INS_OF_OR_HOLDER = `SELECT ${INS_COLUMNS} FROM ins WHERE patient_id = ? OR (oid = ? AND value = ?) ORDER BY id`;
const SQL_INS_HELD = `SELECT ${INS_COLUMNS} FROM ins WHERE oid = ? AND value = ?`;
const SQL_INS_BY_VALUE = `SELECT ${INS_COLUMNS} FROM ins WHERE value = ? ORDER BY patient_id, id`;
// The record itself and the records merged into it (A40 re-points earlier merges, so one level is all there is).
const SQL_HISTORY_OF_RECORD = `SELECT id, changes FROM history
  WHERE patient_id = ? OR patient_id IN (SELECT id FROM patients WHERE merged_into = ?) ORDER BY id`;
const SQL_HISTORY_EVENTS = 'SELECT event, changes FROM history WHERE patient_id = ? ORDER BY id';
const SQL_LINKS_OF = 'SELECT id, patient_a, patient_b FROM links WHERE patient_a = ? OR patient_b = ? ORDER BY id';
export const SQL_AUTHORITIES = 'SELECT namespace, oid FROM authorities ORDER BY id';
const SQL_AUTHORITY_CANDIDATES = 'SELECT namespace, oid FROM authorities WHERE oid = ? OR namespace = ? ORDER BY id';

/** `SQL_PATIENT_BY_IDENTIFIER` for n identifiers in one statement: one UNION ALL branch each, `k` = branch number. */
const patientsByIdentifiersSql: string[] = [];
function sqlPatientsByIdentifiers(n: number): string {
  return patientsByIdentifiersSql[n] ??= Array.from({ length: n }, (_, k) => SQL_PATIENT_BY_IDENTIFIER.replace(/^SELECT /, `SELECT ${k} AS k, `))
    .join('\nUNION ALL\n');
}
/** The owner's id of each of n identifiers, one UNION ALL branch each (`k` = branch number): SQLite's lookup. */
const ownersByIdentifiersSql: string[] = [];
function sqlOwnersByIdentifiers(n: number): string {
  return ownersByIdentifiersSql[n] ??= Array.from({ length: n }, (_, k) => `SELECT ${k} AS k, patient_id FROM identifiers WHERE auth_key = ? AND value = ? AND type = ?`)
    .join('\nUNION ALL\n');
}

export class SqlIdentityRepo implements IdentityRepo {
  constructor(protected readonly tx: Tx) {}

  /** Runs a write; the number of rows it changed. */
  private run(w: Write): Promise<number> { return this.tx.run(w.sql, w.params); }

  // --- patients ---
  patient(id: number): Promise<PatientRow | undefined> { return this.tx.get<PatientRow>(SQL_PATIENT, [id]); }

  patientByIdentifier(id: Identifier): Promise<PatientRow | undefined> {
    return this.tx.get<PatientRow>(SQL_PATIENT_BY_IDENTIFIER, [authorityKey(id), id.value, id.type]);
  }

  /**
   * One statement for all identifiers (one round trip on PostgreSQL). On SQLite (no round trips) the owners' ids come
   * first and each distinct patient row is then read once: the identifiers of one message nearly always name one
   * patient, whose whole row (JSON columns included) the join would copy out once per identifier.
   */
  async patientsByIdentifiers(ids: readonly Identifier[]): Promise<Array<PatientRow | undefined>> {
    if (ids.length <= 1) return ids.length === 0 ? [] : [await this.patientByIdentifier(ids[0]!)];
    const params: unknown[] = [];
    for (const id of ids) params.push(authorityKey(id), id.value, id.type);
    const out: Array<PatientRow | undefined> = new Array(ids.length).fill(undefined);
    if (this.tx.dialect === 'sqlite') {
      const owners = await this.tx.all<{ k: number; patient_id: number }>(sqlOwnersByIdentifiers(ids.length), params);
      for (const o of owners) {
        const pid = Number(o.patient_id);
        // A copy for a patient already read: callers get one row object per identifier, as from the join.
        const seen = out.find((r) => r !== undefined && r.id === pid);
        out[Number(o.k)] = seen ? { ...seen } : await this.patient(pid);
      }
      return out;
    }
    for (const row of await this.tx.all<PatientRow & { k: number }>(sqlPatientsByIdentifiers(ids.length), params)) {
      const { k, ...patient } = row;
      out[Number(k)] = patient;
    }
    return out;
  }

  async createPatient(state: PatientState, lastMessageTime: string | null, now: string): Promise<number> {
    const w = writes.createPatient(state, lastMessageTime, now);
    return Number((await this.tx.get<{ id: number }>(w.sql, w.params))!.id);
  }
  async updatePatient(id: number, state: PatientState, lastMessageTime: string | null, updatedAt: string): Promise<void> {
    await this.run(writes.updatePatient(id, state, lastMessageTime, updatedAt));
  }
  async retirePatient(id: number, survivorId: number, lastMessageTime: string | null, now: string): Promise<void> {
    if ((await this.run(writes.retirePatient(id, survivorId, lastMessageTime, now))) !== 1) {
      throw new Error(`patient ${id} is not active: cannot be merged`);
    }
    await this.run(writes.repointMerged(id, survivorId));
  }

  // --- identifiers ---
  identifiersOf(patientId: number): Promise<IdentifierRow[]> { return this.tx.all<IdentifierRow>(SQL_IDENTIFIERS_OF, [patientId]); }
  async addIdentifiers(patientId: number, ids: readonly Identifier[], now: string): Promise<void> {
    if (ids.length > 0) await this.run(writes.addIdentifiers(patientId, ids, now));
  }
  renameIdentifier(from: Identifier, to: Identifier): Promise<number> { return this.run(writes.renameIdentifier(from, to)); }
  deleteIdentifier(id: Identifier): Promise<number> { return this.run(writes.deleteIdentifier(id)); }

  // --- INS ---
  insOf(patientId: number): Promise<InsRow[]> { return this.tx.all<InsRow>(SQL_INS_OF, [patientId]); }
  insWithHolder(patientId: number | null, probe: { oid: string; value: string }): Promise<InsRow[]> {
    return this.tx.all<InsRow>(SQL_INS_OF_OR_HOLDER, [patientId, probe.oid, probe.value]);
  }
  insHeld(oid: string, value: string): Promise<InsRow | undefined> { return this.tx.get<InsRow>(SQL_INS_HELD, [oid, value]); }
  insByValue(value: string): Promise<InsRow[]> { return this.tx.all<InsRow>(SQL_INS_BY_VALUE, [value]); }
  removeIns(patientId: number): Promise<number> { return this.run(writes.deleteInsOf(patientId)); }
  async setIns(patientId: number, ins: Ins, now: string): Promise<void> {
    await this.run(writes.deleteInsOf(patientId));
    await this.addIns(patientId, ins, now);
  }
  async addIns(patientId: number, ins: Ins, now: string): Promise<void> { await this.run(writes.addIns(patientId, ins, now)); }

  // --- history ---
  async insertHistory(patientId: number, header: MessageHeader, changes: readonly FieldChange[], recordedAt: string): Promise<void> {
    await this.run(writes.addHistory(patientId, header, changes, recordedAt));
  }
  historyOfRecord(patientId: number): Promise<Array<{ id: number; changes: string }>> {
    return this.tx.all(SQL_HISTORY_OF_RECORD, [patientId, patientId]);
  }
  historyEvents(patientId: number): Promise<Array<{ event: string; changes: string }>> { return this.tx.all(SQL_HISTORY_EVENTS, [patientId]); }
  async rewriteHistory(id: number, changes: string): Promise<void> { await this.run(writes.rewriteHistory(id, changes)); }

  // --- links ---
  async link(a: number, b: number, now: string): Promise<boolean> {
    const w = writes.link(a, b, now);
    return (await this.tx.get(w.sql, w.params)) !== undefined;
  }
  async unlink(a: number, b: number): Promise<boolean> {
    const w = writes.unlink(a, b);
    return (await this.tx.get(w.sql, w.params)) !== undefined;
  }
  linksOf(patientId: number): Promise<LinkRow[]> { return this.tx.all<LinkRow>(SQL_LINKS_OF, [patientId, patientId]); }
  async deleteLink(id: number): Promise<void> { await this.run(writes.deleteLink(id)); }

  // --- assigning authorities ---
  authorities(spelling: { authority: string; oid: string | null }, all: boolean): Promise<AuthorityRow[]> {
    return all ? this.tx.all<AuthorityRow>(SQL_AUTHORITIES) : this.tx.all<AuthorityRow>(SQL_AUTHORITY_CANDIDATES, [spelling.oid || null, spelling.authority]);
  }
  async insertAuthority(row: AuthorityRow, now: string): Promise<void> { await this.run(writes.insertAuthority(row, now)); }
  async completeAuthority(before: AuthorityRow, after: AuthorityRow, now: string): Promise<void> {
    await this.run(writes.completeAuthority(before, after, now));
  }
  async rekeyIdentifiers(fromKey: string, to: AuthorityRow, toKey: string): Promise<void> {
    await this.run(writes.rekeyIdentifiers(fromKey, to, toKey));
  }
  async renameIdentifiersAuthority(key: string, namespace: string): Promise<void> {
    await this.run(writes.renameIdentifiersAuthority(key, namespace));
  }
}

/**
 * The authority registry as one group's transaction read it, shared by the repositories of that transaction's steps.
 * Only on SQLite: a transaction there reads one snapshot and may write only while that snapshot is the latest, so no
 * other session's registry write can come between this read and this transaction's writes. Forgotten on every
 * registry write and on every step undone (SqlMessageStore.atomic), so it is never ahead of, nor behind, the database.
 */
export class RegistryCache {
  rows: AuthorityRow[] | null = null;
}

/** The plain repository with the registry read once per transaction (RegistryCache). */
export class RegistryCachingRepo extends SqlIdentityRepo {
  constructor(tx: Tx, private readonly registry: RegistryCache) { super(tx); }

  override async authorities(spelling: { authority: string; oid: string | null }, all: boolean): Promise<AuthorityRow[]> {
    const rows = this.registry.rows ??= await this.tx.all<AuthorityRow>(SQL_AUTHORITIES);
    // SQL_AUTHORITY_CANDIDATES on the rows read (registry order).
    const oid = spelling.oid || null;
    return all ? rows.slice() : rows.filter((r) => (oid !== null && r.oid === oid) || r.namespace === spelling.authority);
  }
  override async insertAuthority(row: AuthorityRow, now: string): Promise<void> {
    this.registry.rows = null;
    await super.insertAuthority(row, now);
  }
  override async completeAuthority(before: AuthorityRow, after: AuthorityRow, now: string): Promise<void> {
    this.registry.rows = null;
    await super.completeAuthority(before, after, now);
  }
}
