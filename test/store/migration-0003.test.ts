/**
 * Test program — migration 0003 (one assigning authority, one stored spelling), on every database: a store at 0002
 * holding what the importer wrote before it (`…^^^CHEX^PI` and `…^^^CHEX&OID&ISO^PI` as two domains, hence one
 * patient as two records), migrated by opening it; then the importer on the migrated store.
 */
import { afterEach, describe, expect, test } from 'vitest';
import knexFactory, { type Knex } from 'knex';
import { dbKinds, makeTarget, type DbKind } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { migrationSource } from '../../src/store/migrations/index.js';
import { applyCommand } from '../../src/store/apply.js';
import { findPatients } from '../../src/store/patients.js';
import { createLogger } from '../../src/shared/logger.js';
import { runDoctor } from '../../src/ops/doctor.js';
import { resolveConfig } from '../../src/config/load.js';
import { tmpdir } from 'node:os';
import type { Db } from '../../src/store/tx.js';
import { ctx, ipp, upsert } from './builders.js';

const OID = '1.2.250.1.999999.1';
const NIR1 = '285032A00412371';
const NOW = '2025-01-01T00:00:00.000Z';

/** A store migrated to 0002 only: the shape before this migration. */
async function oldStore(target: string): Promise<void> {
  // SQLite: openDb keeps knex's only connection for its prepared statements, so a knex of our own.
  const pg = target.startsWith('postgres');
  const db = pg ? await openDb(target, { migrate: false }) : undefined;
  const sqlite = pg ? undefined : knexFactory({ client: 'better-sqlite3', connection: { filename: target }, useNullAsDefault: true });
  try {
    const upTo0002: Knex.MigrationSource<unknown> = {
      getMigrations: async () => (await migrationSource.getMigrations([])).filter((m) => migrationSource.getMigrationName(m) <= '0002'),
      getMigrationName: (m) => migrationSource.getMigrationName(m as never),
      getMigration: async (m) => migrationSource.getMigration(m as never),
    };
    const schema = pg ? new URL(target).searchParams.get('schema') ?? undefined : undefined;
    const k = db?.knex ?? sqlite!;
    await k.migrate.latest({ migrationSource: upTo0002, ...(schema ? { schemaName: schema } : {}) });
    const patient = async (birthName: string, last: string) => Number((await k('patients').insert({
      active: 1, status: 'VALI', birth_name: birthName, last_message_time: last, created_at: NOW, updated_at: NOW,
    }).returning('id'))[0].id ?? 0);
    const id = async (patientId: number, value: string, authority: string, oid: string | null) => k('identifiers').insert({
      patient_id: patientId, value, authority, oid, type: 'PI', auth_key: oid ?? authority, created_at: NOW,
    });
    // One patient as two records: 100 namespace-only (older, with an INS) and 100 fully spelled (updated last).
    const a = await patient('CASANOVA', '20250101000000.0000');
    const b = await patient('CASANOVA', '20250301000000.0000');
    const c = await patient('DURAND', '20250101000000.0000');
    const d = await patient('MARTIN', '20250101000000.0000');
    const [e, f, g] = [await patient('E', '20250101000000.0000'), await patient('F', '20250101000000.0000'), await patient('G', '20250101000000.0000')];
    await id(a, '100', 'CHEX', null);
    await id(b, '100', 'CHEX', OID);
    await id(c, '200', 'CHEX', null);
    await id(d, '400', '', OID);
    // AMB spelled with two OIDs: its namespace-only identifiers cannot be placed.
    await id(e, '500', 'AMB', '1.1');
    await id(f, '501', 'AMB', '2.2');
    await id(g, '502', 'AMB', null);
    await k('ins').insert({ patient_id: a, value: NIR1, oid: '1.2.250.1.213.1.4.8', kind: 'NIR', created_at: NOW });
    await k('links').insert({ patient_a: a, patient_b: c, created_at: NOW });
    await k('history').insert({ patient_id: a, sending_app: 'GAM', sending_facility: 'CHEX', control_id: 'X1', event: 'A28', message_time: null, recorded_at: NOW, changes: '[]' });
  } finally {
    await db?.close();
    await sqlite?.destroy();
  }
}

