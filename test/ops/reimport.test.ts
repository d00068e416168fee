/**
 * Test program — `pamdrop reimport <archived file | ledger id>… [--dry-run] [--force]`, on real folders
 * and a real store (SQLite always, PostgreSQL when PAMDROP_TEST_PG_URL is set):
 * - after a configuration fix, a reimport applies exactly the message that had failed: the others are duplicates
 *   (their ACK files rewritten byte for byte, no history), the failed original row is superseded and the new
 *   attempt owns the key; the ledger links the reimport to the original; the archived file stays in the archive;
 * - a forced reimport of an old batch applies every message again, yet the stale guard keeps newer updates in
 *   place (even with `staleUpdates: "apply"` in the config);
 * - `--dry-run` writes nothing; an unknown ledger id or path is exit 4; a file the ledger does not know (a restored
 *   database) is processed from a copy, and the given file stays where it is.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDb } from '../../src/store/db.js';
import { claimFile } from '../../src/store/ledger.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds } from '../helpers/db.js';
import { ackSegments } from '../helpers/workspace.js';
import { file, json, linkMessage, makeSite, patientMessage, siteConfig, type Site } from './helpers.js';

async function query(s: Site, sql: string, params: unknown[] = []): Promise<any[]> {
  const db = await openDb(s.db);
  try { return await db.all(sql, params); } finally { await db.close(); }
}

describe.each(dbKinds())('reimport (%s)', (kind) => {
  let s: Site;
  beforeEach(async () => { s = await makeSite(kind); });
  afterEach(async () => { await s.cleanup(); });

  it('after a configuration fix, applies exactly the message that had failed', async () => {
    // Link/Unlink switched off by mistake: the A24 is refused (AR 201), the creations are applied.
    s.setConfig(siteConfig({ pam: { linkUnlink: false } }));
    const body = file(
      patientMessage({ ctl: 'M1', time: '20250312101500', ipp: '100001', family: 'MARTIN' }),
      patientMessage({ ctl: 'M2', time: '20250312101600', ipp: '100002', family: 'DURAND', given: 'PAUL', sex: 'M' }),
      linkMessage('M3', '20250312101700', '100001', '100002'),
    );
    const first = await s.importNamed(['adt_001.hl7', body]);
    expect(first.code).toBe(1);
    const archived = json(first).files[0].archivedPath as string;
    const acksBefore = s.acks();
    expect(ackSegments(acksBefore.get('adt_001.M3.ack.hl7')!)[1]!.slice(0, 2)).toEqual(['MSA', 'AR']);
    const historyBefore = await query(s, 'SELECT * FROM history ORDER BY id');
    expect(json(await s.cli('errors', '--json')).count).toBe(1);

    // The fix, then the reimport of the archived file (by path).
    s.setConfig(siteConfig());
    const r = await s.cli('reimport', archived, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    expect(out.targets).toEqual([expect.objectContaining({ reimportOf: 1, name: 'adt_001.hl7', originalState: 'done' })]);
    expect(out.files[0].summary).toEqual({ messages: 3, AA: 3, AE: 0, AR: 0, duplicates: 2, stale: 0 });

    // Exactly the A24 was applied: the records are linked, M1/M2 left no new history.
    expect((await s.patient('100001')).links.map((l: any) => l.value)).toEqual(['100002']);
    const historyAfter = await query(s, 'SELECT * FROM history ORDER BY id');
    expect(historyAfter.slice(0, historyBefore.length)).toEqual(historyBefore);
    expect(historyAfter.slice(historyBefore.length).map((h) => [h.control_id, h.event])).toEqual([['M3', 'A24'], ['M3', 'A24']]);

    // ACK files: M1/M2 replayed byte for byte (in place), M3 now AA — beside its AR, which is never replaced by other
    // bytes while the sender has not fetched it.
    const acksAfter = s.acks();
    expect(acksAfter.get('adt_001.M1.ack.hl7')).toEqual(acksBefore.get('adt_001.M1.ack.hl7'));
    expect(acksAfter.get('adt_001.M2.ack.hl7')).toEqual(acksBefore.get('adt_001.M2.ack.hl7'));
    expect(acksAfter.get('adt_001.M3.ack.hl7')).toEqual(acksBefore.get('adt_001.M3.ack.hl7'));
    expect(ackSegments(acksAfter.get('adt_001.M3.2.ack.hl7')!)[1]!.slice(0, 3)).toEqual(['MSA', 'AA', 'M3']);

    // Ledger: a new file row linked to the original; the failed original superseded, the new attempt owns the key.
    const files = await query(s, 'SELECT id, name, state, reimport_of FROM files ORDER BY id');
    expect(files.map((f) => [Number(f.id), f.name, f.state, f.reimport_of === null ? null : Number(f.reimport_of)]))
      .toEqual([[1, 'adt_001.hl7', 'done', null], [2, 'adt_001.hl7', 'done', 1]]);
    const m3 = await query(s, `SELECT file_id, status, outcome, superseded FROM messages WHERE control_id = 'M3' ORDER BY id`);
    expect(m3.map((m) => [Number(m.file_id), m.status, m.outcome, Number(m.superseded)])).toEqual([[1, 'rejected', 'AR', 1], [2, 'applied', 'AA', 0]]);

    // The archived original is untouched; the reimported copy is archived beside it; nothing left over.
    expect(readFileSync(archived, 'latin1')).toBe(body);
    expect(s.archived()).toHaveLength(2);
    expect(existsSync(join(s.archive, '.reimport'))).toBe(false);
    expect(json(await s.cli('errors', '--json')).count).toBe(0);

    // Again, by ledger id: everything is now a duplicate; nothing changes.
    const again = await s.cli('reimport', '2', '--json');
    expect(again.code).toBe(0);
    expect(json(again).files[0].summary).toMatchObject({ AA: 3, duplicates: 3 });
    expect(await query(s, 'SELECT * FROM history ORDER BY id')).toEqual(historyAfter);
  });

  it('a forced reimport of an old batch leaves newer updates in place', async () => {
    // Even a site that lets stale updates through keeps the guard for reimports.
    s.setConfig(siteConfig({ staleUpdates: 'apply' }));
    await s.importNamed(['adt_001.hl7', file(
      patientMessage({ ctl: 'B1', time: '20250301080000', ipp: '100001', family: 'MARTIN' }),
      patientMessage({ event: 'A31', ctl: 'B2', time: '20250302080000', ipp: '100001', family: 'MARTIN', used: 'OLDNAME' }),
      patientMessage({ ctl: 'B3', time: '20250303080000', ipp: '100002', family: 'DURAND', given: 'PAUL', sex: 'M' }),
    )]);
    await s.importNamed(['adt_002.hl7',
      patientMessage({ event: 'A31', ctl: 'C1', time: '20250401080000', ipp: '100001', family: 'MARTIN-LEROY', used: 'NEWNAME', status: 'PROV' })]);
    const p1Before = await s.patient('100001');
    expect(p1Before).toMatchObject({ birthName: 'MARTIN-LEROY', usedName: 'NEWNAME', status: 'PROV' });

    const r = await s.cli('reimport', '1', '--force', '--json');
    expect(r.code, r.stderr).toBe(0);
    const sum = json(r).files[0].summary;
    expect(sum).toEqual({ messages: 3, AA: 3, AE: 0, AR: 0, duplicates: 0, stale: 2 });

    // The newer A31 is still what the record says; B1/B2 were skipped as stale, B3 applied again (no change).
    const p1 = await s.patient('100001');
    expect(p1).toMatchObject({ birthName: 'MARTIN-LEROY', usedName: 'NEWNAME', status: 'PROV' });
    expect(p1.history).toEqual(p1Before.history);
    const rows = await query(s, `SELECT control_id, file_id, status, superseded FROM messages WHERE control_id LIKE 'B%' ORDER BY id`);
    expect(rows.map((m) => [m.control_id, Number(m.file_id), m.status, Number(m.superseded)])).toEqual([
      ['B1', 1, 'applied', 1], ['B2', 1, 'applied', 1], ['B3', 1, 'applied', 1],
      ['B1', 3, 'stale', 0], ['B2', 3, 'stale', 0], ['B3', 3, 'applied', 0],
    ]);
    // The stale ACKs carry the warning (beside the first run's ACK, still there: `.2`).
    const b1 = ackSegments(s.acks().get('adt_001.B1.2.ack.hl7')!);
    expect(b1[1]!.slice(0, 2)).toEqual(['MSA', 'AA']);
    expect(b1[2]![8]).toContain('stale');
  });

  it('--dry-run writes nothing; unknown targets are exit 4', async () => {
    s.setConfig(siteConfig({ pam: { linkUnlink: false } }));
    await s.importNamed(['adt_001.hl7', file(
      patientMessage({ ctl: 'M1', time: '20250312101500', ipp: '100001' }),
      patientMessage({ ctl: 'M2', time: '20250312101600', ipp: '100002', family: 'DURAND' }),
      linkMessage('M3', '20250312101700', '100001', '100002'),
    )]);
    s.setConfig(siteConfig());
    const before = await dumpSite(s.root, s.db);
    const r = await s.cli('reimport', '1', '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    expect(out.dryRun).toBe(true);
    expect(out.files[0].messages.map((m: any) => [m.controlId, m.status])).toEqual([['M1', 'duplicate'], ['M2', 'duplicate'], ['M3', 'applied']]);
    expect(out.files[0].messages[2].patients.map((p: any) => p.kinds)).toEqual([['linked'], ['linked']]);
    expect(await dumpSite(s.root, s.db)).toEqual(before);
    const text = await s.cli('reimport', '1', '--dry-run');
    expect(text.stdout).toContain('reimport of ledger file #1 (adt_001.hl7, done)');
    expect(text.stdout).toContain('dry run of a reimport: nothing written');

    const missing = await s.cli('reimport', '99');
    expect(missing.code).toBe(4);
    expect(missing.stdout).toContain('ledger file #99 does not exist');
    expect((await s.cli('reimport', join(s.root, 'nope.hl7'))).code).toBe(4);
    expect(await dumpSite(s.root, s.db)).toEqual(before);
  });

  it('refuses while an unfinished import of another file with the same name is pending (exit 2, nothing quarantined)', async () => {
    await s.importNamed(['adt_001.hl7', patientMessage({ ctl: 'M1', time: '20250312101500', ipp: '100001' })]);
    const db = await openDb(s.db);
    try {
      await claimFile(db, { source: 'local', name: 'adt_001.hl7', path: join(s.inbox, 'adt_001.hl7'), size: 5, sha256: 'f'.repeat(64),
        messageCount: 1, now: new Date().toISOString(), owner: 'otherhost:1:watch' });
    } finally {
      await db.close();
    }
    const r = await s.cli('reimport', '1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('an unfinished import of another file with this name is pending in source local (ledger #2, claimed)');
    expect(s.quarantined()).toEqual([]);
    expect(existsSync(join(s.archive, '.reimport'))).toBe(false);
  });

  it('a file the ledger does not know (restored database) is processed from a copy', async () => {
    const restored = join(s.root, 'restored');
    mkdirSync(restored);
    const path = join(restored, 'adt_777.hl7');
    const body = patientMessage({ ctl: 'R1', time: '20250312101500', ipp: '100077', family: 'ROUX' });
    writeFileSync(path, body, 'latin1');
    const r = await s.cli('reimport', path, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).targets[0]).toMatchObject({ reimportOf: null, source: 'local', name: 'adt_777.hl7' });
    expect(await s.patient('100077')).toMatchObject({ birthName: 'ROUX' });
    expect(readFileSync(path, 'latin1')).toBe(body); // left where it was
    expect(s.acks().has('adt_777.R1.ack.hl7')).toBe(true);
    expect(s.archived()).toEqual([expect.stringMatching(/^\d{4}\/\d{2}\/\d{2}\/adt_777\.hl7$/)]);
  });
});
