/**
 * Test program — `pamdrop reconcile --snapshot <file> [--apply] [--report FILE]`, on real folders and a
 * real store (SQLite always, PostgreSQL when PAMDROP_TEST_PG_URL is set). A store is built by import, then a
 * snapshot with planted differences is compared:
 * - every planted difference is found, and nothing else: missing in the store, missing in the snapshot (only for
 *   the snapshot's domains: another sender's patients are out of scope), a record retired by a merge but active in
 *   the snapshot, trait / status / INS differences field by field, and the snapshot's own problems (invalid,
 *   not an A28/A31, duplicate);
 * - the report files (CSV with one row per difference, JSON) say the same; the store is untouched without --apply;
 * - `--apply` goes through the import pipeline (ledger row, history, ACK files, archived copy, snapshot left in
 *   place) and a second reconcile then only shows what applying cannot change.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds } from '../helpers/db.js';
import { file, json, makeSite, mergeMessage, nir, patientMessage, type Site } from './helpers.js';

const N1 = nir('2850375056123');
const N3 = nir('1700175056001');
const N6 = nir('1650275056002');
const SNAP = '20250401000000';

describe.each(dbKinds())('reconcile (%s)', (kind) => {
  let s: Site;
  let snapshot: string;
  let messages: string[];
  beforeEach(async () => {
    s = await makeSite(kind);
    const r = await s.importNamed(['adt_001.hl7', file(
      patientMessage({ ctl: 'M1', time: '20250312100000', ipp: '100001', ins: N1, family: 'CASANOVA' }),
      patientMessage({ ctl: 'M2', time: '20250312100100', ipp: '100002', family: 'DURAND', given: 'PAUL', sex: 'M', status: 'PROV' }),
      patientMessage({ ctl: 'M3', time: '20250312100200', ipp: '100003', ins: N3, family: 'PETIT', given: 'LUC', sex: 'M', birth: '19700101' }),
      patientMessage({ ctl: 'M4', time: '20250312100300', ipp: '100004', family: 'GIRARD', status: 'PROV' }),
      patientMessage({ ctl: 'M6', time: '20250312100400', ipp: '100006', ins: N6, family: 'ROUX', given: 'JEAN', sex: 'M', birth: '19650201' }),
      patientMessage({ ctl: 'M7', time: '20250312100500', ipp: '100007', family: 'ROUX', given: 'JEAN', sex: 'M', birth: '19650201', status: 'PROV' }),
      mergeMessage('M8', '20250312100600', { ctl: '', time: '', ipp: '100006', ins: N6, family: 'ROUX', given: 'JEAN', sex: 'M', birth: '19650201' }, '100007'),
      // Another sender's domain: out of the snapshot's scope.
      patientMessage({ ctl: 'M9', time: '20250312100700', ipp: 'X900', oid: '1.2.250.1.999999.7', family: 'AUTRE' }),
    )]);
    expect(r.code, r.stderr).toBe(0);
    messages = [
      // identical
      patientMessage({ event: 'A31', ctl: 'S1', time: SNAP, ipp: '100001', ins: N1, family: 'CASANOVA' }),
      // birth name and status differ
      patientMessage({ event: 'A31', ctl: 'S2', time: SNAP, ipp: '100002', family: 'DURANT', given: 'PAUL', sex: 'M', status: 'VALI' }),
      // no longer qualified: INS gone, status PROV; and a used name the store lacks
      patientMessage({ event: 'A31', ctl: 'S3', time: SNAP, ipp: '100003', family: 'PETIT', given: 'LUC', sex: 'M', birth: '19700101', status: 'PROV', used: 'MARTIN' }),
      // 100004 absent from the snapshot; 100005 unknown to the store
      patientMessage({ event: 'A28', ctl: 'S5', time: SNAP, ipp: '100005', family: 'NOUVEAU', given: 'ANNE' }),
      // 100007 was merged into 100006 here, but is still active there
      patientMessage({ event: 'A31', ctl: 'S7', time: SNAP, ipp: '100007', family: 'ROUX', given: 'JEAN', sex: 'M', birth: '19650201', status: 'PROV' }),
      patientMessage({ event: 'A31', ctl: 'S6', time: SNAP, ipp: '100006', ins: N6, family: 'ROUX', given: 'JEAN', sex: 'M', birth: '19650201' }),
      // the snapshot's own problems: a bad INS key, an A40, 100001 twice
      patientMessage({ event: 'A31', ctl: 'S8', time: SNAP, ipp: '100008', ins: '285037505612399', family: 'CLE' }),
      mergeMessage('S9', SNAP, { ctl: '', time: '', ipp: '100001', ins: N1, family: 'CASANOVA' }, '100009'),
      patientMessage({ event: 'A31', ctl: 'S10', time: SNAP, ipp: '100001', ins: N1, family: 'CASANOVA' }),
    ];
    snapshot = s.drop('snapshot_20250401.hl7', file(...messages));
  });
  afterEach(async () => { await s.cleanup(); });

  it('finds the planted differences, and only them; writes nothing without --apply', async () => {
    const before = await dumpSite(s.root, s.db);
    const csv = join(s.root, 'reconcile.csv');
    const r = await s.cli('reconcile', '--snapshot', snapshot, '--report', csv, '--json');
    expect(r.code, r.stderr).toBe(1);
    const rep = json(r);
    expect(rep.counts).toEqual({
      snapshotMessages: 9, snapshotPatients: 7, storeActiveInScope: 5, matched: 4, identical: 2, different: 2,
      missingInStore: 1, missingInSnapshot: 1, retiredInStore: 1, split: 0, duplicates: 1, invalid: 1, ignored: 1,
    });
    expect(rep.domains).toEqual(['1.2.250.1.999999.1']);
    const items = rep.items.map((i: any) => [i.kind, i.patient?.value ?? null, i.controlId ?? null]);
    expect(items).toEqual([
      ['missing-in-store', '100005', 'S5'],
      ['missing-in-snapshot', '100004', null],
      ['retired-in-store', '100007', 'S7'],
      ['different', '100002', 'S2'],
      ['different', '100003', 'S3'],
      ['duplicate-in-snapshot', '100001', 'S10'],
      ['invalid-in-snapshot', null, 'S8'],
      ['ignored-in-snapshot', null, 'S9'],
    ]);
    const diff = (id: string) => rep.items.find((i: any) => i.kind === 'different' && i.patient.value === id).differences;
    expect(diff('100002')).toEqual([
      { field: 'birthName', store: 'DURAND', snapshot: 'DURANT', fixedByApply: true },
      { field: 'status', store: 'PROV', snapshot: 'VALI', fixedByApply: true },
    ]);
    expect(diff('100003')).toEqual([
      { field: 'usedName', store: null, snapshot: 'MARTIN', fixedByApply: true },
      { field: 'usedFirstName', store: null, snapshot: 'LUC', fixedByApply: true },
      { field: 'status', store: 'VALI', snapshot: 'PROV', fixedByApply: true },
      { field: 'ins', store: { value: N3, oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, snapshot: null, fixedByApply: true },
    ]);
    expect(rep.items.find((i: any) => i.kind === 'retired-in-store').detail).toContain('retired by a merge into 100006 (CHEX)');
    expect(rep.items.find((i: any) => i.kind === 'invalid-in-snapshot').detail).toMatch(/^AE 102 PID-3\[2\]\.1: .*key check failed/);

    // CSV: one row per difference, header first, BOM for spreadsheets.
    const lines = readFileSync(csv, 'utf8').split('\r\n');
    expect(lines[0]).toBe('\ufeffkind,identifier,authority,position,control_id,field,store,snapshot,fixed_by_apply,detail');
    expect(lines).toContain('different,100002,CHEX,2,S2,birthName,DURAND,DURANT,yes,');
    expect(lines).toContain(`different,100003,CHEX,3,S3,ins,NIR ${N3},,yes,`);
    expect(lines).toContain('missing-in-snapshot,100004,CHEX,,,,,,,"active here, absent from the snapshot"');
    expect(lines.filter((l) => l !== '')).toHaveLength(1 + 1 + 1 + 1 + 2 + 4 + 1 + 1 + 1);

    // JSON report file = the --json output's report.
    const jsonFile = join(s.root, 'reconcile.json');
    await s.cli('reconcile', '--snapshot', snapshot, '--report', jsonFile);
    const fromFile = JSON.parse(readFileSync(jsonFile, 'utf8'));
    expect(fromFile.items).toEqual(rep.items);

    expect(await dumpSite(s.root, s.db)).toEqual(before);
  });

  it('--apply refuses a snapshot holding other events than A28/A31, and applies nothing', async () => {
    const before = await dumpSite(s.root, s.db);
    const r = await s.cli('reconcile', '--snapshot', snapshot, '--apply');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('--apply refused: the snapshot holds 1 message(s) other than A28/A31 (#8)');
    expect(await dumpSite(s.root, s.db)).toEqual(before);
  });

  it('--apply goes through the import pipeline; afterwards only what applying cannot change remains', async () => {
    snapshot = s.drop('snapshot_20250401.hl7', file(...messages.filter((m) => !m.includes('|S9|'))));
    const r = await s.cli('reconcile', '--snapshot', snapshot, '--apply', '--json');
    expect(r.code, r.stderr).toBe(1);
    const out = json(r);
    expect(out.counts.different).toBe(2); // the report describes the store before applying
    // S7 addresses a retired record (AE 204), S8 has a bad INS key (AE 102); the rest is AA.
    expect(out.applied.totals).toMatchObject({ files: 1, messages: 8, AA: 6, AE: 2, AR: 0 });

    expect(await s.patient('100002')).toMatchObject({ birthName: 'DURANT', status: 'VALI' });
    const p3 = await s.patient('100003');
    expect(p3).toMatchObject({ status: 'PROV', usedName: 'MARTIN', ins: null });
    expect(p3.history.at(-1)).toMatchObject({ controlId: 'S3', event: 'A31' });
    expect(await s.patient('100005')).toMatchObject({ birthName: 'NOUVEAU' });
    expect(await s.patient('100004')).toMatchObject({ active: true }); // never deactivated
    // Usual ledger and ACK files; the snapshot file itself stays where it is, a copy is archived.
    expect([...s.acks().keys()].filter((k) => k.startsWith('snapshot_20250401.'))).toHaveLength(8);
    expect(readFileSync(snapshot).length).toBeGreaterThan(0);
    expect(s.archived()).toContainEqual(expect.stringMatching(/snapshot_20250401\.hl7$/));

    const again = json(await s.cli('reconcile', '--snapshot', snapshot, '--json'));
    expect(again.items.map((i: any) => i.kind)).toEqual([
      'missing-in-snapshot', 'retired-in-store', 'duplicate-in-snapshot', 'invalid-in-snapshot',
    ]);
    expect(again.counts).toMatchObject({ matched: 5, identical: 5, different: 0, missingInStore: 0 });
  });

  it('text output', async () => {
    const r = await s.cli('reconcile', '--snapshot', snapshot);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('4 matched (2 identical, 2 different) · 1 missing in store · 1 missing in snapshot');
    expect(r.stdout).toMatch(/MISSING IN STORE +100005 \(CHEX\) {2}#4 S5\n/);
    expect(r.stdout).toContain('    birthName: store DURAND · snapshot DURANT\n');
    const clean = s.drop('snap2.hl7', patientMessage({ event: 'A31', ctl: 'T1', time: SNAP, ipp: 'X900', oid: '1.2.250.1.999999.7', family: 'AUTRE' }));
    const ok = await s.cli('reconcile', '--snapshot', clean);
    expect(ok.code, ok.stdout).toBe(0);
  });
});
