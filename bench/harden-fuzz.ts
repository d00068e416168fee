/**
 * Hardening harness, fuzz part: seeded mutations of valid PAM FR files, run through the real pipeline
 * in-process (processFile in a worker thread, so that a hang is caught by a watchdog and named), then checked:
 *
 * - processFile never throws for content; every file takes less than its time bound;
 * - a file ends either archived (byte-identical copy, one message row and one ACK file per message, ACK bytes =
 *   ledger bytes, MSA-1 = outcome, every ACK well formed against its inbound message as `validate --ack` checks it)
 *   or quarantined (reason file beside it, no message row, no ACK);
 * - the message count equals an independent count of the `MSH` segment starts in the file;
 * - store: integrity and foreign keys hold; every history row belongs to one live `applied` message; no
 *   rejected/stale message has a history row; every patient has a history row and an identifier;
 * - differential replay: applying only the accepted messages (in processing order) to a fresh store gives the
 *   very same identity tables, so no AE/AR message left anything behind (never half-applied).
 *
 * Used by bench/harden.ts (`npm run harden`) and test/harden/fuzz.test.ts. Same seed → same files.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { generate, nirKey, rng } from './generate.js';
import { DEFAULT_MAX_MESSAGE_BYTES, frameBuffer, type RawMessage } from '../src/hl7/batch.js';
import { checkAck, decodeAck } from '../src/hl7/ack-check.js';
import { inboundHeaderFor } from '../src/ops/ack-validate.js';
import { Charset } from '../src/hl7/charset.js';
import { processFile, type FileReport, type PipelineContext } from '../src/pipeline/process-file.js';
import { openDb } from '../src/store/db.js';
import type { Db } from '../src/store/tx.js';
import { getDefaultConfig } from '../src/config/defaults.js';
import type { ResolvedConfig } from '../src/config/types.js';
import { fixedClock } from '../src/shared/clock.js';
import { silentLogger } from '../src/shared/logger.js';

export const FIXED_TIME = '2026-03-01T10:00:00.000Z';
const HERE = dirname(fileURLToPath(import.meta.url));
/** Repository root, from bench/ (sources under vitest) or dist/bench/ (compiled). */
export const REPO = resolve(HERE, basename(resolve(HERE, '..')) === 'dist' ? '../..' : '..');

// ---------------------------------------------------------------------------------------------------------
// Corpus and mutators. Files are manipulated as latin1 "binary" strings: one char per byte, lossless.

