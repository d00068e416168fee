/**
 * Unit test — control characters in a field (hl7/controls.ts): found raw or as a hex escape, located at segment,
 * occurrence, field, repetition and component; CR/LF written as escapes allowed. End to end: test/pipeline/refusals.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { controlCharacterFinding } from '../../src/hl7/controls.js';
import { Hl7Message } from '../../src/hl7/model.js';

const MSH = 'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101||ADT^A28^ADT_A05|C1|P|2.5';
const msg = (...segs: string[]) => Hl7Message.parse([MSH, ...segs].join('\r') + '\r');

describe('controlCharacterFinding', () => {
  it.each([
    ['PID|1||1^^^A^PI||DO\u0000E', { segment: 'PID', sequence: 1, field: 5, repetition: 1, component: 1 }, '0x00'],
    ['PID|1||1^^^A^PI~2^^^B\tX^PI', { segment: 'PID', sequence: 1, field: 3, repetition: 2, component: 4 }, '0x09'],
    ['PID|1||1^^^A^PI||DOE^JO\\X1B\\HN', { segment: 'PID', sequence: 1, field: 5, repetition: 1, component: 2 }, '0x1B'],
  ])('%j', (seg, location, hex) => {
    const f = controlCharacterFinding(msg(seg))!;
    expect(f.code).toBe(102);
    expect(f.severity).toBe('E');
    expect(f.location).toEqual(location);
    expect(f.text).toContain(`control character ${hex}`);
  });
  it('the second occurrence of a segment, and MSH fields (MSH-1 is the separator itself)', () => {
    expect(controlCharacterFinding(msg('PID|1', 'NTE|1', 'NTE|2||a\u0001'))!.location).toEqual({ segment: 'NTE', sequence: 2, field: 3, repetition: 1, component: 1 });
    expect(controlCharacterFinding(Hl7Message.parse(MSH.replace('|C1|', '|C\u00001|') + '\r'))!.location).toEqual({ segment: 'MSH', sequence: 1, field: 10, repetition: 1, component: 1 });
  });
  it('nothing in a clean message, in CR/LF hex escapes, or in an escape that is no hex escape', () => {
    expect(controlCharacterFinding(msg('PID|1||1^^^A^PI||DOE\\X0D0A\\X^\\.br\\^\\E\\X00'))).toBeNull();
    // The text "\X00\" written with escaped escape characters: no NUL in the value read.
    expect(controlCharacterFinding(msg('PID|1||1^^^A^PI||DOE^\\E\\X00\\E\\'))).toBeNull();
  });
});
