/**
 * Test program for hl7/ack.ts: ACKs byte for byte equal to the §8.9 examples (AA, AR 201) and §8.8 (AE 102 with
 * ERR-8), then the rules behind them: inbound separators, raw echo of MSH-3..6/11/12/17/18/19, no MSH-21,
 * our identity when MSH-5/6 are empty, a fallback header for unparseable input, ERR-8 escaping, determinism.
 */
import { describe, it, expect } from 'vitest';
import { buildAck, formatTs, type AckInput } from '../../src/hl7/ack.js';
import { Charset, encodeText } from '../../src/hl7/charset.js';
import { ErrorCode, Severity, type Finding } from '../../src/hl7/errors.js';
import { Hl7Message } from '../../src/hl7/model.js';
import { A28_BAD_NIR_KEY, A28_BAD_NIR_KEY_EXPECTED_ACK, A28_CREATE, ACK_AA, ACK_AR_UNSUPPORTED } from '../fixtures/examples.js';
import { A28_CUSTOM_SEPARATORS } from '../fixtures/make-fixtures.js';

/** Local time, so that formatTs gives the same digits in any time zone. */
const at = (y: number, mo: number, d: number, h: number, mi: number, s: number): Date => new Date(y, mo - 1, d, h, mi, s);

/** An ITI-31 A02 reaching the PDC (§8.9 second example): MSH-10 GAM000777. */
const A02 = A28_CREATE.replace('ADT^A28^ADT_A05|GAM000101', 'ADT^A02^ADT_A02|GAM000777');

describe('buildAck: the §8 examples', () => {
  it('§8.9 AA', () => {
    const ack = buildAck({ inbound: Hl7Message.parse(A28_CREATE), code: 'AA', findings: [], controlId: 'TLSV000101', now: at(2025, 3, 12, 10, 15, 1) });
    expect(ack).toBe(ACK_AA);
    expect(ack).toBe('MSH|^~\\&|TLSV|EDITEUR|GAM|CHEX|20250312101501||ACK^A28^ACK|TLSV000101|P|2.5^FRA^2.11|||||FRA|8859/15|FR\rMSA|AA|GAM000101\r');
  });

  it('§8.9 AR 201 unsupported event', () => {
    const finding: Finding = { code: ErrorCode.UnsupportedEvent, severity: Severity.Error, location: { segment: 'MSH', field: 9, component: 2 }, text: '' };
    const input: AckInput = { inbound: Hl7Message.parse(A02), code: 'AR', findings: [finding], controlId: 'TLSV000102', now: at(2025, 3, 12, 10, 15, 2) };
    expect(buildAck(input)).toBe(ACK_AR_UNSUPPORTED);
    // A text that only repeats ERR-3 adds no ERR-8.
    expect(buildAck({ ...input, findings: [{ ...finding, text: 'Unsupported event code' }] })).toBe(ACK_AR_UNSUPPORTED);
  });

  it('§8.8 AE 102 with ERR-2 at the PID-3 repetition and an ERR-8 detail', () => {
    const ack = buildAck({
      inbound: Hl7Message.parse(A28_BAD_NIR_KEY),
      code: 'AE',
      findings: [{ code: ErrorCode.DataType, severity: 'E', location: { segment: 'PID', field: 3, repetition: 2, component: 1 }, text: 'INS-NIR key mismatch (expected 23)' }],
      controlId: 'TLSV000501',
      now: at(2025, 4, 5, 12, 0, 1),
    });
    expect(ack).toBe(A28_BAD_NIR_KEY_EXPECTED_ACK);
  });
});

