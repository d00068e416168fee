/**
 * Test program — the operator's read commands, on real folders and a real store (SQLite always,
 * PostgreSQL when PAMDROP_TEST_PG_URL is set), with the clock pinned (PAMDROP_FIXED_TIME) so days are known:
 * - `report`: per source and day — files, reimports, quarantined, messages, AA/AE/AR, duplicates, stale,
 *   conflicts; MSH-13 gaps per sender (stored by migration 0002); inbox files never taken and why; quiet feeds
 *   (a source silent longer than expectEveryMs, a source that never sent anything); `--since`;
 * - `status`: unfinished ledger rows, inbox files, quarantined files, failed messages, last run, lock holder, and the
 *   source leases and heartbeats of several instances (an expired lease makes the site unhealthy);
 * - `errors`: failed messages with control id, event, code, every ERR, file and ledger id, resends counted;
 * - `history`: which message (and file) changed what, through an IPP change and a merge.
 * No patient data in report/status/errors output (names, birth dates, INS are checked absent).
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { openDb } from '../../src/store/db.js';
import { acquireLock, claimFile } from '../../src/store/ledger.js';
import { sourceLeaseName } from '../../src/pipeline/lease.js';
import { dbKinds } from '../helpers/db.js';
import { file, ippChange, json, makeSite, mergeMessage, nir, patientMessage, siteConfig, type Site } from './helpers.js';

const N1 = nir('2850375056123');
const DAY1 = '2026-03-01T10:00:00.000Z';
const DAY2 = '2026-03-02T10:00:00.000Z';
const LATER = '2026-03-02T13:00:00.000Z';
const PHI = ['CASANOVA', 'DURAND', '1985-03-17', '19850317', N1];

function at(iso: string): void { process.env.PAMDROP_FIXED_TIME = iso; }

describe.each(dbKinds())('report, status, errors, history (%s)', (kind) => {
  let s: Site;
  beforeEach(async () => {
    s = await makeSite(kind, siteConfig({}, { pattern: '*.hl7', expectEveryMs: 3_600_000 }));
    const lab = join(s.root, 'lab');
    s.setConfig({
      sources: [
        { name: 'local', inbox: 'inbox', ackDir: 'outbox', archiveDir: 'archive', errorDir: 'archive/error', pattern: '*.hl7', expectEveryMs: 3_600_000 },
        { name: 'lab', inbox: 'lab/inbox', ackDir: 'lab/outbox', archiveDir: 'lab/archive', errorDir: 'lab/error', expectEveryMs: 86_400_000 },
      ],
    });
    mkdirSync(join(lab, 'inbox'), { recursive: true });
  });
  afterEach(async () => {
    delete process.env.PAMDROP_FIXED_TIME;
    await s.cleanup();
  });

  async function traffic(): Promise<void> {
    const bad = patientMessage({ ctl: 'E1', time: '20250312100300', ipp: '100009', ins: '285037505612399', family: 'CASANOVA', seq: 3 });
    at(DAY1);
    await s.importNamed(['adt_001.hl7', file(
      patientMessage({ ctl: 'M1', time: '20250312100000', ipp: '100001', ins: N1, family: 'CASANOVA', seq: 1 }),
      patientMessage({ ctl: 'M2', time: '20250312100100', ipp: '100002', family: 'DURAND', status: 'PROV', seq: 2 }),
      bad,
      patientMessage({ ctl: 'L1', time: '20250312100400', ipp: '100003', family: 'DURAND', status: 'PROV', seq: 10, sender: 'LAB' }),
    )]);
    await s.importNamed(['adt_002.hl7', `BHS|^~\\&|GAM|CHEX\r${patientMessage({ ctl: 'Q1', time: '20250312100500', ipp: '100004' })}BTS|5\r`]);
    at(DAY2);
    await s.importNamed(['adt_003.hl7', file(
      bad, // resent as is: the stored NAK is replayed
      patientMessage({ ctl: 'M2', time: '20250312100100', ipp: '100002', family: 'DURAND', status: 'VALI', seq: 2 }), // same MSH-10, other content
      patientMessage({ event: 'A31', ctl: 'M6', time: '20250312095900', ipp: '100001', ins: N1, family: 'CASANOVA', seq: 6 }), // stale
      patientMessage({ ctl: 'L2', time: '20250312100600', ipp: '100005', family: 'MARTIN', status: 'PROV', seq: 11, sender: 'LAB' }),
      'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312100700||ADT^A08^ADT_A01|A8|P|2.5^FRA^2.11|7\rEVN||20250312100700\r',
    )]);
  }

  it('report: per source and day, gaps in MSH-13, files never taken, quiet feeds', async () => {
    await traffic();
    s.drop('.adt_004.hl7.part', 'MSH|partial upload');
    s.drop('notes.txt', 'not an HL7 file at all');
    s.drop('tiny.hl7', 'MSH');
    at(LATER);
    const r = await s.cli('report', '--since', '2026-03-01', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rep = json(r);
    const local = rep.sources.find((x: any) => x.source === 'local');
    expect(local.days).toEqual([
      { day: '2026-03-01', files: 2, reimports: 0, quarantined: 1, messages: 4, AA: 3, AE: 1, AR: 0, duplicates: 0, stale: 0, conflicts: 0, missingSequenceNumbers: 0 },
      { day: '2026-03-02', files: 1, reimports: 0, quarantined: 0, messages: 5, AA: 2, AE: 2, AR: 1, duplicates: 1, stale: 1, conflicts: 1, missingSequenceNumbers: 2 },
    ]);
    expect(local.totals).toMatchObject({ files: 3, quarantined: 1, messages: 9, AE: 3, AR: 1 });
    // GAM numbered 1, 2, 3, then 6 (and 7 for the A08): 4–5 never arrived. LAB 10, 11: no gap.
    expect(local.gaps).toEqual([{ sendingApp: 'GAM', sendingFacility: 'CHEX', from: 4, to: 5, missing: 2, day: '2026-03-02' }]);
    // An ignored name (a partial upload, `.gitkeep`) is not input: not listed, not an alert.
    expect(local.inbox.map((f: any) => [f.name, f.reason])).toEqual([
      ['notes.txt', 'pattern-mismatch'], ['tiny.hl7', 'too-small'],
    ]);
    expect(local.feed).toMatchObject({ expectEveryMs: 3_600_000, lastFileAt: DAY2, silentForMs: 3 * 3_600_000, quiet: true });
    const lab = rep.sources.find((x: any) => x.source === 'lab');
    expect(lab).toMatchObject({ days: [], feed: { lastFileAt: null, quiet: true } });
    expect(rep.alerts).toEqual(expect.arrayContaining([
      expect.stringContaining('local: no file since 2026-03-02T10:00:00.000Z'),
      'lab: no file ever received (expected every 1440 min)',
      'local: 2 MSH-13 sequence number(s) never received',
      'local: 2 inbox file(s) that will never be taken (name or size)',
    ]));
    // --since narrows to the second day.
    const day2 = json(await s.cli('report', '--since', '2026-03-02', '--json'));
    expect(day2.sources.find((x: any) => x.source === 'local').days.map((d: any) => d.day)).toEqual(['2026-03-02']);
    // Text form, and no patient data anywhere.
    const text = await s.cli('report', '--since', '2026-03-01');
    expect(text.stdout).toMatch(/2026-03-02 +1 +0 +0 +5 +2 +2 +1 +1 +1 +1 +2\n/);
    expect(text.stdout).toContain('MSH-13 gap GAM/CHEX: 4–5 never received');
    expect(text.stdout).toContain('notes.txt');
    for (const v of PHI) expect(r.stdout + text.stdout).not.toContain(v);
    expect((await s.cli('report', '--since', 'yesterday-ish')).code).toBe(2);
  });

  it('status: unfinished files, inbox, failures, last run, lock holder', async () => {
    await traffic();
    s.drop('adt_005.hl7', patientMessage({ ctl: 'P1', time: '20250312100800', ipp: '100006' }));
    at(LATER);
    const db = await openDb(s.db);
    try {
      await claimFile(db, { source: 'local', name: 'adt_004.hl7', path: join(s.inbox, 'adt_004.hl7'), size: 10, sha256: 'x'.repeat(64), messageCount: 1,
        now: '2026-03-02T12:00:00.000Z', owner: 'otherhost:4242:watch' });
      expect(await acquireLock(db, 'writer', 'otherhost:4242:watch', new Date(LATER), 60_000)).toEqual({ ok: true });
    } finally {
      await db.close();
    }
    const r = await s.cli('status', '--json');
    expect(r.code, r.stderr).toBe(0);
    const st = json(r);
    expect(st.lock).toEqual({ owner: 'otherhost:4242:watch', acquiredAt: LATER, expiresAt: '2026-03-02T13:01:00.000Z', expired: false });
    expect(st.pending.unfinished).toEqual([expect.objectContaining({ source: 'local', name: 'adt_004.hl7', state: 'claimed', ageMs: 3_600_000 })]);
    expect(st.pending.inboxFiles).toBe(1);
    expect(st.failed).toMatchObject({ quarantinedFiles: 1, failedMessages: 3 });
    expect(st.failed.recentQuarantined[0]).toMatchObject({ name: 'adt_002.hl7', reason: expect.stringContaining('BTS-1 says 5 messages, batch has 1') });
    expect(st.lastRun.lastFile).toMatchObject({ name: 'adt_003.hl7', state: 'done', summary: { messages: 5, AA: 2, AE: 2, AR: 1 } });
    const local = st.sources.find((x: any) => x.source === 'local');
    expect(local.inbox).toMatchObject({ files: 1, pending: 1 });
    // A claimed file is the feed's latest sign of life (12:00); lab never sent anything.
    expect(local.feed).toMatchObject({ lastFileAt: '2026-03-02T12:00:00.000Z', quiet: false });
    expect(st.sources.find((x: any) => x.source === 'lab').feed).toMatchObject({ lastFileAt: null, quiet: true });
    expect(st.healthy).toBe(false);
    const text = await s.cli('status');
    expect(text.stdout).toContain('lock: held by otherhost:4242:watch');
    expect(text.stdout).toContain('#4 local/adt_004.hl7 claimed for 1h 0m by otherhost:4242:watch');
    for (const v of PHI) expect(r.stdout + text.stdout).not.toContain(v);
  });

  it('status: source leases and instance heartbeats of several instances; an expired lease needs a look', async () => {
    at(LATER);
    const db = await openDb(s.db);
    try {
      // Rows as pipeline/lease.ts writes them: a live instance holding "local", a crashed one whose "lab" lease ran out.
      expect(await acquireLock(db, sourceLeaseName('local'), 'hostA:11:watch', new Date(LATER), 60_000)).toEqual({ ok: true });
      expect(await acquireLock(db, sourceLeaseName('lab'), 'hostB:22:watch', new Date('2026-03-02T12:00:00.000Z'), 60_000)).toEqual({ ok: true });
      expect(await acquireLock(db, 'instance:aaaa', 'hostA:11:watch', new Date(LATER), 60_000)).toEqual({ ok: true });
      expect(await acquireLock(db, 'instance:bbbb', 'hostB:22:watch', new Date('2026-03-02T12:00:00.000Z'), 60_000)).toEqual({ ok: true });
    } finally {
      await db.close();
    }
    const st = json(await s.cli('status', '--json'));
    expect(st.leases).toEqual([
      { source: 'lab', owner: 'hostB:22:watch', acquiredAt: '2026-03-02T12:00:00.000Z', expiresAt: '2026-03-02T12:01:00.000Z', expired: true },
      { source: 'local', owner: 'hostA:11:watch', acquiredAt: LATER, expiresAt: '2026-03-02T13:01:00.000Z', expired: false },
    ]);
    expect(st.instances.map((i: any) => [i.owner, i.expired])).toEqual([['hostA:11:watch', false], ['hostB:22:watch', true]]);
    expect(st.lock).toBeNull();
    expect(st.healthy).toBe(false);
    const text = (await s.cli('status')).stdout;
    expect(text).toContain('instances: 1 live, 1 expired');
    expect(text).toContain('source local: lease held by hostA:11:watch until');
    expect(text).toMatch(/source lab: lease held by hostB:22:watch until .* \(EXPIRED: another instance takes the source over\)/);
  });

  it('errors: failed messages with control id, event, code, reason, file; resends counted', async () => {
    await traffic();
    const r = await s.cli('errors', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = json(r);
    expect(out.count).toBe(3);
    const brief = out.errors.map((e: any) => [e.file, e.position, e.controlId, e.event, e.outcome, e.code, e.status, e.resent]);
    expect(brief).toEqual([
      ['adt_003.hl7', 5, 'A8', 'A08', 'AR', 201, 'rejected', 0],
      ['adt_003.hl7', 2, 'M2', 'A28', 'AE', 205, 'conflict', 0],
      ['adt_001.hl7', 3, 'E1', 'A28', 'AE', 102, 'rejected', 1],
    ]);
    expect(out.errors[2]).toMatchObject({ fileId: 1, source: 'local', reason: expect.stringContaining('key check failed') });
    expect(out.errors[2].findings).toEqual([{ code: 102, severity: 'E', location: 'PID-3[2].1', text: expect.stringContaining('INS-NIR key check failed') }]);
    expect(json(await s.cli('errors', '--since', '2026-03-02', '--json')).count).toBe(2);
    expect(json(await s.cli('errors', '--source', 'lab', '--json')).count).toBe(0);
    const text = await s.cli('errors');
    expect(text.stdout).toContain('local/adt_001.hl7 (ledger #1) #3  E1  A28  AE 102  resent 1×');
    expect(text.stdout).toContain('    E 102: PID-3[2]: INS-NIR key check failed');
    for (const v of PHI) expect(r.stdout + text.stdout).not.toContain(v);
  });

  it('history: which message, in which file, changed what — through an IPP change and a merge', async () => {
    at(DAY1);
    const p = { ipp: '100001', ins: N1, family: 'CASANOVA' };
    await s.importNamed(['adt_001.hl7', file(
      patientMessage({ ...p, ctl: 'H1', time: '20250312100000' }),
      patientMessage({ ctl: 'H2', time: '20250312100100', ipp: '100009', family: 'CASANOVA', status: 'PROV' }),
    )]);
    await s.importNamed(['adt_002.hl7', patientMessage({ ...p, event: 'A31', ctl: 'H3', time: '20250313100000', used: 'BONAPARTE' })]);
    await s.importNamed(['adt_003.hl7', ippChange('H4', '20250314100000', { ...p, ctl: '', time: '', ipp: '200001', used: 'BONAPARTE' }, '100001')]);
    await s.importNamed(['adt_004.hl7', mergeMessage('H5', '20250315100000', { ...p, ctl: '', time: '', ipp: '200001', used: 'BONAPARTE' }, '100009')]);

    const r = await s.cli('history', '200001', '--json');
    expect(r.code, r.stderr).toBe(0);
    const h = json(r);
    expect(h.patient).toMatchObject({ active: true, identifiers: [expect.objectContaining({ value: '200001' })] });
    expect(h.merged).toEqual([expect.objectContaining({ value: '100009' })]);
    expect(h.entries.map((e: any) => [e.controlId, e.event, e.file?.name, e.ownRecord, e.kinds])).toEqual([
      ['H1', 'A28', 'adt_001.hl7', true, ['created', 'ins-added']],
      ['H2', 'A28', 'adt_001.hl7', false, ['created']],
      ['H3', 'A31', 'adt_002.hl7', true, ['updated']],
      ['H4', 'A47', 'adt_003.hl7', true, ['identifier-changed']],
      ['H5', 'A40', 'adt_004.hl7', false, ['retired']],
      ['H5', 'A40', 'adt_004.hl7', true, ['merged']],
    ]);
    expect(h.entries[2].changes).toContainEqual({ field: 'usedName', before: null, after: 'BONAPARTE' });
    expect(h.entries[0].messageTime).toMatch(/^20250312/);
    const text = await s.cli('history', '200001');
    expect(text.stdout).toContain('A47 H4 from GAM/CHEX in adt_003.hl7 (ledger #3)');
    expect(text.stdout).toContain('identifier: 100001 (CHEX) → 200001 (CHEX)');
    expect(text.stdout).toContain('[merged record 100009 (CHEX)]');
    // The old IPP no longer exists (renamed in place); the retired one resolves to its own record.
    expect((await s.cli('history', '100001')).code).toBe(4);
    const retired = json(await s.cli('history', '100009', '--json'));
    expect(retired.patient).toMatchObject({ active: false, mergedInto: expect.objectContaining({ value: '200001' }) });
    expect((await s.cli('history')).code).toBe(2);
  });
});

describe('report of an SFTP staging inbox ignores the staging folder', () => {
  it('lists files only', async () => {
    const s = await makeSite('sqlite');
    try {
      mkdirSync(join(s.inbox, '.staging'));
      writeFileSync(join(s.inbox, '.staging', 'partial.hl7'), 'MSH|');
      await (await openDb(s.db)).close();
      const rep = json(await s.cli('report', '--json'));
      expect(rep.sources[0].inbox).toEqual([]);
    } finally {
      await s.cleanup();
    }
  });
});
