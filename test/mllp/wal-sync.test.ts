/** store/sqlite/wal-sync.ts on a real SQLite file: NORMAL only around a commit, FULL back after; one fsync shared by callers. */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../src/store/db.js';
import type { Db, SqliteTx } from '../../src/store/tx.js';
import { WalSync } from '../../src/store/sqlite/wal-sync.js';

async function withSqlite(fn: (db: Db & SqliteTx) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'walsync-'));
  const db = await openDb(join(dir, 'pamdrop.sqlite'));
  try { await fn(db as Db & SqliteTx); } finally { await db.close(); rmSync(dir, { recursive: true, force: true }); }
}

const sync = (db: SqliteTx) => Number(db.conn.pragma('synchronous', { simple: true }));

describe('WalSync', () => {
  it('relaxes FULL to NORMAL until restored; leaves a connection already NORMAL (a file import in progress) as it is', async () => {
    await withSqlite(async (db) => {
      const w = WalSync.of(db)!;
      expect(w).not.toBeNull();
      expect(sync(db)).toBe(2);
      const restore = w.relax();
      expect(sync(db)).toBe(1);
      restore();
      expect(sync(db)).toBe(2);
      db.conn.pragma('synchronous = NORMAL');
      const noop = w.relax();
      noop();
      expect(sync(db)).toBe(1);
    });
  });

  it('durable(): callers that arrive while an fsync runs share the next one, never the one already running', async () => {
    await withSqlite(async (db) => {
      const w = WalSync.of(db)!;
      await db.run("INSERT INTO locks (name, owner, acquired_at, expires_at) VALUES ('x', 'o', 'a', 'b')");
      let started = 0;
      const real = (w as unknown as { fsync: () => Promise<void> }).fsync.bind(w);
      (w as unknown as { fsync: () => Promise<void> }).fsync = async () => { started++; await new Promise((r) => setTimeout(r, 30)); return real(); };
      const first = w.durable();
      const later = [w.durable(), w.durable(), w.durable()];
      await first;
      expect(started).toBe(1);
      await Promise.all(later);
      expect(started).toBe(2);
    });
  });

  it('keeps the -wal open between syncs; release() closes it, after the fsync in flight when there is one', async () => {
    await withSqlite(async (db) => {
      const w = WalSync.of(db)!;
      const fdOf = () => (w as unknown as { fd: number | null }).fd;
      await db.run("INSERT INTO locks (name, owner, acquired_at, expires_at) VALUES ('x', 'o', 'a', 'b')");
      await w.durable(true);
      const fd = fdOf();
      expect(fd).not.toBeNull();
      await w.durable();
      expect(fdOf()).toBe(fd);
      w.release();
      expect(fdOf()).toBeNull();
      const inFlight = w.durable();
      w.release();
      expect(fdOf()).not.toBeNull();
      await inFlight;
      expect(fdOf()).toBeNull();
    });
  });

  it('alone: a database whose -wal is gone (checkpointed and removed) has nothing to sync', async () => {
    await withSqlite(async (db) => {
      const w = WalSync.of(db)!;
      db.conn.pragma('wal_checkpoint(TRUNCATE)');
      const { rmSync: rm } = await import('node:fs');
      rm(`${db.conn.name}-wal`, { force: true });
      await expect(w.durable(true)).resolves.toBeUndefined();
      await expect(w.durable()).resolves.toBeUndefined();
    });
  });

  it('is not used where COMMIT is durable as it returns: an in-memory store', async () => {
    const db = await openDb(':memory:');
    try { expect(WalSync.of(db)).toBeNull(); } finally { await db.close(); }
  });
});
