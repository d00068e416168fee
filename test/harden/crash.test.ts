/**
 * Hardening harness — crash: a ~10k-message batch (4 files: envelope, AE/AR mix, a quarantined file,
 * resends and same-key conflicts) imported with the real CLI, killed with SIGKILL at random moments (a timer,
 * child.kill('SIGKILL') after a random delay; about one kill in five at a named PAMDROP_FAULT point instead), restarted
 * each time. After each round's uninterrupted last run, every table, every ACK byte (clock pinned), the archive and
 * the inbox equal one clean run's. CI: 10 kills. Long run: `npm run harden -- --long` (100 kills), or
 * PAMDROP_HARDEN_KILLS=100 here. See bench/harden.ts.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrash } from '../../bench/harden.js';

const KILLS = Number(process.env.PAMDROP_HARDEN_KILLS ?? 10);
const MESSAGES = Number(process.env.PAMDROP_HARDEN_MESSAGES ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'pamdrop-harden-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SIGKILL at random moments, restart each time', () => {
  it(`${KILLS} kills during a ${MESSAGES}-message import end as one clean run`, async () => {
    const c = await runCrash({ kills: KILLS, seed: Number(process.env.PAMDROP_HARDEN_SEED ?? 20260301), messages: MESSAGES, dir, log: (t) => console.info(`crash: ${t}`) });
    console.info(`crash: ${c.kills} kills survived (${c.timerKills} timer, ${c.faultKills} fault points) in ${c.rounds} rounds, ${c.seconds.toFixed(0)} s; `
      + `landed ${JSON.stringify(c.landed)}`);
    expect(c.failures).toEqual([]);
    expect(c.kills).toBe(KILLS);
    expect(c.timerKills).toBeGreaterThan(0);
  }, 60_000 + KILLS * 30_000);
});
