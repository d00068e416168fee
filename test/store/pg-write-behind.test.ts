/**
 * The PostgreSQL unit of work's write-behind (src/store/pg/write-behind.ts) against a scripted connection: the order of round trips and answers
 * is chosen by the test, so the races that a real server shows one time in ten are reproduced every time.
 */
import { describe, it, expect } from 'vitest';
import { WriteBehind, GroupFailed } from '../../src/store/pg/write-behind.js';
import type { Write } from '../../src/store/sql/writes.js';

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
const write = (i: number): Write => ({ table: 'history', sql: INSERT, params: [i, `C${i}`] });
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('unit of work write-behind', () => {
  async function twoBatches() {
    const { conn, calls } = scriptedConnection();
    const wb = new WriteBehind(conn as unknown as ConstructorParameters<typeof WriteBehind>[0]);
    // 100 writes: sent at once (the connection is free); 150 more while that batch is in flight: queued.
    for (let i = 0; i < 250; i++) await wb.push(write(i));
    expect(calls).toHaveLength(1);
    let finished = false;
    // The end of a group (group.ts): the RELEASE queued last, then everything sent and answered.
    wb.pushControl('RELEASE SAVEPOINT pamdrop_grp1');
    const finish = wb.sync().then(() => { finished = true; });
    finish.catch(() => {});
    // The first batch's answer sends the buffered writes and the RELEASE at once (eager write-behind).
    calls[0]!.resolve();
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.text).toMatch(/RELEASE SAVEPOINT pamdrop_grp\d+$/);
    await tick();
    return { calls, finish, finished: () => finished };
  }

  it('the end of the group waits for the last batch that the previous answer sent', async () => {
    const { calls, finish, finished } = await twoBatches();
    expect(finished()).toBe(false); // the group must not be committed while its last writes are unanswered
    calls[1]!.resolve();
    await finish;
    expect(finished()).toBe(true);
  });

  it('a failure in that last batch fails the group: it is redone, never committed as if applied', async () => {
    const { calls, finish } = await twoBatches();
    calls[1]!.reject(new Error('insert or update on table "identifiers" violates foreign key constraint'));
    await expect(finish).rejects.toThrow(GroupFailed);
  });
});
