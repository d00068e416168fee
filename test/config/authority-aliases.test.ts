/**
 * Test program — `pam.authorityAliases` at the edge (config/load.ts): default empty, a map of CX-4.1 namespace IDs,
 * anything else refused with the key named; an unknown key under `pam` refused.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../src/config/load.js';
import type { ImporterConfig } from '../../src/config/types.js';

const pam = (p: unknown) => resolveConfig({ pam: p } as ImporterConfig);

describe('pam.authorityAliases', () => {
  it('is empty by default, as config.example.json says', () => {
    expect(resolveConfig({}).pam.authorityAliases).toEqual({});
    expect(JSON.parse(readFileSync('config.example.json', 'utf8')).pam.authorityAliases).toEqual({});
  });

  it('maps namespace IDs as sent', () => {
    expect(pam({ authorityAliases: { OLDNAME: 'NEWNAME', old: 'NEWNAME' } }).pam.authorityAliases).toEqual({ OLDNAME: 'NEWNAME', old: 'NEWNAME' });
  });

  it.each([
    ['not an object', ['OLD', 'NEW'], /pam\.authorityAliases: must be an object/],
    ['a non-string target', { OLD: 1 }, /pam\.authorityAliases\.OLD: must map/],
    ['an empty target', { OLD: '' }, /pam\.authorityAliases\.OLD: must map/],
    ['a name mapped to itself', { OLD: 'OLD' }, /pam\.authorityAliases\.OLD: maps a namespace ID to itself/],
    ['a chain', { A: 'B', B: 'C' }, /pam\.authorityAliases\.A: B is itself renamed/],
  ])('refuses %s', (_what, v, re) => {
    expect(() => pam({ authorityAliases: v })).toThrow(re);
  });

  it('an unknown key under pam is refused', () => {
    expect(() => pam({ authorityAlias: { OLD: 'NEW' } })).toThrow(/pam\.authorityAlias: unknown key/);
  });
});
