/**
 * Test program — whose fault (docs/behaviour.md "Exit codes"): the run reports a system fault apart from the data's, and
 * the command line maps it to 5.
 * - runOutcome (unit): accepted · rejected (AE/AR, quarantine) · system-fault (a file failed on I/O or the
 *   database), the system fault winning over the data's (the files after it were not started);
 * - `pamdrop import` on SQLite and PostgreSQL: a message refused → 1; the ACK folder unwritable (a file stands where
 *   the folder should be) → 5, the file left in the inbox, claimed, resumable; a quarantine and that in one run → 5.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOutcome, RunOutcome, type RunReport } from '../../src/pipeline/runner.js';
import { runExitCode } from '../../src/cli/exit-codes.js';
import { emptySummary } from '../../src/store/ledger.js';
import { dbKinds } from '../helpers/db.js';
import { makeWorkspace } from '../helpers/workspace.js';
import { patientMessage } from '../ops/helpers.js';

const report = (t: Partial<RunReport['totals']>): RunReport => ({ files: [], totals: { ...emptySummary(), files: 1, quarantined: 0, failed: 0, ...t } });

describe('runOutcome and its exit code', () => {
  it.each([
    ['every message accepted', {}, RunOutcome.Accepted, 0],
    ['an AE', { AE: 1 }, RunOutcome.Rejected, 1],
    ['an AR', { AR: 1 }, RunOutcome.Rejected, 1],
    ['a quarantined file', { quarantined: 1 }, RunOutcome.Rejected, 1],
    ['a file failed on I/O or the database', { failed: 1 }, RunOutcome.SystemFault, 5],
    ['both: the system fault wins', { AE: 2, quarantined: 1, failed: 1 }, RunOutcome.SystemFault, 5],
  ] as const)('%s → %s, exit %i', (_what, totals, outcome, code) => {
    expect(runOutcome(report(totals))).toBe(outcome);
    expect(runExitCode(report(totals))).toBe(code);
  });
});

describe.each(dbKinds())('pamdrop import: the data\'s fault is 1, the system\'s 5 (%s)', (kind) => {
  const good = patientMessage({ ctl: 'G1', time: '20250312101500', ipp: '100001' });
  const refused = patientMessage({ ctl: 'R1', time: '20250312101500', ipp: '100002' }).replace('ADT^A28^ADT_A05', 'ADT^A08^ADT_A01');

  it('a refused message (AR) → exit 1', async () => {
    const ws = await makeWorkspace(kind);
    try {
      ws.drop('a.hl7', refused);
      expect((await ws.importFiles('a.hl7')).code).toBe(1);
    } finally {
      await ws.cleanup();
    }
  });

  it('the ACK folder cannot be written → exit 5, the file stays in the inbox (claimed, resumes); with a quarantined file before it, still 5', async () => {
    const ws = await makeWorkspace(kind);
    try {
      const notAFolder = join(ws.root, 'outbox-file');
      writeFileSync(notAFolder, 'a file where the ACK folder should be');
      ws.drop('a.hl7', good);
      const imp = (...names: string[]) => ws.cli('import', ...names.map((n) => join(ws.inbox, n)), '--ack-dir', notAFolder, '--archive-dir', ws.archive, '--error-dir', ws.error, '--json');
      const r = await imp('a.hl7');
      expect(r.code, r.stdout + r.stderr).toBe(5);
      const rep = JSON.parse(r.stdout);
      expect(rep.files[0]).toMatchObject({ file: 'a.hl7', state: 'failed' });
      expect(rep.exitCode).toBe(5);
      expect(existsSync(join(ws.inbox, 'a.hl7'))).toBe(true);

      // The data's fault (a broken envelope: quarantined, no ACK to write) and the system's in one run: 5.
      ws.drop('0.hl7', `BHS|^~\\&|GAM|CHEX\r${good}BTS|2\r`);
      const both = await imp('0.hl7', 'a.hl7');
      expect(JSON.parse(both.stdout).files.map((f: { state: string }) => f.state)).toEqual(['quarantined', 'failed']);
      expect(both.code).toBe(5);
    } finally {
      await ws.cleanup();
    }
  });
});
