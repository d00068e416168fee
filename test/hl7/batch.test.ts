/**
 * Test program for hl7/batch.ts (framing of file bytes): one fixture per irregularity, each checked for
 * - the messages found (line, byte offset, MSH-10), the envelope segments and the junk items;
 * - byte-level round trip: a message's bytes are exactly its original segments joined by CR;
 * - the EnvelopeChecker verdict;
 * - streaming with tiny chunks (1, 7, 64 bytes) and frameFile giving the very same items as frameBuffer.
 * Then synthetic cases for truncation, junk and each envelope problem.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { frameBuffer, frameStream, type FrameItem, type RawMessage } from '../../src/hl7/batch.js';
import { EnvelopeChecker, type EnvelopeReport } from '../../src/hl7/envelope.js';
import { frameFile } from '../../bench/frame-file.js';
import { A28_8859_15, A28_CREATE, BATCH } from '../fixtures/examples.js';
import { A28_CREATE_UTF8, A28_CUSTOM_SEPARATORS, A28_ESCAPES, A28_UTF8, BATCH_MESSAGES, FIXTURE_DIR } from '../fixtures/make-fixtures.js';

const [M1, M2, M3] = BATCH_MESSAGES as [string, string, string];

function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURE_DIR, name));
}

function items(buf: Buffer, opts?: { maxMessageBytes?: number }): FrameItem[] {
  return [...frameBuffer(buf, opts)];
}

function messages(list: FrameItem[]): RawMessage[] {
  return list.flatMap((i) => (i.kind === 'message' ? [i.message] : []));
}

/** MSH-10 read from raw bytes with the message's own field separator. */
function controlId(m: RawMessage): string {
  const text = m.bytes.toString('latin1');
  return text.slice(0, text.indexOf('\r')).split(text[3]!)[9] ?? '';
}

function check(list: FrameItem[]): EnvelopeReport {
  const checker = new EnvelopeChecker();
  for (const i of list) checker.push(i);
  return checker.finish();
}

/** A compact, comparable view of what was framed. */
function summary(list: FrameItem[]): string[] {
  return list.map((i) => {
    switch (i.kind) {
      case 'message': return `message#${i.message.index} line ${i.message.line} ${controlId(i.message)}${i.message.truncated ? ' truncated' : ''}`;
      case 'envelope': return `${i.segment.name} line ${i.segment.line}`;
      case 'junk': return `junk line ${i.line}: ${i.reason}`;
      default: return i satisfies never;
    }
  });
}

