/**
 * Test program for hl7/model.ts and hl7/encoding.ts: 1-based access in the spec's notation, the explicit null
 * `""`, unescaping, custom separators (read from MSH-1/MSH-2, never assumed) and faithful round trip of the text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { DEFAULT_DECODE_OPTIONS, decodeMessage } from '../../src/hl7/charset.js';
import { DEFAULT_SEPARATORS, escapeHl7, readSeparators, unescapeHl7, type Separators } from '../../src/hl7/encoding.js';
import { ErrorCode, Hl7Error } from '../../src/hl7/errors.js';
import { Hl7Message, NULL_VALUE } from '../../src/hl7/model.js';
import { A28_CREATE, A40_MERGE, A47_INS_DELETE, BATCH } from '../fixtures/examples.js';
import { FIXTURE_DIR } from '../fixtures/make-fixtures.js';

const decodeFixture = (name: string): string => decodeMessage(readFileSync(join(FIXTURE_DIR, name)), DEFAULT_DECODE_OPTIONS).text;

/** The same reads on §8.1, whatever its separators. */
const A28_READS: Array<[string, string]> = [
  ['MSH-1', '|'],
  ['MSH-3', 'GAM'],
  ['MSH-7', '20250312101500'],
  ['MSH-9', 'ADT'],
  ['MSH-9.2', 'A28'],
  ['MSH-9.3', 'ADT_A05'],
  ['MSH-10', 'GAM000101'],
  ['MSH-12', '2.5'],
  ['MSH-12.3', '2.11'],
  ['MSH-18', '8859/15'],
  ['MSH-21.2', 'IHE_FRANCE-2.11-PAM'],
  ['EVN-6', '20250312101200'],
  ['PID-3', '100234'],
  ['PID-3.4', 'CHEX'],
  ['PID-3.4.2', '1.2.250.1.999999.1'],
  ['PID-3[2].1', '285032A00412371'],
  ['PID-3[2].4.1', 'ASIP-SANTE-INS-NIR'],
  ['PID-3[2].4.2', '1.2.250.1.213.1.4.10'],
  ['PID-3[2].5', 'INS'],
  ['PID-3[3].1', ''],
  ['PID-5.1', 'CASANOVA'],
  ['PID-5.3', 'MARIE LAETITIA ANNE'],
  ['PID-5.7', 'L'],
  ['PID-7', '19850317'],
  ['PID-8', 'F'],
  ['PID-11[2].3', 'AJACCIO'],
  ['PID-11[2].7', 'BDL'],
  ['PID-11[2].9', '2A004'],
  ['PID-13.12', '0612345678'],
  ['PID-32', 'VALI'],
  ['PID-99', ''],
  ['PV1-2', 'N'],
  ['ZFD-5', 'INSI'],
  ['MRG-1', ''],
];

