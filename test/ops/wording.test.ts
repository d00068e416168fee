/**
 * Test program — what operators read, on real folders and a real store (SQLite and PostgreSQL), no mocks:
 * - a quarantine log line names the source; a file with AE/AR messages is logged at warn ("file processed");
 * - an error does not repeat its code (`EEXIST: EEXIST: …`) in the run report;
 * - `doctor` names the command that holds the writer lock (a running `watch` is not "an import");
 * - the status page's detail column shows the warnings of an accepted message (W 103 here).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dbKinds } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { acquireLock, makeOwner } from '../../src/store/ledger.js';
import { WRITER_LOCK } from '../../src/pipeline/runner.js';
import { a28, a28File, cli, files, makeSite, memoryLogger, runIntake, until, type Site } from '../intake/site.js';
import { fetchText, startWatching, type Watching } from '../observe/helpers.js';

const sites: Site[] = [];
const running: Watching[] = [];
afterAll(async () => {
  for (const w of running) await w.close().catch(() => {});
  for (const s of sites) await s.cleanup();
});

describe.each(dbKinds())('operator wording (%s)', (kind) => {
  const site = (user: Parameters<typeof makeSite>[0] = {}) => { const s = makeSite({ db: kind, ...user, source: { stableMs: 0, ...user.source } }); sites.push(s); return s; };

  it('a quarantine log line names the source; a file with an AR is logged at warn, a clean one at info', async () => {
    const s = site();
    s.drop('adt_1.hl7', a28File(1, 1));
    s.drop('adt_2.hl7', readFileSync(resolve('test/fixtures/hl7/wrong-bts-count.hl7')));
    s.drop('adt_3.hl7', a28('100009', 'X1').replace('ADT^A28^ADT_A05', 'ADT^A29^ADT_A21')); // AR 201
    const m = memoryLogger();
    const r = await runIntake(s, { log: m.log });
    expect(r.files.map((f) => [f.file, f.state])).toEqual([['adt_1.hl7', 'done'], ['adt_2.hl7', 'quarantined'], ['adt_3.hl7', 'done']]);
    expect(m.lines.filter((l) => l.msg === 'file quarantined').map((l) => [l.level, l.source, l.file])).toEqual([['warn', 'local', 'adt_2.hl7']]);
    expect(m.lines.filter((l) => l.msg === 'file processed').map((l) => [l.file, l.level, l.AR])).toEqual([['adt_1.hl7', 'info', 0], ['adt_3.hl7', 'warn', 1]]);
  });

  it('an error does not repeat its code', async () => {
    const s = site();
    rmSync(s.inbox, { recursive: true });
    writeFileSync(s.inbox, 'a file where the inbox should be');
    const r = await runIntake(s);
    const failed = r.files.find((f) => f.state === 'failed');
    expect(failed && failed.state === 'failed' && failed.error).toMatch(/^EEXIST: file already exists, mkdir /);
 
    // import: the error folder cannot be made (a file in its path).
    const t = site();
    writeFileSync(join(t.root, 'blocker'), 'a file');
    t.drop('adt_1.hl7', readFileSync(resolve('test/fixtures/hl7/wrong-bts-count.hl7')));
    const imp = cli(t, ['import', join(t.inbox, 'adt_1.hl7'), '--error-dir', join(t.root, 'blocker', 'error'), '--json']);
    const report = JSON.parse(imp.stdout);
    expect(report.files.map((f: { error?: string }) => f.error)).toEqual([expect.stringMatching(/^ENOTDIR: not a directory, /)]);
  });

  it('doctor names the command holding the writer lock', async () => {
    const s = site();
    const db = await openDb(s.db);
    try {
      expect(await acquireLock(db, WRITER_LOCK, makeOwner('watch'), new Date(), 60_000)).toEqual({ ok: true });
    } finally { await db.close(); }
    const out = JSON.parse(cli(s, ['doctor', '--json']).stdout);
    const lock = out.checks.find((c: { name: string }) => c.name === 'writer lock');
    expect(lock.detail).toMatch(/\(pamdrop watch is running\)$/);
    expect(lock.detail).not.toContain('import');
  });

  // Regression: the detail column showed nothing for an accepted message, so a W 204 or W 103 went unseen.
  it('the status page shows the warnings of an accepted message in its detail column', async () => {
    const s = site({ source: { stableMs: 0, pollMs: 100 } });
    const w = await startWatching(s);
    running.push(w);
    // Two identity statuses in PID-32: the first is used, AA with W 103.
    s.drop('adt_1.hl7', a28('100001', 'W1').replace('|PROV\r', '|PROV~PROV\r'));
    await until(() => files(s.archive).some((f) => f.endsWith('adt_1.hl7')), 10_000, 'the file to be archived');
    const page = await fetchText(`${w.url}/`);
    expect(page.status).toBe(200);
    const row = page.text.split('<tr>').find((r) => r.includes('>W1<'));
    expect(row).toMatch(/<td class="reason">W 103: PID-32\[2\]: more than one identity status; the first one is used<\/td>/);
  });
});

