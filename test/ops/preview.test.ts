/**
 * Test program — `pamdrop preview <file>` and `pamdrop import --dry-run`, on real folders and a real store
 * (SQLite always, PostgreSQL when PAMDROP_TEST_PG_URL is set):
 * - per message: the outcome import would give (AA/AE/AR with every ERR) and the identity changes — created,
 *   updated fields, merged/retired, identifier changed, INS added/removed, duplicate replayed;
 * - nothing is written: the store (every table), the ACK folder, the archive and the inbox are byte-identical
 *   before and after;
 * - `import --dry-run` answers exactly as `preview`; several files are previewed in order (the second sees what
 *   the first would do), and the text output names outcomes and changes.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { join } from 'node:path';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds } from '../helpers/db.js';
import { file, ippChange, json, makeSite, mergeMessage, nir, patientMessage, type Site } from './helpers.js';

const N1 = nir('2850375056123');
const N4 = nir('1920175056004');
const P1 = { ctl: 'M1', time: '20250312101500', ipp: '100001', ins: N1, family: 'CASANOVA' } as const;
const M1 = patientMessage(P1);

describe.each(dbKinds())('preview and import --dry-run (%s)', (kind) => {
  let s: Site;
  beforeEach(async () => {
    s = await makeSite(kind);
    const r = await s.importNamed(['adt_001.hl7', file(
      M1,
      patientMessage({ ctl: 'M2', time: '20250312101600', ipp: '100002', family: 'DURAND', given: 'PAUL', sex: 'M', status: 'PROV' }),
      patientMessage({ ctl: 'M3', time: '20250312101700', ipp: '100003', family: 'DURAND', given: 'PAUL', sex: 'M', status: 'PROV' }),
    )]);
    expect(r.code, r.stderr).toBe(0);
  });
  afterEach(async () => { await s.cleanup(); });

  const second = () => file(
    patientMessage({ ...P1, event: 'A31', ctl: 'N1', time: '20250313080000', used: 'BONAPARTE' }),
    patientMessage({ ctl: 'N2', time: '20250313080100', ipp: '100004', ins: N4, family: 'PETIT', given: 'LUC', sex: 'M', birth: '19920115' }),
    patientMessage({ ctl: 'N3', time: '20250313080200', ipp: '100005', ins: '285037505612399', family: 'BADKEY' }),
    mergeMessage('N4', '20250313080300', { ctl: '', time: '', ipp: '100002', family: 'DURAND', given: 'PAUL', sex: 'M', status: 'PROV' }, '100003'),
    ippChange('N5', '20250313080400', { ...P1, ipp: '200001' }, '100001'),
    patientMessage({ ...P1, event: 'A31', ctl: 'N6', time: '20250313080500', ipp: '200001', ins: undefined, status: 'PROV' }),
    M1,
    'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250313080600||ADT^A08^ADT_A01|N8|P|2.5^FRA^2.11\rEVN||20250313080600\rPID|1||100001^^^CHEX&1.2.250.1.999999.1&ISO^PI\r',
  );

  it('tells per message the outcome and the identity changes, and writes nothing', async () => {
    const path = s.drop('adt_002.hl7', second());
    const before = await dumpSite(s.root, s.db);
    const r = await s.cli('preview', path, '--json');
    expect(r.code, r.stderr).toBe(1); // an AE and an AR: import would exit 1
    const out = json(r);
    expect(out.dryRun).toBe(true);
    const f = out.files[0];
    expect(f).toMatchObject({ file: 'adt_002.hl7', state: 'done', summary: { messages: 8, AA: 6, AE: 1, AR: 1, duplicates: 1, stale: 0 } });
    const m = f.messages;
    const brief = m.map((x: any) => [x.position, x.controlId, x.outcome, x.status]);
    expect(brief).toEqual([
      [1, 'N1', 'AA', 'applied'], [2, 'N2', 'AA', 'applied'], [3, 'N3', 'AE', 'rejected'], [4, 'N4', 'AA', 'applied'],
      [5, 'N5', 'AA', 'applied'], [6, 'N6', 'AA', 'applied'], [7, 'M1', 'AA', 'duplicate'], [8, 'N8', 'AR', 'rejected'],
    ]);
    // #1 an A31 adding a used name: updated, field by field with before → after.
    expect(m[0].patients).toHaveLength(1);
    expect(m[0].patients[0].patient).toMatchObject({ value: '100001', authority: 'CHEX' });
    expect(m[0].patients[0].kinds).toEqual(['updated']);
    expect(m[0].patients[0].changes).toContainEqual({ field: 'usedName', before: null, after: 'BONAPARTE' });
    // #2 a creation with an INS.
    expect(m[1].patients[0].kinds).toEqual(['created', 'ins-added']);
    expect(m[1].patients[0].changes).toContainEqual({ field: 'birthName', before: null, after: 'PETIT' });
    // #3 bad INS key: AE 102 with its location, nothing changed.
    expect(m[2].patients).toEqual([]);
    expect(m[2].findings).toContainEqual({ code: 102, severity: 'E', location: 'PID-3[2].1', text: expect.stringContaining('key check failed') });
    // #4 an A40: the survivor absorbs, the retired record is retired.
    const merge = Object.fromEntries(m[3].patients.map((p: any) => [p.patient.value, p.kinds]));
    expect(merge['100002']).toContain('merged');
    expect(merge['100003']).toContain('retired');
    // #5 an A47: the IPP changes.
    expect(m[4].patients[0].kinds).toContain('identifier-changed');
    expect(m[4].patients[0].changes).toContainEqual({ field: 'identifier', before: expect.objectContaining({ value: '100001' }), after: expect.objectContaining({ value: '200001' }) });
    // #6 the identity is no longer qualified: the INS is removed (docs/behaviour.md).
    expect(m[5].patients[0].kinds).toEqual(expect.arrayContaining(['updated', 'ins-removed']));
    // #7 the very bytes of M1 again: a duplicate, ACK replayed, nothing applied.
    expect(m[6].patients).toEqual([]);
    // #8 A08: AR 201.
    expect(m[7].findings).toContainEqual(expect.objectContaining({ code: 201, severity: 'E' }));

    // Nothing written: store, ACK folder, archive, inbox (the file is still there).
    expect(await dumpSite(s.root, s.db)).toEqual(before);
  });

  it('import --dry-run answers as preview and writes nothing', async () => {
    const path = s.drop('adt_002.hl7', second());
    const before = await dumpSite(s.root, s.db);
    const a = await s.cli('preview', path, '--json');
    const b = await s.cli('import', '--dry-run', path, '--json');
    expect(b.code).toBe(a.code);
    expect(json(b)).toEqual(json(a));
    expect(await dumpSite(s.root, s.db)).toEqual(before);
    // And the real import then does what the dry run said.
    const real = await s.cli('import', path, '--json');
    expect(json(real).totals).toMatchObject(json(a).files[0].summary);
  });

  it('previews several files in order: the second sees what the first would do', async () => {
    const a = s.drop('adt_010.hl7', patientMessage({ ctl: 'K1', time: '20250314080000', ipp: '100010', family: 'LEROY' }));
    const b = s.drop('adt_011.hl7', patientMessage({ event: 'A31', ctl: 'K2', time: '20250314090000', ipp: '100010', family: 'LEROY-MOREAU' }));
    const r = await s.cli('preview', b, a, '--json');
    expect(r.code, r.stderr).toBe(0);
    const files = json(r).files;
    expect(files.map((f: any) => f.file)).toEqual(['adt_010.hl7', 'adt_011.hl7']); // natural name order, as import
    expect(files[0].messages[0].patients[0].kinds).toEqual(['created']);
    expect(files[1].messages[0].patients[0].kinds).toEqual(['updated']);
    expect(files[1].messages[0].findings).toEqual([]); // not "A31 for an unknown patient"
    expect(await s.patient('100010')).toBeNull();
  });

  it('text output: outcome, changes and reasons per message; a broken envelope is shown as quarantined', async () => {
    const path = s.drop('adt_002.hl7', second());
    const broken = s.drop('adt_003.hl7', `BHS|^~\\&|GAM|CHEX\r${M1}BTS|2\r`);
    const r = await s.cli('preview', path, broken);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('adt_002.hl7 — dry run: nothing written');
    expect(r.stdout).toMatch(/#2 {2}N2 {2}A28 {2}AA {2}applied\n {6}100004 \(CHEX\): created, ins-added\n/);
    expect(r.stdout).toContain('usedName: — → BONAPARTE');
    expect(r.stdout).toMatch(/#3 {2}N3 {2}A28 {2}AE {2}not applied\n {6}E 102: PID-3\[2\]: INS-NIR key check failed/);
    expect(r.stdout).toContain('#7  M1  A28  AA  duplicate: stored ACK replayed, nothing applied');
    expect(r.stdout).toContain('adt_003.hl7 — dry run: nothing written\n  QUARANTINED (nothing applied): BTS-1 says 2 messages, batch has 1');
    expect(s.quarantined()).toEqual([]);
  });

  it('a missing file is a usage error (exit 2)', async () => {
    const r = await s.cli('preview', join(s.inbox, 'nope.hl7'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such file');
  });
});
