/**
 * Hardening harness — faults. Each fault must end with nothing lost and a clear error (exit 5 when a file
 * failed: the file left claimed/resumable, or quarantined with a reason), and once the fault is gone the same command must end
 * exactly as one clean run (every table, ACK bytes, archive, inbox).
 *
 * - Disk full while writing ACK files: a real 48 KiB tmpfs mounted over the ACK folder when the test may mount
 *   (root with CAP_SYS_ADMIN), then remounted larger; always also an injected ENOSPC through a test-only AckSink.
 *   Bonus when mountable: the store itself on a full tmpfs (SQLITE_FULL).
 * - Database locked/busy: a second connection holding BEGIN IMMEDIATE on the SQLite file, before the run (spawned
 *   CLI, 5 s busy timeout) and in the middle of a file (in-process, taken at the first commit).
 * - Permission denied on the archive folder: tests run as root here and root ignores modes, so the archive folder
 *   is made immutable (`chattr +i`, EPERM); as a non-root user `chmod 000` (EACCES); failing both, an injected
 *   EACCES at the archive step. The test prints which one it used.
 * - Interrupted moves the random kills rarely hit: killed after the archive rename but before the ledger's `done`;
 *   killed between the copy and the unlink of a cross-file-system archive.
 * - SFTP connection dropped mid-download/mid-upload: covered by the intake suites (test/intake), not here.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { crashBatch, diffSnapshots, makeSite, runImport, snapshot, tryMountTmpfs, type Site } from '../../bench/harden.js';
import { chattr, importInProcess, isRoot, remountTmpfs } from './helpers.js';
import type { AckSink } from '../../src/pipeline/files.js';
import { openDb } from '../../src/store/db.js';

const CFG = { groupSize: 50, pam: { acceptTestIns: true } };
let work: string;
let batch: ReturnType<typeof crashBatch>;
let clean: ReturnType<typeof snapshot>;
let cleanTotals: unknown;
let n = 0;
const site = (tag: string) => makeSite(join(work, `${tag}-${n++}`), batch, CFG);
const json = (stdout: string) => JSON.parse(stdout) as { files: Array<{ file: string; state: string; error?: string; reason?: string }>; totals: Record<string, number> };
/** Creates and migrates the site's store (so that another connection can lock it). */
const migrate = async (s: Site) => { const db = await openDb(s.db); await db.close(); };
const expectClean = (s: Site) => expect(diffSnapshots(clean, snapshot(s))).toEqual([]);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pamdrop-faults-'));
  batch = crashBatch(11, 300); // 4 files: envelope, AE/AR mix, broken envelope (quarantine), resends
  const s = site('clean');
  const r = await runImport(s);
  expect(r.code, r.stderr).toBe(1);
  clean = snapshot(s);
  cleanTotals = json(r.stdout).totals;
}, 120_000);

afterAll(() => {
  for (const d of readdirSync(work)) chattr(join(work, d, 'archive'), '-i');
  rmSync(work, { recursive: true, force: true });
});