async function* chunked(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function collect(gen: AsyncIterable<FrameItem>): Promise<FrameItem[]> {
  const out: FrameItem[] = [];
  for await (const i of gen) out.push(i);
  return out;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Case {
  file: string;
  /** Expected summary() of the items, in order. */
  framed: string[];
  /** Expected bytes of each message, in order. */
  bytes: Buffer[];
  problems: string[];
}

const BATCH_IDS = ['GAM000201', 'GAM000202', 'GAM000203'];
const bareFramed = (lines: number[]): string[] => lines.map((l, i) => `message#${i} line ${l} ${BATCH_IDS[i]}`);
const batchBytes = [M1, M2, M3].map(latin1);

const CASES: Case[] = [
  {
    file: 'envelope.hl7',
    framed: ['FHS line 1', 'BHS line 2', ...bareFramed([3, 7, 12]), 'BTS line 16', 'FTS line 17'],
    bytes: batchBytes,
    problems: [],
  },
  { file: 'bare.hl7', framed: bareFramed([1, 5, 10]), bytes: batchBytes, problems: [] },
  { file: 'one-message.hl7', framed: ['message#0 line 1 GAM000101'], bytes: [latin1(A28_CREATE)], problems: [] },
  // Each 0x1C 0x0D leaves an empty line: messages start on lines 1, 6, 12.
  { file: 'mllp.hl7', framed: bareFramed([1, 6, 12]), bytes: batchBytes, problems: [] },
  { file: 'lf.hl7', framed: bareFramed([1, 5, 10]), bytes: batchBytes, problems: [] },
  { file: 'crlf.hl7', framed: bareFramed([1, 5, 10]), bytes: batchBytes, problems: [] },
  { file: 'mixed-eol.hl7', framed: bareFramed([1, 5, 10]), bytes: batchBytes, problems: [] },
  { file: 'bom.hl7', framed: ['message#0 line 1 GAM000101'], bytes: [latin1(A28_CREATE_UTF8)], problems: [] },
  {
    file: 'latin9.hl7',
    framed: ['message#0 line 1 GAM000108'],
    // 8859-15 bytes pass through untouched (decoding is charset.ts's job).
    bytes: [Buffer.from(A28_8859_15.replace('Œ', '\u00bc').replace('Ÿ', '\u00be'), 'latin1')],
    problems: [],
  },
  { file: 'utf8.hl7', framed: ['message#0 line 1 GAM000108'], bytes: [Buffer.from(A28_UTF8, 'utf8')], problems: [] },
  { file: 'custom-separators.hl7', framed: ['message#0 line 1 GAM000101'], bytes: [latin1(A28_CUSTOM_SEPARATORS)], problems: [] },
  { file: 'escapes.hl7', framed: ['message#0 line 1 GAM000101'], bytes: [latin1(A28_ESCAPES)], problems: [] },
  {
    file: 'truncated-envelope.hl7',
    framed: ['FHS line 1', 'BHS line 2', ...bareFramed([3, 7, 12])],
    bytes: batchBytes,
    problems: ['BHS at line 2 has no BTS', 'FHS at line 1 has no FTS'],
  },
  {
    file: 'wrong-bts-count.hl7',
    framed: ['FHS line 1', 'BHS line 2', ...bareFramed([3, 7, 12]), 'BTS line 16', 'FTS line 17'],
    bytes: batchBytes,
    problems: ['BTS-1 says 2 messages, batch has 3 (BTS at line 16)'],
  },
  {
    file: 'trailing-junk.hl7',
    framed: ['message#0 line 1 GAM000101', 'junk line 7: line of control characters only (e.g. 0x1A, NUL)'],
    bytes: [latin1(A28_CREATE)],
    problems: [],
  },
  {
    file: 'leading-junk.hl7',
    framed: ['junk line 1: text before the first MSH is not an HL7 segment', 'message#0 line 2 GAM000101'],
    bytes: [latin1(A28_CREATE)],
    problems: [],
  },
  // Line 1 blank; message 1 has a blank line after MSH; lines 7-8 and 15-16 are blank between messages.
  { file: 'blank-lines.hl7', framed: bareFramed([2, 9, 17]), bytes: batchBytes, problems: [] },
];

describe('frameBuffer on the fixtures', () => {
  it.each(CASES.map((c) => [c.file, c] as const))('%s', (_f, c) => {
    const list = items(fixture(c.file));
    expect(summary(list)).toEqual(c.framed);
    const msgs = messages(list);
    expect(msgs.map((m) => m.bytes.toString('hex'))).toEqual(c.bytes.map((b) => b.toString('hex')));
    expect(msgs.every((m) => m.truncated === undefined)).toBe(true);
    const report = check(list);
    expect(report.problems).toEqual(c.problems);
    expect(report.ok).toBe(c.problems.length === 0);
    expect(report.messageCount).toBe(c.bytes.length);
  });

  it('records the byte offset of each MSH', () => {
    const env = fixture('envelope.hl7');
    const starts = (buf: Buffer, mark = 'MSH|'): number[] => {
      const out: number[] = [];
      for (let i = buf.indexOf(mark); i >= 0; i = buf.indexOf(mark, i + 1)) out.push(i);
      return out;
    };
    expect(messages(items(env)).map((m) => m.offset)).toEqual(starts(env));
    expect(starts(env)[0]).toBe(BATCH.indexOf('MSH|'));
    // After the BOM and after each MLLP start byte.
    expect(messages(items(fixture('bom.hl7')))[0]!.offset).toBe(3);
    expect(messages(items(fixture('mllp.hl7'))).map((m) => m.offset)).toEqual(starts(fixture('mllp.hl7')));
    expect(messages(items(fixture('mllp.hl7')))[0]!.offset).toBe(1);
    expect(messages(items(fixture('crlf.hl7'))).map((m) => m.offset)).toEqual(starts(fixture('crlf.hl7')));
  });

  it('reports the envelope control IDs', () => {
    const report = check(items(fixture('envelope.hl7')));
    expect(report).toEqual({ ok: true, problems: [], messageCount: 3, batchCount: 1, fileControlId: 'F0001', batchControlIds: ['B0001'], segments: 4, unstatedCounts: 0, ftsCount: 1 });
    const bare = check(items(fixture('bare.hl7')));
    expect(bare).toEqual({ ok: true, problems: [], messageCount: 3, batchCount: 0, fileControlId: null, batchControlIds: [], segments: 0, unstatedCounts: 0, ftsCount: null });
  });

  it('keeps envelope text as latin1', () => {
    const env = items(fixture('envelope.hl7')).find((i) => i.kind === 'envelope');
    expect(env).toEqual({ kind: 'envelope', segment: { name: 'FHS', line: 1, text: 'FHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312230000||ADT_20250312.hl7||F0001' } });
  });
});

describe('streaming gives the same items as frameBuffer', () => {
  const files = CASES.map((c) => c.file);
  for (const size of [1, 7, 64]) {
    it.each(files)(`%s in ${size}-byte chunks`, async (file) => {
      const buf = fixture(file);
      expect(await collect(frameStream(chunked(buf, size)))).toEqual(items(buf));
    });
  }

  it.each(files)('frameFile(%s)', async (file) => {
    expect(await collect(frameFile(join(FIXTURE_DIR, file)))).toEqual(items(fixture(file)));
  });

  it('accepts Uint8Array chunks and empty chunks', async () => {
    const buf = fixture('crlf.hl7');
    async function* parts(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(0);
      yield new Uint8Array(buf.subarray(0, 100));
      yield new Uint8Array(0);
      yield new Uint8Array(buf.subarray(100));
    }
    expect(await collect(frameStream(parts()))).toEqual(items(buf));
  });

  it('handles a CRLF split across chunks as one line end', async () => {
    const buf = latin1('MSH|^~\\&|A\r\nPID|1\r\nMSH|^~\\&|B\r\n');
    const cut = buf.indexOf('\n');
    async function* parts(): AsyncGenerator<Buffer> {
      yield buf.subarray(0, cut);
      yield buf.subarray(cut);
    }
    const list = await collect(frameStream(parts()));
    expect(list).toEqual(items(buf));
    expect(messages(list).map((m) => [m.line, m.bytes.toString('latin1')])).toEqual([[1, 'MSH|^~\\&|A\rPID|1\r'], [3, 'MSH|^~\\&|B\r']]);
  });
});

describe('framing rules', () => {
  it('starts a message at MSH followed by any separator, not at MSH followed by a letter', () => {
    const list = items(latin1('MSH#$*\\@#A\rPID#1\rMSHX|not a header\rMSH|^~\\&|B\r'));
    expect(messages(list).map((m) => m.bytes.toString('latin1'))).toEqual(['MSH#$*\\@#A\rPID#1\rMSHX|not a header\r', 'MSH|^~\\&|B\r']);
  });

  it('keeps a stray line inside a message so that parsing fails loudly', () => {
    const [m] = messages(items(latin1('MSH|^~\\&|A\rPID|1|||||||||VAL\nI\rPV1|1|N\r')));
    expect(m!.bytes.toString('latin1')).toBe('MSH|^~\\&|A\rPID|1|||||||||VAL\rI\rPV1|1|N\r');
  });

  it('reports control-character lines inside a message as junk, after the message', () => {
    const list = items(latin1('MSH|^~\\&|A\r\x00\x00\rPID|1\r'));
    expect(summary(list)).toEqual(['message#0 line 1 ', 'junk line 2: line of control characters only (e.g. 0x1A, NUL)']);
    expect(messages(list)[0]!.bytes.toString('latin1')).toBe('MSH|^~\\&|A\rPID|1\r');
  });

  it('coalesces consecutive junk lines and tells segments outside a message from text', () => {
    const list = items(latin1('header one\rheader two\r\rheader three\rMSH|^~\\&|A\rBTS|1\rPID|1\rEVN|\rfree text\r'));
    expect(summary(list)).toEqual([
      'junk line 1: text before the first MSH is not an HL7 segment (3 lines)',
      'message#0 line 5 ',
      'BTS line 6',
      'junk line 7: segment outside a message (2 lines)',
      'junk line 9: text outside a message is not an HL7 segment',
    ]);
  });

  it('a file of segments without MSH: segments before the first MSH are named so, control-only lines are marked', () => {
    const list = items(latin1('FHS|^~\\&|GAM\rEVN||20250312\rPID|1||1^^^CHEX^PI\r\x1a\rFTS|1\r'));
    expect(summary(list)).toEqual(['FHS line 1', 'junk line 2: segment before the first MSH (2 lines)',
      'junk line 4: line of control characters only (e.g. 0x1A, NUL)', 'FTS line 5']);
    expect(list.filter((i) => i.kind === 'junk').map((i) => (i as { control?: true }).control)).toEqual([undefined, true]);
  });

  it('drops MLLP bytes glued to segments and a BOM at the start of a concatenated file', () => {
    const buf = latin1('\x0bMSH|^~\\&|A\rPID|1\x1c\x0bMSH|^~\\&|B\r\x1c\r\xef\xbb\xbfMSH|^~\\&|C\r');
    const list = items(buf);
    expect(messages(list).map((m) => [m.line, m.offset, m.bytes.toString('latin1')])).toEqual([
      [1, 1, 'MSH|^~\\&|A\rPID|1\r'],
      [2, 19, 'MSH|^~\\&|B\r'],
      [4, 35, 'MSH|^~\\&|C\r'],
    ]);
  });

  it('handles a file without final line end, and an empty file', () => {
    expect(messages(items(latin1('MSH|^~\\&|A\rPID|1'))).map((m) => m.bytes.toString('latin1'))).toEqual(['MSH|^~\\&|A\rPID|1\r']);
    expect(items(Buffer.alloc(0))).toEqual([]);
    expect(items(latin1('\r\n  \n'))).toEqual([]);
    expect(check([])).toEqual({ ok: true, problems: [], messageCount: 0, batchCount: 0, fileControlId: null, batchControlIds: [], segments: 0, unstatedCounts: 0, ftsCount: null });
  });

  it('truncates a message beyond maxMessageBytes to its MSH and goes on with the next one', () => {
    const msh1 = M1.slice(0, M1.indexOf('\r') + 1);
    const max = msh1.length + 40; // MSH + EVN fit, PID does not
    const list = items(latin1(BATCH), { maxMessageBytes: max });
    const msgs = messages(list);
    expect(msgs.map((m) => m.truncated === true)).toEqual([true, true, true]);
    expect(msgs[0]!.bytes.toString('latin1')).toBe(msh1);
    expect(msgs.map(controlId)).toEqual(BATCH_IDS);
    // Truncated messages still count for BTS-1.
    expect(check(list)).toMatchObject({ ok: true, messageCount: 3 });
  });

  it('bounds a single huge line and flags the message', async () => {
    const huge = `MSH|^~\\&|A\rPID|${'X'.repeat(5000)}\rMSH|^~\\&|B\r${'Z'.repeat(3000)}`;
    const buf = latin1(huge);
    const list = items(buf, { maxMessageBytes: 1000 });
    expect(summary(list)).toEqual(['message#0 line 1  truncated', 'message#1 line 3  truncated']);
    expect(messages(list).map((m) => m.bytes.toString('latin1'))).toEqual(['MSH|^~\\&|A\r', 'MSH|^~\\&|B\r']);
    expect(await collect(frameStream(chunked(buf, 7), { maxMessageBytes: 1000 }))).toEqual(list);
    // Junk too long for memory is still just junk.
    const junk = items(latin1(`${'j'.repeat(3000)}\rMSH|^~\\&|C\r`), { maxMessageBytes: 1000 });
    expect(summary(junk)).toEqual(['junk line 1: text before the first MSH is not an HL7 segment', 'message#0 line 2 ']);
  });

  it('rejects a nonsensical maxMessageBytes', () => {
    expect(() => items(latin1('MSH|'), { maxMessageBytes: 0 })).toThrow(RangeError);
  });
});

describe('EnvelopeChecker', () => {
  const MSG = (id: string): string => `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312080000||ADT^A28^ADT_A05|${id}|P|2.5\rPID|1\r`;
  const FHS = 'FHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312230000||||F9\r';
  const BHS = (id: string): string => `BHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312230000||||${id}\r`;
  const verdict = (text: string): EnvelopeReport => check(items(latin1(text)));

  it.each([
    ['no envelope at all', MSG('1') + MSG('2'), []],
    ['FHS and FTS without BHS: one implicit batch (FTS|1)', `${FHS}${MSG('1')}${MSG('2')}FTS|1\r`, []],
    ['FHS and FTS without BHS: FTS|0', `${FHS}${MSG('1')}FTS|0\r`, []],
    ['two batches', `${FHS}${BHS('B1')}${MSG('1')}BTS|1\r${BHS('B2')}${MSG('2')}${MSG('3')}BTS|2\rFTS|2\r`, []],
    ['empty counts are not checked', `${FHS}${BHS('B1')}${MSG('1')}BTS\rFTS|\r`, []],
    ['an empty batch', `${BHS('B1')}BTS|0\r`, []],
    ['FTS without FHS', `${MSG('1')}FTS|0\r`, ['FTS at line 3 without FHS']],
    ['BTS without BHS', `${MSG('1')}BTS|1\r`, ['BTS at line 3 without BHS']],
    ['FTS-1 wrong', `${FHS}${BHS('B1')}${MSG('1')}BTS|1\r${BHS('B2')}${MSG('2')}BTS|1\rFTS|1\r`, ['FTS-1 says 1 batches, file has 2 (FTS at line 10)']],
    ['FTS-1 wrong without BHS', `${FHS}${MSG('1')}FTS|2\r`, ['FTS-1 says 2 batches, file has 0 (FTS at line 4)']],
    ['BTS-1 not a number', `${BHS('B1')}${MSG('1')}BTS|one\r`, ['BTS-1 at line 4 is not a message count']],
    ['FTS-1 not a number', `${FHS}${MSG('1')}FTS|x\r`, ['FTS-1 at line 4 is not a batch count']],
    ['message outside the batches', `${FHS}${BHS('B1')}${MSG('1')}BTS|1\r${MSG('2')}FTS|1\r`, ['1 message(s) outside BHS…BTS in a file with batches (first at line 6)']],
    ['message before the first BHS', `${MSG('1')}${BHS('B1')}${MSG('2')}BTS|1\r`, ['1 message(s) outside BHS…BTS in a file with batches (first at line 1)']],
    ['BHS inside an open batch', `${BHS('B1')}${MSG('1')}${BHS('B2')}${MSG('2')}BTS|1\r`, ['BHS at line 1 has no BTS (next BHS at line 4)']],
    ['FTS closing an open batch', `${FHS}${BHS('B1')}${MSG('1')}FTS|1\r`, ['BHS at line 2 has no BTS']],
    ['second FHS', `${FHS}${MSG('1')}FTS|1\r${FHS}FTS|0\r`, ['FHS at line 5 comes after FTS (line 4)', 'second FHS at line 5 (first at line 1)', 'FTS at line 6 comes after FTS (line 4)']],
    ['FHS after messages', `${MSG('1')}${FHS}FTS|1\r`, ['FHS at line 3 is not at the start of the file']],
    ['message after FTS', `${FHS}${MSG('1')}FTS|1\r${MSG('2')}`, ['message at line 5 comes after FTS (line 4)']],
  ])('%s', (_name, text, problems) => {
    const report = verdict(text);
    expect(report.problems).toEqual(problems);
    expect(report.ok).toBe(problems.length === 0);
  });

  it('collects control IDs and counts', () => {
    const report = verdict(`${FHS}${BHS('B1')}${MSG('1')}BTS|1\r${BHS('')}${MSG('2')}${MSG('3')}BTS|2\rFTS|2\r`);
    expect(report).toEqual({ ok: true, problems: [], messageCount: 3, batchCount: 2, fileControlId: 'F9', batchControlIds: ['B1', ''], segments: 6, unstatedCounts: 0, ftsCount: 2 });
    // An envelope that does not state its counts (BTS-1, FTS-1 empty): counted, for the empty-batch rule.
    expect(verdict(`${FHS}${BHS('B1')}BTS\rFTS|\r`)).toMatchObject({ ok: true, messageCount: 0, segments: 4, unstatedCounts: 2, ftsCount: null });
  });

  it('reads FHS-11 with a custom separator', () => {
    const report = verdict(`FHS#$*\\@#GAM#CHEX#TLSV#EDITEUR#20250312230000####F7\rMSH#$*\\@#A\rFTS#1\r`);
    expect(report).toMatchObject({ ok: true, fileControlId: 'F7' });
  });

  it('finish is idempotent and push after finish throws', () => {
    const checker = new EnvelopeChecker();
    checker.push({ kind: 'envelope', segment: { name: 'FHS', line: 1, text: 'FHS|^~\\&' } });
    const first = checker.finish();
    expect(checker.finish()).toBe(first);
    expect(first.problems).toEqual(['FHS at line 1 has no FTS']);
    expect(() => checker.push({ kind: 'junk', line: 2, reason: 'x' })).toThrow('after finish');
  });
});
