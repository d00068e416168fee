/**
 * Test program — the names pamdrop gives files (docs/behaviour.md "ACK files", "Files, framing and characters"):
 * - fitName / freePath / ackFileName (unit): every name within 255 bytes with its decorations (ACK temporary name,
 *   reason file and its temporary name), shortened with a hash suffix that is deterministic, keeps `.ack.hl7`, and
 *   keeps two names apart; an ACK name held by other bytes is never reused (`.2`, `.3`…), one holding the same
 *   bytes is;
 * - end to end on SQLite and PostgreSQL: the long-name file that used to fail for ever with ENAMETOOLONG (a
 *   124-character name, a repeated 120-character MSH-10) goes through; a long-named file is quarantined and
 *   archived twice under names that fit;
 * - crash and resume: a file whose ACK had to take `.2` resumes onto the same `.2` (the ledger keeps the name),
 *   whether the crash came before its ACK file was written or after.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACK_NAME_MAX, MOVED_NAME_MAX, ackFileName, ackSlotFree, freePath } from '../../src/pipeline/files.js';
import { fitName } from '../../src/shared/fit-name.js';
import { resolveConfig } from '../../src/config/load.js';
import { processFile, type FaultPoint } from '../../src/pipeline/process-file.js';
import { createLogger } from '../../src/shared/logger.js';
import { fixedClock } from '../../src/shared/clock.js';
import { dbKinds, openTestDb } from '../helpers/db.js';
import { ackSegments, makeWorkspace } from '../helpers/workspace.js';
import { patientMessage } from '../ops/helpers.js';

const bytes = (s: string) => Buffer.byteLength(s);
let work: string;
beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'pamdrop-names-')); });
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('fitName, freePath, ackFileName', () => {
  it('fitName: a name that fits is kept; a longer one is cut at a character boundary, tagged with a hash, its suffix kept', () => {
    expect(fitName('adt.hl7', 20)).toBe('adt.hl7');
    const long = `${'é'.repeat(200)}.hl7`; // 404 bytes
    const short = fitName(long, MOVED_NAME_MAX);
    expect(bytes(short)).toBeLessThanOrEqual(MOVED_NAME_MAX);
    expect(short).toMatch(/^é+~[0-9a-f]{12}\.hl7$/);
    expect(fitName(long, MOVED_NAME_MAX)).toBe(short); // deterministic: a resumed run finds the same name
    expect(fitName(`${'é'.repeat(199)}x.hl7`, MOVED_NAME_MAX)).not.toBe(short);
    const ack = fitName(`${'a'.repeat(300)}.ack.hl7`, ACK_NAME_MAX, '.ack.hl7');
    expect(bytes(ack)).toBe(ACK_NAME_MAX);
    expect(ack.endsWith('.ack.hl7')).toBe(true);
    // With the decorations pamdrop adds, every name stays within NAME_MAX.
    expect(bytes(`.${ack}.tmp`)).toBeLessThanOrEqual(255);
    expect(bytes(`.${short}.reason.txt.tmp`)).toBeLessThanOrEqual(255);
  });

  it('freePath: the collision suffix is added before shortening, so -1, -2… stay distinct and fit', () => {
    const dir = mkdtempSync(join(work, 'free-'));
    const name = `${'b'.repeat(250)}.hl7`;
    const first = freePath(dir, name);
    writeFileSync(first, 'x');
    const second = freePath(dir, name);
    expect(second).not.toBe(first);
    for (const p of [first, second]) expect(bytes(p.slice(dir.length + 1))).toBeLessThanOrEqual(MOVED_NAME_MAX);
  });

  it('ackFileName: a name holding other bytes is skipped (.2, .3); the same bytes may be rewritten in place', () => {
    const dir = mkdtempSync(join(work, 'acks-'));
    writeFileSync(join(dir, 'adt.M1.ack.hl7'), 'first');
    writeFileSync(join(dir, 'adt.M1.2.ack.hl7'), 'second');
    const name = (b: string) => ackFileName('adt.hl7', 'M1', 0, new Set(), (n) => ackSlotFree(dir, n, Buffer.from(b)));
    expect(name('third')).toBe('adt.M1.3.ack.hl7');
    expect(name('first')).toBe('adt.M1.ack.hl7');
    expect(name('second')).toBe('adt.M1.2.ack.hl7');
    // Within one file, a repeated MSH-10 still takes `.<position>`, and that name too must be free on disk.
    const used = new Set<string>(['adt.M1.ack.hl7']);
    writeFileSync(join(dir, 'adt.M1.2.ack.hl7'), 'second');
    expect(ackFileName('adt.hl7', 'M1', 1, used, (n) => ackSlotFree(dir, n, Buffer.from('x')))).toBe('adt.M1.2.2.ack.hl7');
  });

  it('ackFileName: a 120-character base and MSH-10 with a position suffix is shortened under the limit', () => {
    const base = `${'f'.repeat(120)}.hl7`;
    const id = 'C'.repeat(120);
    const used = new Set<string>();
    const a = ackFileName(base, id, 0, used);
    const b = ackFileName(base, id, 1, used);
    expect(a).toBe(`${'f'.repeat(120)}.${id}.ack.hl7`);
    expect(bytes(b)).toBeLessThanOrEqual(ACK_NAME_MAX);
    expect(b).not.toBe(a);
    expect(b.startsWith(`${'f'.repeat(120)}.`)).toBe(true);
    expect(b.endsWith('.ack.hl7')).toBe(true);
  });
});

describe.each(dbKinds())('long names end to end (%s)', (kind) => {
  it('a 124-character file name with a repeated 120-character MSH-10 goes through (no ENAMETOOLONG), ACK names within the limit', async () => {
    const ws = await makeWorkspace(kind);
    try {
      const name = `${'n'.repeat(120)}.hl7`;
      const msg = patientMessage({ ctl: 'X'.repeat(120), time: '20250312101500', ipp: '100001' });
      ws.drop(name, msg + msg); // the second is a duplicate of the first: its ACK name takes `.2`
      const r = await ws.importFiles(name);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const acks = [...ws.acks().keys()];
      expect(acks).toHaveLength(2);
      for (const a of acks) {
        expect(bytes(a)).toBeLessThanOrEqual(ACK_NAME_MAX);
        expect(a.endsWith('.ack.hl7')).toBe(true);
      }
      expect(readdirSync(ws.outbox).filter((f) => f.startsWith('.'))).toEqual([]);
      expect(ws.archived()).toHaveLength(1);
    } finally {
      await ws.cleanup();
    }
  });

  it('a 250-byte file name is quarantined (with its reason file) and archived twice under names that fit', async () => {
    const ws = await makeWorkspace(kind);
    try {
      const name = `${'q'.repeat(246)}.hl7`;
      ws.drop(name, 'FHS|^~\\&|GAM\rPID|1\rFTS|1\r');
      const q = await ws.importFiles(name);
      expect(q.code, q.stdout + q.stderr).toBe(1);
      const quarantined = ws.quarantined();
      expect(quarantined).toHaveLength(2);
      expect(quarantined[1]!.endsWith('.reason.txt')).toBe(true);
      for (const f of quarantined) expect(bytes(f)).toBeLessThanOrEqual(255);

      const msg = (ctl: string) => patientMessage({ ctl, time: '20250312101500', ipp: '100001' });
      for (const ctl of ['A1', 'A2']) {
        ws.drop(name, msg(ctl));
        const r = await ws.importFiles(name);
        expect(r.code, r.stdout + r.stderr).toBe(0);
      }
      const archived = ws.archived().map((p) => p.split('/').pop()!);
      expect(archived).toHaveLength(2);
      expect(new Set(archived).size).toBe(2);
      for (const f of archived) expect(bytes(f)).toBeLessThanOrEqual(MOVED_NAME_MAX);
    } finally {
      await ws.cleanup();
    }
  });
});

describe.each(dbKinds())('crash and resume keep the ACK name chosen (%s)', (kind) => {
  it.each(['after-commit', 'after-acks'] as const)('killed at %s: the ACK that had to take .2 lands on .2 again, never .3', async (point) => {
    const t = await openTestDb(kind);
    const root = mkdtempSync(join(work, `${kind}-resume-`));
    try {
      for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d));
      const config = resolveConfig({}, root);
      const ctx = { db: t.db, config, log: createLogger({ level: 'silent' }), clock: fixedClock('2026-03-01T10:00:00.000Z'), owner: 'test:resume' };
      const job = (path: string) => ({ source: 'local', path, ackDir: join(root, 'outbox'), archiveDir: join(root, 'archive'), errorDir: join(root, 'archive', 'error') });
      const path = join(root, 'inbox', 'adt.hl7');
      writeFileSync(path, patientMessage({ ctl: 'M1', time: '20250312101500', ipp: '100001' }), 'latin1');
      expect((await processFile(job(path), ctx)).state).toBe('done');
      const first = readFileSync(join(root, 'outbox', 'adt.M1.ack.hl7'));

      // Another sender's file of the same name, the same MSH-10: its ACK takes `.2`. The run dies at `point`.
      writeFileSync(path, patientMessage({ ctl: 'M1', time: '20250312101600', ipp: '100002', sender: 'OTHER' }), 'latin1');
      const crash = (p: FaultPoint) => { if (p === point) throw new Error(`killed at ${p}`); };
      await expect(processFile(job(path), { ...ctx, fault: crash })).rejects.toThrow(`killed at ${point}`);
      const resumed = await processFile(job(path), ctx);
      expect(resumed).toMatchObject({ state: 'done', resumed: true });

      expect(readdirSync(join(root, 'outbox')).sort()).toEqual(['adt.M1.2.ack.hl7', 'adt.M1.ack.hl7']);
      expect(readFileSync(join(root, 'outbox', 'adt.M1.ack.hl7')).equals(first)).toBe(true);
      const second = ackSegments(readFileSync(join(root, 'outbox', 'adt.M1.2.ack.hl7')));
      expect(second[0]![4]).toBe('OTHER'); // MSH-5 of the ACK: the second file's sender
      const rows = await t.db.all<{ ack_name: string }>('SELECT ack_name FROM messages ORDER BY id');
      expect(rows.map((r) => r.ack_name)).toEqual(['adt.M1.ack.hl7', 'adt.M1.2.ack.hl7']);
    } finally {
      await t.cleanup();
    }
  });
});

describe.each(dbKinds())('ACK names checked at the end of each group (%s)', (kind) => {
  it('a name found held by other bytes is replaced before the COMMIT, avoiding the names later messages of its group took', async () => {
    const t = await openTestDb(kind);
    const root = mkdtempSync(join(work, `${kind}-group-names-`));
    try {
      for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d));
      // Groups of two: the third and fourth messages form the second group, written by the ACK writer thread.
      const config = resolveConfig({ groupSize: 2 }, root);
      const ctx = { db: t.db, config, log: createLogger({ level: 'silent' }), clock: fixedClock('2026-03-01T10:00:00.000Z'), owner: 'test:names' };
      const job = (path: string) => ({ source: 'local', path, ackDir: join(root, 'outbox'), archiveDir: join(root, 'archive'), errorDir: join(root, 'archive', 'error') });
      writeFileSync(join(root, 'outbox', 'adt.M1.ack.hl7'), 'an ACK of another file, not fetched yet');
      const path = join(root, 'inbox', 'adt.hl7');
      writeFileSync(path, ['M0', 'X1', 'M1', 'M1.2'].map((ctl, i) => patientMessage({ ctl, time: `2025031210150${i}`, ipp: `10000${i}` })).join(''), 'latin1');
      expect((await processFile(job(path), ctx)).state).toBe('done');

      // M1's name was held: at the group's end `.2` was already M1.2's own name, so M1 took `.3`.
      const rows = await t.db.all<{ control_id: string; ack_name: string }>('SELECT control_id, ack_name FROM messages ORDER BY idx');
      expect(rows.map((r) => [r.control_id, r.ack_name])).toEqual([
        ['M0', 'adt.M0.ack.hl7'], ['X1', 'adt.X1.ack.hl7'], ['M1', 'adt.M1.3.ack.hl7'], ['M1.2', 'adt.M1.2.ack.hl7'],
      ]);
      const outbox = join(root, 'outbox');
      expect(readdirSync(outbox).sort()).toEqual(['adt.M0.ack.hl7', 'adt.M1.2.ack.hl7', 'adt.M1.3.ack.hl7', 'adt.M1.ack.hl7', 'adt.X1.ack.hl7']);
      expect(readFileSync(join(outbox, 'adt.M1.ack.hl7'), 'latin1')).toBe('an ACK of another file, not fetched yet');
      for (const r of rows) expect(ackSegments(readFileSync(join(outbox, r.ack_name)))[1]!.slice(0, 3)).toEqual(['MSA', 'AA', r.control_id]);
    } finally {
      await t.cleanup();
    }
  });
});
