/**
 * Test program — every framing / charset fixture of test/fixtures/hl7 (one irregularity each, README.md there)
 * through `pamdrop import`. A fixture carrying the §8.6 messages must end in the same
 * store and the same ACKs (MSA/ERR) as `envelope.hl7`, the §8.6 batch verbatim; one carrying §8.1 as
 * `one-message.hl7`; the two §8.7 encodings give the same accented record; a broken envelope quarantines the
 * whole file. The table must name every file of the fixture folder, so a new fixture cannot go untested here.
 * The §8 examples use the test INS authority: the site accepts it (`acceptTestIns`).
 * Everything runs on SQLite and, when PAMDROP_TEST_PG_URL is set, on PostgreSQL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { A28_8859_15, A28_CREATE } from '../fixtures/examples.js';
import { BATCH_MESSAGES, FIXTURE_DIR } from '../fixtures/make-fixtures.js';
import { dbKinds } from '../helpers/db.js';
import { ackSegments, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { expectAck } from '../helpers/messages.js';

const CONFIG = { pam: { acceptTestIns: true } };

type Expect =
  /** The §8.6 messages: GAM000201..203, as envelope.hl7. */
  | { kind: 'batch' }
  /** §8.1 alone (GAM000101), as one-message.hl7; `msh18` the charset the ACK echoes. */
  | { kind: 'a28'; msh18: string }
  /** §8.7 (GAM000108), decoded with its accents. */
  | { kind: 'accents'; msh18: string }
  | { kind: 'quarantine'; reason: RegExp }
  /** A public-sample shape: its outcome (ACK, store) is a rule of the contract, asserted in decisions.test.ts. */
  | { kind: 'outcome' };

/** One row per fixture file: what the pipeline must make of it. */
const TABLE: Record<string, Expect> = {
  'envelope.hl7': { kind: 'batch' },
  'bare.hl7': { kind: 'batch' },
  'mllp.hl7': { kind: 'batch' },
  'lf.hl7': { kind: 'batch' },
  'crlf.hl7': { kind: 'batch' },
  'mixed-eol.hl7': { kind: 'batch' },
  'blank-lines.hl7': { kind: 'batch' },
  'one-message.hl7': { kind: 'a28', msh18: '8859/15' },
  'bom.hl7': { kind: 'a28', msh18: 'UNICODE UTF-8' },
  'trailing-junk.hl7': { kind: 'a28', msh18: '8859/15' },
  'leading-junk.hl7': { kind: 'a28', msh18: '8859/15' },
  'latin9.hl7': { kind: 'accents', msh18: '8859/15' },
  'utf8.hl7': { kind: 'accents', msh18: 'UNICODE UTF-8' },
  'truncated-envelope.hl7': { kind: 'quarantine', reason: /has no BTS.*has no FTS/ },
  'wrong-bts-count.hl7': { kind: 'quarantine', reason: /BTS-1 says 2 messages, batch has 3/ },
  // Checked on their own below: different records from the others.
  'custom-separators.hl7': { kind: 'a28', msh18: '8859/15' },
  'escapes.hl7': { kind: 'a28', msh18: '8859/15' },
  // Public-sample shapes: decisions.test.ts, "public sample shapes".
  'separators-5.hl7': { kind: 'outcome' },
  'prov-fict.hl7': { kind: 'outcome' },
  'a40-two-mrg.hl7': { kind: 'outcome' },
  'latin1-cp1252.hl7': { kind: 'outcome' },
  'pamfr-4-4-1.hl7': { kind: 'outcome' },
  'pamfr-4-4-3.hl7': { kind: 'outcome' },
  'pamfr-4-4-4.hl7': { kind: 'outcome' },
};

