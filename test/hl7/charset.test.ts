/**
 * Test program for hl7/charset.ts: MSH-18 reading and aliases, decoding of each supported charset (the 8 code
 * points where 8859-15 differs from 8859-1, windows-1252 labelled as 8859/1), and every error case, which must
 * be an Hl7Error with its 0357 code at MSH-18 — never a silent U+FFFD.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { describe, it, expect } from 'vitest';
import { Charset, CP1252_WARNING, DEFAULT_DECODE_OPTIONS, decodeMessage, encodeText, readMsh18, resolveCharset, type DecodeOptions } from '../../src/hl7/charset.js';
import { ErrorCode, Hl7Error, Severity } from '../../src/hl7/errors.js';
import { A28_8859_15, A28_CREATE } from '../fixtures/examples.js';
import { A28_CREATE_UTF8, A28_UTF8, FIXTURE_DIR } from '../fixtures/make-fixtures.js';

const fixture = (name: string): Buffer => readFileSync(join(FIXTURE_DIR, name));
const OPTS: DecodeOptions = { ...DEFAULT_DECODE_OPTIONS };

/** A one-segment-plus-PID message with the given MSH-18 and PID-5 bytes. */
function message(msh18: string, name: number[]): Buffer {
  return Buffer.concat([
    Buffer.from(`MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250404100000||ADT^A28^ADT_A05|GAM000108|P|2.5^FRA^2.11|||||FRA|${msh18}|FR\rPID|1||100950^^^CHEX^PI||`, 'latin1'),
    Buffer.from(name),
    Buffer.from('\r', 'latin1'),
  ]);
}

/** PID-5 as decoded by decodeMessage. */
function decodedName(bytes: Buffer, opts: DecodeOptions = OPTS): string {
  const text = decodeMessage(bytes, opts).text;
  return text.slice(text.lastIndexOf('||') + 2, -1);
}

describe('resolveCharset', () => {
  it.each([
    ['8859/1', Charset.Latin1], ['ISO-8859-1', Charset.Latin1], ['iso_8859-1', Charset.Latin1], ['ISO IR100', Charset.Latin1], ['ISO_IR 100', Charset.Latin1],
    ['8859/15', Charset.Latin9], ['ISO-8859-15', Charset.Latin9], ['iso8859-15', Charset.Latin9], [' 8859/15 ', Charset.Latin9],
    ['UNICODE UTF-8', Charset.Utf8], ['unicode utf-8', Charset.Utf8], ['UTF-8', Charset.Utf8], ['UTF8', Charset.Utf8], ['utf-8', Charset.Utf8],
    ['ASCII', Charset.Ascii], ['US-ASCII', Charset.Ascii], ['us-ascii', Charset.Ascii],
    ['', null], ['   ', null], ['UNICODE', null], ['WINDOWS-1252', null], ['8859/2', null], ['8859/5', null], ['ISO IR87', null], ['UTF-16', null],
  ] as const)('%j → %j', (name, expected) => {
    expect(resolveCharset(name)).toBe(expected);
  });
});

describe('readMsh18', () => {
  it.each([
    ['§8.1 (MSH-19 FR follows, MSH-21 too)', Buffer.from(A28_CREATE, 'latin1'), '8859/15'],
    ['UTF-8 declared', Buffer.from(A28_UTF8, 'utf8'), 'UNICODE UTF-8'],
    ['with a BOM', fixture('bom.hl7'), 'UNICODE UTF-8'],
    ['custom separators', fixture('custom-separators.hl7'), '8859/15'],
    ['LF line ends', Buffer.from(A28_CREATE.replace(/\r/g, '\n'), 'latin1'), '8859/15'],
    ['MSH-18 last field, no CR', Buffer.from('MSH|^~\\&|A|B|C|D|20250101||ADT^A28|1|P|2.5|||||FRA|ASCII', 'latin1'), 'ASCII'],
    ['MSH ends at MSH-12', Buffer.from('MSH|^~\\&|A|B|C|D|20250101||ADT^A28|1|P|2.5\rPID|1|||||||||||||||||x|8859/1\r', 'latin1'), ''],
    ['MSH-18 empty', Buffer.from('MSH|^~\\&|A|B|C|D|20250101||ADT^A28|1|P|2.5|||||FRA||FR\r', 'latin1'), ''],
    ['not an MSH', Buffer.from('PID|1\r', 'latin1'), ''],
    ['empty', Buffer.alloc(0), ''],
  ])('%s', (_name, bytes, expected) => {
    expect(readMsh18(bytes)).toBe(expected);
  });
});

