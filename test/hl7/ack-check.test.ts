/**
 * Test program — `validate --ack` (src/hl7/ack-check.ts, src/ops/ack-validate.ts): a well-formed ACK passes; each
 * fixture below breaks exactly one rule and is reported at exactly that place; the command's exit codes and the
 * echo checks with `--inbound`.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAck } from '../../src/hl7/ack.js';
import { Hl7Message } from '../../src/hl7/model.js';
import { checkAck, inboundHeader } from '../../src/hl7/ack-check.js';
import { main } from '../../src/cli/main.js';

const INBOUND = 'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312101500||ADT^A28^ADT_A05|GAM000101|P|2.5^FRA^2.11|||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM\rEVN||20250312101500\rPID|1||100234^^^CHEX^PI||CASANOVA^MARIE^^^^^L\r';
/** What pamdrop writes for INBOUND with one warning (hl7/ack.ts). */
const GOOD = buildAck({
  inbound: Hl7Message.parse(INBOUND), code: 'AA', controlId: 'PD0001', now: new Date(2025, 2, 12, 10, 15, 1),
  findings: [{ code: 101, severity: 'W', location: { segment: 'PID', field: 11 }, text: 'birthplace code missing' }],
});
const AE = GOOD.replace('MSA|AA|', 'MSA|AE|').replace('|W|', '|E|');

/** Replaces one segment line (by its start) of GOOD. */
const swap = (from: string, to: string, base = GOOD) => {
  if (!base.includes(from)) throw new Error(`fixture: ${from} not in the ACK`);
  return base.replace(from, to);
};

/** One irregularity each: [what, ACK text, expected location]. */
const FIXTURES: Array<[string, string, string]> = [
  ['not starting with MSH', `\r${GOOD}`, 'ACK'],
  ['MSH-2 repeated separator', swap('MSH|^~\\&|', 'MSH|^^\\&|'), 'MSH-2'],
  ['segments ended by LF', GOOD.replace('\rMSA', '\nMSA'), 'ACK'],
  ['last segment without CR', GOOD.slice(0, -1), 'ACK'],
  ['control character in a field', swap('|PD0001|', '|PD\x000001|'), 'segment 1'],
  ['MSH-7 not a timestamp', swap('|20250312101501|', '|2025-03-12|'), 'MSH-7'],
  ['MSH-9 not ACK^<event>^ACK', swap('|ACK^A28^ACK|', '|ACK^A28|'), 'MSH-9'],
  ['MSH-10 missing', swap('|PD0001|', '||'), 'MSH-10'],
  ['MSH-11 missing', swap('|PD0001|P|', '|PD0001||'), 'MSH-11'],
  ['MSH-12 not 2.x', swap('|2.5^FRA^2.11|', '|3.0|'), 'MSH-12'],
  ['MSA missing', GOOD.replace(/MSA\|[^\r]*\r/, ''), 'MSA'],
  ['MSA-1 enhanced mode', swap('MSA|AA|', 'MSA|CA|'), 'MSA-1'],
  ['MSA-2 missing', swap('MSA|AA|GAM000101', 'MSA|AA'), 'MSA-2'],
  ['a segment that has no place in an ACK', `${GOOD}PID|1\r`, 'segment 4'],
  ['ERR-1 (pre-2.5 form) used', swap('ERR||PID^1^11', 'ERR|PID^1^11|PID^1^11'), 'ERR-1'],
  ['ERR-2 not an ERL', swap('ERR||PID^1^11', 'ERR||PID^one^11'), 'ERR-2'],
  ['ERR-3 code not in table 0357', swap('|101^Required field missing^HL70357|', '|999^Required field missing^HL70357|'), 'ERR-3'],
  ['ERR-3 text not the code\'s', swap('|101^Required field missing^HL70357|', '|101^Missing^HL70357|'), 'ERR-3'],
  ['ERR-3 coding system', swap('^HL70357|', '^HL70358|'), 'ERR-3'],
  ['ERR-4 severity', swap('^HL70357|W|', '^HL70357|X|'), 'ERR-4'],
  ['AE without an ERR of severity E', swap('MSA|AA|', 'MSA|AE|'), 'ERR'],
  ['AA with an ERR of severity E', swap('^HL70357|W|', '^HL70357|E|'), 'ERR'],
];

