/**
 * Hardening suite — a control character in every field (bench/harden-controls.ts): on SQLite and, with
 * PAMDROP_TEST_PG_URL, PostgreSQL, which must answer every message alike. A few seeds at the CI size
 * (`PAMDROP_HARDEN_CONTROLS_SEEDS` for more); `npm run harden -- controls` prints the figures.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runControls } from '../../bench/harden-controls.js';

const dir = mkdtempSync(join(tmpdir(), 'pamdrop-controls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEED = Number(process.env.PAMDROP_HARDEN_SEED ?? 20260301);
const SEEDS = Number(process.env.PAMDROP_HARDEN_CONTROLS_SEEDS ?? 3);

describe('control characters in every field', () => {
  it.each(Array.from({ length: SEEDS }, (_, k) => SEED + k))('seed %i: every mutated message refused, valid ones applied, stores alike', async (seed) => {
    const r = await runControls({ seed, dir: join(dir, String(seed)), pgUrl: process.env.PAMDROP_TEST_PG_URL ?? null });
    expect(r.problems).toEqual([]);
    expect(r.mutated).toBeGreaterThan(60);
  }, 120_000);
});