describe('decodeMessage', () => {
  it('decodes the 8859-15 fixture: Œ 0xBC, Ÿ 0xBE (§8.7)', () => {
    const d = decodeMessage(fixture('latin9.hl7'), OPTS);
    expect(d).toEqual({ text: A28_8859_15, charset: Charset.Latin9, declared: '8859/15', warnings: [] });
    expect(d.text).toContain('3 RUE DU CŒUR VOLANT^^L\'HAŸ-LES-ROSES');
  });

  it('reads the same bytes as 8859/1 as ¼ and ¾ (§8.7)', () => {
    const bytes = Buffer.from(fixture('latin9.hl7').toString('latin1').replace('|8859/15|', '|8859/1|'), 'latin1');
    const d = decodeMessage(bytes, OPTS);
    expect(d.charset).toBe(Charset.Latin1);
    expect(d.text).toContain('C¼UR VOLANT^^L\'HA¾-LES-ROSES');
    expect(d.text).toContain('LEFÈVRE^HÉLÈNE');
  });

  it('decodes the UTF-8 fixture, and ignores a BOM', () => {
    expect(decodeMessage(fixture('utf8.hl7'), OPTS)).toEqual({ text: A28_UTF8, charset: Charset.Utf8, declared: 'UNICODE UTF-8', warnings: [] });
    expect(decodeMessage(fixture('bom.hl7'), OPTS)).toEqual({ text: A28_CREATE_UTF8, charset: Charset.Utf8, declared: 'UNICODE UTF-8', warnings: [] });
    const bomUtf8 = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fixture('utf8.hl7')]);
    expect(decodeMessage(bomUtf8, OPTS).text).toBe(A28_UTF8);
  });

  it.each([
    ['8859/15: 0xBC 0xBD 0xBE 0xA4 0xA6 0xA8 0xB4 0xB8', '8859/15', [0xbc, 0xbd, 0xbe, 0xa4, 0xa6, 0xa8, 0xb4, 0xb8], OPTS, 'ŒœŸ€ŠšŽž'],
    ['8859/1: same bytes', '8859/1', [0xbc, 0xbd, 0xbe, 0xa4, 0xa6, 0xa8, 0xb4, 0xb8], OPTS, '¼½¾¤¦¨´¸'],
    ['8859/1: é ç ÿ', '8859/1', [0xe9, 0xe7, 0xff], OPTS, 'éçÿ'],
    ['UTF-8: é Œ', 'UNICODE UTF-8', [0xc3, 0xa9, 0xc5, 0x92], OPTS, 'éŒ'],
    ['ASCII only, whatever the charset', 'UNICODE UTF-8', [0x41, 0x42], OPTS, 'AB'],
    ['empty MSH-18 → default 8859/15', '', [0xbc], OPTS, 'Œ'],
    ['empty MSH-18 → default 8859/1', '', [0xbc], { ...OPTS, defaultCharset: Charset.Latin1 }, '¼'],
    ['empty MSH-18 → default UTF-8', '', [0xc5, 0x92], { ...OPTS, defaultCharset: Charset.Utf8 }, 'Œ'],
    ['alias iso-8859-15', 'iso-8859-15', [0xbe], OPTS, 'Ÿ'],
  ] as const)('%s', (_name, msh18, bytes, opts, expected) => {
    expect(decodedName(message(msh18, [...bytes]), opts)).toBe(expected);
  });

  it('decodes every byte 0xA0-0xFF of 8859/15 exactly as iconv-lite does', () => {
    const bytes = Array.from({ length: 0x60 }, (_, i) => 0xa0 + i);
    const expected = iconv.decode(Buffer.from(bytes), 'iso-8859-15');
    expect(expected.slice(0xbc - 0xa0, 0xbf - 0xa0)).toBe('ŒœŸ');
    expect(decodedName(message('8859/15', bytes))).toBe(expected);
    expect(decodedName(message('8859/1', bytes))).toBe(Buffer.from(bytes).toString('latin1'));
  });

  it('8859/1 with cp1252-only bytes (0x80-0x9F) is undecodable by default: AE 102 at MSH-18, never a replacement', () => {
    expect(() => decodeMessage(message('8859/1', [0x80, 0x8c, 0x9c, 0x9f, 0xe9]), DEFAULT_DECODE_OPTIONS))
      .toThrow(expect.objectContaining({ code: ErrorCode.DataType, location: { segment: 'MSH', field: 18 } }));
  });

  it('with latin1AsCp1252 on (config), decodes cp1252 bytes labelled 8859/1 as windows-1252, with a warning', () => {
    const d = decodeMessage(message('8859/1', [0x80, 0x8c, 0x9c, 0x9f, 0xe9]), { ...OPTS, latin1AsCp1252: true });
    expect(d.text.endsWith('||€ŒœŸé\r')).toBe(true);
    expect(d.charset).toBe(Charset.Latin1);
    expect(d.warnings).toEqual([{ code: 102, severity: 'W', location: { segment: 'MSH', field: 18 }, text: 'bytes 0x80-0x9F decoded as windows-1252' }]);
    expect(d.warnings[0]!.text).toBe(CP1252_WARNING);
    expect(d.warnings[0]!.severity).toBe(Severity.Warning);
  });

  const MSH18 = { segment: 'MSH', field: 18 };
  it.each([
    ['8859/1 with C1 bytes when latin1AsCp1252 is off', '8859/1', [0x80], { ...OPTS, latin1AsCp1252: false }, ErrorCode.DataType],
    ['8859/1 with a byte undefined in windows-1252 (0x81)', '8859/1', [0x81], { ...OPTS, latin1AsCp1252: true }, ErrorCode.DataType],
    ['8859/1 with 0x9D', '8859/1', [0x41, 0x9d], { ...OPTS, latin1AsCp1252: true }, ErrorCode.DataType],
    ['8859/15 with a C1 byte 0x80', '8859/15', [0x80], OPTS, ErrorCode.DataType],
    ['8859/15 with 0x9F', '8859/15', [0x4c, 0x9f], OPTS, ErrorCode.DataType],
    ['default 8859/15 with a C1 byte', '', [0x8c], OPTS, ErrorCode.DataType],
    ['ASCII with 0xE9', 'ASCII', [0xe9], OPTS, ErrorCode.DataType],
    ['UTF-8 with a latin1 é', 'UNICODE UTF-8', [0x4c, 0xe9, 0x4f], OPTS, ErrorCode.DataType],
    ['UTF-8 truncated sequence', 'UTF-8', [0xc5], OPTS, ErrorCode.DataType],
    ['UTF-8 overlong encoding', 'UTF-8', [0xc0, 0xaf], OPTS, ErrorCode.DataType],
    ['UTF-8 encoded surrogate', 'UTF-8', [0xed, 0xa0, 0x80], OPTS, ErrorCode.DataType],
    ['unsupported MSH-18', 'EBCDIC', [0x41], OPTS, ErrorCode.TableValueNotFound],
    ['unsupported even when ASCII only', 'UNICODE UTF-16', [0x41], OPTS, ErrorCode.TableValueNotFound],
    ['repeating MSH-18 (ISO 2022 switching)', '8859/15~ISO IR87', [0x41], OPTS, ErrorCode.TableValueNotFound],
  ] as const)('%s → Hl7Error %i at MSH-18', (_name, msh18, bytes, opts, code) => {
    const run = (): unknown => decodeMessage(message(msh18, [...bytes]), opts);
    expect(run).toThrow(Hl7Error);
    expect(run).toThrow(expect.objectContaining({ code, location: MSH18, severity: 'E' }));
  });

  it('names the problem without quoting message content', () => {
    expect(() => decodeMessage(message('UNICODE UTF-8', [0x4c, 0xe9]), OPTS)).toThrow('MSH-18 declares UNICODE UTF-8 but the message is not valid UTF-8');
    expect(() => decodeMessage(message('8859/15', [0x80]), OPTS)).toThrow('MSH-18 declares 8859/15 but the message has bytes 0x80-0x9F (C1 controls)');
  });
});

