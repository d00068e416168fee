/**
 * Test program — `pamdrop scenarios run`: the PAM FR §4.4 consumer scenarios pass every step on SQLite (the default
 * sandbox, inside --out) and on PostgreSQL (`--store`), with the bundle written (index.html and one page per step);
 * a second run with the same run tag on the same store fails its steps (exit 1, FAIL in the index), so a step check
 * can fail; `--via mllp` (an in-process listener, a real MLLP connection) passes every step with the ACK received equal
 * to the ledger's; an unknown --via and a non-empty --out are usage errors. The bundle in a browser: scenarios-browser.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dbKinds, makeTarget, type DbKind } from '../helpers/db.js';
import { main } from '../../src/cli/main.js';

const STEPS = ['01-create-prov', '02-qualify', '03-modify-traits', '04-ins-deletion', '05-requalify', '06-downgrade', '07-nia', '08-nia-to-nir',
  '09-merge-survivor', '10-merge-duplicate', '11-merge'];

async function cli(...args: string[]) {
  let stdout = '', stderr = '';
  const code = await main([...args, '--log-level', 'silent'], (t) => { stdout += t; }, (t) => { stderr += t; });
  return { code, stdout, stderr };
}

/** A temporary folder, the store's --store arguments (PostgreSQL: a fresh target) and a pinned clock around `fn`. */
async function onScenarioSite(kind: DbKind, fn: (site: { root: string; pg: ReturnType<typeof makeTarget> | null; store: string[] }) => Promise<void>) {
  const root = mkdtempSync(join(tmpdir(), 'pamdrop-scenarios-'));
  const pg = kind === 'pg' ? makeTarget('pg') : null;
  const fixed = process.env.PAMDROP_FIXED_TIME;
  process.env.PAMDROP_FIXED_TIME = '2026-06-01T08:00:00.000Z';
  try {
    await fn({ root, pg, store: pg ? ['--store', pg.target] : [] });
  } finally {
    if (fixed === undefined) delete process.env.PAMDROP_FIXED_TIME;
    else process.env.PAMDROP_FIXED_TIME = fixed;
    await pg?.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

describe.each(dbKinds())('pamdrop scenarios run (%s)', (kind) => {
  it('every step passes, the bundle is written; the same run again on the same store fails (exit 1)', async () => {
    await onScenarioSite(kind, async ({ root, pg, store }) => {
      const out = join(root, 'bundle');
      const r = await cli('scenarios', 'run', '--out', out, ...store, '--json');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stderr).toMatch(/fictitious identities/);
      const report = JSON.parse(r.stdout);
      expect(report.steps.map((s: any) => [s.id, s.ok, s.ack, s.failed])).toEqual(STEPS.map((id) => [id, true, 'AA', []]));
      expect(readdirSync(out).filter((f) => f.endsWith('.html')).sort()).toEqual(['index.html', ...STEPS.map((s) => `step-${s}.html`)]);
      // SQLite: the sandbox store lives in the bundle folder; PostgreSQL: the store named by --store.
      expect(existsSync(join(out, 'sandbox', 'pamdrop.sqlite'))).toBe(kind === 'sqlite');
      const index = readFileSync(join(out, 'index.html'), 'utf8');
      expect(index).toContain('11 of 11 steps passed.');
      expect(index.match(/<span class="badge ok">PASS<\/span><\/td><\/tr>/g)).toHaveLength(11);
      const step4 = readFileSync(join(out, 'step-04-ins-deletion.html'), 'utf8');
      expect(step4).toMatch(/<td>history rows still holding the deleted INS<\/td><td class="mono">0<\/td><td class="mono">0<\/td><td><span class="badge ok">PASS/);
      expect(step4).toContain('[INS supprimé]');

      // The same run tag (pinned clock) on the same store (--store): every control id is a duplicate and the records
      // are in their final state, so the early steps' expectations fail.
      const again = await cli('scenarios', 'run', '--out', join(root, 'again'), '--store', pg ? pg.target : join(out, 'sandbox', 'pamdrop.sqlite'));
      expect(again.code).toBe(1);
      expect(again.stdout).toMatch(/^FAIL 02-qualify \(§4\.4\.1\) AA\n {2}PID-32 status stored: expected "VALI", got "PROV"/m);
      expect(readFileSync(join(root, 'again', 'index.html'), 'utf8')).toContain('<span class="badge bad">FAIL</span>');
    });
  }, 120_000);
});

describe.each(dbKinds())('pamdrop scenarios run --via mllp (%s)', (kind) => {
  it('every step passes over a real MLLP connection, the ACK received equal to the ledger\'s; the pages show the message received', async () => {
    await onScenarioSite(kind, async ({ root, pg, store }) => {
      const out = join(root, 'bundle');
      const r = await cli('scenarios', 'run', '--via', 'mllp', '--out', out, ...store, '--json');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.steps.map((s: any) => [s.id, s.ok, s.ack, s.failed])).toEqual(STEPS.map((id) => [id, true, 'AA', []]));
      const index = readFileSync(join(out, 'index.html'), 'utf8');
      expect(index).toContain('11 of 11 steps passed.');
      expect(index).toContain('messages sent over MLLP');
      const step1 = readFileSync(join(out, 'step-01-create-prov.html'), 'utf8');
      expect(step1).toMatch(/<td>ACK received over MLLP, identical to the ledger<\/td><td class="mono">true<\/td><td class="mono">true<\/td><td><span class="badge ok">PASS/);
      expect(step1).toMatch(/<dt>Transport<\/dt><dd>MLLP<\/dd>/);
      expect(step1).toContain("bytes identical to the ledger's record");
      // No ACK file: the ACK went back on the connection.
      expect(existsSync(join(out, 'sandbox', 'outbox')) ? readdirSync(join(out, 'sandbox', 'outbox')) : []).toEqual([]);

      // The same run tag again on the same store: duplicates, the early steps' expectations fail (the checks can fail).
      const again = await cli('scenarios', 'run', '--via', 'mllp', '--out', join(root, 'again'), '--store', pg ? pg.target : join(out, 'sandbox', 'pamdrop.sqlite'));
      expect(again.code).toBe(1);
      expect(again.stdout).toMatch(/^FAIL 02-qualify \(§4\.4\.1\) AA\n {2}PID-32 status stored: expected "VALI", got "PROV"/m);
    });
  }, 120_000);
});

describe('pamdrop scenarios run: usage', () => {
  it('an unknown --via and a non-empty --out are refused; nothing written', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pamdrop-scenarios-'));
    try {
      const bad = await cli('scenarios', 'run', '--via', 'sftp', '--out', join(root, 'm'));
      expect(bad.code).toBe(2);
      expect(existsSync(join(root, 'm'))).toBe(false);
      mkdirSync(join(root, 'full'));
      writeFileSync(join(root, 'full', 'keep.txt'), 'x');
      const full = await cli('scenarios', 'run', '--out', join(root, 'full'));
      expect(full.code).toBe(2);
      expect(readdirSync(join(root, 'full'))).toEqual(['keep.txt']);
      expect((await cli('scenarios', 'run')).code).toBe(2);
      expect((await cli('scenarios', 'replay', '--out', join(root, 'r'))).code).toBe(2);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
