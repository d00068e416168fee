/**
 * Test program — the evidence page renderer alone (src/ops/evidence-page.ts), on evidence built by hand: every value
 * escaped wherever it comes from (message text, identity, history, file name), the field table names PID fields, and a
 * message received over MLLP shows its listener and connection instead of a file.
 */
import { describe, it, expect } from 'vitest';
import { messagePage, fieldTable } from '../../src/ops/evidence-page.js';
import type { MessageEvidence } from '../../src/ops/evidence.js';

const EVIL = '<script>alert(1)</script>';
const MSG = `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312101500||ADT^A28^ADT_A05|X1|P|2.5\rPID|1||1^^^CHEX^PI||${EVIL}^MARIE^^^^^L\r`;

function evidence(kind: 'file' | 'mllp'): MessageEvidence {
  const state = {
    recordId: 1, identifiers: [{ value: '1', authority: 'CHEX', oid: null, type: 'PI' }], ins: [], status: 'PROV', attributes: [], qualified: false,
    birthName: EVIL, firstName: 'MARIE', birthGivenNames: null, usedName: null, usedFirstName: null, birthDate: null, sex: null, birthPlace: null,
    names: {}, addresses: {}, other: {}, active: true, mergedInto: null,
  };
  return {
    ledger: {
      id: 7, file_id: 3, idx: 0, sending_app: 'GAM', sending_facility: 'CHEX', control_id: 'X1', content_sha256: 'x', event: 'A28', message_time: null,
      status: 'applied', outcome: 'AA', error_code: null, error_text: null, patient_id: 1, ack_name: 'a.X1.ack.hl7', superseded: 0, created_at: 'now',
      file_source: 'mllp', file_name: kind === 'mllp' ? 'c-42' : `${EVIL}.hl7`, file_path: kind === 'mllp' ? 'mllp://127.0.0.1:50000' : '/in/x.hl7', file_size: 0,
      file_sha256: 'y', file_state: 'done', file_archived_path: null, file_pruned_at: null, file_reimport_of: null, file_claimed_at: 'now', file_finished_at: null,
    },
    transport: { kind, source: 'mllp', fileName: kind === 'mllp' ? 'c-42' : `${EVIL}.hl7`, path: kind === 'mllp' ? 'mllp://127.0.0.1:50000' : '/in/x.hl7',
      archivedPath: null, fileState: 'done', fileSha256: 'y', index: 0, offset: null, line: null, reimportOf: null },
    inbound: { text: MSG, charset: '8859/15', hashMatches: true, unavailable: null },
    ack: { bytes: Buffer.from(''), text: 'MSH|^~\\&|TLSV|EDITEUR|GAM|CHEX|20250312101501||ACK^A28^ACK|P1|P|2.5\rMSA|AA|X1\r', name: 'a.X1.ack.hl7',
      check: { code: 'AA', inboundControlId: 'X1', controlId: 'P1', errors: 0, problems: [] } },
    records: [{ recordId: 1, before: null, after: state, history: [{ id: 1, recordedAt: 'now', event: 'A28', changes: [{ field: 'birthName', before: null, after: EVIL }] }] }],
  };
}

describe('evidence page', () => {
  it('escapes every value: message text, field table, identity, history, file name', () => {
    const html = messagePage(evidence('file'), 'now');
    expect(html).not.toContain(EVIL);
    expect(html.match(/&lt;script&gt;alert\(1\)&lt;\/script&gt;/g)!.length).toBeGreaterThanOrEqual(5);
    expect(html).toMatch(/<dt>Transport<\/dt><dd>file drop<\/dd>/);
  });

  it('a message received over MLLP names its listener, connection and peer', () => {
    const html = messagePage(evidence('mllp'), 'now');
    expect(html).toMatch(/<dt>Transport<\/dt><dd>MLLP<\/dd><dt>Listener<\/dt><dd>mllp<\/dd><dt>Connection<\/dt><dd>c-42<\/dd><dt>Peer<\/dt><dd>127\.0\.0\.1:50000<\/dd>/);
    expect(html).not.toContain('Byte offset');
  });

  it('the field table names the fields of the segments PAM FR uses', () => {
    const t = fieldTable(MSG, 'f');
    expect(t).toMatch(/<td class="mono">PID-5<\/td><td>Patient name<\/td><td class="mono">&lt;script&gt;/);
    expect(t).toMatch(/<td class="mono">MSH-10<\/td><td>Message control ID<\/td><td class="mono">X1<\/td>/);
    expect(fieldTable('not hl7', 'f')).toContain('cannot be read as HL7');
  });
});
