/**
 * Test program — concurrency errors while applying: on PostgreSQL a serialization failure (40001), a
 * deadlock (40P01), a lock timeout (55P03) or a unique violation caused by a concurrent writer inserting the same key
 * (23505) is retried with a bounded backoff (src/store/retry.ts), never turned into an AE NAK.
 * 1. Classification and retry policy (unit, no database).
 * 2. PostgreSQL, deterministic: connection 1 inserts identifier X and keeps its transaction open; connection 2 applies
 *    an A28 for X, whose INSERT waits on the unique index (seen in pg_stat_activity); connection 1 commits, connection 2
 *    gets 23505 — once — and the retry applies the A28 to the committed record.
 * 3. The same race through processFile: the message ends AA (applied to the committed record), not AE.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { backoffMs, retryTransient, transientDbError } from '../../src/store/retry.js';
import { dbKinds, makeTarget } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import type { Db } from '../../src/store/tx.js';
import { resolveConfig } from '../../src/config/load.js';
import { Hl7Message } from '../../src/hl7/model.js';
import { interpret } from '../../src/pam/interpret.js';
import { applyCommand } from '../../src/store/apply.js';
import { processFile } from '../../src/pipeline/process-file.js';
import { createLogger } from '../../src/shared/logger.js';
import { fixedClock } from '../../src/shared/clock.js';
import { a28 } from '../intake/site.js';

const pgError = (code: string) => Object.assign(new Error(`INSERT INTO identifiers … - pg says ${code}`), { code });

describe('transient concurrency errors: classification and retry policy', () => {
  it.each([
    ['40001', '40001 serialization failure'], ['40P01', '40P01 deadlock'], ['55P03', '55P03 lock timeout'],
    ['23505', '23505 unique violation (concurrent insert)'],
  ])('%s is transient', (code, reason) => {
    expect(transientDbError(pgError(code))).toBe(reason);
    expect(transientDbError(new Error('wrapped', { cause: pgError(code) }))).toBe(reason); // in a cause chain
  });

  it.each([['23503'], ['23502'], ['22001'], ['42P01'], ['25P02'], ['SQLITE_CONSTRAINT_UNIQUE'], ['SQLITE_BUSY'], ['ECONNRESET']])('%s is not', (code) => {
    expect(transientDbError(pgError(code))).toBeNull();
  });

  it('anything else is not: plain errors, non-errors', () => {
    expect(transientDbError(new Error('boom'))).toBeNull();
    expect(transientDbError(undefined)).toBeNull();
    expect(transientDbError('40001')).toBeNull();
    expect(transientDbError({ code: 40001 })).toBeNull();
  });

  it('retries a transient error with a doubling, capped, jittered backoff, then succeeds', async () => {
    const slept: number[] = [];
    const seen: Array<{ reason: string; attempt: number }> = [];
    let calls = 0;
    const out = await retryTransient(async () => {
      if (++calls < 4) throw pgError(calls === 2 ? '40P01' : '23505');
      return 'ok';
    }, { sleep: async (ms) => { slept.push(ms); }, random: () => 0.5, onRetry: ({ reason, attempt }) => seen.push({ reason, attempt }) });
    expect(out).toBe('ok');
    expect(calls).toBe(4);
    expect(slept).toEqual([25, 50, 100]);
    expect(seen.map((s) => s.attempt)).toEqual([2, 3, 4]);
    expect(seen[1]!.reason).toMatch(/deadlock/);
    expect(backoffMs(20, { random: () => 0.5 })).toBe(1000); // capped
    expect(backoffMs(2, { random: () => 0 })).toBe(13); // jitter: 50 %…150 %
  });

  it('is bounded: the last transient error is rethrown after `attempts`', async () => {
    let calls = 0;
    await expect(retryTransient(async () => { calls++; throw pgError('40001'); }, { attempts: 3, sleep: async () => {} })).rejects.toMatchObject({ code: '40001' });
    expect(calls).toBe(3);
  });

  it('never retries any other error', async () => {
    let calls = 0;
    await expect(retryTransient(async () => { calls++; throw pgError('23503'); }, { sleep: async () => {} })).rejects.toMatchObject({ code: '23503' });
    expect(calls).toBe(1);
  });
});

const hasPg = dbKinds().includes('pg');

describe.skipIf(!hasPg)('a concurrent insert of the same identifier (PostgreSQL)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  const NOW = '2026-03-01T10:00:00.000Z';
  const IPP = '100001';

  /** Store with two connections: `holder` (connection 1) and `applier` (connection 2, tagged in pg_stat_activity). */
  async function setup() {
    const t = makeTarget('pg');
    const app = `pamdrop_race_${randomBytes(4).toString('hex')}`;
    const holder = await openDb(t.target);
    const applier = await openDb(`${t.target}&application_name=${app}`, { migrate: false });
    cleanups.push(t.dispose, () => holder.close(), () => applier.close());
    return { target: t.target, holder, applier, app };
  }

  /** Connection 1: inserts a PROV patient with identifier IPP, and commits only when `release` is called. */
  function holdIdentifier(holder: Db): { release(): void; done: Promise<number>; ready: Promise<void> } {
    let release!: () => void;
    let inserted!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    // Connection 2 must start only once the identifier row is in (uncommitted): otherwise connection 2 can insert
    // first and connection 1 is the one that waits (and fails with 23505) — the race this test needs reversed.
    const ready = new Promise<void>((r) => { inserted = r; });
    const done = holder.transaction(async (tx) => {
      const p = await tx.get<{ id: number }>(`INSERT INTO patients (active, status, birth_name, created_at, updated_at) VALUES (1, 'PROV', 'FIRST', ?, ?) RETURNING id`, [NOW, NOW]);
      await tx.run(`INSERT INTO identifiers (patient_id, value, authority, oid, type, auth_key, created_at) VALUES (?, ?, 'CHEX', '1.2.250.1.999999.1', 'PI', '1.2.250.1.999999.1', ?)`,
        [p!.id, IPP, NOW]);
      inserted();
      await gate;
      return p!.id;
    });
    return { release, done, ready: Promise.race([ready, done.then(() => {})]) };
  }

  /** Resolves once a statement of connection 2 waits for a lock (the uncommitted identifier of connection 1). */
  async function waitsForLock(holder: Db, app: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await holder.get<{ n: unknown }>(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = ? AND wait_event_type = 'Lock'`, [app]);
      if (Number(r!.n) > 0) return;
      if (Date.now() > deadline) throw new Error('connection 2 never waited for the lock of connection 1');
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  it('apply: the unique violation is retried and the A28 applies to the committed record', async () => {
    const { holder, applier, app } = await setup();
    const cfg = resolveConfig({});
    const interp = interpret(Hl7Message.parse(a28(IPP, 'RACE1')), cfg.pam);
    if (!interp.ok) throw new Error('fixture does not interpret');
    const hold = holdIdentifier(holder);
    await hold.ready;
    const retries: string[] = [];
    const applying = applier.transaction((tx) => retryTransient(() => tx.savepoint((sp) => applyCommand(sp, interp.command, { now: NOW, staleUpdates: 'skip' })),
      { onRetry: (r) => retries.push(r.reason) }));
    await waitsForLock(holder, app);
    hold.release();
    const first = await hold.done;
    const out = await applying;
    expect(retries).toEqual(['23505 unique violation (concurrent insert)']);
    expect(out).toMatchObject({ kind: 'applied', patientId: first });
    const rows = await holder.all<{ id: number; birth_name: string }>('SELECT id, birth_name FROM patients ORDER BY id');
    expect(rows).toEqual([{ id: first, birth_name: 'MOREL' }]); // one record, updated by the A28; the attempt's own row rolled back
  });

  it('processFile: the message is acknowledged AA, not AE', async () => {
    const { holder, applier, app } = await setup();
    const dir = mkdtempSync(join(tmpdir(), 'pamdrop-race-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    for (const d of ['outbox', 'archive']) mkdirSync(join(dir, d));
    const file = join(dir, 'adt_race.hl7');
    writeFileSync(file, Buffer.from(a28(IPP, 'RACE2') + a28('100002', 'RACE3'), 'latin1'));
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(JSON.parse(l)) });
    const hold = holdIdentifier(holder);
    await hold.ready;
    const processing = processFile({ source: 'local', path: file, ackDir: join(dir, 'outbox'), archiveDir: join(dir, 'archive'), errorDir: join(dir, 'archive', 'error') },
      { db: applier, config: resolveConfig({}, dir), log, clock: fixedClock(NOW), owner: 'test:race' });
    await waitsForLock(holder, app);
    hold.release();
    const first = await hold.done;
    const report = await processing;
    expect(report.summary).toMatchObject({ messages: 2, AA: 2, AE: 0, AR: 0 });
    const msgs = await holder.all<{ control_id: string; outcome: string; status: string; patient_id: number; error_code: number | null }>(
      'SELECT control_id, outcome, status, patient_id, error_code FROM messages ORDER BY idx');
    expect(msgs[0]).toEqual({ control_id: 'RACE2', outcome: 'AA', status: 'applied', patient_id: first, error_code: null });
    expect(msgs[1]).toMatchObject({ control_id: 'RACE3', outcome: 'AA', status: 'applied' });
    expect(lines.filter((l) => l.msg === 'message failed while applying')).toEqual([]);
  });
});
