/**
 * Hardening harness — crash on PostgreSQL: the same campaign as crash.test.ts (a
 * ~10k-message batch imported by the real CLI, SIGKILL at random moments and at named fault points, restarted each
 * time) with each site on its own PostgreSQL schema, so the group mode with its transactions opened ahead, the
 * write-behind and the source leases are killed at random moments too. Compared by content (test/helpers/dump.ts):
 * PostgreSQL sequences keep the ids a killed transaction drew, so row ids may differ from the clean run's; every
 * row, every ACK byte (clock pinned), the archive and the inbox may not. CI: 10 kills; PAMDROP_HARDEN_PG_KILLS for more.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runCrash, type CrashStore } from '../../bench/harden.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds, makeTarget } from '../helpers/db.js';

const KILLS = Number(process.env.PAMDROP_HARDEN_PG_KILLS ?? 10);
const MESSAGES = Number(process.env.PAMDROP_HARDEN_MESSAGES ?? 10_000);
// Throws when PAMDROP_TEST_REQUIRE_PG=1 and no server is configured: CI never skips this suite silently.
const withPg = dbKinds().includes('pg');
const dir = mkdtempSync(join(tmpdir(), 'pamdrop-harden-crash-pg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Largest number of ledger rows seen in a snapshot: the comparison is not of two empty stores. */
let ledgerRows = 0;

/** A site's store: a fresh schema per site root, compared with dumpSite. */
function pgStore(): CrashStore {
  const targets = new Map<string, { target: string; dispose(): Promise<void> }>();
  const target = (root: string) => targets.get(root)!.target;
  return {
    database(root) {
      const t = makeTarget('pg');
      targets.set(root, t);
      return t.target;
    },
    async snapshot(s) {
      const dump = await dumpSite(s.root, target(s.root));
      ledgerRows = Math.max(ledgerRows, (dump.messages as unknown[]).length);
      const out: Record<string, Record<string, string>> = {};
      for (const [part, v] of Object.entries(dump)) {
        const m: Record<string, string> = {};
        if (Array.isArray(v)) v.forEach((row, i) => { m[`${part}#${i}`] = JSON.stringify(row); });
        else for (const [k, x] of Object.entries(v as Record<string, string>)) m[k] = createHash('sha256').update(x, 'latin1').digest('hex');
        out[part] = m;
      }
      return out;
    },
    async progress(s) {
      const url = new URL(target(s.root));
      const schema = url.searchParams.get('schema')!;
      url.searchParams.delete('schema');
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      try {
        const m = await c.query(`SELECT COUNT(*)::int AS n FROM "${schema}".messages`);
        const f = await c.query(`SELECT state FROM "${schema}".files ORDER BY id`);
        return { messages: m.rows[0].n as number, files: f.rows.map((r) => r.state as string).join(',') };
      } catch {
        return { messages: 0, files: 'store not migrated' };
      } finally {
        await c.end();
      }
    },
    async dispose(s) {
      await targets.get(s.root)?.dispose();
      targets.delete(s.root);
    },
  };
}

describe.skipIf(!withPg)('PostgreSQL: SIGKILL at random moments, restart each time', () => {
  it(`${KILLS} kills during a ${MESSAGES}-message import end as one clean run (by content)`, async () => {
    const c = await runCrash({ kills: KILLS, seed: Number(process.env.PAMDROP_HARDEN_SEED ?? 20261202), messages: MESSAGES, dir, store: pgStore(),
      log: (t) => console.info(`crash-pg: ${t}`) });
    console.info(`crash-pg: ${c.kills} kills survived (${c.timerKills} timer, ${c.faultKills} fault points) in ${c.rounds} rounds, ${c.seconds.toFixed(0)} s; `
      + `landed ${JSON.stringify(c.landed)}`);
    expect(c.failures).toEqual([]);
    expect(c.kills).toBe(KILLS);
    expect(c.timerKills).toBeGreaterThan(0);
    expect(ledgerRows).toBeGreaterThanOrEqual(MESSAGES);
  }, 120_000 + KILLS * 40_000);
});
