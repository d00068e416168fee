/**
 * Test program — applyCommand against docs/behaviour.md, on every database (test/helpers/db.ts):
 *  1. A28 / A31 upsert: create, field-level update, identifier ownership, retired identifiers, INS set/remove/collision.
 *  2. Stale guard (skip and apply modes).
 *  3. A47 identifier change and A47 INS change/deletion.
 *  4. A40 merge: every known/unknown combination, INS conflict, identifiers and links of the retired record.
 *  5. A24 / A37 link and unlink.
 * Each case runs on a fresh database: optional setup commands (which must apply), then the command under test.
 * A `rejected` or `stale` outcome must leave every identity table byte-for-byte unchanged (checked generically),
 * because the store checks its preconditions before writing.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { dbKinds, openTestDb, type TestDb } from '../helpers/db.js';
import { applyCommand, type ApplyContext, type ApplyOutcome } from '../../src/store/apply.js';
import { findPatients, getPatient, listPatients, type PatientView } from '../../src/store/patients.js';
import type { PamCommand } from '../../src/pam/types.js';
import type { Tx } from '../../src/store/tx.js';
import { ERASED_INS } from '../../src/identity/erasure.js';
import {
  address, changeId, changeIns, ctx, ipp, keep, linkCmd, merge, name, nia, nir, removeIns, setIns, t, traits, upsert,
} from './builders.js';

const NIR1 = '285032A00412371';
const NIR2 = '167114410908956';
const NIR3 = '292093155504523';
const NIA1 = '155049935001242';
const HOSP = { value: '', authority: 'OTHERHOSP', oid: '1.2.250.1.999999.2', type: 'PI' };
const other = (value: string) => ({ ...HOSP, value });

/** Every identity table, for "nothing written" assertions. */
async function snapshot(tx: Tx): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const table of ['patients', 'identifiers', 'ins', 'history', 'links']) {
    out[table] = await tx.all(`SELECT * FROM ${table} ORDER BY id`);
  }
  return JSON.stringify(out);
}

/** The one record an identifier value resolves to. */
async function one(tx: Tx, value: string): Promise<PatientView> {
  const found = await findPatients(tx, { value });
  expect(found).toHaveLength(1);
  return found[0]!;
}

interface Case {
  name: string;
  setup?: () => PamCommand[];
  cmd: () => PamCommand;
  ctx?: Partial<ApplyContext>;
  kind: ApplyOutcome['kind'];
  /** Expected findings (rejected) or warnings (applied / stale), as `severity code` strings. */
  findings?: string[];
  /** Substring expected in the first finding's text. */
  text?: string;
  check?: (tx: Tx, out: ApplyOutcome) => Promise<void>;
}

