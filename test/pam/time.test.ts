/**
 * Test program: HL7 TS/DTM parsing (src/pam/time.ts).
 * - parseHl7Time: every precision, fractions, explicit offsets (day/year roll-over), the default-offset parameter,
 *   local time when no offset is given, and every kind of invalid value → null.
 * - birthDate: precision kept, no time-zone shift, invalid → null.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { birthDate, parseHl7Time } from '../../src/pam/time.js';

describe('parseHl7Time with an explicit default offset', () => {
  it.each([
    ['year only', '2025', 0, '20250101000000.0000'],
    ['year + month', '202503', 0, '20250301000000.0000'],
    ['date', '20250312', 0, '20250312000000.0000'],
    ['hour', '2025031210', 0, '20250312100000.0000'],
    ['minute', '202503121015', 0, '20250312101500.0000'],
    ['second', '20250312101530', 0, '20250312101530.0000'],
    ['1-digit fraction is right-padded', '20250312101530.1', 0, '20250312101530.1000'],
    ['4-digit fraction', '20250312101530.1234', 0, '20250312101530.1234'],
    ['+0100 offset goes back one hour', '20250312101500+0100', 0, '20250312091500.0000'],
    ['+0200 crosses midnight backwards', '20250312001500+0200', 0, '20250311221500.0000'],
    ['-0130 crosses the new year', '20251231230000-0130', 0, '20260101003000.0000'],
    ['fraction with an offset is not shifted', '20250312101500.5-0500', 0, '20250312151500.5000'],
    ['offset in the value wins over the default', '20250312101500+0000', 60, '20250312101500.0000'],
    ['default offset applies without one in the value', '20250312101500', 60, '20250312091500.0000'],
    ['offset on a date-only value', '20250312+0100', 0, '20250311230000.0000'],
    ['surrounding spaces tolerated', ' 20250312101500 ', 0, '20250312101500.0000'],
    ['years below 100 are not read as 19xx', '00990101', 0, '00990101000000.0000'],
    ['29 February of a leap year', '20240229', 0, '20240229000000.0000'],
    ['2000 is a leap year', '20000229', 0, '20000229000000.0000'],
  ])('%s: %s', (_label, ts, offset, expected) => {
    expect(parseHl7Time(ts, offset)).toBe(expected);
  });
});

describe('parseHl7Time: invalid values → null', () => {
  it.each([
    ['empty', ''],
    ['explicit null', '""'],
    ['odd length', '2025031'],
    ['month 13', '202513'],
    ['month 00', '202500'],
    ['30 February', '20250230'],
    ['29 February of a common year', '20250229'],
    ['1900 is not a leap year', '19000229'],
    ['31 April', '20250431'],
    ['hour 24', '2025031224'],
    ['minute 60', '202503121060'],
    ['second 60', '20250312101560'],
    ['5-digit fraction', '20250312101500.12345'],
    ['fraction without seconds', '202503121015.5'],
    ['2-digit offset', '20250312101500+01'],
    ['offset hours 24', '20250312101500+2400'],
    ['offset minutes 60', '20250312101500+0160'],
    ['ISO 8601 separator', '20250312T101500'],
    ['letters', 'abcdefgh'],
    ['trailing garbage', '20250312101500Z'],
  ])('%s: %s', (_label, ts) => {
    expect(parseHl7Time(ts, 0)).toBeNull();
  });
});

describe('parseHl7Time without an offset reads local time of the process', () => {
  const utc = (d: Date): string =>
    `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`
    + `${String(d.getUTCHours()).padStart(2, '0')}${String(d.getUTCMinutes()).padStart(2, '0')}${String(d.getUTCSeconds()).padStart(2, '0')}.0000`;
  it.each([
    ['winter', '20250112101500', new Date(2025, 0, 12, 10, 15, 0)],
    ['summer', '20250712101500', new Date(2025, 6, 12, 10, 15, 0)],
    ['date only', '19991231', new Date(1999, 11, 31, 0, 0, 0)],
  ])('%s: %s', (_label, ts, local) => {
    expect(parseHl7Time(ts)).toBe(utc(local));
  });
});

describe('parseHl7Time without an offset, process in Europe/Paris', () => {
  // Node re-reads TZ when process.env.TZ is assigned; vitest runs each file in its own process (forks pool).
  let saved: string | undefined;
  beforeAll(() => { saved = process.env.TZ; process.env.TZ = 'Europe/Paris'; });
  afterAll(() => { if (saved === undefined) delete process.env.TZ; else process.env.TZ = saved; });
  it.each([
    ['winter time is UTC+1', '20250112101500', '20250112091500.0000'],
    ['summer time is UTC+2', '20250712101500', '20250712081500.0000'],
    ['midnight in winter is the previous UTC day', '20250101', '20241231230000.0000'],
  ])('%s: %s', (_label, ts, expected) => {
    expect(parseHl7Time(ts)).toBe(expected);
  });
});

describe('birthDate', () => {
  it.each([
    ['full date', '19850317', '1985-03-17'],
    ['year + month', '198503', '1985-03'],
    ['year only', '1985', '1985'],
    ['time is ignored', '198503171230', '1985-03-17'],
    ['offset is ignored, no shift', '19850317000000-0500', '1985-03-17'],
    ['trailing space', '19850317 ', '1985-03-17'],
  ])('%s: %s', (_label, ts, expected) => {
    expect(birthDate(ts)).toBe(expected);
  });

  it.each([
    ['empty', ''],
    ['explicit null', '""'],
    ['30 February', '19850230'],
    ['odd length', '1985031'],
    ['ISO form', '1985-03-17'],
  ])('invalid %s → null', (_label, ts) => {
    expect(birthDate(ts)).toBeNull();
  });
});