/** Echo fixtures, checked against INBOUND. */
const ECHO: Array<[string, string, string]> = [
  ['MSH-3/MSH-5 not swapped', swap('MSH|^~\\&|TLSV|EDITEUR|GAM|', 'MSH|^~\\&|TLSV|EDITEUR|GAMX|'), 'MSH-5'],
  ['MSH-9.2 another event', swap('|ACK^A28^ACK|', '|ACK^A31^ACK|'), 'MSH-9'],
  ['MSH-12 not echoed', swap('|2.5^FRA^2.11|', '|2.5|'), 'MSH-12'],
  ['MSH-18 not echoed', swap('|8859/15', '|UNICODE UTF-8'), 'MSH-18'],
  ['MSA-2 another control id', swap('MSA|AA|GAM000101', 'MSA|AA|GAM000102'), 'MSA-2'],
];

describe('ACK structure check', () => {
  it('what pamdrop writes passes, with and without its inbound message', () => {
    expect(checkAck(GOOD).problems).toEqual([]);
    expect(checkAck(GOOD, inboundHeader(INBOUND)).problems).toEqual([]);
    expect(checkAck(AE, inboundHeader(INBOUND)).problems).toEqual([]);
    expect(checkAck(GOOD)).toMatchObject({ code: 'AA', inboundControlId: 'GAM000101', controlId: 'PD0001', errors: 1 });
  });

  it.each(FIXTURES)('%s: one irregularity, at its place', (_what, ack, location) => {
    expect(checkAck(ack).problems.map((p) => p.location)).toEqual([location]);
  });

  it.each(ECHO)('with the inbound known, %s: one irregularity, at its place', (_what, ack, location) => {
    expect(checkAck(ack).problems).toEqual([]);
    expect(checkAck(ack, inboundHeader(INBOUND)).problems.map((p) => p.location)).toEqual([location]);
  });
});

describe('pamdrop validate --ack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pamdrop-ack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, Buffer.from(text, 'latin1')); return p; };
  const cli = async (...args: string[]) => {
    let stdout = '', stderr = '';
    const code = await main([...args, '--log-level', 'silent'], (t) => { stdout += t; }, (t) => { stderr += t; });
    return { code, stdout, stderr };
  };

  it('exit 0 for well-formed ACKs, 1 with the irregularity named, 2 for a missing file', async () => {
    const good = file('good.ack.hl7', GOOD);
    const bad = file('bad.ack.hl7', FIXTURES.find((f) => f[0] === 'MSA-1 enhanced mode')![1]);
    const ok = await cli('validate', '--ack', good);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('good.ack.hl7: ACK AA for GAM000101 — well formed');
    const ko = await cli('validate', '--ack', good, bad);
    expect(ko.code).toBe(1);
    expect(ko.stdout).toMatch(/bad\.ack\.hl7: ACK CA for GAM000101 — 1 irregularity\n {2}E MSA-1: must be AA, AE or AR/);
    expect((await cli('validate', '--ack', join(dir, 'none.hl7'))).code).toBe(2);
    expect((await cli('validate', '--inbound', good, good)).code).toBe(2);
  });

  it('--inbound: the echoed fields are checked against the message with that MSH-10; --json', async () => {
    const inbound = file('in.hl7', INBOUND);
    const wrong = file('wrong-echo.ack.hl7', ECHO.find((f) => f[0] === 'MSH-12 not echoed')![1]);
    expect((await cli('validate', '--ack', wrong)).code).toBe(0);
    const r = await cli('validate', '--ack', wrong, '--inbound', inbound, '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.acks[0]).toMatchObject({ code: 'AA', inboundControlId: 'GAM000101', inboundKnown: true, problems: [{ location: 'MSH-12' }] });
    expect(report).toMatchObject({ irregular: 1, exitCode: 1 });
  });

  it('one ACK per file: two messages in one ACK file are an irregularity', async () => {
    const two = file('two.ack.hl7', GOOD + GOOD);
    const r = await cli('validate', '--ack', two);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('2 messages in one ACK file');
  });
});