describe('encodeText', () => {
  it.each([
    ['8859/15 Œ Ÿ €', 'CŒUR HAŸ €', Charset.Latin9, '43bc5552204841be20a4'],
    ['8859/15: ¤ is not in the set', '¤', Charset.Latin9, '3f'],
    ['8859/1 é', 'é', Charset.Latin1, 'e9'],
    ['8859/1: Œ and € are not in the set', 'Œ€', Charset.Latin1, '3f3f'],
    ['ASCII: accents become ?', 'HÉLÈNE', Charset.Ascii, '483f4c3f4e45'],
    ['UTF-8', 'Œé', Charset.Utf8, 'c592c3a9'],
    ['astral character → one ? in 8859/15', 'a😀b', Charset.Latin9, '613f62'],
    ['astral character → one ? in ASCII', 'a😀b', Charset.Ascii, '613f62'],
    ['astral character → one ? in 8859/1', 'a😀b', Charset.Latin1, '613f62'],
    ['astral character kept in UTF-8', '😀', Charset.Utf8, 'f09f9880'],
    ['lone surrogate → ? in UTF-8', 'a\ud800b', Charset.Utf8, '613f62'],
    ['segment terminators kept', 'MSA|AA|1\r', Charset.Latin9, '4d53417c41417c310d'],
  ] as const)('%s', (_name, text, charset, hex) => {
    expect(encodeText(text, charset).toString('hex')).toBe(hex);
  });

  it.each([Charset.Latin1, Charset.Latin9, Charset.Utf8])('round-trips through decodeMessage in %s', (charset) => {
    const text = `MSH|^~\\&|TLSV|EDITEUR|GAM|CHEX|20250404100001||ACK^A28^ACK|TLSV1|P|2.5|||||FRA|${charset}\rERR||||E||||HÉLÈNE ÇA\r`;
    expect(decodeMessage(encodeText(text, charset), OPTS).text).toBe(text);
  });
});
