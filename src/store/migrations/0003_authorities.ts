/**
 * 0003 — one assigning authority, one stored spelling (DTFR 1.8.2 N.1).
 *
 * Before this migration an identifier was keyed by its CX-4.2 OID, else its CX-4.1 namespace, as sent: `123^^^AUT^PI`
 * and `123^^^AUT&1.2.3&ISO^PI` made two records of one patient. This migration
 * - creates the `authorities` registry (one row per domain, its most complete spelling) and fills it from the
 *   identifiers;
 * - merges a namespace-only authority into the single authority with an OID spelled with that namespace: its
 *   identifiers take the OID. Where the same identifier existed under both spellings on two records, those records
 *   are one patient: the one updated last survives, the other is retired into it as by A40 (inactive, `merged_into`,
 *   links moved, history rows written). A retired record's INS is removed, never moved: identity vigilance decides;
 * - gives every identifier of an OID the one namespace kept for it;
 * - leaves apart a namespace spelled with several OIDs (ambiguous: the importer answers AE 204 for it);
 * - writes what it did to `maintenance_log` (shown by `pamdrop doctor`, logged when the store is opened). No patient
 *   data there: authority spellings, record ids, counts.
 *
 * Forward-only and frozen: its SQL is its own, not the repository's, so that later changes to the
 * store code never change what it did.
 */
import type { Knex } from 'knex';

export const name = '0003_authorities';

interface Spelling { authority: string; oid: string | null; first: number; n: number }
interface Note { kind: string; detail: Record<string, unknown> }
interface View { value: string; authority: string; oid: string | null; type: string }
interface PatientFacts { id: number; active: number; merged_into: number | null; last_message_time: string | null; updated_at: string }

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('authorities', (t) => {
    t.increments('id').primary();
    t.text('namespace').notNullable();              // CX-4.1, '' when none
    t.text('oid').nullable();                       // CX-4.2
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
  });
  // One row per universal ID, and per namespace among the authorities that have none.
  await knex.raw('CREATE UNIQUE INDEX uq_authorities_oid ON authorities (oid) WHERE oid IS NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX uq_authorities_namespace ON authorities (namespace) WHERE oid IS NULL');

  // What maintenance did to the data (migrations): for the operator, never patient data.
  await knex.schema.createTable('maintenance_log', (t) => {
    t.increments('id').primary();
    t.string('migration', 64).notNullable();
    t.string('kind', 32).notNullable();
    t.text('detail').notNullable();                 // JSON
    t.string('created_at', 32).notNullable();
  });

  const now = new Date().toISOString();
  const notes: Note[] = [];
  // An empty CX-4.2 is no OID (as the importer reads it).
  await knex('identifiers').where('oid', '').update({ oid: null });
  const spellings: Spelling[] = (await knex('identifiers').select('authority', 'oid').min({ first: 'id' }).count({ n: '*' })
    .groupBy('authority', 'oid')).map((r: any) => ({ authority: r.authority, oid: r.oid, first: Number(r.first), n: Number(r.n) }));

  const byOid = new Map<string, Spelling[]>();
  for (const s of spellings) if (s.oid !== null) byOid.set(s.oid, [...(byOid.get(s.oid) ?? []), s]);
  const nsOnly = spellings.filter((s) => s.oid === null);

  // Which OID each namespace-only authority belongs to: the one OID spelled with that namespace, if exactly one.
  const target = new Map<string, string>();
  for (const s of nsOnly) {
    if (s.authority === '') continue;
    const oids = [...byOid.entries()].filter(([, list]) => list.some((x) => x.authority === s.authority)).map(([oid]) => oid).sort();
    if (oids.length === 1) target.set(s.authority, oids[0]!);
    else if (oids.length > 1) notes.push({ kind: 'authority-ambiguous', detail: { namespace: s.authority, oids, identifiers: s.n } });
  }

  // The namespace kept for each OID: one a namespace-only authority merges through, else the first seen.
  const kept = new Map<string, string>();
  for (const [oid, list] of byOid) {
    const named = list.filter((x) => x.authority !== '').sort((a, b) => a.first - b.first);
    const viaMerge = named.find((x) => target.get(x.authority) === oid);
    const ns = (viaMerge ?? named[0])?.authority ?? '';
    kept.set(oid, ns);
    const others = [...new Set(list.map((x) => x.authority).filter((a) => a !== ns))];
    if (others.length > 0) {
      const n = await knex('identifiers').where({ auth_key: oid }).whereNot({ authority: ns }).update({ authority: ns });
      notes.push({ kind: 'spellings-unified', detail: { oid, namespace: ns, replaced: others, identifiers: n } });
    }
  }

  for (const [ns, oid] of target) {
    const merged = await mergeNamespace(knex, ns, oid, kept.get(oid)!, now, notes);
    notes.push({ kind: 'authority-merged', detail: { namespace: ns, oid, ...merged } });
  }

  const rows = [
    ...[...byOid.keys()].sort().map((oid) => ({ namespace: kept.get(oid)!, oid })),
    ...nsOnly.filter((s) => !target.has(s.authority)).map((s) => ({ namespace: s.authority, oid: null })),
  ];
  for (const r of rows) await knex('authorities').insert({ ...r, created_at: now, updated_at: now });
  for (const note of notes) {
    await knex('maintenance_log').insert({ migration: name, kind: note.kind, detail: JSON.stringify(note.detail), created_at: now });
  }
}

