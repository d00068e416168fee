/**
 * Unit test — which database errors are the message's fault (an AE for that message) and which the store's (the file
 * fails and is retried): store/db-errors.ts. The pipeline side runs on real stores in test/pipeline/refusals.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { contentRefusal, refusalDetail, systemFault } from '../../src/store/db-errors.js';

const err = (code: string, extra: object = {}) => Object.assign(new Error('x'), { code, ...extra });

describe('contentRefusal', () => {
  it.each([
    ['22021', '22021'], ['22001', '22001'], ['22003', '22003'], ['23514', '23514'], ['23502', '23502'], ['23503', '23503'],
    ['SQLITE_CONSTRAINT_CHECK', 'SQLITE_CONSTRAINT_CHECK'], ['SQLITE_CONSTRAINT_TRIGGER', 'SQLITE_CONSTRAINT_TRIGGER'], ['SQLITE_TOOBIG', 'SQLITE_TOOBIG'],
    ['23505', null], ['SQLITE_CONSTRAINT_UNIQUE', null], ['SQLITE_CONSTRAINT_PRIMARYKEY', null], ['40001', null], ['08006', null],
    ['SQLITE_FULL', null], ['ECONNRESET', null],
  ])('%s → %s', (code, want) => {
    expect(contentRefusal(err(code))).toBe(want);
  });
  it('reads the cause chain, and nothing from an error without a code', () => {
    expect(contentRefusal(new Error('wrapped', { cause: err('22021') }))).toBe('22021');
    expect(contentRefusal(new TypeError('bug'))).toBeNull();
  });
});

describe('systemFault', () => {
  it.each([
    ['08006', true], ['57P01', true], ['53100', true], ['58030', true], ['XX000', true], ['SQLITE_FULL', true], ['SQLITE_IOERR_WRITE', true],
    ['ECONNRESET', true], ['ENOSPC', true], ['22021', false], ['23514', false], ['40P01', false], ['SQLITE_CONSTRAINT_CHECK', false],
  ])('%s → %s', (code, want) => {
    expect(systemFault(err(code))).toBe(want);
  });
  it('a lost connection without a code', () => {
    expect(systemFault(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(systemFault(new TypeError('x is undefined'))).toBe(false);
  });
});

describe('refusalDetail', () => {
  it('names table, column and constraint, never the message (which may quote a value)', () => {
    expect(refusalDetail(err('23502', { table: 'messages', column: 'event', message: 'null value in column "event" … DUPONT' }))).toBe('table messages, column event');
    expect(refusalDetail(err('22021'))).toBe('');
  });
});