type R = () => number;
const int = (r: R, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: R, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;

function fixtures(): string[] {
  const dir = join(REPO, 'test', 'fixtures', 'hl7');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.hl7')).sort().map((f) => readFileSync(join(dir, f)).toString('latin1'));
}

/** A valid base file: generated traffic (both charsets, with or without envelope) or a fixture. */
function baseFile(r: R, fx: readonly string[]): string {
  if (fx.length > 0 && r() < 0.15) return pick(r, fx);
  return [...generate({ messages: int(r, 1, 30), seed: int(r, 1, 1e9), charset: r() < 0.5 ? 'latin9' : 'utf8', envelope: r() < 0.3 })].join('');
}

const lines = (s: string) => s.split('\r');
const MSH_LINE = /^MSH/;

/** Applies `fn` to the fields of random lines matching `re` (MSH-aware field numbering is the caller's job). */
function mapLines(s: string, r: R, re: RegExp, share: number, fn: (line: string) => string): string {
  const ls = lines(s);
  let hit = false;
  for (let i = 0; i < ls.length; i++) if (re.test(ls[i]!) && (r() < share || !hit)) { ls[i] = fn(ls[i]!); hit = true; }
  return ls.join('\r');
}
/** Applies `fn` to one random line matching `re` (for mutations that make a line huge). */
function mapOne(s: string, r: R, re: RegExp, fn: (line: string) => string): string {
  const ls = lines(s);
  const at = ls.map((l, i) => (re.test(l) ? i : -1)).filter((i) => i >= 0);
  if (at.length === 0) return s;
  const i = pick(r, at);
  ls[i] = fn(ls[i]!);
  return ls.join('\r');
}
/** Sets field n (spec numbering) of a `|`-separated segment line. */
function setField(line: string, n: number, value: string): string {
  const f = line.split('|');
  const idx = line.startsWith('MSH') ? n - 1 : n;
  while (f.length <= idx) f.push('');
  f[idx] = value;
  return f.join('|');
}
function getField(line: string, n: number): string {
  const f = line.split('|');
  return f[line.startsWith('MSH') ? n - 1 : n] ?? '';
}
const randomBytes = (r: R, n: number) => { let o = ''; for (let i = 0; i < n; i++) o += String.fromCharCode(int(r, 0, 255)); return o; };
const repeat = (unit: string, n: number) => unit.repeat(n);

interface Mutator { name: string; weight: number; apply(s: string, r: R, ctx: MutateContext): string }
interface MutateContext { previous: string[]; maxMessageBytes: number; maxFileBytes: number }

const MUTATORS: Mutator[] = [
  { name: 'byte-flip', weight: 10, apply: (s, r) => {
    if (s.length === 0) return s;
    const b = Buffer.from(s, 'latin1');
    for (let k = int(r, 1, 12); k > 0; k--) b[int(r, 0, b.length - 1)] = int(r, 0, 255);
    return b.toString('latin1');
  } },
  { name: 'bit-flip', weight: 5, apply: (s, r) => {
    if (s.length === 0) return s;
    const b = Buffer.from(s, 'latin1');
    for (let k = int(r, 1, 6); k > 0; k--) { const i = int(r, 0, b.length - 1); b[i] = b[i]! ^ (1 << int(r, 0, 7)); }
    return b.toString('latin1');
  } },
  { name: 'truncate', weight: 8, apply: (s, r) => s.slice(0, int(r, 0, s.length)) },
  { name: 'cut-head', weight: 3, apply: (s, r) => s.slice(int(r, 1, Math.max(1, s.length))) },
  { name: 'separator-swap', weight: 6, apply: (s, r) => {
    const seps = ['|', '^', '~', '\\', '&', '#', '$', '*', '@', ' ', 'A', '\x00'];
    const kind = int(r, 0, 3);
    if (kind === 0) { const a = pick(r, seps), b = pick(r, seps); return s.split(a).join('\x01').split(b).join(a).split('\x01').join(b); }
    if (kind === 1) return mapLines(s, r, MSH_LINE, 0.5, (l) => l.slice(0, 3) + pick(r, seps) + l.slice(4));
    if (kind === 2) return mapLines(s, r, MSH_LINE, 0.5, (l) => l.replace(/^MSH\|[^|]*\|/, `MSH|${pick(r, ['^~\\', '^~\\&&', '^^\\&', '', '^~\\&#', 'ABCD', '^~|&'])}|`));
    // consistent custom separators for a whole message (valid, unusual)
    return mapLines(s, r, MSH_LINE, 0.3, (l) => l.replace(/^MSH\|\^~\\&\|/, 'MSH#$*\\@#').replace(/\|/g, '#'));
  } },
  { name: 'eol-swap', weight: 5, apply: (s, r) => {
    switch (int(r, 0, 4)) {
      case 0: return s.replace(/\r/g, '\n');
      case 1: return s.replace(/\r/g, '\r\n');
      case 2: return s.replace(/\r/g, '');
      case 3: return s.replace(/\r/g, () => pick(r, ['\r', '\n', '\r\n', '\n\r', '\r\r']));
      default: return s.replace(/\r/g, '\n\n');
    }
  } },
  { name: 'huge-field', weight: 3, apply: (s, r, c) => {
    const size = pick(r, [70_000, 300_000, c.maxMessageBytes - 200, c.maxMessageBytes + 10, c.maxMessageBytes * 2]);
    const unit = pick(r, ['A', 'É', '\\X41\\', '^', '~', '&', '\\']);
    const blob = repeat(unit, Math.max(1, Math.floor(size / unit.length)));
    return mapOne(s, r, /^(PID|MSH|EVN|MRG|PV1)/, (l) => setField(l, int(r, 2, 40), blob));
  } },
  { name: 'binary-junk', weight: 6, apply: (s, r) => {
    const junk = randomBytes(r, pick(r, [1, 8, 100, 4096, 70_000]));
    switch (int(r, 0, 3)) {
      case 0: { const i = int(r, 0, s.length); return s.slice(0, i) + junk + s.slice(i); }
      case 1: return s + junk;
      case 2: return junk + s;
      default: return junk; // the whole file is junk
    }
  } },
  { name: 'wrong-charset', weight: 8, apply: (s, r) => {
    switch (int(r, 0, 6)) {
      case 0: return mapLines(s, r, MSH_LINE, 0.5, (l) => setField(l, 18, pick(r, ['UNICODE UTF-8', '8859/15', '8859/1', 'ASCII', 'KOI8-R', 'UNICODE UTF-16', '8859/1~UNICODE UTF-8', '', ' ', 'utf8', 'ISO_IR 100', '\\X41\\'])));
      case 1: return '\xff\xfe' + Buffer.from(s, 'utf16le').toString('latin1'); // the whole file in UTF-16LE
      case 2: { // invalid UTF-8 sequences in a UTF-8 message
        const bad = pick(r, ['\xc3\x28', '\xc0\xaf', '\xed\xa0\x80', '\xf8\x88\x80\x80\x80', '\xe2\x82', '\xff']);
        return mapLines(s, r, /^PID/, 0.5, (l) => setField(l, 5, bad + getField(l, 5)));
      }
      case 3: { // C1 bytes (cp1252 punctuation) in a latin message
        return mapLines(s, r, /^PID/, 0.5, (l) => setField(l, 5, getField(l, 5) + String.fromCharCode(int(r, 0x80, 0x9f))));
      }
      case 4: // UTF-8 bytes declared latin9, or latin9 bytes declared UTF-8
        return mapLines(s, r, MSH_LINE, 1, (l) => setField(l, 18, getField(l, 18) === 'UNICODE UTF-8' ? '8859/15' : 'UNICODE UTF-8'));
      case 5: return '\xef\xbb\xbf' + s.replace(/\rMSH/g, '\r\xef\xbb\xbfMSH'); // BOM before every message
      default: return s.replace(/[\x80-\xff]/g, () => String.fromCharCode(int(r, 0x80, 0xff))); // scrambled high bytes
    }
  } },
  { name: 'many-segments', weight: 2, apply: (s, r) => {
    const n = pick(r, [10_000, 100_000]);
    const seg = pick(r, ['ZXX|1|x', 'NTE|1||note', 'OBX|1|ST|||v', 'PV1|1|N', 'EVN||20250101', '\\', 'PID|2']);
    const block = ('\r' + seg).repeat(n);
    const ls = lines(s);
    const mshAt = ls.map((l, i) => (/^MSH/.test(l) ? i : -1)).filter((i) => i >= 0);
    if (mshAt.length === 0) return 'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101||ADT^A28^ADT_A05|BIG1|P|2.5' + block + '\r';
    const at = pick(r, mshAt);
    ls[at] = ls[at] + block;
    return ls.join('\r');
  } },
  { name: 'many-messages', weight: 1, apply: (s, r) => {
    // thousands of tiny messages (mostly AR/AE), many ACK groups
    const n = pick(r, [1_000, 5_000]);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(`MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101||ADT^${pick(r, ['A28', 'A08', 'A31'])}^ADT_A05|T${int(r, 0, 1e9)}|P|2.5\rPID|1||${int(r, 1, 99999)}^^^CHEX^PI\r`);
    return parts.join('') + (r() < 0.5 ? s : '');
  } },
  { name: 'deep-repetition', weight: 4, apply: (s, r) => {
    const n = pick(r, [1_000, 20_000, 100_000]);
    const kind = int(r, 0, 7);
    const unit = [
      '~', '^', '&', '\\E\\', '\\X41\\', '""~',
      `${int(r, 1, 9)}^^^CHEX&1.2.250.1.999999.1&ISO^PI~`, // the same identifier n times
      '', // distinct identifiers, below
    ][kind]!;
    let value: string;
    if (kind === 7) { const a: string[] = []; for (let i = 0; i < Math.min(n, 20_000); i++) a.push(`${500000 + i}^^^CHEX&1.2.250.1.999999.1&ISO^PI`); value = a.join('~'); }
    else value = repeat(unit, n);
    return mapOne(s, r, pick(r, [/^PID/, /^MRG/, /^MSH/]), (l) => setField(l, pick(r, [3, 5, 11, 32, 1, 7, 9, 10]), value));
  } },
  { name: 'empty', weight: 3, apply: (_s, r) => pick(r, ['', '\xef\xbb\xbf', '\r\n\r\n', '   ', '\x00\x00\x00\x00\x00\x00\x00\x00', 'MSH', 'MSH|', 'MSH|^~\\&|', '\x0b\x1c\r', 'M', '\x1a', 'FHS|^~\\&\rFTS|0\r', 'BHS|^~\\&\rBTS|0\r']) },
  { name: 'duplicates', weight: 4, apply: (s, r) => {
    const msgs = s.split(/(?=\rMSH|^MSH)/);
    if (msgs.length === 0) return s;
    const m = pick(r, msgs);
    if (r() < 0.5) return s + m.repeat(int(r, 1, 5)); // exact resends
    // same control id, other content (conflict)
    return s + m.replace(/(PID\|[^\r]*)/, (x) => x + 'X');
  } },
  { name: 'control-id-games', weight: 4, apply: (s, r) => {
    // Values chosen to collide after safeName() or with the `.N` suffix of ACK names.
    const ids = ['', 'A', 'A.2', 'A.3', 'A.4', 'A_B', 'A/B', 'A\\B', '..', '.', '../../etc/passwd', 'CON', 'msg1', 'msg2', 'x'.repeat(300),
      'é', ' A', 'A ', '\\F\\', 'A^B', 'A&B', 'G000000001'];
    return mapLines(s, r, MSH_LINE, 0.8, (l) => setField(l, 10, pick(r, ids)));
  } },
  { name: 'envelope-break', weight: 5, apply: (s, r) => {
    const body = s.replace(/(^|\r)(FHS|BHS|BTS|FTS)[^\r]*/g, '');
    const n = (body.match(/(^|\r)MSH/g) ?? []).length;
    switch (int(r, 0, 7)) {
      case 0: return `FHS|^~\\&\rBHS|^~\\&\r${body}\rBTS|${n + int(r, 1, 3)}\rFTS|1\r`;
      case 1: return `FHS|^~\\&\rBHS|^~\\&\r${body}`;
      case 2: return `BHS|^~\\&\r${body}\rBTS|${n}\r`; // valid batch without file header
      case 3: return `FHS|^~\\&\r${body}\rFTS|${pick(r, ['0', '1', '2', 'x', ''])}\r`;
      case 4: return `FTS|1\r${body}`;
      case 5: return `FHS|^~\\&\rFHS|^~\\&\r${body}\rFTS|1\r`;
      case 6: return `BHS|^~\\&\rBHS|^~\\&\r${body}\rBTS|${n}\rBTS|0\r`;
      default: return `${body}\rBTS|${pick(r, ['abc', '-1', '99999999999', String(n)])}\r`;
    }
  } },
  { name: 'mllp-wrap', weight: 3, apply: (s, r) => s.replace(/(^|\r)MSH/g, (_m, p: string) => `${p}${pick(r, ['\x0b', '\x1c\x0b', '\x1c\r\x0b', ''])}MSH`) + pick(r, ['\x1c\r', '\x1c', '', '\x0b']) },
  { name: 'segment-shuffle', weight: 4, apply: (s, r) => {
    const ls = lines(s);
    if (ls.length < 2) return s;
    const i = int(r, 0, ls.length - 1), j = int(r, 0, ls.length - 1);
    if (r() < 0.3) { ls.splice(i, 1); return ls.join('\r'); }
    [ls[i], ls[j]] = [ls[j]!, ls[i]!];
    return ls.join('\r');
  } },
  { name: 'field-games', weight: 8, apply: (s, r) => {
    const seg = pick(r, [/^MSH/, /^PID/, /^MRG/, /^EVN/]);
    const values = ['', '""', '\\', '^^^^', '~~~', '&', '0', '-1', '99999999999999999999', '20251340', '19000229', '20250229', '2025', 'ABCDEFGHIJ',
      '20250101120000+2500', '20250101120000.1234-0100', '<script>', 'NULL', 'é', '\\X00\\', '\\.br\\', 'VALI~PROV', 'VALI', 'PROV', 'QUAL', 'FICT', 'DOUT',
      'ADT^A40^ADT_A39', 'ADT^A47^ADT_A30', 'ADT^A24^ADT_A24', 'ADT^A37^ADT_A37', 'ADT^A08', 'ADT^A29', 'ORU^R01', 'ACK', '2.3', '3.0', '2.5.1', 'T', 'D',
      '1^^^CHEX&1.2.250.1.999999.1&ISO^PI~2^^^CHEX&1.2.250.1.999999.1&ISO^PI',
      '123456789012345^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS', '123456789012345^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS',
      '^^^^^^L', 'DUPONT^^^^^^L~DURAND^^^^^^D~""^^^^^^S'];
    return mapLines(s, r, seg, 0.4, (l) => setField(l, int(r, 1, 35), pick(r, values)));
  } },
  { name: 'ins-games', weight: 4, apply: (s, r) => s.replace(/(\d{13})(\d{2})(\^\^\^ASIP-SANTE-INS-NIR&1\.2\.250\.1\.213\.1\.4\.)(8|10)/g, (m, body: string, key: string, rest: string, o: string) => {
    switch (int(r, 0, 4)) {
      case 0: return `${body}${String((Number(key) + 1) % 97).padStart(2, '0')}${rest}${o}`; // bad key
      case 1: { const b = body.slice(0, 5) + '2A' + body.slice(7); return `${b}${nirKey(b)}${rest}${o}`; } // Corsica
      case 2: return `${body}${key}${rest}${pick(r, ['9', '10', '11', '12'])}`; // NIA / test / demo / unknown
      case 3: return `${body.slice(0, int(r, 0, 13))}${rest}${o}`; // malformed
      default: return m;
    }
  }) },
  { name: 'identity-events', weight: 4, apply: (s, r) => {
    // A40 / A47 / A24 / A37 built from the PID of random messages, pointing at random (known or not) IPPs.
    const pids = lines(s).filter((l) => l.startsWith('PID'));
    if (pids.length === 0) return s;
    const out: string[] = [s.endsWith('\r') ? s.slice(0, -1) : s];
    for (let k = int(r, 1, 4); k > 0; k--) {
      const [ev, st] = pick(r, [['A40', 'ADT_A39'], ['A47', 'ADT_A30'], ['A24', 'ADT_A24'], ['A37', 'ADT_A37']] as const);
      const pid = pick(r, pids);
      const other = `${int(r, 100000, 100040)}^^^CHEX&1.2.250.1.999999.1&ISO^PI`;
      const second = ev === 'A24' || ev === 'A37' ? `PID|2||${other}||X^Y^^^^^L||19700101|M` : `MRG|${r() < 0.2 ? getField(pid, 3) : other}`;
      out.push(`MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|2025${String(int(r, 1, 12)).padStart(2, '0')}01120000||ADT^${ev}^${st}|E${int(r, 0, 1e9)}|P|2.5^FRA^2.11|||||FRA|8859/15|FR\rEVN||20250101\r${pid}\r${second}`);
    }
    return out.join('\r') + '\r';
  } },
  { name: 'concat', weight: 3, apply: (s, r, c) => s + pick(r, ['', '\r', '\n', '\xef\xbb\xbf']) + (c.previous.length ? pick(r, c.previous) : s) },
  { name: 'redrop', weight: 2, apply: (s, r, c) => (c.previous.length ? pick(r, c.previous) : s) },
  { name: 'oversize-file', weight: 1, apply: (s, _r, c) => s + '\rZZZ|' + 'P'.repeat(c.maxFileBytes) },
];
const TOTAL_WEIGHT = MUTATORS.reduce((a, m) => a + m.weight, 0);
function pickMutator(r: R): Mutator {
  let x = r() * TOTAL_WEIGHT;
  for (const m of MUTATORS) { x -= m.weight; if (x < 0) return m; }
  return MUTATORS[MUTATORS.length - 1]!;
}
export const MUTATOR_NAMES = MUTATORS.map((m) => m.name);

/** The i-th fuzz file of a seed: a valid base and 1–3 mutations (5% unmutated). */
export function makeFuzzFile(seed: number, i: number, fx: readonly string[], ctx: MutateContext): { bytes: Buffer; mutators: string[] } {
  const r = rng((seed * 1_000_003 + i * 7919) >>> 0);
  let s = baseFile(r, fx);
  const applied: string[] = [];
  if (r() >= 0.05) {
    for (let k = int(r, 1, 3); k > 0; k--) {
      const m = pickMutator(r);
      s = m.apply(s, r, ctx);
      applied.push(m.name);
      // Bounded so the generator itself stays small (a larger file is only ever quarantined unread).
      if (s.length > ctx.maxFileBytes * 2) { s = s.slice(0, ctx.maxFileBytes * 2); break; }
    }
  }
  return { bytes: Buffer.from(s, 'latin1'), mutators: applied };
}

/** Independent oracle: the number of message starts (`MSH` + punctuation at a line start, after BOM/MLLP bytes). */
export function countMessageStarts(buf: Buffer): number {
  const s = buf.toString('latin1');
  const re = /(?:^|[\r\n\x0b\x1c])(?:\xef\xbb\xbf)?MSH[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/g;
  let n = 0;
  while (re.exec(s)) { n++; re.lastIndex--; }
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Checks

/** MSA-1 of an ACK (latin1 reading; the MSA segment is ASCII). */
export function ackCode(ack: Buffer): string | null {
  const t = ack.toString('latin1');
  if (!t.startsWith('MSH')) return null;
  const sep = t[3]!;
  const msa = t.split('\r').find((l) => l.startsWith('MSA' + sep));
  return msa ? (msa.split(sep)[1] ?? null) : null;
}

interface FileCheck { problems: string[]; messages: number; outcome: 'done' | 'quarantined' | 'failed'; reason?: string }

const STATUS_OUTCOMES: Record<string, string[]> = { applied: ['AA'], stale: ['AA'], rejected: ['AE', 'AR'], conflict: ['AE'], duplicate: ['AA', 'AE', 'AR'] };

/** Checks one processed file against the ledger and the folders. */
export async function checkFile(db: Db, report: FileReport, original: Buffer, site: { inbox: string; outbox: string }, inboxPath: string,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): Promise<FileCheck> {
  const problems: string[] = [];
  const sha = createHash('sha256').update(original).digest('hex');
  if (existsSync(inboxPath)) problems.push('file still in the inbox');
  const rows = await db.all<{ idx: number; status: string; outcome: string; ack_name: string; ack: Buffer }>('SELECT idx, status, outcome, ack_name, ack FROM messages WHERE file_id = ? ORDER BY idx', [report.fileId]);
  if (!report.archivedPath || !existsSync(report.archivedPath)) problems.push(`${report.state} file not at ${report.archivedPath}`);
  else if (report.state === 'done' && createHash('sha256').update(readFileSync(report.archivedPath)).digest('hex') !== sha) problems.push('archived copy differs from the original');
  if (report.state === 'quarantined') {
    const reason = report.archivedPath && existsSync(`${report.archivedPath}.reason.txt`) ? readFileSync(`${report.archivedPath}.reason.txt`, 'utf8').trim() : '';
    if (reason === '') problems.push('quarantined without a reason file');
    if (rows.length > 0) problems.push(`quarantined file has ${rows.length} message rows`);
    return { problems, messages: 0, outcome: 'quarantined', reason };
  }
  const expected = countMessageStarts(original);
  if (rows.length !== expected) problems.push(`${rows.length} message rows, ${expected} MSH starts in the file`);
  if (report.summary.messages !== rows.length) problems.push(`summary says ${report.summary.messages} messages, ledger has ${rows.length}`);
  const names = new Set<string>();
  // The ACK property (validate --ack): each ACK well formed against the message it answers, read from the file.
  const inbound = new Map<number, RawMessage>();
  for (const it of frameBuffer(original, { maxMessageBytes })) if (it.kind === 'message') inbound.set(it.message.index, it.message);
  const readCfg = { ...getDefaultConfig(), maxMessageBytes };
  for (const m of rows) {
    const raw = inbound.get(Number(m.idx));
    const header = raw ? inboundHeaderFor(raw, readCfg) : null;
    for (const p of checkAck(decodeAck(m.ack, Charset.Latin9).text, header).problems) problems.push(`message ${m.idx}: ACK ${p.location}: ${p.text}`);
    if (names.has(m.ack_name)) problems.push(`ACK name ${m.ack_name} used twice in the file (message ${m.idx})`);
    names.add(m.ack_name);
    if (!STATUS_OUTCOMES[m.status]?.includes(m.outcome)) problems.push(`message ${m.idx}: status ${m.status} with outcome ${m.outcome}`);
    const p = join(site.outbox, m.ack_name);
    if (!existsSync(p)) { problems.push(`message ${m.idx}: ACK file ${m.ack_name} missing`); continue; }
    const onDisk = readFileSync(p);
    if (!onDisk.equals(m.ack)) problems.push(`message ${m.idx}: ACK file ${m.ack_name} differs from the ledger`);
    const code = ackCode(m.ack);
    if (code !== m.outcome) problems.push(`message ${m.idx}: ACK MSA-1 ${code} but outcome ${m.outcome}`);
  }
  return { problems, messages: rows.length, outcome: 'done' };
}

/** Whole-store invariants: no half-applied message, referential integrity. Key joins are done in memory (predictable cost). */
export async function checkStore(db: Db): Promise<string[]> {
  const problems: string[] = [];
  const q = async (label: string, sql: string, limit = 5) => {
    const rows = await db.all<Record<string, unknown>>(sql);
    if (rows.length > 0) problems.push(`${label}: ${rows.length} row(s), e.g. ${JSON.stringify(rows.slice(0, limit))}`);
  };
  if (db.dialect === 'sqlite') {
    const ic = await db.all<{ integrity_check: string }>('PRAGMA integrity_check');
    if (ic.length !== 1 || ic[0]!.integrity_check !== 'ok') problems.push(`integrity_check: ${JSON.stringify(ic.slice(0, 5))}`);
    await q('foreign_key_check', 'PRAGMA foreign_key_check');
  }
  const key = (r: { sending_app: string; sending_facility: string; control_id: string | null }) => `${r.sending_app}\u0000${r.sending_facility}\u0000${r.control_id}`;
  const live = new Map<string, string>();
  for (const m of await db.all<{ sending_app: string; sending_facility: string; control_id: string | null; status: string }>(
    `SELECT sending_app, sending_facility, control_id, status FROM messages WHERE control_id IS NOT NULL AND status NOT IN ('duplicate', 'conflict') AND superseded = 0`)) {
    const k = key(m);
    if (live.has(k)) problems.push(`two live originals for one key: ${JSON.stringify(m.control_id)}`);
    live.set(k, m.status);
  }
  const orphan: unknown[] = [], ofRejected: unknown[] = [];
  for (const h of await db.all<{ id: number; sending_app: string; sending_facility: string; control_id: string }>('SELECT id, sending_app, sending_facility, control_id FROM history')) {
    const st = live.get(key(h));
    // Every history row comes from the live applied message owning its key; a rejected (AE/AR) or stale message has none.
    if (st === undefined) orphan.push({ history: h.id, controlId: h.control_id });
    else if (st !== 'applied') ofRejected.push({ history: h.id, controlId: h.control_id, status: st });
  }
  if (orphan.length) problems.push(`history rows without a live applied message: ${orphan.length}, e.g. ${JSON.stringify(orphan.slice(0, 5))}`);
  if (ofRejected.length) problems.push(`history rows of rejected/stale messages: ${ofRejected.length}, e.g. ${JSON.stringify(ofRejected.slice(0, 5))}`);
  await q('applied messages without a patient', `SELECT id FROM messages WHERE status IN ('applied', 'stale') AND (patient_id IS NULL OR patient_id NOT IN (SELECT id FROM patients))`);
  await q('rejected messages with a patient', `SELECT id FROM messages WHERE status IN ('rejected', 'conflict') AND patient_id IS NOT NULL`);
  await q('patients without history', 'SELECT p.id FROM patients p WHERE NOT EXISTS (SELECT 1 FROM history h WHERE h.patient_id = p.id)');
  await q('patients without identifier', 'SELECT p.id FROM patients p WHERE NOT EXISTS (SELECT 1 FROM identifiers i WHERE i.patient_id = p.id)');
  await q('INS on inactive records', 'SELECT i.id FROM ins i JOIN patients p ON p.id = i.patient_id WHERE p.active = 0');
  await q('merged records pointing at inactive or missing survivors', 'SELECT p.id FROM patients p LEFT JOIN patients s ON s.id = p.merged_into WHERE p.merged_into IS NOT NULL AND (s.id IS NULL OR s.active = 0)');
  await q('messages with an outcome but no ACK', `SELECT id FROM messages WHERE ack IS NULL OR length(ack) = 0`);
  await q('files left unfinished', `SELECT id, name, state FROM files WHERE state NOT IN ('done', 'quarantined')`);
  return problems;
}

export const IDENTITY_TABLES: Record<string, string> = {
  patients: 'SELECT * FROM patients ORDER BY id',
  identifiers: 'SELECT * FROM identifiers ORDER BY id',
  ins: 'SELECT * FROM ins ORDER BY id',
  history: 'SELECT * FROM history ORDER BY id',
  links: 'SELECT * FROM links ORDER BY id',
};

// ---------------------------------------------------------------------------------------------------------
// The worker: generates, processes and checks the files; reports progress so the main thread can watch it.

export interface FuzzOptions {
  seed: number;
  files: number;
  /** Working folder (inbox, outbox, archive, error, store, reproducers). */
  dir: string;
  /** Time bound of one file: base + per MiB. */
  boundBaseMs?: number;
  boundPerMiBMs?: number;
  /** No progress for this long = hang: the worker is stopped and the file named. */
  hangMs?: number;
  maxMessageBytes?: number;
  maxFileBytes?: number;
  /** Skip the differential replay (long runs may want it: it is on by default). */
  replay?: boolean;
}

export interface FuzzFileResult { i: number; name: string; size: number; mutators: string[]; ms: number; outcome: string; messages: number; problems: string[]; reason?: string }

export interface FuzzSummary {
  seed: number; files: number; done: number; quarantined: number; failed: number; messages: number;
  outcomes: { AA: number; AE: number; AR: number }; statuses: Record<string, number>;
  bytes: number; seconds: number; maxFileMs: number; maxFileName: string; p99FileMs: number; peakRssMiB: number;
  byMutator: Record<string, number>;
  storeProblems: string[]; replay: { messages: number; equal: boolean; problems: string[] } | null;
  failures: Array<{ name: string; mutators: string[]; problems: string[]; reproducer: string }>;
}

function fuzzConfig(o: FuzzOptions): ResolvedConfig {
  const cfg = getDefaultConfig();
  cfg.pam.acceptTestIns = true;
  cfg.groupSize = 16;
  cfg.maxMessageBytes = o.maxMessageBytes ?? 2 * 1024 * 1024;
  cfg.maxFileBytes = o.maxFileBytes ?? 8 * 1024 * 1024;
  cfg.log.level = 'silent';
  return cfg;
}

async function workerMain(o: FuzzOptions): Promise<void> {
  const post = (m: unknown) => parentPort!.postMessage(m);
  const cfg = fuzzConfig(o);
  const site = { inbox: join(o.dir, 'inbox'), outbox: join(o.dir, 'outbox'), archive: join(o.dir, 'archive'), error: join(o.dir, 'error'), repro: join(o.dir, 'reproducers') };
  for (const d of Object.values(site)) mkdirSync(d, { recursive: true });
  const db = await openDb(join(o.dir, 'store.sqlite'));
  const clock = fixedClock(FIXED_TIME);
  const fx = fixtures();
  const previous: string[] = [];
  const mctx: MutateContext = { previous, maxMessageBytes: cfg.maxMessageBytes, maxFileBytes: cfg.maxFileBytes };
  const base = o.boundBaseMs ?? 10_000, perMiB = o.boundPerMiBMs ?? 4_000;
  for (let i = 0; i < o.files; i++) {
    const { bytes, mutators } = makeFuzzFile(o.seed, i, fx, mctx);
    if (bytes.length < 200_000) { previous.push(bytes.toString('latin1')); if (previous.length > 50) previous.shift(); }
    const name = `fz_${String(i).padStart(6, '0')}.hl7`;
    const path = join(site.inbox, name);
    writeFileSync(path, bytes);
    // Alternate orders: file order, and MSH-7 order (whole file in memory).
    const ctx: PipelineContext = { db, config: { ...cfg, order: i % 5 === 4 ? 'timestamp' : 'file' }, log: silentLogger, clock, owner: 'fuzz' };
    post({ type: 'start', i, name, size: bytes.length, mutators });
    const t0 = performance.now();
    let check: FileCheck;
    // The bound is the importer's: the checks after it (ledger, ACK structure) are not timed.
    let ms = 0;
    try {
      const report = await processFile({ source: 'fuzz', path, ackDir: site.outbox, archiveDir: site.archive, errorDir: site.error }, ctx);
      ms = performance.now() - t0;
      check = await checkFile(db, report, bytes, site, path, cfg.maxMessageBytes);
    } catch (err) {
      if (ms === 0) ms = performance.now() - t0;
      const e = err as Error;
      check = { problems: [`processFile threw: ${e.name}: ${e.message}\n${e.stack ?? ''}`], messages: 0, outcome: 'failed' };
    }
    const bound = base + perMiB * (bytes.length / (1 << 20));
    if (ms > bound) check.problems.push(`took ${Math.round(ms)} ms, bound ${Math.round(bound)} ms`);
    const res: FuzzFileResult = { i, name, size: bytes.length, mutators, ms, outcome: check.outcome, messages: check.messages, problems: check.problems, ...(check.reason ? { reason: check.reason } : {}) };
    if (check.problems.length > 0) writeFileSync(join(site.repro, name), bytes);
    post({ type: 'result', res });
  }
  post({ type: 'phase', phase: 'store checks' });
  const storeProblems = await checkStore(db);
  const stats = await db.all<{ status: string; outcome: string; n: number }>('SELECT status, outcome, COUNT(*) AS n FROM messages GROUP BY status, outcome');
  let replay: FuzzSummary['replay'] = null;
  if (o.replay !== false) {
    post({ type: 'phase', phase: 'differential replay' });
    replay = await differentialReplay(db, cfg, o.dir);
  }
  await db.close();
  post({ type: 'end', storeProblems, stats, replay });
}

/**
 * Re-applies only the accepted messages (applied or stale, in processing order) to a fresh store: its identity
 * tables must equal the fuzz store's. Any trace of a rejected message (half-applied) makes them differ.
 */
async function differentialReplay(db: Db, cfg: ResolvedConfig, dir: string): Promise<NonNullable<FuzzSummary['replay']>> {
  const files = await db.all<{ id: number; archived_path: string }>(`SELECT id, archived_path FROM files WHERE state = 'done' ORDER BY id`);
  const accepted = await db.all<{ file_id: number; idx: number; status: string }>(`SELECT file_id, idx, status FROM messages WHERE status IN ('applied', 'stale') ORDER BY id`);
  const byFile = new Map<number, Map<number, Buffer>>();
  const wanted = new Map<number, Set<number>>();
  for (const m of accepted) { let s = wanted.get(m.file_id); if (!s) wanted.set(m.file_id, (s = new Set())); s.add(m.idx); }
  for (const f of files) {
    const want = wanted.get(f.id);
    if (!want) continue;
    const map = new Map<number, Buffer>();
    for (const it of frameBuffer(readFileSync(f.archived_path), { maxMessageBytes: cfg.maxMessageBytes })) {
      if (it.kind === 'message' && want.has(it.message.index)) map.set(it.message.index, it.message.bytes);
    }
    byFile.set(f.id, map);
  }
  const problems: string[] = [];
  const parts: Buffer[] = [];
  for (const m of accepted) {
    const b = byFile.get(m.file_id)?.get(m.idx);
    if (!b) { problems.push(`message ${m.file_id}/${m.idx} not found in its archived file`); continue; }
    parts.push(b);
  }
  const rdir = join(dir, 'replay');
  for (const d of ['inbox', 'outbox', 'archive', 'error']) mkdirSync(join(rdir, d), { recursive: true });
  const path = join(rdir, 'inbox', 'replay.hl7');
  writeFileSync(path, Buffer.concat(parts));
  const rdb = await openDb(join(rdir, 'store.sqlite'));
  try {
    const rcfg: ResolvedConfig = { ...cfg, order: 'file', groupSize: 500, maxFileBytes: Number.MAX_SAFE_INTEGER };
    const rep = await processFile({ source: 'replay', path, ackDir: join(rdir, 'outbox'), archiveDir: join(rdir, 'archive'), errorDir: join(rdir, 'error') },
      { db: rdb, config: rcfg, log: silentLogger, clock: fixedClock(FIXED_TIME), owner: 'replay' });
    if (rep.state !== 'done') problems.push(`replay file ${rep.state}: ${rep.reason}`);
    const rstat = await rdb.all<{ idx: number; status: string }>('SELECT idx, status FROM messages ORDER BY idx');
    let statusDiff = 0;
    for (let k = 0; k < Math.min(rstat.length, accepted.length); k++) {
      if (rstat[k]!.status !== accepted[k]!.status && statusDiff++ < 5) problems.push(`replayed message ${k} (${accepted[k]!.file_id}/${accepted[k]!.idx}): ${accepted[k]!.status} then ${rstat[k]!.status}`);
    }
    if (rstat.length !== accepted.length) problems.push(`replay framed ${rstat.length} messages, expected ${accepted.length}`);
    for (const [t, sql] of Object.entries(IDENTITY_TABLES)) {
      const a = await db.all<Record<string, unknown>>(sql);
      const b = await rdb.all<Record<string, unknown>>(sql);
      if (a.length !== b.length) { problems.push(`${t}: ${a.length} rows in the fuzz store, ${b.length} after replay`); continue; }
      for (let k = 0; k < a.length; k++) {
        if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) { problems.push(`${t}: first difference at row ${k}: ${JSON.stringify(a[k]).slice(0, 300)} vs ${JSON.stringify(b[k]).slice(0, 300)}`); break; }
      }
    }
    return { messages: accepted.length, equal: problems.length === 0, problems };
  } finally {
    await rdb.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Main-thread side: runs the worker with a watchdog.

/** Path of the compiled worker (this module, from dist/). */
function workerScript(): string {
  const self = fileURLToPath(import.meta.url);
  return self.endsWith('.js') ? self : join(REPO, 'dist', 'bench', 'harden-fuzz.js');
}

export async function runFuzz(o: FuzzOptions, onProgress?: (r: FuzzFileResult) => void): Promise<FuzzSummary> {
  mkdirSync(o.dir, { recursive: true });
  const hangMs = o.hangMs ?? 120_000;
  const started = performance.now();
  const results: FuzzFileResult[] = [];
  let current: { i: number; name: string; size: number; mutators: string[] } | null = null;
  let peakRss = 0;
  const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);
  const w = new Worker(workerScript(), { workerData: { hardenFuzz: o } });
  type End = { storeProblems: string[]; stats: Array<{ status: string; outcome: string; n: number }>; replay: FuzzSummary['replay'] };
  let end = null as End | null;
  let hang = null as string | null;
  let crash = null as string | null;
  await new Promise<void>((resolveRun) => {
    let watchdog = setTimeout(onHang, hangMs);
    function onHang() {
      hang = current ? `no progress for ${hangMs} ms on ${current.name} (${current.mutators.join('+')}, ${current.size} bytes)` : `no progress for ${hangMs} ms`;
      void w.terminate();
    }
    w.on('message', (m: any) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(onHang, hangMs);
      if (m.type === 'start') current = m;
      else if (m.type === 'result') { results.push(m.res); onProgress?.(m.res); current = null; }
      else if (m.type === 'end') end = m;
      else if (m.type === 'fatal') { crash = m.error; void w.terminate(); }
    });
    w.on('error', (e) => { crash = `${e.name}: ${e.message}\n${e.stack ?? ''}`; });
    w.on('exit', () => { clearTimeout(watchdog); resolveRun(); });
  });
  clearInterval(rssTimer);
  const failures: FuzzSummary['failures'] = results.filter((r) => r.problems.length > 0)
    .map((r) => ({ name: r.name, mutators: r.mutators, problems: r.problems, reproducer: join(o.dir, 'reproducers', r.name) }));
  const cur = current as { name: string; mutators: string[] } | null;
  if (hang) failures.push({ name: cur?.name ?? '?', mutators: cur?.mutators ?? [], problems: [`hang: ${hang}`], reproducer: cur ? join(o.dir, 'inbox', cur.name) : '' });
  if (crash) failures.push({ name: cur?.name ?? '?', mutators: cur?.mutators ?? [], problems: [`worker crashed: ${crash}`], reproducer: cur ? join(o.dir, 'inbox', cur.name) : '' });
  if (!end && !hang && !crash) failures.push({ name: '?', mutators: [], problems: ['worker ended without its final report'], reproducer: '' });
  const e = end;
  const times = results.map((r) => r.ms).sort((a, b) => a - b);
  const slowest = results.reduce<FuzzFileResult | null>((a, r) => (!a || r.ms > a.ms ? r : a), null);
  const outcomes = { AA: 0, AE: 0, AR: 0 };
  const statuses: Record<string, number> = {};
  for (const s of e?.stats ?? []) { outcomes[s.outcome as 'AA'] += s.n; statuses[s.status] = (statuses[s.status] ?? 0) + s.n; }
  const byMutator: Record<string, number> = {};
  for (const r of results) for (const m of r.mutators) byMutator[m] = (byMutator[m] ?? 0) + 1;
  return {
    seed: o.seed, files: results.length,
    done: results.filter((r) => r.outcome === 'done').length,
    quarantined: results.filter((r) => r.outcome === 'quarantined').length,
    failed: results.filter((r) => r.outcome === 'failed').length,
    messages: results.reduce((a, r) => a + r.messages, 0), outcomes, statuses,
    bytes: results.reduce((a, r) => a + r.size, 0),
    seconds: (performance.now() - started) / 1000,
    maxFileMs: Math.round(slowest?.ms ?? 0), maxFileName: slowest ? `${slowest.name} (${slowest.mutators.join('+')}, ${slowest.size} bytes)` : '',
    p99FileMs: Math.round(times[Math.floor(times.length * 0.99)] ?? 0),
    peakRssMiB: Math.round(peakRss / (1 << 20)),
    byMutator,
    storeProblems: e?.storeProblems ?? [], replay: e?.replay ?? null, failures,
  };
}

/** Writes the i-th fuzz file of a seed to `path` (for the spawned-CLI subset and for reproducing a failure). */
export function writeFuzzFile(seed: number, i: number, path: string, limits: { maxMessageBytes: number; maxFileBytes: number }): { size: number; mutators: string[] } {
  const { bytes, mutators } = makeFuzzFile(seed, i, fixtures(), { previous: [], ...limits });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  return { size: bytes.length, mutators };
}

if (!isMainThread && (workerData as { hardenFuzz?: FuzzOptions } | null)?.hardenFuzz) {
  workerMain((workerData as { hardenFuzz: FuzzOptions }).hardenFuzz).catch((e: Error) => {
    parentPort!.postMessage({ type: 'fatal', error: e.stack ?? e.message });
  });
}