describe.each(dbKinds())('migration 0003_authorities on %s', (kind: DbKind) => {
  let dispose: (() => Promise<void>) | undefined;
  let db: Db | undefined;
  afterEach(async () => { await db?.close(); db = undefined; await dispose?.(); });

  test('merges duplicate authorities and the records they split, reports it, and the importer then finds one record', async () => {
    const t = makeTarget(kind);
    dispose = t.dispose;
    await oldStore(t.target);
    const lines: Array<Record<string, unknown>> = [];
    db = await openDb(t.target, { log: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(JSON.parse(l)) }) });

    expect(await db.all("SELECT namespace, oid FROM authorities ORDER BY namespace, COALESCE(oid, '')")).toEqual([
      { namespace: 'AMB', oid: null }, { namespace: 'AMB', oid: '1.1' }, { namespace: 'AMB', oid: '2.2' }, { namespace: 'CHEX', oid: OID },
    ]);
    const ids = await db.all<{ patient_id: number; value: string; authority: string; oid: string | null; auth_key: string }>(
      'SELECT patient_id, value, authority, oid, auth_key FROM identifiers ORDER BY value');
    expect(ids.map(({ value, authority, oid, auth_key }) => ({ value, authority, oid, auth_key }))).toEqual([
      { value: '100', authority: 'CHEX', oid: OID, auth_key: OID },
      { value: '200', authority: 'CHEX', oid: OID, auth_key: OID },
      { value: '400', authority: 'CHEX', oid: OID, auth_key: OID },
      { value: '500', authority: 'AMB', oid: '1.1', auth_key: '1.1' },
      { value: '501', authority: 'AMB', oid: '2.2', auth_key: '2.2' },
      { value: '502', authority: 'AMB', oid: null, auth_key: 'AMB' },
    ]);
    // The record updated last survives; the other is retired into it, its INS removed (recorded), its link moved.
    const patients = await db.all<{ id: number; active: number; merged_into: number | null }>('SELECT id, active, merged_into FROM patients ORDER BY id');
    const [a, b, c] = patients;
    expect(ids[0]!.patient_id).toBe(b!.id);
    expect(Number(a!.active)).toBe(0);
    expect(Number(a!.merged_into)).toBe(b!.id);
    expect(await db.all('SELECT * FROM ins')).toEqual([]);
    expect(await db.all('SELECT patient_a, patient_b FROM links')).toEqual([{ patient_a: b!.id, patient_b: c!.id }]);
    const history = await db.all<{ patient_id: number; event: string; changes: string }>("SELECT patient_id, event, changes FROM history WHERE event = 'MIGRATE' ORDER BY id");
    expect(history.map((h) => [h.patient_id, JSON.parse(h.changes).map((x: { field: string }) => x.field)])).toEqual([
      [a!.id, ['active', 'mergedInto', 'ins', 'link']], [b!.id, ['mergedFrom']],
    ]);

    // Reported: in maintenance_log (doctor) and in the log, without patient data.
    const notes = await db.all<{ kind: string; detail: string }>('SELECT kind, detail FROM maintenance_log ORDER BY id');
    expect(notes.map((n) => n.kind).sort()).toEqual(['authority-ambiguous', 'authority-merged', 'records-merged', 'spellings-unified']);
    expect(JSON.parse(notes.find((n) => n.kind === 'records-merged')!.detail)).toEqual({ namespace: 'CHEX', oid: OID, survivor: b!.id, retired: a!.id, insRemoved: true });
    expect(JSON.parse(notes.find((n) => n.kind === 'authority-ambiguous')!.detail)).toEqual({ namespace: 'AMB', oids: ['1.1', '2.2'], identifiers: 1 });
    const warned = lines.filter((l) => l.migration === '0003_authorities').map((l) => `${l.change}:${l.count}`).sort();
    expect(warned).toEqual(['authority-ambiguous:1', 'authority-merged:1', 'records-merged:1', 'spellings-unified:1']);
    expect(JSON.stringify(lines)).not.toContain(NIR1);
    expect(JSON.stringify(lines)).not.toContain('CASANOVA');
    // `pamdrop doctor` shows them: records merged and the ambiguous namespace as warnings with what to do.
    const checks = (await runDoctor(resolveConfig({ database: t.target }, tmpdir()), createLogger({ level: 'silent' }), { offline: true }))
      .filter((c) => c.name === 'migration 0003_authorities');
    expect(checks.map((c) => c.status).sort()).toEqual(['OK', 'OK', 'WARN', 'WARN']);
    expect(checks.find((c) => /records holding one identifier/.test(c.detail))).toMatchObject({ status: 'WARN', hint: expect.stringContaining('identity vigilance') });
    expect(checks.find((c) => /several OIDs/.test(c.detail))).toMatchObject({ status: 'WARN', hint: expect.stringContaining('pam.authorityAliases') });

    // The importer on the migrated store: either spelling reaches the surviving record; the ambiguous one is AE 204.
    for (const oid of [null, OID]) {
      const out = await db.transaction((tx) => applyCommand(tx, upsert('A31', [ipp('100', 'CHEX', oid)], { sex: 'F' }), ctx()));
      expect(out).toMatchObject({ kind: 'applied', patientId: b!.id, created: false });
    }
    const amb = await db.transaction((tx) => applyCommand(tx, upsert('A31', [ipp('502', 'AMB', null)], { sex: 'F' }), ctx()));
    expect(amb).toMatchObject({ kind: 'rejected', findings: [{ code: 204 }] });
    expect((await findPatients(db, { value: '100' })).map((p) => p.id)).toEqual([b!.id]);
  });

  test('a store without duplicates migrates silently: registry filled, nothing merged', async () => {
    const t = makeTarget(kind);
    dispose = t.dispose;
    const fresh = await openDb(t.target, { migrate: false });
    await fresh.close();
    const lines: string[] = [];
    db = await openDb(t.target, { log: createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) }) });
    expect(await db.all('SELECT * FROM authorities')).toEqual([]);
    expect(await db.all('SELECT * FROM maintenance_log')).toEqual([]);
    expect(lines).toEqual([]);
  });
});
