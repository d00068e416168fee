/**
 * Hardening harness — fuzz: seeded mutations of valid files (byte and bit flips, truncation, separator and
 * line-end swaps, huge fields, binary junk, wrong charsets, 10k–100k-segment messages, thousands of messages, empty
 * files, deep repetitions, duplicates, MSH-10 games, broken envelopes, MLLP bytes…) through the real pipeline
 * in-process (a worker thread watched for hangs), a handful through the spawned CLI. Every file must end archived
 * with one ACK per message or quarantined with a reason, within its time bound, and the store must never hold a
 * half-applied message (store invariants + differential replay). CI: 300 files; long run: `npm run harden -- --long`
 * (10,000), or PAMDROP_HARDEN_FUZZ_FILES here. See bench/harden-fuzz.ts.
 *
 * Also pins the bugs the fuzz found (see the last describe).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MUTATOR_NAMES, runFuzz, ackCode } from '../../bench/harden-fuzz.js';
import { makeSite, runCliFuzz, runImport } from '../../bench/harden.js';
import { ackFileName } from '../../src/pipeline/files.js';

const FILES = Number(process.env.PAMDROP_HARDEN_FUZZ_FILES ?? 300);
const CLI_FILES = Number(process.env.PAMDROP_HARDEN_CLI_FILES ?? 5);
const SEED = Number(process.env.PAMDROP_HARDEN_SEED ?? 20260301);
// Logic, not durability: on a RAM file system when there is one.
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'pamdrop-harden-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fuzz', () => {
  it(`${FILES} mutated files in-process: archived with one ACK per message or quarantined with a reason, never half-applied`, async () => {
    // The time bound catches a hang or a quadratic blow-up (minutes), not slowness: three times the harness's default,
    // so that a loaded CI machine (other test files run beside this one) does not fail it.
    const f = await runFuzz({ seed: SEED, files: FILES, dir: join(dir, 'in-process'), boundBaseMs: 30_000, boundPerMiBMs: 12_000 });
    console.info(`fuzz: ${f.files} files (${(f.bytes / (1 << 20)).toFixed(0)} MiB) in ${f.seconds.toFixed(0)} s: ${f.done} archived, ${f.quarantined} quarantined; `
      + `${f.messages} messages (${f.outcomes.AA} AA, ${f.outcomes.AE} AE, ${f.outcomes.AR} AR); slowest ${f.maxFileMs} ms (${f.maxFileName}); peak RSS ${f.peakRssMiB} MiB; `
      + `replayed ${f.replay?.messages} accepted messages`);
    expect(f.failures).toEqual([]);
    expect(f.storeProblems).toEqual([]);
    expect(f.replay?.problems).toEqual([]);
    expect(f.files).toBe(FILES);
    // The mix really happened: both outcomes, and (nearly) every mutator used.
    expect(f.done).toBeGreaterThan(0);
    expect(f.quarantined).toBeGreaterThan(0);
    expect(f.outcomes.AA * f.outcomes.AE * f.outcomes.AR).toBeGreaterThan(0);
    if (FILES >= 300) expect(Object.keys(f.byMutator).length).toBeGreaterThanOrEqual(MUTATOR_NAMES.length - 2);
  }, 120_000 + FILES * 500);

  it(`${CLI_FILES} mutated files through the spawned CLI: exit 0/1, no stack trace, one ACK per message`, async () => {
    const c = await runCliFuzz({ seed: SEED, files: CLI_FILES, dir: join(dir, 'cli') });
    expect(c.failures).toEqual([]);
    expect(Object.keys(c.exitCodes).every((k) => k === '0' || k === '1')).toBe(true);
  }, 60_000 + CLI_FILES * 10_000);
});

describe('bugs the fuzz found, pinned', () => {
  const MSH = (id: string) => `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101120000||ADT^A28^ADT_A05|${id}|P|2.5\rPID|1||${Math.abs(hash(id))}^^^CHEX^PI||DOE^J^^^^^L\r`;
  function hash(s: string) { let h = 7; for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0; return h; }

  it('MSH-10 `A.3`, then `A` twice: three messages, three ACK files (the `.<position>` name was already taken)', async () => {
    const used = new Set<string>();
    expect(['A.3', 'A', 'A'].map((id, i) => ackFileName('f.hl7', id, i, used))).toEqual(['f.A.3.ack.hl7', 'f.A.ack.hl7', 'f.A.3-2.ack.hl7']);
    const s = makeSite(join(dir, 'ack-names'), [{ name: 'f.hl7', bytes: Buffer.from(MSH('A.3') + MSH('A') + MSH('A'), 'latin1') }], {});
    const r = await runImport(s);
    expect(r.code, r.stderr).toBe(0); // the third is an exact resend of the second: a duplicate, its ACK replayed
    const acks = readdirSync(s.outbox).sort();
    expect(acks).toEqual(['f.A.3-2.ack.hl7', 'f.A.3.ack.hl7', 'f.A.ack.hl7']);
  }, 30_000);

  it('a file with no HL7 message (empty, binary, UTF-16) is quarantined with a reason, not archived as done without ACK; an empty batch is done', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(MSH('U1'), 'utf16le')]);
    const s = makeSite(join(dir, 'no-message'), [
      { name: 'a_empty.hl7', bytes: Buffer.alloc(0) },
      { name: 'b_utf16.hl7', bytes: utf16 },
      { name: 'c_junk.hl7', bytes: Buffer.from([0x00, 0x13, 0x37, 0x0d, 0x42, 0xff, 0xfe]) },
      { name: 'd_empty_batch.hl7', bytes: Buffer.from('FHS|^~\\&|GAM|CHEX\rBHS|^~\\&|GAM|CHEX\rBTS|0\rFTS|1\r') },
    ], {});
    const r = await runImport(s);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as { files: Array<{ file: string; state: string; reason: string | null }> };
    expect(rep.files.map((f) => [f.file, f.state])).toEqual([['a_empty.hl7', 'quarantined'], ['b_utf16.hl7', 'quarantined'], ['c_junk.hl7', 'quarantined'], ['d_empty_batch.hl7', 'done']]);
    expect(rep.files[0]!.reason).toBe('no HL7 message in the file (empty file)');
    expect(rep.files[1]!.reason).toMatch(/^no HL7 message in the file \(no MSH segment\): /);
    expect(readdirSync(s.outbox)).toEqual([]);
    expect(ackCode(Buffer.from('MSH|^~\\&\rMSA|AA|1\r'))).toBe('AA');
  }, 30_000);
});