describe('Hl7Message.parse', () => {
  const msg = Hl7Message.parse(A28_CREATE);

  it.each(A28_READS)('§8.1 %s = %j', (path, value) => {
    expect(msg.get(path)).toBe(value);
  });

  it('keeps the text, the separators and the segment list', () => {
    expect(msg.text).toBe(A28_CREATE);
    expect(msg.separators).toEqual(DEFAULT_SEPARATORS);
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1', 'ZFD']);
    expect(msg.segments.map((s) => s.text).join('\r') + '\r').toBe(A28_CREATE);
    expect(msg.msh.raw(2)).toBe('^~\\&');
    expect(msg.msh.raw(12)).toBe('2.5^FRA^2.11');
    expect(msg.segment('PID')!.reps(3).map((r) => r.raw)).toEqual([
      '100234^^^CHEX&1.2.250.1.999999.1&ISO^PI',
      '285032A00412371^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS',
    ]);
    expect(msg.segment('PID')!.field(3, 2).componentCount).toBe(5);
  });

  it('returns the explicit null "" literally (§8.3b)', () => {
    const m = Hl7Message.parse(A47_INS_DELETE);
    expect(m.get('PID-3[2].1')).toBe(NULL_VALUE);
    expect(m.get('PID-3[2].1')).toBe('""');
    expect(m.segment('PID')!.field(3, 2).isNull).toBe(false); // the repetition is `""^^^…`, not `""`
    expect(m.get('MRG-1')).toBe('285032A00412371');
    const cleared = Hl7Message.parse('MSH|^~\\&|A\rPID|1||""\r');
    expect(cleared.segment('PID')!.field(3).isNull).toBe(true);
    expect(cleared.get('PID-3')).toBe('""');
  });

  it('counts occurrences of repeated segments', () => {
    const m = Hl7Message.parse(`${A40_MERGE}PID|2||100501\r`);
    expect(m.get('PID-3')).toBe('100500');
    expect(m.get('PID(2)-3')).toBe('100501');
    expect(m.all('PID').map((s) => s.occurrence)).toEqual([1, 2]);
    expect(m.get('MRG-7.1')).toBe('DURAND');
  });

  it('accepts LF and CRLF, skips blank lines, keeps the original text', () => {
    for (const text of [A28_CREATE.replace(/\r/g, '\n'), A28_CREATE.replace(/\r/g, '\r\n'), A28_CREATE.replace('\rEVN', '\r\r  \rEVN')]) {
      const m = Hl7Message.parse(text);
      expect(m.text).toBe(text);
      expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1', 'ZFD']);
      expect(m.get('PID-3[2].1')).toBe('285032A00412371');
    }
  });

  it('reads custom separators from MSH-1/MSH-2 (custom-separators.hl7)', () => {
    const text = decodeFixture('custom-separators.hl7');
    const m = Hl7Message.parse(text);
    expect(m.separators).toEqual({ field: '#', component: '$', repetition: '*', escape: '\\', subcomponent: '@' });
    expect(m.text).toBe(text);
    for (const [path, value] of A28_READS) expect(m.get(path), path).toBe(path === 'MSH-1' ? '#' : value);
    expect(m.msh.raw(2)).toBe('$*\\@');
  });

  it('unescapes \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\X41\\ (escapes.hl7)', () => {
    const m = Hl7Message.parse(decodeFixture('escapes.hl7'));
    expect(m.get('PID-5.1')).toBe('DANTONI');
    expect(m.get('PID-5.7')).toBe('D');
    expect(m.get('PID-5[2].1')).toBe('CASANOVA');
    expect(m.get('PID-11.1')).toBe('12 COURS NAPOLEON | BAT B^ESC 2');
    expect(m.get('PID-11.2')).toBe('RESIDENCE A&B \\ ~ 3');
    expect(m.get('PID-11.3')).toBe('AJACCIO');
    expect(m.get('PID-11[2].9')).toBe('2A004');
    expect(m.segment('PID')!.raw(11)).toBe('12 COURS NAPOLEON \\F\\ BAT B\\S\\ESC 2^RESIDENCE A\\T\\B \\E\\ \\R\\ 3^AJACCIO^^20000^FRA^H~^^AJACCIO^^^FRA^BDL^^2A004');
  });

  it('parses the decoded 8859-15 fixture with its accents', () => {
    const m = Hl7Message.parse(decodeFixture('latin9.hl7'));
    expect(m.get('PID-5.1')).toBe('LEFÈVRE');
    expect(m.get('PID-5.2')).toBe('HÉLÈNE');
    expect(m.get('PID-11.1')).toBe('3 RUE DU CŒUR VOLANT');
    expect(m.get('PID-11.3')).toBe("L'HAŸ-LES-ROSES");
  });

  it('throws an Hl7Error for text that is not a message', () => {
    expect(() => Hl7Message.parse('PID|1\r')).toThrow(expect.objectContaining({ code: ErrorCode.SegmentSequence }));
    expect(() => Hl7Message.parse(BATCH)).toThrow(Hl7Error);
    expect(() => Hl7Message.parse('MSH|^~\\&\r')).toThrow(expect.objectContaining({ code: ErrorCode.DataType, location: { segment: 'MSH', field: 2 } }));
    expect(() => Hl7Message.parse('MSH|^~|&|A\r')).toThrow(expect.objectContaining({ code: ErrorCode.DataType }));
    expect(() => Hl7Message.parse('MSH|^~\\&|A\rPID-1\r')).toThrow(expect.objectContaining({ code: ErrorCode.SegmentSequence }));
  });

  it('rejects a stray line break inside a field instead of truncating the segment (regression)', () => {
    // `VALI` cut by an LF used to give PID-32 = `VAL` and a bogus segment named `I`.
    expect(() => Hl7Message.parse('MSH|^~\\&|A\rPID|1|||||||||||||||||||||||||||||||VAL\rI\rPV1|1|N\r')).toThrow(
      expect.objectContaining({ code: ErrorCode.SegmentSequence }),
    );
    // Located at the segment the line follows: an error location (ERR-2) names a real segment, never `I??`.
    expect(() => Hl7Message.parse('MSH|^~\\&|A\rPID|1|VAL\rI\r')).toThrow(
      expect.objectContaining({ location: { segment: 'PID', sequence: 1 }, message: 'segment 3 has no valid segment name' }),
    );
    expect(() => Hl7Message.parse('MSH|^~\\&|A\rPID|1\r12\r')).toThrow(Hl7Error);
    expect(() => Hl7Message.parse('MSH|^~\\&|A\rpid|1\r')).toThrow(Hl7Error);
    // A bare three-letter segment is still a segment.
    expect(Hl7Message.parse('MSH|^~\\&|A\rPV1\r').segments.map((s) => s.name)).toEqual(['MSH', 'PV1']);
  });

  it('rejects a bad path', () => {
    expect(() => msg.get('PID.3')).toThrow('invalid HL7 path');
  });
});

describe('encoding', () => {
  const custom: Separators = { field: '#', component: '$', repetition: '*', escape: '!', subcomponent: '@' };

  it.each([
    ['MSH|^~\\&|A', DEFAULT_SEPARATORS],
    ['MSH#$*!@#A', custom],
    ['MSH|^~\\&#|A', { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' }],
  ])('readSeparators(%j)', (text, seps) => {
    expect(readSeparators(text)).toEqual(seps);
  });

  it.each([
    ['a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', 'a|b^c&d~e\\f'],
    ['\\X41\\\\X4243\\', 'ABC'],
    ['line\\.br\\two', 'line\ntwo'],
    ['\\H\\bold\\N\\', 'bold'],
    ['lone \\ escape', 'lone \\ escape'],
    ['no escapes', 'no escapes'],
  ])('unescapeHl7(%j) = %j', (raw, value) => {
    expect(unescapeHl7(raw, DEFAULT_SEPARATORS)).toBe(value);
  });

  it.each([DEFAULT_SEPARATORS, custom])('escape then unescape is the identity (%j)', (seps) => {
    const value = 'A|B^C~D&E\\F#G$H*I!J@K';
    expect(unescapeHl7(escapeHl7(value, seps), seps)).toBe(value);
  });

  it('escapes separators and line breaks', () => {
    expect(escapeHl7('a|b^c\r\nd', DEFAULT_SEPARATORS)).toBe('a\\F\\b\\S\\c\\.br\\\\.br\\d');
  });
});