const cases: Case[] = [
  // ---------------------------------------------------------------- A28 / A31
  {
    name: 'A28 unknown identifier → create with identifiers, traits, INS and one history row',
    cmd: () => upsert('A28', [ipp('100234')], traits(), setIns(nir(NIR1))),
    kind: 'applied', findings: [],
    check: async (tx, out) => {
      expect(out).toMatchObject({ kind: 'applied', created: true });
      const p = await one(tx, '100234');
      expect(p).toMatchObject({
        active: true, birthName: 'CASANOVA', firstName: 'MARIE', birthGivenNames: 'MARIE LAETITIA', birthDate: '1985-03-17',
        sex: 'F', birthPlace: '2A004', status: 'VALI', qualified: true, ins: { value: NIR1, kind: 'NIR' },
        identifiers: [{ value: '100234', authority: 'CHEX', type: 'PI' }], lastMessageTime: t('202503121015'),
      });
      expect(p.history).toHaveLength(1);
      const fields = p.history[0]!.changes.map((c) => c.field);
      expect(fields).toEqual(expect.arrayContaining(['birthName', 'names.L', 'addresses.BDL', 'sex', 'status', 'identifier', 'ins']));
    },
  },
  {
    name: 'A31 unknown identifier → create with W 204',
    cmd: () => upsert('A31', [ipp('100234')], traits()),
    kind: 'applied', findings: ['W 204'], text: 'A31 for an unknown patient: created',
    check: async (tx) => { expect((await one(tx, '100234')).birthName).toBe('CASANOVA'); },
  },
  {
    name: 'A28 known identifier → applied as an update with W 205',
    setup: () => [upsert('A28', [ipp('100234')], traits())],
    cmd: () => upsert('A28', [ipp('100234')], { sex: 'M' }),
    kind: 'applied', findings: ['W 205'], text: 'A28 for a known patient: applied as an update',
    check: async (tx) => {
      expect(await listPatients(tx)).toHaveLength(1);
      expect((await one(tx, '100234')).sex).toBe('M');
    },
  },
  {
    name: 'A31 field level: absent keeps, null clears, value replaces; names and addresses by type',
    setup: () => [upsert('A28', [ipp('100234')], traits('CASANOVA', {
      names: { L: name('CASANOVA', 'MARIE', 'MARIE LAETITIA'), D: name('BONAPARTE', 'MARIE') },
      addresses: { H: address({ street: '12 COURS NAPOLEON', city: 'AJACCIO' }), BDL: address({ countyCode: '2A004' }) },
      phone: '0612345678', maritalStatus: 'S',
    }))],
    cmd: () => upsert('A31', [ipp('100234')], {
      names: { D: name('PAOLI', 'MARIE') }, addresses: { H: address({ street: '4 RUE FESCH', city: 'BASTIA' }) },
      phone: null, maritalStatus: 'M',
    }, keep, t('202503201430')),
    kind: 'applied', findings: [],
    check: async (tx, out) => {
      const p = await one(tx, '100234');
      expect(p).toMatchObject({ birthName: 'CASANOVA', usedName: 'PAOLI', usedFirstName: 'MARIE', sex: 'F', birthPlace: '2A004' });
      expect(p.names).toEqual({ L: name('CASANOVA', 'MARIE', 'MARIE LAETITIA'), D: name('PAOLI', 'MARIE') });
      expect(p.addresses).toMatchObject({ H: { city: 'BASTIA' }, BDL: { countyCode: '2A004' } });
      const changes = out.kind === 'applied' ? out.changes : [];
      expect(changes.map((c) => c.field).sort()).toEqual(['addresses.H', 'maritalStatus', 'names.D', 'phone', 'usedName']);
      expect(changes.find((c) => c.field === 'phone')).toEqual({ field: 'phone', before: '0612345678', after: null });
      expect(p.history).toHaveLength(2);
      expect(p.lastMessageTime).toBe(t('202503201430'));
    },
  },
  {
    name: 'A31 names.D null removes the usage name only',
    setup: () => [upsert('A28', [ipp('100234')], traits('CASANOVA', { names: { L: name('CASANOVA', 'MARIE'), D: name('BONAPARTE', 'MARIE') } }))],
    cmd: () => upsert('A31', [ipp('100234')], { names: { D: null } }),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const p = await one(tx, '100234');
      expect(p).toMatchObject({ birthName: 'CASANOVA', usedName: null, usedFirstName: null });
      expect(Object.keys(p.names)).toEqual(['L']);
    },
  },
  {
    name: 'A31 names null and birth date null clear them (flat columns follow)',
    setup: () => [upsert('A28', [ipp('100234')], traits())],
    cmd: () => upsert('A31', [ipp('100234')], { names: null, birthDate: null, addresses: null }),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const p = await one(tx, '100234');
      expect(p).toMatchObject({ birthName: null, firstName: null, birthDate: null, birthPlace: null, names: {}, addresses: {} });
    },
  },
  {
    name: 'A31 with nothing new writes no history row but still advances the stale-guard time',
    setup: () => [upsert('A28', [ipp('100234')], traits())],
    cmd: () => upsert('A31', [ipp('100234')], traits(), keep, t('202504010900')),
    kind: 'applied', findings: [],
    check: async (tx, out) => {
      const p = await one(tx, '100234');
      expect(out.kind === 'applied' && out.changes).toEqual([]);
      expect(p.history).toHaveLength(1);
      expect(p.lastMessageTime).toBe(t('202504010900'));
    },
  },
  {
    name: 'A31 adds a PID-3 identifier of another domain',
    setup: () => [upsert('A28', [ipp('100234')], traits())],
    cmd: () => upsert('A31', [ipp('100234'), other('X77')]),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const p = await one(tx, 'X77');
      expect(p.identifiers.map((i) => i.value)).toEqual(['100234', 'X77']);
      expect(p.history[1]!.changes).toEqual([{ field: 'identifier', before: null, after: { ...HOSP, value: 'X77' } }]);
    },
  },
  {
    name: 'identifiers owned by two different records → AE 205',
    setup: () => [upsert('A28', [ipp('1')], traits('A')), upsert('A28', [other('2')], traits('B'))],
    cmd: () => upsert('A31', [ipp('1'), other('2')], { sex: 'M' }),
    kind: 'rejected', findings: ['E 205'],
  },
  {
    name: 'identifier retired by a merge → AE 204 naming the survivor identifier (no patient data)',
    setup: () => [
      upsert('A28', [ipp('100500')], traits('DURAND')), upsert('A28', [ipp('100777')], traits('DURAND')),
      merge([ipp('100500')], ipp('100777'), {}, keep, t('202504021115')),
    ],
    cmd: () => upsert('A31', [ipp('100777')], { sex: 'M' }, keep, t('202504030000')),
    kind: 'rejected', findings: ['E 204'], text: 'identifier retired by merge; use 100500^^^CHEX',
    check: async (tx, out) => {
      expect(out.kind === 'rejected' && out.findings[0]!.text).not.toMatch(/DURAND|1985/);
    },
  },
  {
    name: 'A28 with an identifier of a retired record among others → AE 204',
    setup: () => [
      upsert('A28', [ipp('100500')], traits()), upsert('A28', [ipp('100777')], traits()),
      merge([ipp('100500')], ipp('100777')),
    ],
    cmd: () => upsert('A28', [ipp('100777'), other('NEW')], traits()),
    kind: 'rejected', findings: ['E 204'], text: 'use 100500^^^CHEX',
  },
  {
    name: 'INS set already held by another active record → AE 205 (identity collision)',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))), upsert('A28', [ipp('2')], traits())],
    cmd: () => upsert('A31', [ipp('2')], traits(), setIns(nir(NIR1))),
    kind: 'rejected', findings: ['E 205'],
    check: async (_tx, out) => { expect(out.kind === 'rejected' && out.findings[0]!.text).not.toContain(NIR1); },
  },
  {
    name: 'A28 for a new identifier whose INS belongs to another record → AE 205, nothing created',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1)))],
    cmd: () => upsert('A28', [ipp('2')], traits(), setIns(nir(NIR1))),
    kind: 'rejected', findings: ['E 205'],
  },
  {
    name: 'INS set: the NIR becomes the INS of a record holding an NIA, which is kept beside it',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nia(NIA1)))],
    cmd: () => upsert('A31', [ipp('1')], {}, setIns(nir(NIR1))),
    kind: 'applied', findings: [],
    check: async (tx, out) => {
      expect((await one(tx, '1')).ins).toEqual({ value: NIR1, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' });
      expect((await findPatients(tx, { ins: NIA1 })).map((p) => p.ins?.value)).toEqual([NIR1]);
      expect(out.kind === 'applied' && out.changes).toEqual([{
        field: 'ins', before: { value: NIA1, oid: '1.2.250.1.213.1.4.9', kind: 'NIA' },
        after: [{ value: NIR1, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, { value: NIA1, oid: '1.2.250.1.213.1.4.9', kind: 'NIA' }],
      }]);
    },
  },
  // Regression: an NIA sent beside the NIR used to be dropped, so another record could take it without a collision.
  {
    name: 'INS set with an NIA beside the NIR: both stored, the NIR is the INS',
    cmd: () => upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1), nia(NIA1))),
    kind: 'applied', findings: [],
    check: async (tx) => {
      expect((await one(tx, '1')).ins).toEqual({ value: NIR1, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' });
      expect(await tx.all('SELECT value, kind FROM ins ORDER BY id')).toEqual([{ value: NIR1, kind: 'NIR' }, { value: NIA1, kind: 'NIA' }]);
    },
  },
  {
    name: 'the NIA kept beside an NIR is a collision for another record (AE 205)',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1), nia(NIA1)))],
    cmd: () => upsert('A28', [ipp('2')], traits(), setIns(nia(NIA1))),
    kind: 'rejected', findings: ['E 205'],
  },
  {
    name: 'an NIA beside a new NIR, held by another record → AE 205',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nia(NIA1)))],
    cmd: () => upsert('A28', [ipp('2')], traits(), setIns(nir(NIR1), nia(NIA1))),
    kind: 'rejected', findings: ['E 205'],
  },
  {
    name: 'a later message with the NIR alone keeps the NIA beside it; a downgrade removes both',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1), nia(NIA1))), upsert('A31', [ipp('1')], traits(), setIns(nir(NIR1)))],
    cmd: () => upsert('A31', [ipp('1')], { status: 'PROV' }, removeIns()),
    kind: 'applied', findings: [],
    check: async (tx, out) => {
      expect(await tx.all('SELECT value FROM ins')).toEqual([]);
      expect(out.kind === 'applied' && out.changes.find((c) => c.field === 'ins')?.before).toHaveLength(2);
    },
  },
  {
    name: 'INS set with the INS already held: nothing changes',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1)))],
    cmd: () => upsert('A31', [ipp('1')], traits(), setIns(nir(NIR1))),
    kind: 'applied', findings: [],
    check: async (_tx, out) => { expect(out.kind === 'applied' && out.changes).toEqual([]); },
  },
  {
    name: 'A31 no longer qualified (PROV + DOUT) removes the stored INS, kept in history',
    setup: () => [upsert('A28', [ipp('100234')], traits(), setIns(nir(NIR1)))],
    cmd: () => upsert('A31', [ipp('100234')], { status: 'PROV', attributes: ['DOUT'] }, removeIns()),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const p = await one(tx, '100234');
      expect(p).toMatchObject({ ins: null, status: 'PROV', attributes: ['DOUT'], qualified: false });
      expect(p.history[1]!.changes).toEqual(expect.arrayContaining([
        { field: 'ins', before: { value: NIR1, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, after: null },
        { field: 'status', before: 'VALI', after: 'PROV' },
        { field: 'attributes', before: [], after: ['DOUT'] },
      ]));
      expect(await findPatients(tx, { ins: NIR1 })).toEqual([]);
    },
  },
  {
    name: 'a value longer than its column → AE 102 on both databases',
    cmd: () => upsert('A28', [ipp('1')], { ...traits(), addresses: { BDL: address({ countyCode: '123456789' }) } }),
    kind: 'rejected', findings: ['E 102'],
  },
  {
    name: 'A31 without MSH-7 applies and keeps the stored time',
    setup: () => [upsert('A28', [ipp('1')], traits())],
    cmd: () => upsert('A31', [ipp('1')], { sex: 'M' }, keep, null),
    kind: 'applied', findings: [],
    check: async (tx) => { expect((await one(tx, '1')).lastMessageTime).toBe(t('202503121015')); },
  },
  // ---------------------------------------------------------------- stale guard
  {
    name: 'stale: an A31 older than the last applied message is skipped with a W 0',
    setup: () => [upsert('A28', [ipp('1')], traits(), keep, t('202503121015'))],
    cmd: () => upsert('A31', [ipp('1')], { sex: 'M' }, keep, t('202503121014')),
    kind: 'stale', findings: ['W 0'], text: 'stale: older than the last update applied to this patient; not applied',
  },
  {
    name: 'stale with staleUpdates=apply: applied, last time stays the latest',
    setup: () => [upsert('A28', [ipp('1')], traits(), keep, t('202503121015'))],
    cmd: () => upsert('A31', [ipp('1')], { sex: 'M' }, keep, t('202503121014')),
    ctx: { staleUpdates: 'apply' },
    kind: 'applied', findings: [],
    check: async (tx) => { expect(await one(tx, '1')).toMatchObject({ sex: 'M', lastMessageTime: t('202503121015') }); },
  },
  {
    name: 'same time as the last applied message is not stale',
    setup: () => [upsert('A28', [ipp('1')], traits(), keep, t('202503121015'))],
    cmd: () => upsert('A31', [ipp('1')], { sex: 'M' }, keep, t('202503121015')),
    kind: 'applied', findings: [],
  },
  {
    name: 'a message older than the merge that retired its identifier is stale, not AE 204',
    setup: () => [
      upsert('A28', [ipp('1')], traits(), keep, t('202503120900')), upsert('A28', [ipp('2')], traits(), keep, t('202503120900')),
      merge([ipp('1')], ipp('2'), {}, keep, t('202503121100')),
    ],
    cmd: () => upsert('A31', [ipp('2')], { sex: 'M' }, keep, t('202503121000')),
    kind: 'stale', findings: ['W 0'],
  },
  // ---------------------------------------------------------------- A47 identifier
  {
    name: 'A47 renames the IPP; the old one no longer resolves; history has before → after',
    setup: () => [upsert('A28', [ipp('100900')], traits('BENALI'), setIns(nir(NIR2)))],
    cmd: () => changeId(ipp('100900'), ipp('200900'), [], { sex: 'M' }, setIns(nir(NIR2))),
    kind: 'applied', findings: [],
    check: async (tx) => {
      expect(await findPatients(tx, { value: '100900' })).toEqual([]);
      const p = await one(tx, '200900');
      expect(p).toMatchObject({ birthName: 'BENALI', sex: 'M', ins: { value: NIR2 } });
      expect(p.history[1]!.changes[0]).toEqual({
        field: 'identifier', before: { value: '100900', authority: 'CHEX', oid: '1.2.250.1.999999.1', type: 'PI' },
        after: { value: '200900', authority: 'CHEX', oid: '1.2.250.1.999999.1', type: 'PI' },
      });
    },
  },
  {
    name: 'A47 MRG-1 unknown → AE 204',
    cmd: () => changeId(ipp('100900'), ipp('200900')),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    name: 'A47 replacement owned by another record → AE 205 suggesting A40',
    setup: () => [upsert('A28', [ipp('100900')], traits()), upsert('A28', [ipp('200900')], traits())],
    cmd: () => changeId(ipp('100900'), ipp('200900')),
    kind: 'rejected', findings: ['E 205'], text: 'A40',
  },
  {
    name: 'A47 whose MRG-1 was retired by a merge → AE 204 naming the survivor',
    setup: () => [
      upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits()), merge([ipp('1')], ipp('2')),
    ],
    cmd: () => changeId(ipp('2'), ipp('3')),
    kind: 'rejected', findings: ['E 204'], text: 'use 1^^^CHEX',
  },
  {
    name: 'A47 with another PID-3 identifier owned elsewhere → AE 205',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [other('X')], traits())],
    cmd: () => changeId(ipp('1'), ipp('9'), [other('X')]),
    kind: 'rejected', findings: ['E 205'],
  },
  // ---------------------------------------------------------------- A47 INS
  {
    name: 'A47 INS deletion: patient found by MRG-1 INS, every INS removed, PID-32 applied',
    setup: () => [upsert('A28', [ipp('100234')], traits(), setIns(nir(NIR1)))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('100234')], removeIns('explicit-null'), { status: 'PROV' }),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const p = await one(tx, '100234');
      expect(p).toMatchObject({ ins: null, status: 'PROV', qualified: false });
      // PAM FR 2.11.2 §4.4.3: the deletion erases the INS from the history too; the entries stay.
      expect(p.history).toHaveLength(2);
      expect(p.history[1]!.changes).toEqual(expect.arrayContaining([
        { field: 'ins', before: { value: ERASED_INS, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, after: null },
      ]));
      expect(p.history[0]!.changes).toContainEqual({ field: 'ins', before: null, after: { value: ERASED_INS, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' } });
      expect(JSON.stringify(await tx.all('SELECT changes FROM history'))).not.toContain(NIR1);
    },
  },
  {
    name: 'A31 downgrade (status no longer VALI) removes the INS but keeps it in history',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1)))],
    cmd: () => upsert('A31', [ipp('1')], { status: 'PROV' }, removeIns('not-qualified')),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const p = await one(tx, '1');
      expect(p.ins).toBeNull();
      expect(p.history[1]!.changes).toContainEqual({ field: 'ins', before: { value: NIR1, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, after: null });
    },
  },
  {
    name: 'A47 INS replacement keeps the replaced INS in history',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1)))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], setIns(nir(NIR2))),
    kind: 'applied', findings: [],
    check: async (tx) => { expect(JSON.stringify((await one(tx, '1')).history)).toContain(NIR1); },
  },
  {
    name: 'A47 INS deletion erases the INS from the history of a record merged into it, and only there',
    setup: () => [
      upsert('A28', [ipp('1')], traits()),
      upsert('A28', [ipp('2')], traits(), setIns(nir(NIR1))),
      merge([ipp('1')], ipp('2'), traits(), setIns(nir(NIR1))),
      // Another record whose history shows NIR1 too (a value it was sent, then lost): its history is its own.
      upsert('A28', [ipp('3')], traits('AUTRE'), setIns(nir(NIR3))),
    ],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], removeIns('explicit-null'), { status: 'PROV' }),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const rows = await tx.all<{ patient_id: number; changes: string }>('SELECT patient_id, changes FROM history ORDER BY id');
      const [s, r] = [(await one(tx, '1')).id, (await one(tx, '2')).id];
      expect(rows.filter((h) => h.patient_id === s || h.patient_id === r).map((h) => h.changes).join()).not.toContain(NIR1);
      expect(rows.filter((h) => h.patient_id === r).map((h) => h.changes).join()).toContain(ERASED_INS);
      expect(rows.filter((h) => h.patient_id !== s && h.patient_id !== r).map((h) => h.changes).join()).toContain(NIR3);
    },
  },
  {
    name: 'A47 INS change: new NIR replaces the old one',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1)))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], setIns(nir(NIR2)), { sex: 'M' }),
    kind: 'applied', findings: [],
    check: async (tx) => { expect(await one(tx, '1')).toMatchObject({ ins: { value: NIR2 }, sex: 'M', qualified: true }); },
  },
  {
    name: 'A47 INS found by value alone when the OID differs',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1, '1.2.250.1.213.1.4.10')))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], removeIns('explicit-null')),
    kind: 'applied', findings: [],
    check: async (tx) => { expect((await one(tx, '1')).ins).toBeNull(); },
  },
  {
    name: 'A47 INS unknown, PID-3 unknown too → AE 204',
    setup: () => [upsert('A28', [ipp('1')], traits())],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('9')], removeIns('explicit-null')),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    name: 'A47 INS unknown, PID-3 record holds another INS → AE 204',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR2)))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], removeIns('explicit-null')),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    // Regression: an A31 downgrade removes the INS (docs/behaviour.md); the GAM's A47 deletion that follows must not be NAKed.
    name: 'A47 INS already removed by a downgrade of the PID-3 record → applied to it, W 204, INS erased from its history',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))), upsert('A31', [ipp('1')], { status: 'PROV' }, removeIns())],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], removeIns('explicit-null'), { status: 'PROV' }),
    kind: 'applied', findings: ['W 204'], text: 'already removed',
    check: async (tx) => {
      const p = await one(tx, '1');
      expect(p).toMatchObject({ ins: null, status: 'PROV' });
      // The A47 changes nothing else (already PROV, no INS): the downgrade's entry is the one erased.
      expect(p.history).toHaveLength(2);
      expect(JSON.stringify(p.history)).not.toContain(NIR1);
      expect(p.history[1]!.changes).toContainEqual({ field: 'ins', before: { value: ERASED_INS, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, after: null });
    },
  },
  {
    // Regression: a never-seen INS in MRG-1 turned a PROV record without INS into a qualified one.
    name: 'A47 INS held by nobody, PID-3 record never held it → AE 204, nothing applied',
    setup: () => [upsert('A28', [ipp('1')], traits('CASANOVA', { status: 'PROV' }))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], setIns(nir(NIR2)), { status: 'VALI' }),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    name: 'A47 INS held by nobody, PID-3 record lost another INS by a downgrade → AE 204',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR2))), upsert('A31', [ipp('1')], { status: 'PROV' }, removeIns())],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], removeIns('explicit-null')),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    name: 'A47 INS held by nobody, already deleted by an earlier A47 (history erased) → AE 204',
    setup: () => [
      upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))),
      changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], removeIns('explicit-null'), { status: 'PROV' }),
    ],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], removeIns('explicit-null'), { status: 'PROV' }),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    name: 'A47 INS change to an INS held by another record → AE 205',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))), upsert('A28', [ipp('2')], traits(), setIns(nir(NIR2)))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1')], setIns(nir(NIR2))),
    kind: 'rejected', findings: ['E 205'],
  },
  {
    name: 'A47 INS adds the missing PID-3 identifiers',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1)))],
    cmd: () => changeIns({ value: NIR1, oid: '1.2.250.1.213.1.4.8' }, [ipp('1'), other('X')], setIns(nir(NIR1))),
    kind: 'applied', findings: [],
    check: async (tx) => { expect((await one(tx, 'X')).identifiers.map((i) => i.value)).toEqual(['1', 'X']); },
  },
  // ---------------------------------------------------------------- A40
  {
    name: 'A40 both known: retired inactive → survivor, keeps its identifiers, INS moves to the survivor',
    setup: () => [
      upsert('A28', [ipp('100500')], traits('DURAND')),
      upsert('A28', [ipp('100777'), other('R2')], traits('DURAND'), setIns(nir(NIR2))),
    ],
    cmd: () => merge([ipp('100500')], ipp('100777'), { sex: 'M' }),
    kind: 'applied', findings: [],
    check: async (tx, out) => {
      const s = await one(tx, '100500');
      const r = await one(tx, '100777');
      expect(out).toMatchObject({ patientId: s.id });
      expect(s).toMatchObject({ active: true, sex: 'M', ins: { value: NIR2 }, mergedInto: null });
      expect(r).toMatchObject({ active: false, ins: null, mergedInto: { value: '100500', authority: 'CHEX', type: 'PI' } });
      expect(r.identifiers.map((i) => i.value)).toEqual(['100777', 'R2']);
      expect((await one(tx, 'R2')).id).toBe(r.id);
      expect(r.history.at(-1)!.changes).toEqual(expect.arrayContaining([
        { field: 'active', before: true, after: false },
        { field: 'ins', before: { value: NIR2, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, after: null },
      ]));
      expect(s.history.at(-1)!.changes.map((c) => c.field)).toEqual(expect.arrayContaining(['mergedFrom', 'ins', 'sex']));
      expect((await findPatients(tx, { ins: NIR2 })).map((p) => p.id)).toEqual([s.id]);
    },
  },
  // Regression: the retired record's INS moved onto any survivor, so a PROV survivor ended holding an INS, unqualified.
  {
    name: 'A40 whose message does not let the survivor end qualified: the retired INS is dropped with the W 101 given',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits(), setIns(nir(NIR1)))],
    cmd: () => merge([ipp('1')], ipp('2'), { status: 'PROV' }, removeIns(), undefined,
      [{ code: 101, severity: 'W', location: { segment: 'PID', field: 32 }, text: 'PID-32: not moved' }]),
    kind: 'applied', findings: ['W 101'],
    check: async (tx) => {
      expect(await one(tx, '1')).toMatchObject({ ins: null, status: 'PROV', qualified: false });
      expect(await tx.all('SELECT value FROM ins')).toEqual([]);
    },
  },
  {
    name: 'A40 keep + dropped (PID-32 absent): the survivor gets nothing, keeps its own status',
    setup: () => [upsert('A28', [ipp('1')], traits('CASANOVA', { status: 'PROV' })), upsert('A28', [ipp('2')], traits(), setIns(nir(NIR1)))],
    cmd: () => merge([ipp('1')], ipp('2'), {}, keep, undefined, [{ code: 101, severity: 'W', location: { segment: 'PID', field: 32 }, text: 'x' }]),
    kind: 'applied', findings: ['W 101'],
    check: async (tx) => { expect((await one(tx, '1')).ins).toBeNull(); },
  },
  {
    name: 'A40 keep + dropped, survivor holding its own INS and retired none: no warning, the survivor keeps it',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))), upsert('A28', [ipp('2')], traits())],
    cmd: () => merge([ipp('1')], ipp('2'), {}, keep, undefined, [{ code: 101, severity: 'W', location: { segment: 'PID', field: 32 }, text: 'x' }]),
    kind: 'applied', findings: [],
    check: async (tx) => { expect((await one(tx, '1')).ins?.value).toBe(NIR1); },
  },
  {
    name: 'A40 may move: the retired NIR and the NIA beside it both go to the survivor',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits(), setIns(nir(NIR1), nia(NIA1)))],
    cmd: () => merge([ipp('1')], ipp('2'), { status: 'VALI' }, keep),
    kind: 'applied', findings: [],
    check: async (tx) => {
      expect((await one(tx, '1')).ins?.value).toBe(NIR1);
      expect((await findPatients(tx, { ins: NIA1 })).map((p) => p.active)).toEqual([true]);
    },
  },
  {
    name: 'A40 survivor unknown, retired known holding an INS, dropped: the record loses it with the W 101',
    setup: () => [upsert('A28', [ipp('2')], traits(), setIns(nir(NIR1)))],
    cmd: () => merge([ipp('1')], ipp('2'), {}, keep, undefined, [{ code: 101, severity: 'W', location: { segment: 'PID', field: 11 }, text: 'x' }]),
    kind: 'applied', findings: ['W 101'],
    check: async (tx) => { expect((await one(tx, '1')).ins).toBeNull(); },
  },
  {
    name: 'A40 survivor holds the INS the message confirms, retired holds none: merged, survivor keeps it',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))), upsert('A28', [ipp('2')], traits())],
    cmd: () => merge([ipp('1')], ipp('2'), {}, setIns(nir(NIR1))),
    kind: 'applied', findings: [],
    check: async (tx) => {
      expect(await one(tx, '1')).toMatchObject({ ins: { value: NIR1 }, active: true });
      expect(await one(tx, '2')).toMatchObject({ active: false });
    },
  },
  {
    name: 'A40 survivor and retired holding different INS → AE 205, nothing merged',
    setup: () => [upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))), upsert('A28', [ipp('2')], traits(), setIns(nir(NIR2)))],
    cmd: () => merge([ipp('1')], ipp('2')),
    kind: 'rejected', findings: ['E 205'],
  },
  {
    name: 'A40 retired INS differs from the INS the message gives the survivor → AE 205',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits(), setIns(nir(NIR2)))],
    cmd: () => merge([ipp('1')], ipp('2'), {}, setIns(nir(NIR3))),
    kind: 'rejected', findings: ['E 205'],
  },
  {
    name: 'A40 survivor unknown, retired known: the retired record takes the survivor identifier and the data, stays active',
    setup: () => [upsert('A28', [ipp('100777')], traits('MOREL'))],
    cmd: () => merge([ipp('100500'), other('S2')], ipp('100777'), { sex: 'M' }),
    kind: 'applied', findings: [],
    check: async (tx) => {
      expect(await findPatients(tx, { value: '100777' })).toEqual([]);
      const p = await one(tx, '100500');
      expect(p).toMatchObject({ active: true, birthName: 'MOREL', sex: 'M' });
      expect(p.identifiers.map((i) => i.value)).toEqual(['100500', 'S2']);
      expect(await listPatients(tx)).toHaveLength(1);
    },
  },
  {
    name: 'A40 retired unknown, survivor known: PID data applied, MRG-1 recorded as a retired alias, W 204',
    setup: () => [upsert('A28', [ipp('100300')], traits('MOREL'))],
    cmd: () => merge([ipp('100300')], ipp('100301'), { sex: 'M' }),
    kind: 'applied', findings: ['W 204'],
    check: async (tx) => {
      expect((await one(tx, '100300')).sex).toBe('M');
      const alias = await one(tx, '100301');
      expect(alias).toMatchObject({ active: false, mergedInto: { value: '100300' } });
      expect(await listPatients(tx)).toHaveLength(2);
    },
  },
  {
    name: 'A40 both unknown → AE 204',
    cmd: () => merge([ipp('1')], ipp('2')),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    name: 'A40 whose survivor was itself merged → AE 204 naming its survivor',
    setup: () => [
      upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits()), upsert('A28', [ipp('3')], traits()),
      merge([ipp('1')], ipp('2')),
    ],
    cmd: () => merge([ipp('2')], ipp('3')),
    kind: 'rejected', findings: ['E 204'], text: 'use 1^^^CHEX',
  },
  {
    name: 'A40 repeated for a record already merged into the survivor: W 0, data applied',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits()), merge([ipp('1')], ipp('2'))],
    cmd: () => merge([ipp('1')], ipp('2'), { sex: 'M' }),
    kind: 'applied', findings: ['W 0'],
    check: async (tx) => { expect((await one(tx, '1')).sex).toBe('M'); },
  },
  {
    name: 'A40 moves links of the retired record to the survivor; a chain points at the last survivor',
    setup: () => [
      upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits()), upsert('A28', [ipp('3')], traits()),
      upsert('A28', [ipp('4')], traits()),
      linkCmd('link', [ipp('2')], [ipp('3')]), merge([ipp('2')], ipp('4')),
    ],
    cmd: () => merge([ipp('1')], ipp('2')),
    kind: 'applied', findings: [],
    check: async (tx) => {
      expect((await one(tx, '1')).links.map((l) => l.value)).toEqual(['3']);
      expect((await one(tx, '3')).links.map((l) => l.value)).toEqual(['1']);
      expect((await one(tx, '2')).links).toEqual([]);
      expect((await one(tx, '4')).mergedInto).toMatchObject({ value: '1' });
      expect((await one(tx, '3')).history.at(-1)!.changes).toEqual([{
        field: 'link', before: expect.objectContaining({ value: '2' }), after: expect.objectContaining({ value: '1' }),
      }]);
    },
  },
  {
    name: 'A40 of two linked records drops their link',
    setup: () => [
      upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits()), linkCmd('link', [ipp('1')], [ipp('2')]),
    ],
    cmd: () => merge([ipp('1')], ipp('2')),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const s = await one(tx, '1');
      expect(s.links).toEqual([]);
      expect(s.history.at(-1)!.changes).toEqual(expect.arrayContaining([
        { field: 'link', before: expect.objectContaining({ value: '2' }), after: null },
      ]));
      expect(await tx.all('SELECT * FROM links')).toEqual([]);
    },
  },
  // ---------------------------------------------------------------- A24 / A37
  {
    name: 'A24 links two records; both get a history row',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits())],
    cmd: () => linkCmd('link', [ipp('1')], [ipp('2')]),
    kind: 'applied', findings: [],
    check: async (tx) => {
      const a = await one(tx, '1');
      const b = await one(tx, '2');
      expect(a.links.map((l) => l.value)).toEqual(['2']);
      expect(b.links.map((l) => l.value)).toEqual(['1']);
      expect(a.history.at(-1)!.changes).toEqual([{ field: 'link', before: null, after: expect.objectContaining({ value: '2' }) }]);
      expect(b.history.at(-1)!.event).toBe('A24');
    },
  },
  {
    name: 'A24 for a pair already linked: W 0, nothing written',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits()), linkCmd('link', [ipp('2')], [ipp('1')])],
    cmd: () => linkCmd('link', [ipp('1')], [ipp('2')]),
    kind: 'applied', findings: ['W 0'],
  },
  {
    name: 'A37 unlinks',
    setup: () => [upsert('A28', [ipp('1')], traits()), upsert('A28', [ipp('2')], traits()), linkCmd('link', [ipp('1')], [ipp('2')])],
    cmd: () => linkCmd('unlink', [ipp('2')], [ipp('1')]),
    kind: 'applied', findings: [],
    check: async (tx) => {
      expect((await one(tx, '1')).links).toEqual([]);
      expect((await one(tx, '2')).history.at(-1)!.changes).toEqual([{ field: 'link', before: expect.objectContaining({ value: '1' }), after: null }]);
    },
  },
  {
    name: 'A24 with an unknown record → AE 204',
    setup: () => [upsert('A28', [ipp('1')], traits())],
    cmd: () => linkCmd('link', [ipp('1')], [ipp('2')]),
    kind: 'rejected', findings: ['E 204'],
  },
  {
    name: 'A24 linking a record to itself → AE 205',
    setup: () => [upsert('A28', [ipp('1'), other('X')], traits())],
    cmd: () => linkCmd('link', [ipp('1')], [other('X')]),
    kind: 'rejected', findings: ['E 205'],
  },
];