describe('disk full while writing ACK files', () => {
  it('real tmpfs (when mountable): exit 5 (the system\'s fault), files left claimed; after remounting larger, the rerun equals a clean run', async () => {
    const s = site('enospc');
    const unmount = tryMountTmpfs(s.outbox, '48k');
    if (!unmount) { console.warn('faults: mount not permitted here: real disk-full case skipped (the injected ENOSPC case below still runs)'); return; }
    try {
      const r = await runImport(s);
      expect(r.code, r.stderr).toBe(5);
      const rep = json(r.stdout);
      const failed = rep.files.filter((f) => f.state === 'failed');
      expect(failed.length).toBe(4);
      expect(failed[0]!.error).toMatch(/^ENOSPC/);
      expect(r.stderr).toContain('file failed; it stays claimed and resumes on the next run');
      for (const f of failed) expect(existsSync(join(s.inbox, f.file))).toBe(true);
      expect(remountTmpfs(s.outbox, '64m')).toBe(true);
      const again = await runImport(s);
      expect(again.code, again.stderr).toBe(1);
      expect(json(again.stdout).totals).toEqual(cleanTotals);
      expectClean(s);
    } finally {
      unmount();
    }
  }, 60_000);

  it('injected ENOSPC from an AckSink: the file stays claimed; the rerun equals a clean run', async () => {
    const s = site('enospc-injected');
    let calls = 0;
    const full: AckSink = { async write() { if (++calls >= 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); } };
    const rep = await importInProcess(s, { ackSink: full });
    expect(rep.files.map((f) => f.state)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect((rep.files[0] as { error: string }).error).toMatch(/^ENOSPC/);
    const db = new Database(s.db, { readonly: true });
    // Claimed with its first groups committed (their ACKs failed): resumable. The files after it were not started.
    const rows = db.prepare(`SELECT name, state, (SELECT COUNT(*) FROM messages) AS n FROM files ORDER BY id`).all() as Array<{ name: string; state: string; n: number }>;
    expect(rows.map((x) => [x.name, x.state])).toEqual([['adt_001.hl7', 'claimed']]);
    expect(rows[0]!.n).toBeGreaterThan(0);
    db.close();
    const r = await runImport(s);
    expect(r.code, r.stderr).toBe(1);
    expectClean(s);
  }, 60_000);

  it('the store on a full tmpfs (SQLITE_FULL, when mountable): exit 5; after remounting larger, the rerun equals a clean run', async () => {
    const s = site('sqlite-full');
    const unmount = tryMountTmpfs(join(s.root, 'data'), '400k');
    if (!unmount) { console.warn('faults: mount not permitted here: SQLITE_FULL case skipped'); return; }
    try {
      const r = await runImport(s);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stdout + r.stderr).toMatch(/SQLITE_FULL|database or disk is full/);
      expect(remountTmpfs(join(s.root, 'data'), '64m')).toBe(true);
      const again = await runImport(s);
      expect(again.code, again.stderr).toBe(1);
      expectClean(s);
    } finally {
      unmount();
    }
  }, 60_000);
});

describe('database locked by another connection (BEGIN IMMEDIATE)', () => {
  it('held before the run: exit 5 with "database is locked" after the busy timeout, nothing claimed; released: equals a clean run', async () => {
    const s = site('busy');
    await migrate(s);
    const holder = new Database(s.db);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const r = await runImport(s);
      expect(r.code).toBe(5); // an error that escapes the command is the system's fault: nothing refused, retry
      expect(r.stderr).toMatch(/database is locked|SQLITE_BUSY/);
      for (const f of s.files) expect(existsSync(f)).toBe(true);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const again = await runImport(s);
    expect(again.code, again.stderr).toBe(1);
    expectClean(s);
  }, 60_000);

  it('taken in the middle of a file: the file fails and stays claimed (resumable); released: equals a clean run', async () => {
    const s = site('busy-mid');
    await migrate(s);
    const holder = new Database(s.db);
    let taken = false;
    try {
      const rep = await importInProcess(s, { busyTimeoutMs: 200, fault: (p) => { if (p === 'after-commit' && !taken) { holder.exec('BEGIN IMMEDIATE'); taken = true; } } });
      expect(taken, JSON.stringify(rep.files)).toBe(true);
      expect(rep.totals.failed).toBe(4);
      expect(rep.files.every((f) => f.state === 'failed')).toBe(true);
      expect((rep.files[0] as { error: string }).error).toMatch(/^SQLITE_BUSY: database is locked/);
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
    const db = new Database(s.db, { readonly: true });
    expect(db.prepare(`SELECT state, (SELECT COUNT(*) FROM messages) AS n FROM files`).all()).toEqual([{ state: 'claimed', n: 50 }]); // first group committed
    db.close();
    // In-process again: the lock row this process could not release (busy) is its own, taken over at once.
    const again = await importInProcess(s);
    expect(again.totals.failed).toBe(0);
    expectClean(s);
  }, 60_000);
});

describe('permission denied on the archive folder', () => {
  it('archive not writable: exit 5, files left archiving/quarantining in the ledger; writable again: equals a clean run', async () => {
    const s = site('eacces');
    let mode: 'chattr' | 'chmod' | 'injected';
    if (isRoot && chattr(s.archive, '+i')) mode = 'chattr';
    else if (!isRoot) { chmodSync(s.archive, 0o000); mode = 'chmod'; } else mode = 'injected';
    console.info(`faults: archive folder made unwritable with ${mode === 'chattr' ? 'chattr +i (EPERM: root ignores modes)' : mode === 'chmod' ? 'chmod 000 (EACCES)' : 'an injected EACCES'}`);
    try {
      if (mode === 'injected') {
        const rep = await importInProcess(s, { fault: (p) => { if (p === 'before-archive' || p === 'before-quarantine-move') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); } });
        expect(rep.totals.failed).toBe(4);
      } else {
        const r = await runImport(s);
        expect(r.code, r.stderr).toBe(5);
        const rep = json(r.stdout);
        expect(rep.files.map((f) => f.state)).toEqual(['failed', 'failed', 'failed', 'failed']);
        expect(rep.files[0]!.error).toMatch(/^(EPERM|EACCES)/);
        // The files after a failed one wait (order): they are not started.
        for (const f of rep.files.slice(1)) expect(f.error).toMatch(/^not started: adt_001.hl7 failed first/);
        const db = new Database(s.db, { readonly: true });
        expect(db.prepare('SELECT state FROM files ORDER BY id').all()).toEqual([{ state: 'archiving' }]);
        db.close();
      }
      for (const f of s.files) expect(existsSync(f)).toBe(true);
      expect(readdirSync(s.outbox).length).toBeGreaterThan(0); // every committed message kept its ACK
    } finally {
      if (mode! === 'chattr') chattr(s.archive, '-i');
      if (mode! === 'chmod') chmodSync(s.archive, 0o755);
    }
    const again = await runImport(s);
    expect(again.code, again.stderr).toBe(1);
    expect(json(again.stdout).totals).toEqual(cleanTotals);
    expectClean(s);
  }, 60_000);
});

