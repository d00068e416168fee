/**
 * Test program: INS rules (src/pam/ins.ts).
 * - NIR/NIA key: every §8 INS, Corsica 2A/2B, the §8.8 bad key (expected 23), the spec samples
 *   that are not key-valid, malformed values.
 * - The INS authority table (.8/.9 production, .10 test, .11 demo).
 * - classifyCx: ordinary identifier, INS of each authority, explicit null, billing NIR (.8 + NH), INS-C, unknown
 *   INS authority, OID fallback to CX-4.1, empty repetition.
 * - insCoherence: sex digit, YYMM, birthplace with the Corsica and Paris/Lyon/Marseille tolerances.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SEPARATORS } from '../../src/hl7/encoding.js';
import { classifyCx, insAuthority, insCoherence, insExpectedKey, insKeyOk, type CxClass } from '../../src/pam/ins.js';

describe('insKeyOk / insExpectedKey', () => {
  it.each([
    ['§8.1 Corsica 2A', '285032A00412371', true, 71],
    ['Corsica 2B', '185032B00412351', true, 51],
    ['pre-1976 Corsica department 20', '285032000412344', true, 44],
    ['§8.4', '167114410908956', true, 56],
    ['§8.5 born abroad (99)', '155049935001242', true, 42],
    ['§8.6', '292093155504523', true, 23],
    ['§8.8 wrong key 24', '292093155504524', false, 23],
    ['spec sample DTFR N.1 is not key-valid', '276037510669380', false, 26],
    ['spec sample PAMFR §4.4.1 is not key-valid', '260058815400244', false, 33],
    ['corrected sample', '260058815400233', true, 33],
    ['Corsica with the 2A key of another body', '285032A00412370', false, 71],
  ])('%s: %s → %s', (_label, value, ok, expectedKey) => {
    expect(insKeyOk(value)).toBe(ok);
    expect(insExpectedKey(value)).toBe(expectedKey);
  });

  it.each([
    ['14 characters', '29209315550452'],
    ['16 characters', '2920931555045233'],
    ['13 characters without key', '2920931555045'],
    ['lowercase 2a', '285032a00412371'],
    ['letter outside the department', '28503A200412371'],
    ['A without the 2', '285031A00412371'],
    ['non-digit key', '29209315550452X'],
    ['letters in the key', '2920931555045AB'],
    ['empty', ''],
    ['explicit null', '""'],
  ])('malformed %s → false, no expected key', (_label, value) => {
    expect(insKeyOk(value)).toBe(false);
    expect(insExpectedKey(value)).toBeNull();
  });
});

describe('INS authorities', () => {
  it.each([
    ['1.2.250.1.213.1.4.8', { oid: '1.2.250.1.213.1.4.8', kind: 'NIR', environment: 'production' }],
    ['1.2.250.1.213.1.4.9', { oid: '1.2.250.1.213.1.4.9', kind: 'NIA', environment: 'production' }],
    ['1.2.250.1.213.1.4.10', { oid: '1.2.250.1.213.1.4.10', kind: 'NIR', environment: 'test' }],
    ['1.2.250.1.213.1.4.11', { oid: '1.2.250.1.213.1.4.11', kind: 'NIR', environment: 'demo' }],
    ['1.2.250.1.213.1.4.2', undefined],
    ['1.2.250.1.999999.1', undefined],
  ])('%s', (oid, expected) => {
    expect(insAuthority(oid)).toEqual(expected);
  });
});

describe('classifyCx', () => {
  const NIR_HD = 'ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO';
  it.each<[string, string, CxClass]>([
    ['IPP', '100234^^^CHEX&1.2.250.1.999999.1&ISO^PI',
      { kind: 'identifier', id: { value: '100234', authority: 'CHEX', oid: '1.2.250.1.999999.1', type: 'PI' } }],
    ['IPP without OID', '100234^^^CHEX^PI', { kind: 'identifier', id: { value: '100234', authority: 'CHEX', oid: null, type: 'PI' } }],
    ['escaped value', 'A\\S\\B^^^CHEX^PI', { kind: 'identifier', id: { value: 'A^B', authority: 'CHEX', oid: null, type: 'PI' } }],
    ['INS-NIR production', `285032A00412371^^^${NIR_HD}^INS`,
      { kind: 'ins', ins: { value: '285032A00412371', oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, environment: 'production', problem: null }],
    ['INS-NIA production', '285032A00412470^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS',
      { kind: 'ins', ins: { value: '285032A00412470', oid: '1.2.250.1.213.1.4.9', kind: 'NIA' }, environment: 'production', problem: null }],
    ['INS-NIR test', '285032A00412371^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS',
      { kind: 'ins', ins: { value: '285032A00412371', oid: '1.2.250.1.213.1.4.10', kind: 'NIR' }, environment: 'test', problem: null }],
    ['INS-NIR demo', '285032A00412371^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.11&ISO^INS',
      { kind: 'ins', ins: { value: '285032A00412371', oid: '1.2.250.1.213.1.4.11', kind: 'NIR' }, environment: 'demo', problem: null }],
    ['INS with a date in CX-7 (ANS samples)', `285032A00412371^^^${NIR_HD}^INS^^20101207`,
      { kind: 'ins', ins: { value: '285032A00412371', oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, environment: 'production', problem: null }],
    ['INS OID given in CX-4.1 only', '285032A00412371^^^1.2.250.1.213.1.4.8^INS',
      { kind: 'ins', ins: { value: '285032A00412371', oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, environment: 'production', problem: null }],
    ['INS with a wrong key', `292093155504524^^^${NIR_HD}^INS`,
      { kind: 'ins', ins: { value: '292093155504524', oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, environment: 'production', problem: 'key' }],
    ['INS malformed', `29209315550452^^^${NIR_HD}^INS`,
      { kind: 'ins', ins: { value: '29209315550452', oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, environment: 'production', problem: 'malformed' }],
    ['INS without a value', `^^^${NIR_HD}^INS`,
      { kind: 'ins', ins: { value: '', oid: '1.2.250.1.213.1.4.8', kind: 'NIR' }, environment: 'production', problem: 'malformed' }],
    ['explicit-null INS', `""^^^${NIR_HD}^INS`,
      { kind: 'ins-null', oid: '1.2.250.1.213.1.4.8', insKind: 'NIR', environment: 'production' }],
    ['explicit-null INS-NIA', '""^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS',
      { kind: 'ins-null', oid: '1.2.250.1.213.1.4.9', insKind: 'NIA', environment: 'production' }],
    ['billing NIR: .8 with CX-5 NH is an ordinary identifier', '285032A00412371^^^ASIP-SANTE-NIR&1.2.250.1.213.1.4.8&ISO^NH',
      { kind: 'identifier', id: { value: '285032A00412371', authority: 'ASIP-SANTE-NIR', oid: '1.2.250.1.213.1.4.8', type: 'NH' } }],
    ['INS-C is an ordinary identifier', '1234567890123456789012^^^ASIP-SANTE-INS-C&1.2.250.1.213.1.4.2&ISO^INS-C',
      { kind: 'identifier', id: { value: '1234567890123456789012', authority: 'ASIP-SANTE-INS-C', oid: '1.2.250.1.213.1.4.2', type: 'INS-C' } }],
    ['CX-5 INS with a non-INS OID', '285032A00412371^^^ASIP-SANTE-INS-C&1.2.250.1.213.1.4.2&ISO^INS', { kind: 'ins-unknown-authority' }],
    ['CX-5 INS without authority', '285032A00412371^^^^INS', { kind: 'ins-unknown-authority' }],
    ['empty repetition', '', { kind: 'empty' }],
  ])('%s', (_label, raw, expected) => {
    expect(classifyCx(raw, DEFAULT_SEPARATORS)).toEqual(expected);
  });
});

describe('insCoherence', () => {
  it.each([
    ['§8.1 Corsica, coherent', '285032A00412371', { sex: 'F', birth: '19850317', birthplace: '2A004' }, []],
    ['§8.4 coherent', '167114410908956', { sex: 'M', birth: '19671102', birthplace: '44109' }, []],
    ['§8.5 born abroad, coherent', '155049935001242', { sex: 'M', birth: '19550412', birthplace: '99350' }, []],
    ['sex digit 2 vs M', '285032A00412371', { sex: 'M', birth: '19850317', birthplace: '2A004' }, ['sex']],
    ['sex digit 1 vs F', '167114410908956', { sex: 'F', birth: '19671102', birthplace: '44109' }, ['sex']],
    ['sex U is not compared', '167114410908956', { sex: 'U', birth: '19671102', birthplace: '44109' }, []],
    ['year differs', '285032A00412371', { sex: 'F', birth: '19860317', birthplace: '2A004' }, ['birth']],
    ['month differs', '285032A00412371', { sex: 'F', birth: '19850417', birthplace: '2A004' }, ['birth']],
    ['NIR month 20+ (unknown month): month not compared', '285202A00412371', { sex: 'F', birth: '19850417', birthplace: '2A004' }, []],
    ['NIR month 20+: year still compared', '286202A00412371', { sex: 'F', birth: '19850417', birthplace: '2A004' }, ['birth']],
    ['year-only PID-7: year compared', '285032A00412371', { sex: 'F', birth: '1985', birthplace: '2A004' }, []],
    ['birthplace differs', '285032A00412371', { sex: 'F', birth: '19850317', birthplace: '31555' }, ['birthplace']],
    ['pre-1976 Corsica NIR 20004 vs COG 2A004', '285032000412344', { sex: 'F', birth: '19850317', birthplace: '2A004' }, []],
    ['Paris commune in the NIR vs arrondissement COG', '185037505600181', { sex: 'M', birth: '19850317', birthplace: '75114' }, []],
    ['Paris arrondissement vs another city', '167117511408939', { sex: 'M', birth: '19671102', birthplace: '69123' }, ['birthplace']],
    ['Paris commune COG vs arrondissement NIR', '167117511408939', { sex: 'M', birth: '19671102', birthplace: '75056' }, []],
    ['every trait differs', '285032A00412371', { sex: 'M', birth: '19900101', birthplace: '44109' }, ['sex', 'birth', 'birthplace']],
    ['no traits sent: nothing compared', '285032A00412371', { sex: '', birth: '', birthplace: '' }, []],
  ])('%s', (_label, nir, traits, expected) => {
    expect(insCoherence(nir, traits)).toEqual(expected);
  });
});