/** A record without the wall-clock parts (history recordedAt). */
const stable = (p: any) => ({ ...p, history: p.history.map(({ recordedAt: _r, ...h }: any) => h) });
/** What the ACKs say (MSA + ERR), by inbound control id; MSH-7 / MSH-10 vary with time and ledger ids. */
const ackContent = (ws: Workspace) => new Map([...ws.acks().values()].map((a) => [ackSegments(a)[1]![2], ackSegments(a).slice(1)]));

async function importFixture(kind: Parameters<typeof makeWorkspace>[0], name: string) {
  const ws = await makeWorkspace(kind, { config: CONFIG });
  ws.drop(name, readFileSync(join(FIXTURE_DIR, name)));
  const run = await ws.importFiles(name);
  return { ws, run, report: JSON.parse(run.stdout) };
}

it('the table covers every fixture file', () => {
  expect(readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.hl7')).sort()).toEqual(Object.keys(TABLE).sort());
});

describe.each(dbKinds())('fixtures through import on %s', (kind) => {
  // References: the canonical form of each group, imported once.
  let refBatch: { patients: unknown[]; acks: Map<unknown, unknown> };
  let refA28: unknown[];
  let refAccents: unknown[];
  beforeAll(async () => {
    const refs = await Promise.all(['envelope.hl7', 'one-message.hl7', 'latin9.hl7'].map((n) => importFixture(kind, n)));
    refBatch = { patients: (await refs[0]!.ws.patients()).map(stable), acks: ackContent(refs[0]!.ws) };
    refA28 = (await refs[1]!.ws.patients()).map(stable);
    refAccents = (await refs[2]!.ws.patients()).map(stable);
    for (const r of refs) await r.ws.cleanup();
  });

  it('envelope.hl7 (the reference): 3 messages AA, 100300 qualified, 100301 its retired alias', () => {
    expect(refBatch.patients).toMatchObject([
      { identifiers: [{ value: '100300' }], qualified: true, birthName: 'MOREL', birthGivenNames: 'CLAIRE SOPHIE', birthPlace: '31555' },
      { identifiers: [{ value: '100301' }], active: false, mergedInto: { value: '100300' } },
    ]);
    expect([...refBatch.acks.keys()]).toEqual(['GAM000201', 'GAM000202', 'GAM000203']);
  });

  it('one-message.hl7 (the reference): §8.1 stored', () => {
    expect(refA28).toMatchObject([{ identifiers: [{ value: '100234' }], qualified: true, birthName: 'CASANOVA', birthPlace: '2A004' }]);
  });

  it('latin9.hl7 (the reference): Œ and Ÿ decoded from 0xBC / 0xBE, È É from 0xC8 / 0xC9', () => {
    expect(refAccents).toMatchObject([{
      usedName: 'LEFÈVRE', usedFirstName: 'HÉLÈNE',
      addresses: { H: { street: '3 RUE DU CŒUR VOLANT', city: "L'HAŸ-LES-ROSES" } },
    }]);
  });

  const rows = Object.entries(TABLE).filter(([n, want]) => !['custom-separators.hl7', 'escapes.hl7'].includes(n) && want.kind !== 'outcome');
  it.concurrent.each(rows)('%s', async (name, want) => {
    const { ws, run, report } = await importFixture(kind, name);
    try {
      const base = name.replace(/\.hl7$/, '');
      const file = report.files[0];
      if (want.kind === 'outcome') return; // filtered out above
      if (want.kind === 'quarantine') {
        expect(run.code).toBe(1);
        expect(file).toMatchObject({ state: 'quarantined', reason: expect.stringMatching(want.reason) });
        expect(ws.quarantined()).toEqual([name, `${name}.reason.txt`]);
        expect(readFileSync(join(ws.error, `${name}.reason.txt`), 'utf8')).toMatch(want.reason);
        expect(ws.acks().size).toBe(0);
        expect(await ws.patients()).toEqual([]);
        return;
      }
      expect(run.code, run.stdout).toBe(0);
      expect(file.state).toBe('done');
      expect(ws.archived()).toEqual([expect.stringMatching(new RegExp(`^\\d{4}/\\d{2}/\\d{2}/${name.replace('.', '\\.')}$`))]);
      const patients = (await ws.patients()).map(stable);
      if (want.kind === 'batch') {
        expect(file.summary).toEqual({ messages: 3, AA: 3, AE: 0, AR: 0, duplicates: 0, stale: 0 });
        expect([...ws.acks().keys()]).toEqual([`${base}.GAM000201.ack.hl7`, `${base}.GAM000202.ack.hl7`, `${base}.GAM000203.ack.hl7`]);
        for (const [i, m] of BATCH_MESSAGES.entries()) {
          // Message 3 (A40) sends no PID-11: its INS is not integrated without the birthplace code (W 101).
          expectAck(ws.acks().get(`${base}.GAM00020${i + 1}.ack.hl7`), m,
            { code: 'AA', errors: i === 2 ? [['PID^1^11', 101, 'W'], ['MRG^1^1', 204, 'W']] : [] });
        }
        expect(ackContent(ws)).toEqual(refBatch.acks);
        expect(patients).toEqual(refBatch.patients);
      } else {
        const ctl = want.kind === 'a28' ? 'GAM000101' : 'GAM000108';
        const source = want.kind === 'a28' ? A28_CREATE : A28_8859_15;
        expect(file.summary).toEqual({ messages: 1, AA: 1, AE: 0, AR: 0, duplicates: 0, stale: 0 });
        expect([...ws.acks().keys()]).toEqual([`${base}.${ctl}.ack.hl7`]);
        const ack = ws.acks().get(`${base}.${ctl}.ack.hl7`)!;
        expectAck(ack, source.replace('|8859/15|', `|${want.msh18}|`), { code: 'AA' });
        expect(ack.subarray(0, 4).toString('latin1'), 'no BOM or MLLP byte in the ACK').toBe('MSH|');
        expect(patients).toEqual(want.kind === 'a28' ? refA28 : refAccents);
      }
    } finally {
      await ws.cleanup();
    }
  });

  // Regression: PID-13 was stored as raw ER7 in the sender's separators (`$PRN$CP$…`), so the same phone differed
  // by feed; it is now stored with the standard `^`/`&` whatever MSH-2 declares (src/pam/extract.ts readPhones).
  it.concurrent('custom-separators.hl7: read with its own separators (#$*\\@), same record as §8.1; the ACK uses them', async () => {
    const { ws, run } = await importFixture(kind, 'custom-separators.hl7');
    try {
      expect(run.code).toBe(0);
      expect((await ws.patients()).map(stable)).toEqual(refA28);
      const ack = ws.acks().get('custom-separators.GAM000101.ack.hl7')!.toString('latin1');
      const [msh, msa] = ack.split('\r');
      expect(msh!.startsWith('MSH#$*\\@#TLSV#EDITEUR#GAM#CHEX#')).toBe(true);
      expect(msh!.split('#')[8]).toBe('ACK$A28$ACK');
      expect(msh!.split('#')[11]).toBe('2.5$FRA$2.11');
      expect(msa).toBe('MSA#AA#GAM000101');
    } finally {
      await ws.cleanup();
    }
  });

  it.concurrent('escapes.hl7: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\X41\\ unescaped in the stored values', async () => {
    const { ws, run } = await importFixture(kind, 'escapes.hl7');
    try {
      expect(run.code).toBe(0);
      expectAck(ws.acks().get('escapes.GAM000101.ack.hl7'), A28_CREATE, { code: 'AA' });
      const p = await ws.patient('100234');
      expect(p).toMatchObject({ usedName: 'DANTONI', birthName: 'CASANOVA', qualified: true });
      expect(p.addresses.H).toMatchObject({ street: '12 COURS NAPOLEON | BAT B^ESC 2', other: 'RESIDENCE A&B \\ ~ 3', city: 'AJACCIO' });
    } finally {
      await ws.cleanup();
    }
  });
});
