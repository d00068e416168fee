/**
 * Test program — crash consistency of `pamdrop run` over a local inbox: the process is killed with
 * SIGKILL at named points of a file (PAMDROP_FAULT=point:n), then `run` is started again. Store (every
 * table), ACK folder (bytes), archive and inbox must end exactly as after one clean run. The clock is pinned
 * (PAMDROP_FIXED_TIME) so that ACK timestamps compare. Two files: a 450-message batch and a broken envelope
 * (quarantined), so both the archive and the quarantine paths are crossed. A done-marker variant checks that
 * markers are removed after a crash too. Runs on SQLite and PostgreSQL (the dump compares content, not
 * row ids). On PostgreSQL `run` works under the source lease and its fence, so this also crosses a lease left
 * behind by the killed process (taken over at once: its pid is dead on this host).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dumpSite } from '../helpers/dump.js';
import { dbKinds, type DbKind } from '../helpers/db.js';
import { cli, files, makeSite, type Site } from './site.js';

const FIXED = '2026-03-01T10:00:00.000Z';
const env = { PAMDROP_FIXED_TIME: FIXED };
let work: string;
let batch: string;
let broken: string;
const sites: Site[] = [];

function site(kind: DbKind, marker: boolean): Site {
  const s = makeSite({ db: kind, groupSize: 100, source: { stableMs: 0, ...(marker ? { doneMarker: '.ok' } : {}) } });
  sites.push(s);
  copyFileSync(batch, join(s.inbox, 'adt_001.hl7'));
  copyFileSync(broken, join(s.inbox, 'adt_002.hl7'));
  if (marker) { writeFileSync(join(s.inbox, 'adt_001.hl7.ok'), ''); writeFileSync(join(s.inbox, 'adt_002.hl7.ok'), ''); }
  return s;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pamdrop-intake-crash-'));
  batch = join(work, 'batch.hl7');
  await generateFile(batch, { messages: 450, seed: 7, envelope: false });
  broken = join(work, 'broken.hl7');
  writeFileSync(broken, 'BHS|^~\\&|GAM|CHEX\rMSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101||ADT^A28^ADT_A05|X1|P|2.5\rPID|1||9^^^CHEX&1.2.3&ISO^PI\rBTS|2\r');
}, 120_000);

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  for (const s of sites) await s.cleanup();
});

describe.each(dbKinds())('SIGKILL during `run`, then run again (%s)', (kind) => {
  const clean: Record<string, Record<string, unknown>> = {};
  beforeAll(async () => {
    for (const marker of [false, true]) {
      const s = site(kind, marker);
      const r = cli(s, ['run'], env);
      expect(r.status, r.stderr).toBe(1); // the quarantined file makes the run exit 1
      clean[String(marker)] = await dumpSite(s.root, s.db);
    }
  }, 120_000);

  // PostgreSQL runs a reduced set (CI time): one point per step of the file's life, both files, a marker. Every step
  // is crossed on PostgreSQL by test/pipeline/crash.test.ts; what this adds is `run` under a lease left by the killed process.
  const PG = new Set(['after-claim:1/false', 'after-commit:3/false', 'after-acks:5/false', 'after-archive-mark:1/false',
    'before-quarantine-move:1/false', 'after-claim:2/false', 'after-acks:5/true']);
  it.each(([
    ['after-claim:1', false], ['after-commit:1', false], ['after-commit:3', false], ['after-acks:2', false], ['after-acks:5', false],
    ['before-archive:1', false], ['after-archive-mark:1', false], ['before-quarantine-move:1', false], ['after-claim:2', false],
    ['after-acks:5', true], ['after-archive-mark:1', true], ['before-quarantine-move:1', true],
  ] as const).filter(([f, m]) => kind === 'sqlite' || PG.has(`${f}/${m}`)))('%s (done marker: %s) ends as one clean run', async (fault, marker) => {
    const s = site(kind, marker);
    const killed = cli(s, ['run'], { ...env, PAMDROP_FAULT: fault });
    expect(killed.signal).toBe('SIGKILL');
    const rerun = cli(s, ['run'], env);
    expect(rerun.status, rerun.stderr).toBe(1);
    expect(await dumpSite(s.root, s.db)).toEqual(clean[String(marker)]);
    expect(files(s.inbox)).toEqual([]);
  }, 60_000);

  it('the clean run really applied, acknowledged, archived and quarantined', () => {
    const c = clean['false']!;
    expect(Object.keys(c.outbox as object)).toHaveLength(450);
    expect(Object.keys(c.archive as object)).toEqual(['archive/2026/03/01/adt_001.hl7', 'archive/error/adt_002.hl7', 'archive/error/adt_002.hl7.reason.txt']);
    expect((c.messages as unknown[]).length).toBe(450);
    expect(c.inbox).toEqual({});
    expect(clean['true']!.inbox).toEqual({}); // markers removed
  });
});
