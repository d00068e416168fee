/**
 * Test program — identity repository and store guarantees, on every database:
 *  1. Unique indexes: one owner per identifier (auth_key, value, type), one holder per INS (oid, value).
 *  2. Savepoints: a message rolled back inside a group-commit transaction leaves nothing behind.
 *  3. History rows: header facts and before → after changes, as written by applyCommand.
 *  4. Pure state helpers: tri-state merge by type, flat columns derived from the JSON ones.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { dbKinds, openTestDb, type TestDb } from '../helpers/db.js';
import { applyCommand } from '../../src/store/apply.js';
import {
  addIdentifier, createPatient, decodeState, diffStates, emptyState, encodeState, findPatientByIdentifier, getPatientRow,
  link, listHistory, mergeState, moveIdentifier, renameIdentifier, setIns, unlink,
} from '../../src/store/identity.js';
import { findPatients, listPatients } from '../../src/store/patients.js';
import type { Tx } from '../../src/store/tx.js';
import { address, ctx, ipp, name, nir, setIns as setInsAction, t, traits, upsert } from './builders.js';

const NOW = '2025-03-12T10:15:00.000Z';
const count = async (tx: Tx, table: string): Promise<number> =>
  Number((await tx.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n);

describe.each(dbKinds())('identity store on %s', (kind) => {
  let t0: TestDb;
  beforeEach(async () => { t0 = await openTestDb(kind); });
  afterEach(async () => { await t0.cleanup(); });

  describe('unique indexes', () => {
    test('an identifier (authority key, value, type) has one owner', async () => {
      const db = t0.db;
      const a = await createPatient(db, emptyState(), null, NOW);
      const b = await createPatient(db, emptyState(), null, NOW);
      await addIdentifier(db, a, ipp('1'), NOW);
      await expect(addIdentifier(db, b, ipp('1'), NOW)).rejects.toThrow(/unique|duplicate/i);
      // Same value under the namespace alone (no OID) is another key: OID first, namespace as fallback.
      await addIdentifier(db, b, ipp('1', 'CHEX', null), NOW);
      // Same value and authority, other type: another key too.
      await addIdentifier(db, b, { ...ipp('1'), type: 'NH' }, NOW);
      expect((await findPatientByIdentifier(db, ipp('1')))!.id).toBe(a);
      expect((await findPatientByIdentifier(db, ipp('1', 'CHEX', null)))!.id).toBe(b);
    });

    test('renaming or moving onto an owned identifier is refused by the index', async () => {
      const db = t0.db;
      const a = await createPatient(db, emptyState(), null, NOW);
      const b = await createPatient(db, emptyState(), null, NOW);
      await addIdentifier(db, a, ipp('1'), NOW);
      await addIdentifier(db, b, ipp('2'), NOW);
      await expect(renameIdentifier(db, ipp('2'), ipp('1'))).rejects.toThrow(/unique|duplicate/i);
      expect(await moveIdentifier(db, ipp('2'), a)).toBe(1);
      expect((await findPatientByIdentifier(db, ipp('2')))!.id).toBe(a);
      expect(await renameIdentifier(db, ipp('404'), ipp('405'))).toBe(0);
    });

    test('an INS (oid, value) has one holder; the same value under another OID is another INS', async () => {
      const db = t0.db;
      const a = await createPatient(db, emptyState(), null, NOW);
      const b = await createPatient(db, emptyState(), null, NOW);
      await setIns(db, a, nir('285032A00412371'), NOW);
      await expect(setIns(db, b, nir('285032A00412371'), NOW)).rejects.toThrow(/unique|duplicate/i);
      await setIns(db, b, nir('285032A00412371', '1.2.250.1.213.1.4.10'), NOW);
      expect(await count(db, 'ins')).toBe(2);
    });

    test('links are unordered pairs stored once', async () => {
      const db = t0.db;
      const a = await createPatient(db, emptyState(), null, NOW);
      const b = await createPatient(db, emptyState(), null, NOW);
      expect(await link(db, b, a, NOW)).toBe(true);
      expect(await link(db, a, b, NOW)).toBe(false);
      expect(await count(db, 'links')).toBe(1);
      await expect(link(db, a, a, NOW)).rejects.toThrow(/itself/);
      expect(await unlink(db, a, b)).toBe(true);
      expect(await unlink(db, a, b)).toBe(false);
    });
  });

  describe('savepoints', () => {
    test('a message rolled back in its savepoint leaves nothing; its neighbours commit', async () => {
      const db = t0.db;
      await db.transaction(async (tx) => {
        expect((await tx.savepoint((sp) => applyCommand(sp, upsert('A28', [ipp('1')], traits(), setInsAction(nir('285032A00412371'))), ctx()))).kind)
          .toBe('applied');
        await expect(tx.savepoint(async (sp) => {
          const out = await applyCommand(sp, upsert('A28', [ipp('2')], traits(), setInsAction(nir('167114410908956'))), ctx());
          expect(out.kind).toBe('applied');
          throw new Error('simulated failure after apply');
        })).rejects.toThrow('simulated failure after apply');
        // The same identity again applies cleanly: the rolled-back rows did not survive in the transaction.
        expect((await tx.savepoint((sp) => applyCommand(sp, upsert('A28', [ipp('3')], traits(), setInsAction(nir('167114410908956'))), ctx()))).kind)
          .toBe('applied');
      });
      expect(await findPatients(db, { value: '2' })).toEqual([]);
      expect((await listPatients(db)).map((p) => p.identifiers[0]!.value)).toEqual(['1', '3']);
      expect(await count(db, 'identifiers')).toBe(2);
      expect(await count(db, 'ins')).toBe(2);
      expect(await count(db, 'history')).toBe(2);
    });

    test('a thrown transaction commits nothing', async () => {
      const db = t0.db;
      await expect(db.transaction(async (tx) => {
        await applyCommand(tx, upsert('A28', [ipp('1')], traits()), ctx());
        throw new Error('boom');
      })).rejects.toThrow('boom');
      expect(await count(db, 'patients')).toBe(0);
      expect(await count(db, 'history')).toBe(0);
    });
  });

  describe('history', () => {
    test('one row per applied message with the header facts and before → after', async () => {
      const db = t0.db;
      const create = upsert('A28', [ipp('1')], traits(), setInsAction(nir('285032A00412371')), t('202503121015'));
      const out = await applyCommand(db, create, { now: '2025-03-12T10:20:00.000Z', staleUpdates: 'skip' });
      expect(out.kind).toBe('applied');
      const id = out.kind === 'applied' ? out.patientId : -1;
      const update = upsert('A31', [ipp('1')], { sex: 'M', names: { D: name('PAOLI', 'MARIE') } }, undefined, t('202503201430'));
      await applyCommand(db, update, { now: '2025-03-20T14:31:00.000Z', staleUpdates: 'skip' });

      const rows = await listHistory(db, id);
      expect(rows).toHaveLength(2);
      expect(rows[1]).toMatchObject({
        sending_app: 'GAM', sending_facility: 'CHEX', control_id: update.header.controlId, event: 'A31',
        message_time: t('202503201430'), recorded_at: '2025-03-20T14:31:00.000Z',
      });
      expect(JSON.parse(rows[1]!.changes)).toEqual([
        { field: 'usedName', before: null, after: 'PAOLI' },
        { field: 'usedFirstName', before: null, after: 'MARIE' },
        { field: 'sex', before: 'F', after: 'M' },
        { field: 'names.D', before: null, after: name('PAOLI', 'MARIE') },
      ]);
      const [p] = await findPatients(db, { value: '1' });
      expect(p!.history.map((h) => [h.controlId, h.event, h.messageTime])).toEqual([
        [create.header.controlId, 'A28', t('202503121015')], [update.header.controlId, 'A31', t('202503201430')],
      ]);
      const row = (await getPatientRow(db, id))!;
      expect(row.updated_at).toBe('2025-03-20T14:31:00.000Z');
      expect(row.created_at).toBe('2025-03-12T10:20:00.000Z');
    });

    test('a rejected message writes no history row', async () => {
      const db = t0.db;
      await applyCommand(db, upsert('A28', [ipp('1')], traits(), setInsAction(nir('285032A00412371'))), ctx());
      const out = await applyCommand(db, upsert('A28', [ipp('2')], traits(), setInsAction(nir('285032A00412371'))), ctx());
      expect(out.kind).toBe('rejected');
      expect(await count(db, 'history')).toBe(1);
      expect(await count(db, 'patients')).toBe(1);
    });
  });
});

describe('state helpers', () => {
  test('flat columns are derived from names.L, names.D and addresses.BDL', () => {
    const s = mergeState(emptyState(), traits('CASANOVA', { names: { L: name('CASANOVA', 'MARIE', 'MARIE ANNE'), D: name('PAOLI', 'M') } }));
    const cols = encodeState(s);
    // status, attributes, birth_name, first_name, birth_given_names, used_name, used_first_name, birth_date, sex, birth_place
    expect(cols.slice(0, 10)).toEqual(['VALI', null, 'CASANOVA', 'MARIE', 'MARIE ANNE', 'PAOLI', 'M', '1985-03-17', 'F', '2A004']);
  });

  test.each([
    ['absent keeps', { L: name('A') }, undefined, { L: name('A') }],
    ['null clears all', { L: name('A'), D: name('B') }, null, {}],
    ['type null removes that type', { L: name('A'), D: name('B') }, { D: null }, { L: name('A') }],
    ['type value replaces that type only', { L: name('A'), D: name('B') }, { D: name('C') }, { L: name('A'), D: name('C') }],
  ] as const)('names: %s', (_label, cur, upd, expected) => {
    const s = mergeState({ ...emptyState(), names: { ...cur } }, { names: upd as never });
    expect(s.names).toEqual(expected);
  });

  test('other fields: null deletes, value replaces, absent keeps', () => {
    const s0 = mergeState(emptyState(), { phone: '01', maritalStatus: 'S' });
    const s1 = mergeState(s0, { phone: null, deathIndicator: 'N' });
    expect(s1.other).toEqual({ maritalStatus: 'S', deathIndicator: 'N' });
    expect(diffStates(s0, s1)).toEqual([
      { field: 'phone', before: '01', after: null },
      { field: 'deathIndicator', before: null, after: 'N' },
    ]);
  });

  test('key order of stored objects does not count as a change', () => {
    const a = { ...emptyState(), addresses: { H: address({ city: 'X' }) } };
    const reordered = JSON.parse(JSON.stringify({ countyCode: null, city: 'X', zip: null, street: null, other: null, state: null, country: null }));
    const b = { ...emptyState(), addresses: { H: reordered } };
    expect(diffStates(a, b)).toEqual([]);
  });

  test('decodeState tolerates a corrupt JSON column', () => {
    const row = { names: '{oops', addresses: null, other: null, attributes: null, status: null, birth_date: null, sex: null } as never;
    expect(decodeState(row).names).toEqual({});
  });
});
