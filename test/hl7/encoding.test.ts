import { describe, expect, it } from 'vitest';
import { nthPiece, splitOn } from '../../src/hl7/encoding.js';

// splitOn and nthPiece replace String.prototype.split on the hot path: they must give exactly what split gives.
const cases: Array<[string, string]> = [
  ['', '^'], ['a', '^'], ['^', '^'], ['a^b^c', '^'], ['^^a^', '^'], ['a~~b', '~'], ['é^ü&x', '&'], ['ab||cd', '||'],
];

describe('splitOn', () => {
  it.each(cases)('splitOn(%j, %j) equals String#split', (text, sep) => {
    expect(splitOn(text, sep)).toEqual(text.split(sep));
  });
});

describe('nthPiece', () => {
  it.each(cases)('every piece of %j on %j equals split()[n - 1] ?? ""', (text, sep) => {
    const parts = text.split(sep);
    for (let n = 1; n <= parts.length + 2; n++) expect(nthPiece(text, sep, n)).toBe(parts[n - 1] ?? '');
  });
});
