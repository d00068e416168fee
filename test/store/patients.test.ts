/**
 * Test program — the CLI read model (src/store/patients.ts), on every database: lookups by identifier value and
 * authority (namespace or OID) and by INS, retired identifiers resolving to the retired record, listing order.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { dbKinds, openTestDb, type TestDb } from '../helpers/db.js';
import { applyCommand } from '../../src/store/apply.js';
import { findPatients, getPatient, listPatients } from '../../src/store/patients.js';
import type { PamCommand } from '../../src/pam/types.js';
import { ctx, ipp, merge, nir, setIns, traits, upsert, IPP_OID } from './builders.js';

const NIR1 = '285032A00412371';

describe.each(dbKinds())('read model on %s', (kind) => {
  let t0: TestDb;
  beforeEach(async () => {
    t0 = await openTestDb(kind);
    const cmds: PamCommand[] = [
      upsert('A28', [ipp('100')], traits('ALPHA'), setIns(nir(NIR1))),
      upsert('A28', [ipp('100', 'OTHER', '1.2.3.4')], traits('BETA')),
      upsert('A28', [ipp('200')], traits('GAMMA')),
      merge([ipp('100')], ipp('200')),
    ];
    for (const c of cmds) expect((await applyCommand(t0.db, c, ctx())).kind).toBe('applied');
  });
  afterEach(async () => { await t0.cleanup(); });

  test.each([
    ['value alone matches every domain', { value: '100' }, ['ALPHA', 'BETA']],
    ['authority by namespace', { value: '100', authority: 'CHEX' }, ['ALPHA']],
    ['authority by OID', { value: '100', authority: '1.2.3.4' }, ['BETA']],
    ['unknown authority', { value: '100', authority: 'NOPE' }, []],
    ['INS value', { ins: NIR1 }, ['ALPHA']],
    ['INS and identifier must both match', { ins: NIR1, value: '100', authority: 'OTHER' }, []],
    ['retired identifier resolves to the retired record', { value: '200' }, ['GAMMA']],
    ['no criterion', {}, []],
  ] as const)('findPatients: %s', async (_label, q, names) => {
    expect((await findPatients(t0.db, q)).map((p) => p.birthName)).toEqual(names);
  });

  test('a retired record shows the survivor PI identifier and is inactive', async () => {
    const [r] = await findPatients(t0.db, { value: '200' });
    expect(r).toMatchObject({ active: false, mergedInto: { value: '100', authority: 'CHEX', oid: IPP_OID, type: 'PI' } });
  });

  test('listPatients lists active and merged records by id, same views as getPatient', async () => {
    const all = await listPatients(t0.db);
    expect(all.map((p) => [p.birthName, p.active])).toEqual([['ALPHA', true], ['BETA', true], ['GAMMA', false]]);
    for (const p of all) expect(await getPatient(t0.db, p.id)).toEqual(p);
    expect(all[0]).toMatchObject({ qualified: true, ins: { value: NIR1, kind: 'NIR' }, attributes: [] });
    expect(all[0]!.history.map((h) => h.event)).toEqual(['A28', 'A40']);
  });
});
