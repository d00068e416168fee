/**
 * Test program: message acceptance (src/pam/acceptance.ts), IPF order version → type → event → control id.
 * One row per rule: accepted events with and without Link/Unlink, AR 203/200/201/101 with their locations, the
 * fixed order when several checks fail, and error texts that name the allowed values.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/hl7/errors.js';
import { Hl7Message } from '../../src/hl7/model.js';
import { acceptedEvents, checkAcceptance } from '../../src/pam/acceptance.js';
import { A28_CREATE } from '../fixtures/examples.js';
import { opts, setField } from './helpers.js';

const MSH9 = { segment: 'MSH', sequence: 1, field: 9, repetition: 1 };
const AT_VERSION = { segment: 'MSH', sequence: 1, field: 12 };
const AT_TYPE = { ...MSH9, component: 1 };
const AT_EVENT = { ...MSH9, component: 2 };
const AT_CONTROL_ID = { segment: 'MSH', sequence: 1, field: 10 };

function check(msh9: string, msh12 = '2.5^FRA^2.11', msh10 = 'GAM000101', linkUnlink = true) {
  let text = setField(A28_CREATE, 'MSH', 9, msh9);
  text = setField(text, 'MSH', 12, msh12);
  text = setField(text, 'MSH', 10, msh10);
  return checkAcceptance(Hl7Message.parse(text), opts({ linkUnlink }));
}

describe('accepted messages', () => {
  it.each([
    ['A28', 'ADT^A28^ADT_A05', true],
    ['A31', 'ADT^A31^ADT_A05', true],
    ['A40', 'ADT^A40^ADT_A39', true],
    ['A47', 'ADT^A47^ADT_A30', true],
    ['A24 with Link/Unlink', 'ADT^A24^ADT_A24', true],
    ['A37 with Link/Unlink', 'ADT^A37^ADT_A37', true],
    ['A28 without Link/Unlink', 'ADT^A28^ADT_A05', false],
    ['structure not checked (MSH-9.3 absent)', 'ADT^A31', true],
    ['structure not checked (MSH-9.3 unusual)', 'ADT^A31^ADT_A01', true],
  ])('%s', (_label, msh9, linkUnlink) => {
    expect(check(msh9, '2.5^FRA^2.11', 'GAM000101', linkUnlink)).toBeUndefined();
  });

  it.each([['2.5'], ['2.5.1'], ['2.3.1'], ['2'], ['2.5^FRA^2.9']])('version %s', (v) => {
    expect(check('ADT^A28^ADT_A05', v)).toBeUndefined();
  });
});

describe('refused messages', () => {
  it.each([
    ['version 3', 'ADT^A28^ADT_A05', '3.0', 'GAM1', true, ErrorCode.UnsupportedVersion, AT_VERSION],
    ['version 25 (no dot)', 'ADT^A28^ADT_A05', '25', 'GAM1', true, ErrorCode.UnsupportedVersion, AT_VERSION],
    ['version absent', 'ADT^A28^ADT_A05', '', 'GAM1', true, ErrorCode.UnsupportedVersion, AT_VERSION],
    ['version checked before type', 'ORU^R01^ORU_R01', '3.0', 'GAM1', true, ErrorCode.UnsupportedVersion, AT_VERSION],
    ['message type ORU', 'ORU^R01^ORU_R01', '2.5', 'GAM1', true, ErrorCode.UnsupportedMessageType, AT_TYPE],
    ['message type ACK', 'ACK^A28^ACK', '2.5', 'GAM1', true, ErrorCode.UnsupportedMessageType, AT_TYPE],
    ['message type absent', '^A28', '2.5', 'GAM1', true, ErrorCode.UnsupportedMessageType, AT_TYPE],
    ['type checked before event', 'SIU^A08', '2.5', 'GAM1', true, ErrorCode.UnsupportedMessageType, AT_TYPE],
    ['A29 (not in PAM FR)', 'ADT^A29^ADT_A21', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['A08 (excluded in France)', 'ADT^A08^ADT_A01', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 A01', 'ADT^A01^ADT_A01', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 A02', 'ADT^A02^ADT_A02', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 A03', 'ADT^A03^ADT_A03', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 A04', 'ADT^A04^ADT_A01', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 A05', 'ADT^A05^ADT_A05', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 A11 cancel', 'ADT^A11^ADT_A09', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 A44', 'ADT^A44^ADT_A43', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['ITI-31 Z99', 'ADT^Z99^ADT_A01', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['event absent', 'ADT', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['lower-case event', 'ADT^a28^ADT_A05', '2.5', 'GAM1', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['A24 without Link/Unlink', 'ADT^A24^ADT_A24', '2.5', 'GAM1', false, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['A37 without Link/Unlink', 'ADT^A37^ADT_A37', '2.5', 'GAM1', false, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['event checked before control id', 'ADT^A08^ADT_A01', '2.5', '', true, ErrorCode.UnsupportedEvent, AT_EVENT],
    ['control id absent', 'ADT^A28^ADT_A05', '2.5', '', true, ErrorCode.RequiredFieldMissing, AT_CONTROL_ID],
  ])('%s → %s', (_label, msh9, msh12, msh10, linkUnlink, code, location) => {
    const f = check(msh9, msh12, msh10, linkUnlink);
    expect(f).toEqual({ code, severity: 'E', location, text: expect.any(String) });
  });

  it.each([
    ['version', 'ADT^A28^ADT_A05', '3.0', true, '2.x'],
    ['type', 'ORU^R01', '2.5', true, 'must be ADT'],
    ['event, Link/Unlink on', 'ADT^A08', '2.5', true, 'must be one of A28, A31, A40, A47, A24, A37'],
    ['event, Link/Unlink off', 'ADT^A24', '2.5', false, 'must be one of A28, A31, A40, A47'],
  ])('the %s error names the allowed values', (_label, msh9, msh12, linkUnlink, allowed) => {
    const f = check(msh9, msh12, 'GAM1', linkUnlink);
    expect(f?.text).toContain(allowed);
    if (!linkUnlink) expect(f?.text).not.toContain('A24');
  });
});

describe('acceptedEvents', () => {
  it.each([
    [true, ['A28', 'A31', 'A40', 'A47', 'A24', 'A37']],
    [false, ['A28', 'A31', 'A40', 'A47']],
  ])('linkUnlink %s', (linkUnlink, expected) => {
    expect(acceptedEvents(opts({ linkUnlink }))).toEqual(expected);
  });
});
