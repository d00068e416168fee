/**
 * Hardening harness — security checks, through the spawned CLI:
 * - a file over `maxFileBytes` (a 3 GiB sparse file against the 2 GiB default) is quarantined unread: fast, and
 *   the process's peak memory stays at its baseline;
 * - a message over `maxMessageBytes` (100 MiB against 1 MiB) gets AE 100 without being read into memory, and the
 *   messages around it are processed;
 * - no patient data in the logs of a full run at the default level: every family, used and given name, birth
 *   date and INS of the input is grepped for in stderr and stdout.
 * (Path traversal in file names is covered by the intake suites.)
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { crashBatch, makeSite, type Site } from '../../bench/harden.js';
import { FIXED_TIME, REPO, ackCode } from '../../bench/harden-fuzz.js';
import { frameBuffer } from '../../src/hl7/batch.js';

let work: string;
beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'pamdrop-security-')); });
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Measured { code: number | null; stdout: string; stderr: string; maxRssMiB: number; ms: number }

/** `pamdrop <args>` in a child that reports its own peak RSS (process.resourceUsage().maxRSS) at exit. */
function pamdrop(s: Site, args: string[], logLevel?: string): Promise<Measured> {
  // A launcher file, not `node --input-type=module -e`: that flag is inherited by worker threads (the ACK writer's
  // eval'd CommonJS worker then fails with a ReferenceError on `require`).
  const launcher = join(work, 'measure.mjs');
  writeFileSync(launcher, `import { main } from ${JSON.stringify(join(REPO, 'dist', 'src', 'cli', 'main.js'))};\n`
    + `const c = await main(process.argv.slice(2));\nprocess.stderr.write('\\nMAXRSS ' + process.resourceUsage().maxRSS + '\\n');\nprocess.exitCode = c;\n`);
  const argv = ['--config', s.config, ...(logLevel ? ['--log-level', logLevel] : []), ...args];
  return new Promise((res) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [launcher, ...argv], { cwd: s.root, env: { ...process.env, PAMDROP_FIXED_TIME: FIXED_TIME } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (c) => {
      const m = /\nMAXRSS (\d+)\n/.exec(stderr);
      res({ code: c, stdout, stderr: stderr.replace(/\nMAXRSS \d+\n/, ''), maxRssMiB: m ? Number(m[1]) / 1024 : NaN, ms: performance.now() - t0 });
    });
  });
}
const importArgs = (s: Site, files: string[]) => ['--json', 'import', ...files, '--ack-dir', s.outbox, '--archive-dir', s.archive, '--error-dir', s.error];

const MSG = (id: string, pid5 = 'DOE^JOHN^^^^^L') =>
  `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101120000||ADT^A28^ADT_A05|${id}|P|2.5^FRA^2.11|||||FRA|8859/15|FR\rEVN||20250101120000\r`
  + `PID|1||${id.slice(-6)}^^^CHEX&1.2.250.1.999999.1&ISO^PI||${pid5}||19800101|M\rPV1|1|N\r`;

let baseline: number;
beforeAll(async () => {
  const s = makeSite(join(work, 'baseline'), [{ name: 'small.hl7', bytes: Buffer.from(MSG('B00001'), 'latin1') }], {});
  const r = await pamdrop(s, importArgs(s, s.files), 'warn');
  expect(r.code, r.stderr).toBe(0);
  baseline = r.maxRssMiB;
}, 60_000);

