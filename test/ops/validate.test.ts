/**
 * Test program — `pamdrop validate <file>…`: offline PAM FR conformance, no database.
 * - a conformant file (production INS, 2.5^FRA^2.11, MSH-21 profile, EVN, PV1-2 = N, qualified traits) is clean:
 *   exit 0, no finding, and no database is created or opened;
 * - one planted problem per row (test.each): each gives its finding with severity, 0357 code and location, and
 *   errors make the exit code 1 while warnings do not;
 * - file-level problems: broken envelope (the importer would quarantine), junk lines, no message at all;
 * - `--json` carries per message what the importer would answer offline.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { json, nir, patientMessage } from './helpers.js';

let dir: string;
let n = 0;
const noDb = () => join(dir, 'never', 'created.sqlite');

async function validate(content: string, ...flags: string[]) {
  const path = join(dir, `f${++n}.hl7`);
  writeFileSync(path, content, 'latin1');
  let stdout = '', stderr = '';
  const code = await main(['validate', path, '--db', noDb(), '--log-level', 'silent', ...flags], (t) => { stdout += t; }, (t) => { stderr += t; });
  return { code, stdout, stderr };
}

const NIR = nir('2850375056123');
const GOOD = patientMessage({ ctl: 'V1', time: '20250312101500', ipp: '100001', ins: NIR, family: 'CASANOVA', place: '75056' });

/** Replaces the single occurrence of `from`. */
function edit(text: string, from: string, to: string): string {
  const i = text.indexOf(from);
  if (i < 0 || text.indexOf(from, i + 1) >= 0) throw new Error(`edit: "${from}" must occur once`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pamdrop-validate-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pamdrop validate', () => {
  it('a conformant file is clean: exit 0, no finding, no database touched', async () => {
    const r = await validate(GOOD, '--json');
    expect(r.code, r.stdout).toBe(0);
    const out = json(r);
    expect(out.files[0].findings).toEqual([]);
    expect(out.files[0].messages).toEqual([{ position: 1, line: 1, controlId: 'V1', event: 'A28', charset: '8859/15', outcome: 'AA', errors: 0, warnings: 0 }]);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    const text = await validate(GOOD);
    expect(text.stdout).toMatch(/^f\d+\.hl7: 1 messages, 0 errors, 0 warnings — conformant\n/);
  });

  // [what, message, severity, code, location (or rule when file-level), exit]
  it.each([
    ['EVN missing', edit(GOOD, 'EVN||20250312101500\r', ''), 'E', 100, 'EVN', 1],
    ['PV1 missing on an A28', edit(GOOD, 'PV1|1|N\r', ''), 'E', 100, 'PV1', 1],
    ['PV1-2 not N', edit(GOOD, 'PV1|1|N', 'PV1|1|I'), 'E', 103, 'PV1-2', 1],
    ['MSH-12.1 not 2.5', edit(GOOD, '|2.5^FRA^2.11|', '|2.4^FRA^2.11|'), 'E', 203, 'MSH-12.1', 1],
    ['MSH-12.2 missing', edit(GOOD, '|2.5^FRA^2.11|', '|2.5|'), 'E', 101, 'MSH-12.2', 1],
    ['MSH-12.3 malformed', edit(GOOD, '|2.5^FRA^2.11|', '|2.5^FRA^2.11.2|'), 'E', 102, 'MSH-12.3', 1],
    ['MSH-21 missing', edit(GOOD, '||2.11^IHE_FRANCE-2.11-PAM', ''), 'W', 101, 'MSH-21', 0],
    ['MSH-21 version differs from MSH-12.3', edit(GOOD, '2.11^IHE_FRANCE-2.11-PAM', '2.10^IHE_FRANCE-2.10-PAM'), 'W', 102, 'MSH-21', 0],
    ['MSH-9.3 does not match the event', edit(GOOD, 'ADT^A28^ADT_A05', 'ADT^A28^ADT_A39'), 'E', 103, 'MSH-9.3', 1],
    ['MSH-7 missing', edit(GOOD, '|20250312101500||ADT', '|||ADT'), 'E', 101, 'MSH-7', 1],
    ['EVN-2 not a date', edit(GOOD, 'EVN||20250312101500', 'EVN||2025-03-12'), 'E', 102, 'EVN-2', 1],
    ['PID-7 not a date', edit(GOOD, '|19850317|', '|19851317|'), 'E', 102, 'PID-7', 1],
    ['PID-8 O removed in 2.11', edit(GOOD, '|19850317|F|', '|19850317|O|'), 'E', 103, 'PID-8', 1],
    ['PID-32 not in table 0445', edit(GOOD, '|VALI\r', '|VALX\r'), 'E', 103, 'PID-32', 1],
    ['PID-32 QUAL (statusMap only)', edit(GOOD, '|VALI\r', '|QUAL\r'), 'W', 103, 'PID-32', 0],
    ['PID-5 name type not in table 0200', edit(GOOD, 'MARIE^^^^L', 'MARIE^^^^Q'), 'E', 103, 'PID-5.7', 1],
    ['OID syntax', edit(GOOD, 'CHEX&1.2.250.1.999999.1&ISO', 'CHEX&1.2.250.01.x&ISO'), 'E', 102, 'PID-3.4', 1],
    ['identifier type missing', edit(GOOD, '&ISO^PI', '&ISO'), 'E', 101, 'PID-3.5', 1],
    ['INS key wrong', edit(GOOD, NIR, NIR.slice(0, 13) + (NIR.slice(13) === '01' ? '02' : '01')), 'E', 102, 'PID-3[2].1', 1],
    ['qualified INS without birthplace', edit(GOOD, '^^PARIS^^^FRA^BDL^^75056', ''), 'E', 101, 'PID-11', 1],
    ['qualified INS with unknown birthplace', edit(GOOD, 'BDL^^75056', 'BDL^^99999'), 'W', 102, 'PID-11.9', 0],
    ['INS with PROV: not integrated', edit(GOOD, '|VALI\r', '|PROV\r'), 'W', 103, 'PID-3[2]', 0],
    ['forbidden PID-10 (race)', edit(GOOD, '|19850317|F|', '|19850317|F||X|'), 'E', 102, 'PID-10', 1],
    ['unsupported event (A08): AR', edit(GOOD, 'ADT^A28^ADT_A05', 'ADT^A08^ADT_A01'), 'E', 201, 'MSH-9.2', 1],
    ['charset not decodable', edit(GOOD, 'CASANOVA', 'CASAN\x85VA'), 'E', 102, 'MSH-18', 1],
  ] as const)('%s', async (_what, msg, severity, code, location, exit) => {
    const r = await validate(msg, '--json');
    expect(r.code, r.stdout).toBe(exit);
    const findings = json(r).files[0].findings;
    expect(findings, JSON.stringify(findings, null, 1)).toContainEqual(expect.objectContaining({ severity, code, location }));
    for (const f of findings) {
      // PHI rule: findings name rules and locations, never the patient's values.
      for (const v of ['CASANOVA', '19850317', NIR, '100001']) expect(f.text).not.toContain(v);
    }
  });

  it('file level: broken envelope, junk lines, duplicates in the file, no message at all', async () => {
    const other = patientMessage({ ctl: 'V2', time: '20250312101600', ipp: '100002', family: 'DURAND', status: 'PROV' });
    const r = await validate(`some header text\rBHS|^~\\&|GAM|CHEX\r${GOOD}${other}${GOOD}${edit(other, 'DURAND', 'DUPONT')}BTS|3\r`, '--json');
    expect(r.code).toBe(1);
    const f = json(r).files[0];
    expect(f.envelope).toEqual({ fhs: false, batches: 1, ok: false });
    expect(f.findings).toContainEqual(expect.objectContaining({ severity: 'E', rule: 'envelope', text: expect.stringContaining('BTS-1 says 3 messages, batch has 4') }));
    expect(f.findings).toContainEqual(expect.objectContaining({ severity: 'W', rule: 'framing', line: 1 }));
    expect(f.findings).toContainEqual(expect.objectContaining({ severity: 'W', code: 205, message: 3, controlId: 'V1' }));
    expect(f.findings).toContainEqual(expect.objectContaining({ severity: 'E', code: 205, message: 4, controlId: 'V2' }));
    expect(f.messages.map((m: any) => m.outcome)).toEqual(['AA', 'AA', 'AA', 'AE']);

    const empty = await validate('nothing here\r');
    expect(empty.code).toBe(1);
    expect(empty.stdout).toContain('no HL7 message');
  });

  it('text report: one line per finding with line, message, control id and location; --quiet keeps errors', async () => {
    const bad = edit(edit(edit(GOOD, 'PV1|1|N', 'PV1|1|I'), '||2.11^IHE_FRANCE-2.11-PAM', ''), '|V1|', '|V9|');
    const r = await validate(`${GOOD}${bad}`);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('2 messages, 1 errors, 1 warnings — NOT CONFORMANT');
    expect(r.stdout).toMatch(/\n {2}E 103 field {6}line 5 #2 V9 PV1-2: patient class must be N/);
    expect(r.stdout).toContain('W 101 header');
    const quiet = await validate(`${GOOD}${bad}`, '--quiet');
    expect(quiet.stdout).not.toContain('W 101');
  });

  it('several files: exit 1 when any has an error; a missing file is a usage error', async () => {
    const a = join(dir, 'ok.hl7');
    const b = join(dir, 'ko.hl7');
    writeFileSync(a, GOOD, 'latin1');
    writeFileSync(b, edit(GOOD, 'PV1|1|N\r', ''), 'latin1');
    let stdout = '';
    const code = await main(['validate', a, b, '--db', noDb(), '--json'], (t) => { stdout += t; }, () => {});
    expect(code).toBe(1);
    expect(JSON.parse(stdout).files.map((f: any) => [f.file, f.errors])).toEqual([['ko.hl7', 1], ['ok.hl7', 0]]);
    const missing = await main(['validate', join(dir, 'none.hl7'), '--db', noDb()], () => {}, () => {});
    expect(missing).toBe(2);
  });
});