describe('buildAck rules', () => {
  const base: AckInput = { inbound: Hl7Message.parse(A28_CREATE), code: 'AA', findings: [], controlId: 'TLSV000101', now: at(2025, 3, 12, 10, 15, 1) };

  it('uses the inbound separators', () => {
    const ack = buildAck({ ...base, inbound: Hl7Message.parse(A28_CUSTOM_SEPARATORS), code: 'AE', findings: [{ code: 102, severity: 'E', location: { segment: 'PID', field: 3, repetition: 2, component: 1 }, text: 'key#mismatch' }] });
    expect(ack).toBe(
      'MSH#$*\\@#TLSV#EDITEUR#GAM#CHEX#20250312101501##ACK$A28$ACK#TLSV000101#P#2.5$FRA$2.11#####FRA#8859/15#FR\r' +
        'MSA#AE#GAM000101\r' +
        'ERR##PID$1$3$2$1#102$Data type error$HL70357#E####key\\F\\mismatch\r',
    );
    expect(Hl7Message.parse(ack).get('ERR-8')).toBe('key#mismatch');
  });

  it('echoes HD components of MSH-3..6 raw and drops trailing empty fields', () => {
    const inbound = Hl7Message.parse('MSH|^~\\&|GAM^1.2.250.1.9^ISO|CHEX|TLSV|EDITEUR^1.2.3^ISO|20250101||ADT^A31^ADT_A05|X1|T|2.5\rEVN||20250101\r');
    expect(buildAck({ ...base, inbound })).toBe(
      'MSH|^~\\&|TLSV|EDITEUR^1.2.3^ISO|GAM^1.2.250.1.9^ISO|CHEX|20250312101501||ACK^A31^ACK|TLSV000101|T|2.5\rMSA|AA|X1\r',
    );
  });

  it('fills MSH-3/4 with our identity when the inbound MSH-5/6 are empty', () => {
    const inbound = Hl7Message.parse('MSH|^~\\&|GAM|CHEX|||20250101||ADT^A28^ADT_A05|X2|P|2.5\r');
    expect(buildAck({ ...base, inbound, self: { app: 'PAMDROP', facility: 'SITE|A' } })).toBe(
      'MSH|^~\\&|PAMDROP|SITE\\F\\A|GAM|CHEX|20250312101501||ACK^A28^ACK|TLSV000101|P|2.5\rMSA|AA|X2\r',
    );
    expect(buildAck({ ...base, inbound })).toBe('MSH|^~\\&|||GAM|CHEX|20250312101501||ACK^A28^ACK|TLSV000101|P|2.5\rMSA|AA|X2\r');
  });

  it('builds from a fallback header when the inbound message could not be parsed', () => {
    const ack = buildAck({
      inbound: null,
      fallback: { sendingApp: 'GAM', sendingFacility: 'CHEX', receivingApp: 'TLSV', receivingFacility: 'EDITEUR', controlId: 'GAM0009|9', event: 'A28', version: '2.5^FRA^2.11', charset: '8859/15' },
      code: 'AR',
      findings: [{ code: ErrorCode.SegmentSequence, severity: 'E', location: { segment: 'PID' }, text: 'segment 3 has no valid segment name' }],
      controlId: 'TLSV000103',
      now: at(2025, 3, 12, 10, 15, 3),
    });
    expect(ack).toBe(
      'MSH|^~\\&|TLSV|EDITEUR|GAM|CHEX|20250312101503||ACK^A28^ACK|TLSV000103|P|2.5^FRA^2.11||||||8859/15\r' +
        'MSA|AR|GAM0009\\F\\9\r' +
        'ERR||PID^1|100^Segment sequence error^HL70357|E||||segment 3 has no valid segment name\r',
    );
  });

  it('works with no fallback at all', () => {
    expect(buildAck({ inbound: null, code: 'AR', findings: [], controlId: 'C1', now: at(2025, 1, 2, 3, 4, 5), self: { app: 'PAMDROP', facility: 'SITE' } })).toBe(
      'MSH|^~\\&|PAMDROP|SITE|||20250102030405||ACK^^ACK|C1|P\rMSA|AR\r',
    );
  });

  it('writes one ERR per finding, in order, with severity and a one-line escaped ERR-8', () => {
    const ack = buildAck({
      ...base,
      findings: [
        { code: ErrorCode.DataType, severity: Severity.Warning, location: { segment: 'MSH', field: 18 }, text: 'bytes 0x80-0x9F decoded as windows-1252' },
        { code: ErrorCode.InternalError, severity: Severity.Error, text: 'disk\r\nfull | retry ^ later\ttoday' },
        { code: ErrorCode.UnknownKey, severity: Severity.Info, location: { segment: 'MRG', field: 1, repetition: 1, component: 1, subcomponent: 2 }, text: 'unknown' },
      ],
    });
    expect(ack.split('\r').slice(2)).toEqual([
      'ERR||MSH^1^18|102^Data type error^HL70357|W||||bytes 0x80-0x9F decoded as windows-1252',
      'ERR|||207^Application internal error^HL70357|E||||disk full \\F\\ retry \\S\\ later today',
      'ERR||MRG^1^1^1^1^2|204^Unknown key identifier^HL70357|I||||unknown',
      '',
    ]);
  });

  it('is deterministic and never carries MSH-21', () => {
    const a = buildAck(base);
    expect(buildAck({ ...base, now: new Date(base.now.getTime()) })).toBe(a);
    expect(A28_CREATE).toContain('2.11^IHE_FRANCE-2.11-PAM');
    expect(a).not.toContain('IHE_FRANCE');
    expect(Hl7Message.parse(a).msh.size).toBe(19);
  });

  it('encodes in the inbound charset', () => {
    const inbound = Hl7Message.parse(A28_CREATE.replace('|8859/15|', '|UNICODE UTF-8|'));
    const ack = buildAck({ ...base, inbound, code: 'AE', findings: [{ code: 207, severity: 'E', text: 'clé Œ' }] });
    expect(encodeText(ack, Charset.Utf8).includes(Buffer.from('clé Œ', 'utf8'))).toBe(true);
    expect(encodeText(ack, Charset.Latin9).includes(Buffer.from([0x63, 0x6c, 0xe9, 0x20, 0xbc]))).toBe(true);
  });
});

describe('formatTs', () => {
  it.each([
    [at(2025, 3, 12, 10, 15, 1), '20250312101501'],
    [at(2025, 1, 2, 3, 4, 5), '20250102030405'],
    [at(1999, 12, 31, 23, 59, 59), '19991231235959'],
  ])('%s → %s', (d, s) => {
    expect(formatTs(d)).toBe(s);
  });
});
