/**
 * PgGroupTx write-behind (src/store/pg-group.ts) against a scripted connection: the order of round trips and answers
 * is chosen by the test, so the races that a real server shows one time in ten are reproduced every time.
 */
import { describe, it, expect } from 'vitest';
import { PgGroupTx, GroupFailed } from '../../src/store/pg-group.js';

interface Call { text: string; resolve(): void; reject(err: Error): void; answered: boolean }

/** A node-postgres client stand-in: each query waits until the test answers it (one result per statement). */
function scriptedConnection() {
  const calls: Call[] = [];
  const conn = {
    escapeLiteral: (s: string) => `'${s.replace(/'/g, "''")}'`,
    query(config: string | { text: string }): Promise<unknown> {
      const text = typeof config === 'string' ? config : config.text;
      return new Promise((res, rej) => {
        const n = text.split(';\n').length;
        const call: Call = {
          text, answered: false,
          resolve: () => { call.answered = true; res(n === 1 ? { rows: [], rowCount: 1 } : Array.from({ length: n }, () => ({ rows: [], rowCount: 1 }))); },
          reject: (err) => { call.answered = true; rej(err); },
        };
        calls.push(call);
      });
    },
  };
  return { conn, calls };
}

const INSERT = 'INSERT INTO history (patient_id, control_id) VALUES (?, ?)';
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('PgGroupTx write-behind', () => {
  async function twoBatches() {
    const { conn, calls } = scriptedConnection();
    const g = new PgGroupTx(conn as unknown as ConstructorParameters<typeof PgGroupTx>[0]);
    // 100 writes: sent at once (the connection is free); 150 more while that batch is in flight: buffered.
    for (let i = 0; i < 250; i++) await g.defer(INSERT, [i, `C${i}`]);
    expect(calls).toHaveLength(1);
    let finished = false;
    const finish = g.finish().then(() => { finished = true; });
    finish.catch(() => {});
    // The first batch's answer sends the buffered writes and the RELEASE at once (eager write-behind).
    calls[0]!.resolve();
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.text).toMatch(/RELEASE SAVEPOINT pamdrop_grp\d+$/);
    await tick();
    return { calls, finish, finished: () => finished };
  }

  it('finish() waits for the last batch that the previous answer sent', async () => {
    const { calls, finish, finished } = await twoBatches();
    expect(finished()).toBe(false); // the group must not be committed while its last writes are unanswered
    calls[1]!.resolve();
    await finish;
    expect(finished()).toBe(true);
  });

  it('a failure in that last batch fails finish(): the group is redone, never committed as if applied', async () => {
    const { calls, finish } = await twoBatches();
    calls[1]!.reject(new Error('insert or update on table "identifiers" violates foreign key constraint'));
    await expect(finish).rejects.toThrow(GroupFailed);
  });
});