/** Moves the identifiers of namespace-only `ns` to `oid`; merges the records that held one identifier twice. */
async function mergeNamespace(
  knex: Knex, ns: string, oid: string, keptNs: string, now: string, notes: Note[],
): Promise<{ identifiers: number; duplicates: number; recordsMerged: number }> {
  const conflicts: Array<{ ns_id: number; ns_patient: number; full_id: number; full_patient: number }> = (await knex('identifiers as a')
    .join('identifiers as b', function on() {
      this.on('b.value', '=', 'a.value').andOn('b.type', '=', 'a.type').andOn('b.auth_key', '=', knex.raw('?', [oid]));
    })
    .where('a.auth_key', ns).whereNull('a.oid')
    .select({ ns_id: 'a.id', ns_patient: 'a.patient_id', full_id: 'b.id', full_patient: 'b.patient_id' })
    .orderBy('a.id'))
    .map((r: any) => ({ ns_id: Number(r.ns_id), ns_patient: Number(r.ns_patient), full_id: Number(r.full_id), full_patient: Number(r.full_patient) }));
  let recordsMerged = 0;
  for (const c of conflicts) {
    const a = await finalRecord(knex, c.ns_patient);
    const b = await finalRecord(knex, c.full_patient);
    if (a.id === b.id) {
      // One record (or a record and the one it was merged into) holds both spellings: the full one stays.
      await knex('identifiers').where({ id: c.ns_id }).delete();
      continue;
    }
    const survivor = later(a, b);
    const retired = survivor === a ? b : a;
    // The identifier row of the retired side goes; the survivor's row (rekeyed below if namespace-only) stays.
    await knex('identifiers').where({ id: survivor === a ? c.full_id : c.ns_id }).delete();
    const insRemoved = await retire(knex, retired.id, survivor.id, now);
    recordsMerged++;
    notes.push({ kind: 'records-merged', detail: { namespace: ns, oid, survivor: survivor.id, retired: retired.id, insRemoved } });
  }
  const identifiers = await knex('identifiers').where({ auth_key: ns }).whereNull('oid')
    .update({ authority: keptNs, oid, auth_key: oid });
  return { identifiers, duplicates: conflicts.length, recordsMerged };
}

const PATIENT_FACTS = ['id', 'active', 'merged_into', 'last_message_time', 'updated_at'];

/** The active record at the end of a merge chain. */
async function finalRecord(knex: Knex, id: number): Promise<PatientFacts> {
  let row = await knex('patients').where({ id }).first(PATIENT_FACTS) as PatientFacts;
  for (let hops = 0; hops < 32 && Number(row.active) === 0 && row.merged_into !== null; hops++) {
    row = await knex('patients').where({ id: row.merged_into }).first(PATIENT_FACTS) as PatientFacts;
  }
  return { ...row, id: Number(row.id) };
}

/** The record updated last (its last applied message, then its last update, then the newer record). */
function later(a: PatientFacts, b: PatientFacts): PatientFacts {
  const ta = a.last_message_time ?? '';
  const tb = b.last_message_time ?? '';
  if (ta !== tb) return ta > tb ? a : b;
  if (a.updated_at !== b.updated_at) return a.updated_at > b.updated_at ? a : b;
  return a.id > b.id ? a : b;
}

/** A record's first PI identifier (else its first), as history entries show records. */
async function representative(knex: Knex, id: number): Promise<View | null> {
  const ids: View[] = await knex('identifiers').where({ patient_id: id }).orderBy('id').select('value', 'authority', 'oid', 'type');
  return ids.find((i) => i.type === 'PI') ?? ids[0] ?? null;
}

/** Retires `id` into `survivorId` as A40 does; returns whether an INS was removed from it. */
async function retire(knex: Knex, id: number, survivorId: number, now: string): Promise<boolean> {
  const history = (patientId: number, changes: unknown[]) => knex('history').insert({
    patient_id: patientId, sending_app: 'pamdrop', sending_facility: '', control_id: name, event: 'MIGRATE',
    message_time: null, recorded_at: now, changes: JSON.stringify(changes),
  });
  const survivorView = await representative(knex, survivorId);
  const retiredView = await representative(knex, id);
  await knex('patients').where({ id }).update({ active: 0, merged_into: survivorId, updated_at: now });
  await knex('patients').where({ merged_into: id }).update({ merged_into: survivorId });
  const changes: unknown[] = [{ field: 'active', before: true, after: false }, { field: 'mergedInto', before: null, after: survivorView }];
  const ins: Array<{ value: string; oid: string; kind: string }> = await knex('ins').where({ patient_id: id }).orderBy('id').select('value', 'oid', 'kind');
  if (ins.length > 0) {
    await knex('ins').where({ patient_id: id }).delete();
    changes.push({ field: 'ins', before: ins.length === 1 ? ins[0] : ins, after: null });
  }
  for (const l of await knex('links').where({ patient_a: id }).orWhere({ patient_b: id }).orderBy('id').select('id', 'patient_a', 'patient_b')) {
    const other = Number(l.patient_a) === id ? Number(l.patient_b) : Number(l.patient_a);
    await knex('links').where({ id: l.id }).delete();
    changes.push({ field: 'link', before: await representative(knex, other), after: null });
    if (other === survivorId) continue;
    const [x, y] = other < survivorId ? [other, survivorId] : [survivorId, other];
    if (!(await knex('links').where({ patient_a: x, patient_b: y }).first('id'))) {
      await knex('links').insert({ patient_a: x, patient_b: y, created_at: now });
    }
  }
  await history(id, changes);
  await history(survivorId, [{ field: 'mergedFrom', before: null, after: retiredView }]);
  return ins.length > 0;
}

export async function down(): Promise<void> {
  throw new Error('pamdrop migrations are forward-only');
}