describe('interrupted moves', () => {
  it('killed after the archive rename, before the ledger said done: the same import command finishes it', async () => {
    const s = site('after-rename');
    expect((await runImport(s)).code).toBe(1);
    // Roll the ledger back to the state the kill leaves: `archiving`/`quarantining`, the file already moved.
    const db = new Database(s.db);
    db.exec(`UPDATE files SET state = CASE state WHEN 'done' THEN 'archiving' ELSE 'quarantining' END, finished_at = NULL`);
    db.close();
    const again = await runImport(s);
    expect(again.code, again.stderr).toBe(1);
    expect(json(again.stdout).totals).toEqual(cleanTotals);
    expectClean(s);
  }, 60_000);

  it('killed between the copy and the unlink of a cross-file-system archive: the rerun removes the source', async () => {
    const s = site('exdev');
    // The state such a kill leaves: row `archiving`, the archived copy complete at its planned path, the source still there.
    expect((await runImport(s)).code).toBe(1);
    const db = new Database(s.db);
    const rows = db.prepare(`SELECT name, archived_path FROM files WHERE state = 'done'`).all() as Array<{ name: string; archived_path: string }>;
    db.exec(`UPDATE files SET state = 'archiving', finished_at = NULL WHERE state = 'done'`);
    db.close();
    for (const r of rows) copyFileSync(r.archived_path, join(s.inbox, r.name));
    const again = await runImport(s);
    expect(again.code, again.stderr).toBe(1);
    expectClean(s);
  }, 60_000);

  it('a real cross-file-system archive (tmpfs, when mountable) under SIGKILL at each archive step', async () => {
    const s = site('exdev-real');
    const unmount = tryMountTmpfs(s.archive, '64m');
    if (!unmount) { console.warn('faults: mount not permitted here: cross-file-system archive case skipped'); return; }
    try {
      let kills = 0;
      for (const fault of ['before-quarantine-move:1', 'after-archive-mark:1', 'after-archive-mark:1']) {
        const k = await runImport(s, { fault });
        if (k.signal === 'SIGKILL') kills++;
        else expect(k.code, k.stderr).toBe(1);
      }
      expect(kills).toBeGreaterThanOrEqual(2);
      const again = await runImport(s);
      expect(again.code, again.stderr).toBe(1);
      expectClean(s);
    } finally {
      unmount();
    }
  }, 60_000);
});