describe.each(dbKinds())('applyCommand on %s', (kind) => {
  let t0: TestDb;
  beforeEach(async () => { t0 = await openTestDb(kind); });
  afterEach(async () => { await t0.cleanup(); });

  test.each(cases)('$name', async (c) => {
    const db = t0.db;
    for (const s of c.setup?.() ?? []) {
      const out = await db.transaction((tx) => applyCommand(tx, s, ctx()));
      expect(out.kind, `setup ${s.header.event} ${s.header.controlId}`).toBe('applied');
    }
    const before = await snapshot(db);
    const out = await db.transaction((tx) => applyCommand(tx, c.cmd(), ctx(c.ctx)));
    expect(out.kind).toBe(c.kind);
    const findings = out.kind === 'rejected' ? out.findings : out.warnings;
    if (c.findings) expect(findings.map((f) => `${f.severity} ${f.code}`)).toEqual(c.findings);
    if (c.text) expect(findings[0]?.text).toContain(c.text);
    if (out.kind === 'rejected') expect(findings.some((f) => f.severity === 'E')).toBe(true);
    if (out.kind !== 'applied') expect(await snapshot(db)).toBe(before);
    await c.check?.(db, out);
  });

  test('getPatient by id matches findPatients, and is undefined for an unknown id', async () => {
    const out = await applyCommand(t0.db, upsert('A28', [ipp('1')], traits(), setIns(nir(NIR1))), ctx());
    expect(out.kind).toBe('applied');
    const id = out.kind === 'applied' ? out.patientId : -1;
    expect(await getPatient(t0.db, id)).toEqual(await one(t0.db, '1'));
    expect(await getPatient(t0.db, id + 1000)).toBeUndefined();
  });
});