describe('size limits', () => {
  it('a 3 GiB file (over the default maxFileBytes, 2 GiB) is quarantined unread', async () => {
    const s = makeSite(join(work, 'bigfile'), [], {});
    const path = join(s.inbox, 'huge.hl7');
    writeFileSync(path, MSG('H00001'));
    truncateSync(path, 3 * 1024 ** 3); // sparse: no disk used, but 3 GiB to read
    s.files.push(path);
    const r = await pamdrop(s, importArgs(s, s.files), 'warn');
    expect(r.code, r.stderr).toBe(1);
    const f = JSON.parse(r.stdout).files[0];
    expect(f.state).toBe('quarantined');
    expect(f.reason).toBe(`file size ${3 * 1024 ** 3} bytes exceeds maxFileBytes (${2 * 1024 ** 3})`);
    expect(readFileSync(`${f.archivedPath}.reason.txt`, 'utf8')).toContain('exceeds maxFileBytes');
    expect(readdirSync(s.outbox)).toEqual([]);
    expect(r.ms).toBeLessThan(20_000); // reading 3 GiB would take far longer
    expect(r.maxRssMiB - baseline).toBeLessThan(64);
    console.info(`security: 3 GiB file quarantined in ${Math.round(r.ms)} ms, peak RSS ${Math.round(r.maxRssMiB)} MiB (baseline ${Math.round(baseline)} MiB)`);
    rmSync(f.archivedPath);
  }, 60_000);

  it('a 100 MiB message over maxMessageBytes (1 MiB) gets AE 100 without being read; its neighbours are processed', async () => {
    const s = makeSite(join(work, 'bigmsg'), [], { maxMessageBytes: 1024 * 1024 });
    const path = join(s.inbox, 'bigmsg.hl7');
    const fd = openSync(path, 'w');
    writeSync(fd, MSG('M00001'));
    writeSync(fd, 'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101120000||ADT^A28^ADT_A05|M00002|P|2.5^FRA^2.11|||||FRA|8859/15|FR\rEVN||20250101120000\rPID|1||000002^^^CHEX&1.2.250.1.999999.1&ISO^PI||');
    const chunk = Buffer.alloc(1024 * 1024, 'X');
    for (let i = 0; i < 100; i++) writeSync(fd, chunk);
    writeSync(fd, '^JOHN^^^^^L||19800101|M\rPV1|1|N\r');
    writeSync(fd, MSG('M00003'));
    closeSync(fd);
    s.files.push(path);
    const r = await pamdrop(s, importArgs(s, s.files), 'warn');
    expect(r.code, r.stderr).toBe(1);
    const acks = Object.fromEntries(readdirSync(s.outbox).map((n) => [n, readFileSync(join(s.outbox, n))]));
    expect(Object.keys(acks).sort()).toEqual(['bigmsg.M00001.ack.hl7', 'bigmsg.M00002.ack.hl7', 'bigmsg.M00003.ack.hl7']);
    expect(ackCode(acks['bigmsg.M00001.ack.hl7']!)).toBe('AA');
    expect(ackCode(acks['bigmsg.M00003.ack.hl7']!)).toBe('AA');
    const nak = acks['bigmsg.M00002.ack.hl7']!.toString('latin1');
    expect(ackCode(acks['bigmsg.M00002.ack.hl7']!)).toBe('AE');
    expect(nak).toContain('|100^Segment sequence error^HL70357|E|');
    expect(nak).toContain('exceeds maxMessageBytes (1048576 bytes)');
    expect(r.maxRssMiB - baseline).toBeLessThan(64); // a 100 MiB message held in memory would show
    console.info(`security: 100 MiB message NAKed, peak RSS ${Math.round(r.maxRssMiB)} MiB (baseline ${Math.round(baseline)} MiB), ${Math.round(r.ms)} ms`);
  }, 120_000);
});

describe('privacy', () => {
  it('a full run at the default log level writes no name, birth date or INS of the input', async () => {
    const batch = crashBatch(5, 1500); // AA, AE, AR, duplicates, conflicts, a quarantined file
    // Plus the irregular cases whose log lines carry the most detail: junk lines, undecodable bytes, an unparseable MSH.
    const extra = Buffer.from(`leading junk line\r${MSG('J00001', 'SECRETFAMILY^SECRETGIVEN^^^^^L')}\x1a\r`
      + MSG('J00002', 'CAF\x80^ZOE^^^^^L').replace('8859/15', 'ASCII') + 'MSH|^~|GAM|CHEX\rPID|1||1^^^CHEX^PI||HIDDENNAME^^^^^^L\r', 'latin1');
    const files = [...batch, { name: 'adt_005.hl7', bytes: extra }];
    const s = makeSite(join(work, 'logs'), files, { pam: { acceptTestIns: true } });
    const r = await pamdrop(s, ['import', ...s.files, '--ack-dir', s.outbox, '--archive-dir', s.archive, '--error-dir', s.error]); // default level
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length, r.stderr).toBeGreaterThan(4);
    const recs = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(new Set(recs.map((x) => x.level))).toEqual(new Set(['info', 'warn']));
    expect(recs.some((x) => x.msg === 'file quarantined')).toBe(true);
    expect(recs.some((x) => x.msg === 'lines outside any message ignored')).toBe(true);

    // What the input says about people: names (PID-5 XPN-1..3, every repetition), birth dates (PID-7), INS values.
    const secrets = new Set<string>(['SECRETFAMILY', 'SECRETGIVEN', 'HIDDENNAME', 'ZOE']);
    for (const f of files) {
      for (const it of frameBuffer(f.bytes)) {
        if (it.kind !== 'message') continue;
        const text = iconv.decode(it.message.bytes, /UNICODE UTF-8/.test(it.message.bytes.toString('latin1', 0, 300)) ? 'utf8' : 'iso-8859-15');
        for (const seg of text.split('\r')) {
          if (!seg.startsWith('PID|')) continue;
          const f5 = seg.split('|');
          for (const rep of (f5[5] ?? '').split('~')) for (const c of rep.split('^').slice(0, 3)) for (const w of c.split(' ')) if (w.length >= 3) secrets.add(w);
          if (/^\d{8}$/.test(f5[7] ?? '')) secrets.add(f5[7]!);
          for (const m of (f5[3] ?? '').matchAll(/(\d[\dAB]{12}\d{2})\^\^\^[^~]*\^INS/g)) secrets.add(m[1]!);
        }
      }
    }
    expect(secrets.size).toBeGreaterThan(40);
    const out = r.stderr + '\n' + r.stdout;
    const leaked = [...secrets].filter((w) => new RegExp(`(^|[^\\p{L}\\d])${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}\\d])`, 'iu').test(out));
    expect(leaked).toEqual([]);
    console.info(`security: ${lines.length} log lines at the default level, ${secrets.size} names, birth dates and INS of the input: none found`);
    expect(existsSync(s.db)).toBe(true);
  }, 120_000);
});
