/**
 * Test program: PID → PatientData (src/pam/extract.ts), one PID field irregularity per row, built on §8.2.
 * - tri-state: empty field → property absent, `""` → null, value → replace;
 * - PID-5 by XPN-7 (and the extra-`^` pitfall), `""`/empty components → null, XPN-3 raw;
 * - PID-11 by XAD-7, BDL in XAD-8, findBirthplace;
 * - PID-7 / PID-29 dates (AE 102 when malformed), PID-6, PID-8, PID-13, PID-16, PID-30;
 * - PID-32 status + attributes after the status map.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/hl7/errors.js';
import { Hl7Message } from '../../src/hl7/model.js';
import { extractPatientData, findBirthplace, readCxField, type FindingSink } from '../../src/pam/extract.js';
import type { PamOptions, PatientData } from '../../src/pam/types.js';
import { A31_UPDATE } from '../fixtures/examples.js';
import { opts, setField, where } from './helpers.js';

function extract(text: string, options: PamOptions = opts()): { data: PatientData; sink: FindingSink } {
  const msg = Hl7Message.parse(text);
  const sink: FindingSink = { errors: [], warnings: [] };
  const data = extractPatientData(msg.segment('PID')!, msg.separators, options, sink);
  return { data, sink };
}

const L_NAME = { family: 'CASANOVA', given: 'MARIE', givenNames: 'MARIE LAETITIA ANNE', prefix: 'Mme' };
const D_NAME = { family: 'BONAPARTE', given: 'MARIE', givenNames: null, prefix: 'Mme' };
const BDL = { street: null, other: null, city: 'AJACCIO', state: null, zip: null, country: 'FRA', countyCode: '2A004' };

describe('§8.2 as sent', () => {
  it('gives every field, nothing more', () => {
    const { data, sink } = extract(A31_UPDATE);
    expect(data).toEqual({
      names: { D: D_NAME, L: L_NAME },
      addresses: {
        H: { street: '4 RUE FESCH', other: null, city: 'BASTIA', state: null, zip: '20200', country: 'FRA', countyCode: null },
        BDL,
      },
      birthDate: '1985-03-17',
      sex: 'F',
      maritalStatus: 'M',
      status: 'VALI',
      attributes: [],
    });
    expect(sink).toEqual({ errors: [], warnings: [] });
  });
});

describe('tri-state of simple fields', () => {
  it.each<[string, number, string, keyof PatientData, unknown]>([
    ['PID-8 empty → absent', 8, '', 'sex', undefined],
    ['PID-8 "" → null', 8, '""', 'sex', null],
    ['PID-8 value', 8, 'M', 'sex', 'M'],
    ['PID-7 empty → absent', 7, '', 'birthDate', undefined],
    ['PID-7 "" → null', 7, '""', 'birthDate', null],
    ['PID-7 year-month precision', 7, '198503', 'birthDate', '1985-03'],
    ['PID-7 with time', 7, '198503171230', 'birthDate', '1985-03-17'],
    ['PID-6.1 mother maiden name', 6, 'ROSSI^ANNA', 'motherMaidenName', 'ROSSI'],
    ['PID-6 "" → null', 6, '""', 'motherMaidenName', null],
    ['PID-13 repetitions joined', 13, '^PRN^PH^^^^^^^^^0495000000~^NET^Internet^x@y.fr', 'phone', '^PRN^PH^^^^^^^^^0495000000 ~ ^NET^Internet^x@y.fr'],
    ['PID-13 escapes resolved', 13, '^PRN^PH^^^^^^^^^04\\T\\95', 'phone', '^PRN^PH^^^^^^^^^04&95'],
    ['PID-13 "" → null', 13, '""', 'phone', null],
    ['PID-16 empty → absent', 16, '', 'maritalStatus', undefined],
    ['PID-16 "" → null', 16, '""', 'maritalStatus', null],
    ['PID-16.1 of a CWE', 16, 'S^Single^HL70002', 'maritalStatus', 'S'],
    ['PID-29 death date', 29, '20250101083000', 'deathDate', '2025-01-01'],
    ['PID-29 "" → null', 29, '""', 'deathDate', null],
    ['PID-30 death indicator', 30, 'Y', 'deathIndicator', 'Y'],
    ['PID-30 "" → null', 30, '""', 'deathIndicator', null],
  ])('%s', (_label, field, value, prop, expected) => {
    const { data, sink } = extract(setField(A31_UPDATE, 'PID', field, value));
    if (expected === undefined) expect(Object.prototype.hasOwnProperty.call(data, prop)).toBe(false);
    else expect(data[prop]).toEqual(expected);
    expect(sink.errors).toEqual([]);
  });
});

describe('PID-5 names by type', () => {
  it.each<[string, string, PatientData['names']]>([
    ['field "" clears every name', '""', null],
    ['one L name replaces only L', 'CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L', { L: L_NAME }],
    ['"" family in D removes the usage name, keeps the used first name (§2.1)', '""^MARIE^^^^^D', { D: { family: null, given: 'MARIE', givenNames: null, prefix: null } }],
    ['XPN-3 kept raw, commas included', 'DUPONT^PAUL^Paul,Jacques^^M.^^L', { L: { family: 'DUPONT', given: 'PAUL', givenNames: 'Paul,Jacques', prefix: 'M.' } }],
    ['typed repetition without any value clears that type', '""^^^^^^D~CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L', { D: null, L: L_NAME }],
    ['empty XPN-7 keyed by ""', 'DUPONT^PAUL', { '': { family: 'DUPONT', given: 'PAUL', givenNames: null, prefix: null } }],
    ['empty repetitions skipped', '~DUPONT^PAUL^^^^^L~', { L: { family: 'DUPONT', given: 'PAUL', givenNames: null, prefix: null } }],
    ['escaped separators unescaped', 'DUPONT\\S\\MARTIN^PAUL^^^^^L', { L: { family: 'DUPONT^MARTIN', given: 'PAUL', givenNames: null, prefix: null } }],
    ['FN subcomponents: surname only', 'DUPONT&DE^PAUL^^^^^L', { L: { family: 'DUPONT', given: 'PAUL', givenNames: null, prefix: null } }],
  ])('%s', (_label, pid5, expected) => {
    const { data, sink } = extract(setField(A31_UPDATE, 'PID', 5, pid5));
    expect(data.names).toEqual(expected);
    expect(sink.warnings).toEqual([]);
  });

  it.each([
    ['extra ^ shifts L into XPN-8', 'CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^^L', { L: L_NAME }, 8],
    ['second name of the same type ignored', 'CASANOVA^MARIE^MARIE LAETITIA ANNE^^Mme^^L~OTHER^X^^^^^L', { L: L_NAME }, 7],
  ])('%s → warning', (_label, pid5, expected, component) => {
    const { data, sink } = extract(setField(A31_UPDATE, 'PID', 5, pid5));
    expect(data.names).toEqual(expected);
    expect(where(sink.warnings)).toEqual([{
      code: ErrorCode.DataType, severity: 'W',
      location: { segment: 'PID', sequence: 1, field: 5, repetition: component === 8 ? 1 : 2, component },
    }]);
  });
});

describe('PID-11 addresses by type', () => {
  it.each<[string, string, PatientData['addresses']]>([
    ['field "" clears every address', '""', null],
    ['BDL in XAD-7', '^^AJACCIO^^^FRA^BDL^^2A004', { BDL }],
    ['BDL in XAD-8 (Gazelle-style)', '^^AJACCIO^^^FRA^^BDL^2A004', { BDL }],
    ['"" components → null', '""^^""^^""^FRA^H', { H: { street: null, other: null, city: null, state: null, zip: null, country: 'FRA', countyCode: null } }],
    ['typed repetition without any value clears that type', '""^^^^^^H~^^AJACCIO^^^FRA^BDL^^2A004', { H: null, BDL }],
    ['street = SAD.1', '4 RUE FESCH&RUE FESCH&4^^BASTIA^^20200^FRA^H', { H: { street: '4 RUE FESCH', other: null, city: 'BASTIA', state: null, zip: '20200', country: 'FRA', countyCode: null } }],
  ])('%s', (_label, pid11, expected) => {
    expect(extract(setField(A31_UPDATE, 'PID', 11, pid11)).data.addresses).toEqual(expected);
  });

  it.each([
    ['§8.2: BDL is repetition 2', A31_UPDATE, { repetition: 2, cog: '2A004' }],
    ['BDL in XAD-8', setField(A31_UPDATE, 'PID', 11, '^^NANTES^^^FRA^^BDL^44109'), { repetition: 1, cog: '44109' }],
    ['BDL without XAD-9', setField(A31_UPDATE, 'PID', 11, '^^NANTES^^^FRA^BDL'), { repetition: 1, cog: '' }],
    ['no BDL', setField(A31_UPDATE, 'PID', 11, '4 RUE FESCH^^BASTIA^^20200^FRA^H'), undefined],
    ['PID-11 ""', setField(A31_UPDATE, 'PID', 11, '""'), undefined],
  ])('findBirthplace: %s', (_label, text, expected) => {
    const msg = Hl7Message.parse(text);
    expect(findBirthplace(msg.segment('PID')!, msg.separators)).toEqual(expected);
  });
});

describe('malformed dates → AE 102', () => {
  it.each([
    ['PID-7', 7, '19850230'],
    ['PID-7', 7, '1985-03-17'],
    ['PID-29', 29, '2025013'],
  ])('%s %s', (_label, field, value) => {
    const { data, sink } = extract(setField(A31_UPDATE, 'PID', field, value));
    expect(where(sink.errors)).toEqual([{ code: ErrorCode.DataType, severity: 'E', location: { segment: 'PID', sequence: 1, field } }]);
    expect(sink.errors[0]!.text).not.toContain(value);
    expect(field === 7 ? data.birthDate : data.deathDate).toBeUndefined();
  });
});

describe('PID-32 status and attributes', () => {
  it.each<[string, string, Partial<PamOptions>, PatientData['status'], PatientData['attributes']]>([
    ['absent', '', {}, undefined, undefined],
    ['"" clears both', '""', {}, null, null],
    ['VALI', 'VALI', {}, 'VALI', []],
    ['PROV + DOUT (§8.3a)', 'PROV~DOUT', {}, 'PROV', ['DOUT']],
    ['attribute first, status after', 'HOMA~VALI', {}, 'VALI', ['HOMA']],
    ['attributes only: status kept', 'DOUT~FICT', {}, undefined, ['DOUT', 'FICT']],
    ['QUAL mapped to VALI (default map)', 'QUAL', {}, 'VALI', []],
    ['RECUP mapped to PROV (default map)', 'RECUP', {}, 'PROV', []],
    ['custom map', 'VALIDE', { statusMap: { VALIDE: 'VALI' } }, 'VALI', []],
    ['empty map leaves QUAL as is', 'QUAL', { statusMap: {} }, 'QUAL', []],
    ['code in CWE.1', 'VALI^Identité validée^HL70445', {}, 'VALI', []],
    ['repeated attribute listed once', 'PROV~DOUT~DOUT', {}, 'PROV', ['DOUT']],
  ])('%s', (_label, pid32, options, status, attributes) => {
    const { data, sink } = extract(setField(A31_UPDATE, 'PID', 32, pid32), opts(options));
    expect(data.status).toEqual(status);
    expect(data.attributes).toEqual(attributes);
    expect(Object.prototype.hasOwnProperty.call(data, 'status')).toBe(status !== undefined);
    expect(sink.warnings).toEqual([]);
  });

  it('a second status: first one used, warning at the repetition', () => {
    const { data, sink } = extract(setField(A31_UPDATE, 'PID', 32, 'PROV~VALI'));
    expect(data.status).toBe('PROV');
    expect(where(sink.warnings)).toEqual([{
      code: ErrorCode.TableValueNotFound, severity: 'W', location: { segment: 'PID', sequence: 1, field: 32, repetition: 2, component: 1 },
    }]);
  });
});

describe('readCxField', () => {
  it('skips empty repetitions and numbers the rest by position', () => {
    const msg = Hl7Message.parse(setField(A31_UPDATE, 'PID', 3, '~100234^^^CHEX^PI~~X1^^^OTHER^PI~'));
    expect(readCxField(msg.segment('PID')!, 3, msg.separators).map((e) => [e.repetition, e.cx.kind])).toEqual([
      [2, 'identifier'], [4, 'identifier'],
    ]);
  });
});
