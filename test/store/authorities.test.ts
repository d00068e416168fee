/**
 * Test program — one assigning authority, several spellings (DTFR 1.8.2 N.1; docs/behaviour.md "Identity model"), through
 * applyCommand on every database:
 *  1. the pure rule (sameAuthority, aliases);
 *  2. namespace-only and full spellings reach one record, whichever comes first; the stored spelling is completed;
 *  3. two universal IDs under one namespace are two authorities; a namespace-only identifier then is AE 204;
 *  4. configured aliases; an A47 whose MRG-1 and PID-3 spell the domain differently;
 *  5. a rejected or stale command writes no authority.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { dbKinds, openTestDb, type TestDb } from '../helpers/db.js';
import { applyCommand, type ApplyContext } from '../../src/store/apply.js';
import { findPatients, listPatients } from '../../src/store/patients.js';
import { sameAuthority } from '../../src/pam/authority.js';
import type { PamCommand } from '../../src/pam/types.js';
import { changeId, ctx, ipp, merge, t, traits, upsert } from './builders.js';
import { SqlMessageStore } from '../../src/store/sql/message-store.js';

const OID = '1.2.250.1.999999.1';
const OID2 = '1.2.250.1.999999.7';
const nsOnly = (value: string, ns = 'CHEX') => ipp(value, ns, null);
const full = (value: string, ns = 'CHEX', oid = OID) => ipp(value, ns, oid);
const oidOnly = (value: string, oid = OID) => ipp(value, '', oid);

describe('sameAuthority (DTFR 1.8.2 N.1)', () => {
  test.each([
    [{ authority: 'AUT', oid: null }, { authority: 'AUT', oid: '1.2.3' }, true],
    [{ authority: 'AUT', oid: '1.2.3' }, { authority: 'OTHER', oid: '1.2.3' }, true],
    [{ authority: 'AUT', oid: '1.2.3' }, { authority: 'AUT', oid: '4.5.6' }, false],
    [{ authority: 'AUT', oid: null }, { authority: 'aut', oid: null }, false], // case as sent
    [{ authority: '', oid: null }, { authority: '', oid: '1.2.3' }, false],
    [{ authority: '', oid: null }, { authority: '', oid: null }, true],
  ] as const)('%j vs %j → %s', (a, b, same) => {
    expect(sameAuthority(a, b)).toBe(same);
    expect(sameAuthority(b, a)).toBe(same);
  });
  test('aliases rename a namespace on both sides', () => {
    expect(sameAuthority({ authority: 'OLD', oid: null }, { authority: 'NEW', oid: '1.2.3' }, { OLD: 'NEW' })).toBe(true);
    expect(sameAuthority({ authority: 'OLD', oid: null }, { authority: 'NEW', oid: null })).toBe(false);
  });
});

describe.each(dbKinds())('assigning authorities on %s', (kind) => {
  let t0: TestDb;
  beforeEach(async () => { t0 = await openTestDb(kind); });
  afterEach(async () => { await t0.cleanup(); });

  const run = (cmd: PamCommand, over: Partial<ApplyContext> = {}) => t0.db.transaction((tx) => applyCommand(tx, cmd, ctx(over)));
  const applied = async (...cmds: PamCommand[]) => {
    for (const c of cmds) expect((await run(c)).kind, `${c.header.event} ${c.header.controlId}`).toBe('applied');
  };
  const authorities = () => t0.db.all('SELECT namespace, oid FROM authorities ORDER BY id');
  const identifiers = () => t0.db.all('SELECT value, authority, oid, type, auth_key FROM identifiers ORDER BY id');
  const snapshot = async () => JSON.stringify([await authorities(), await identifiers(), await t0.db.all('SELECT * FROM patients ORDER BY id'),
    await t0.db.all('SELECT * FROM history ORDER BY id')]);

  test('namespace-only first, full spelling next: one record; the authority and its identifiers gain the OID', async () => {
    await applied(upsert('A28', [nsOnly('1')], traits()), upsert('A28', [nsOnly('2')], traits('DURAND')));
    expect(await authorities()).toEqual([{ namespace: 'CHEX', oid: null }]);
    await applied(upsert('A31', [full('1')], { sex: 'M' }));
    expect(await listPatients(t0.db)).toHaveLength(2);
    expect(await authorities()).toEqual([{ namespace: 'CHEX', oid: OID }]);
    expect(await identifiers()).toEqual([
      { value: '1', authority: 'CHEX', oid: OID, type: 'PI', auth_key: OID },
      { value: '2', authority: 'CHEX', oid: OID, type: 'PI', auth_key: OID },
    ]);
    const [p] = await findPatients(t0.db, { value: '1' });
    expect(p).toMatchObject({ sex: 'M', birthName: 'CASANOVA' });
    // Namespace-only again: the same record.
    await applied(upsert('A31', [nsOnly('2')], { sex: 'M' }));
    expect(await listPatients(t0.db)).toHaveLength(2);
  });

  test('full spelling first, namespace-only next: the same record, stored in the full spelling', async () => {
    await applied(upsert('A28', [full('1')], traits()));
    const out = await run(upsert('A31', [nsOnly('1')], { sex: 'M' }));
    expect(out).toMatchObject({ kind: 'applied', created: false, warnings: [] });
    expect(await listPatients(t0.db)).toHaveLength(1);
    expect(await authorities()).toEqual([{ namespace: 'CHEX', oid: OID }]);
  });

  test('both spellings in one PID-3 of a new patient: one identifier, full spelling', async () => {
    await applied(upsert('A28', [nsOnly('1'), full('1')], traits()));
    expect(await identifiers()).toEqual([{ value: '1', authority: 'CHEX', oid: OID, type: 'PI', auth_key: OID }]);
    expect(await authorities()).toEqual([{ namespace: 'CHEX', oid: OID }]);
  });

  test('an OID-only authority gains its namespace', async () => {
    await applied(upsert('A28', [oidOnly('1')], traits()));
    await applied(upsert('A31', [full('1')], { sex: 'M' }));
    expect(await authorities()).toEqual([{ namespace: 'CHEX', oid: OID }]);
    expect(await identifiers()).toEqual([{ value: '1', authority: 'CHEX', oid: OID, type: 'PI', auth_key: OID }]);
  });

  test('two universal IDs under one namespace are two authorities; namespace-only then → AE 204 naming both', async () => {
    await applied(upsert('A28', [full('1')], traits()), upsert('A28', [full('1', 'CHEX', OID2)], traits('DURAND')));
    expect(await listPatients(t0.db)).toHaveLength(2);
    const before = await snapshot();
    const out = await run(upsert('A31', [nsOnly('1')], { sex: 'M' }));
    expect(out.kind).toBe('rejected');
    const f = out.kind === 'rejected' ? out.findings[0]! : undefined;
    expect(f).toMatchObject({ code: 204, severity: 'E', location: { segment: 'PID', field: 3 } });
    expect(f!.text).toContain(`CHEX (${OID}) or CHEX (${OID2})`);
    expect(await snapshot()).toBe(before);
  });

  test('pam.authorityAliases: a renamed namespace reaches the records of the old name', async () => {
    await applied(upsert('A28', [nsOnly('1', 'OLDNAME')], traits()));
    const out = await run(upsert('A31', [nsOnly('1', 'NEWNAME')], { sex: 'M' }), { authorityAliases: { OLDNAME: 'NEWNAME' } });
    expect(out).toMatchObject({ kind: 'applied', created: false });
    expect(await listPatients(t0.db)).toHaveLength(1);
    // Without the alias: another domain, another record.
    await applied(upsert('A31', [nsOnly('1', 'NEWNAME')], { sex: 'M' }));
    expect(await listPatients(t0.db)).toHaveLength(2);
  });

  test('A47 whose MRG-1 and PID-3 spell the domain differently renames within it', async () => {
    await applied(upsert('A28', [nsOnly('100900')], traits()));
    await applied(changeId(nsOnly('100900'), full('200900')));
    expect(await identifiers()).toEqual([{ value: '200900', authority: 'CHEX', oid: OID, type: 'PI', auth_key: OID }]);
    expect(await listPatients(t0.db)).toHaveLength(1);
  });

  test('A40 whose survivor and retired spell the domain differently merges the two records', async () => {
    await applied(upsert('A28', [full('1')], traits()), upsert('A28', [nsOnly('2')], traits()));
    await applied(merge([nsOnly('1')], full('2')));
    const [retired] = await findPatients(t0.db, { value: '2' });
    expect(retired).toMatchObject({ active: false, mergedInto: { value: '1', oid: OID } });
  });

  test('a rejected command stores no authority and completes none', async () => {
    await applied(upsert('A28', [nsOnly('1')], traits()), upsert('A28', [nsOnly('2')], traits()));
    const before = await snapshot();
    // PID-3 identifiers of two records (AE 205), one spelled fully, one under an unknown authority.
    const out = await run(upsert('A31', [full('1'), nsOnly('2'), nsOnly('9', 'ELSEWHERE')], { sex: 'M' }));
    expect(out.kind).toBe('rejected');
    expect(await snapshot()).toBe(before);
  });

  test('a stale command completes no authority', async () => {
    await applied(upsert('A28', [nsOnly('1')], traits(), undefined, t('202503121015')));
    const out = await run(upsert('A31', [full('1')], { sex: 'M' }, undefined, t('202503110000')));
    expect(out.kind).toBe('stale');
    expect(await authorities()).toEqual([{ namespace: 'CHEX', oid: null }]);
  });
});

describe.each(dbKinds())('the registry as one group reads it (%s)', (kind) => {
  // SQLite reads the registry once per group transaction (RegistryCache); PostgreSQL one message at a time reads it
  // every time. Both must answer what the database holds, after a step that wrote it and after one that was undone.
  let tdb: TestDb;
  beforeEach(async () => { tdb = await openTestDb(kind); });
  afterEach(async () => { await tdb.cleanup(); });
  const spelling = { authority: 'CHEX', oid: OID };
  const NOW = '2026-03-01T10:00:00.000Z';

  test('a registry row written by a step is read back; one written by an undone step is not', async () => {
    await tdb.db.transaction(async (tx) => {
      const store = SqlMessageStore.forGroup(tx);
      expect(await store.identity.authorities(spelling, true)).toEqual([]);
      await expect(store.atomic(async (s) => {
        await s.identity.insertAuthority({ namespace: 'CHEX', oid: OID }, NOW);
        expect(await s.identity.authorities(spelling, true)).toEqual([{ namespace: 'CHEX', oid: OID }]);
        throw new Error('undone');
      })).rejects.toThrow('undone');
      expect(await store.identity.authorities(spelling, true)).toEqual([]);
      await store.atomic(async (s) => { await s.identity.insertAuthority({ namespace: 'CHEX', oid: null }, NOW); });
      await store.atomic(async (s) => { await s.identity.insertAuthority({ namespace: 'EPISODE', oid: OID2 }, NOW); });
      expect(await store.identity.authorities(spelling, true)).toEqual([{ namespace: 'CHEX', oid: null }, { namespace: 'EPISODE', oid: OID2 }]);
      // The candidates of one spelling: its OID or its namespace, in registry order.
      expect(await store.identity.authorities(spelling, false)).toEqual([{ namespace: 'CHEX', oid: null }]);
      expect(await store.identity.authorities({ authority: 'X', oid: OID2 }, false)).toEqual([{ namespace: 'EPISODE', oid: OID2 }]);
      await store.atomic(async (s) => { await s.identity.completeAuthority({ namespace: 'CHEX', oid: null }, { namespace: 'CHEX', oid: OID }, NOW); });
      expect(await store.identity.authorities(spelling, false)).toEqual([{ namespace: 'CHEX', oid: OID }]);
    });
  });
});
