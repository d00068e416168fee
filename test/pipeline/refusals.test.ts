/**
 * Test program — what one bad message may cost: only its own AE, never its file or its source.
 * - Control characters in a field (NUL, TAB, any C0 but the CR/LF that end segments, raw or as a hex escape) → AE 102
 *   at the field, nothing applied, the same answer on SQLite and PostgreSQL (PostgreSQL cannot store a NUL).
 * - Control characters among the encoding characters, or no MSH-2 at all → AR saying that MSH-2 is wrong, with an
 *   ACK that echoes the right header fields.
 * - A value the database refuses (a real trigger in the store, SQLSTATE class 23 / SQLITE_CONSTRAINT_TRIGGER) → AE 207
 *   for that message, the others of the file applied, the file archived; on PostgreSQL also inside a group.
 * Every test runs on SQLite and PostgreSQL.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { A28_CREATE } from '../fixtures/examples.js';
import { dbKinds, type DbKind } from '../helpers/db.js';
import { ackSegments, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { edit, ipp, prod } from '../helpers/messages.js';
import { openDb } from '../../src/store/db.js';

const P81 = prod(A28_CREATE); // A28 100234 CASANOVA, MSH-10 GAM000101

let sites: Workspace[] = [];
afterEach(async () => {
  for (const s of sites) await s.cleanup();
  sites = [];
});
async function site(kind: DbKind): Promise<Workspace> {
  const ws = await makeWorkspace(kind);
  sites.push(ws);
  return ws;
}

/** Imports `content` as `name`; the report and every ACK of the run, in file order of the inbound messages. */
async function run(ws: Workspace, name: string, content: string | Buffer) {
  ws.drop(name, content);
  const r = await ws.importFiles(name);
  return { code: r.code, report: JSON.parse(r.stdout), acks: ws.acks() };
}

/** MSA-1, ERR-2, ERR-3.1 and ERR-8 of an ACK (ERR fields of the first ERR). */
function outcome(ack: Buffer | undefined) {
  expect(ack, 'ACK file').toBeDefined();
  const segs = ackSegments(ack!);
  const msa = segs.find((s) => s[0] === 'MSA')!;
  const err = segs.find((s) => s[0] === 'ERR');
  return { msa1: msa[1], msa2: msa[2], err2: err?.[2], err3: err?.[3]?.split('^')[0], err8: err?.[8] };
}

/** A28 for IPP `id` with MSH-10 `ctl` (and the fields given). */
const a28 = (ctl: string, id: string, fields: Record<string, string> = {}) =>
  edit(P81, { 'MSH-10': ctl, 'PID-3': ipp(id), ...fields });

describe.each(dbKinds())('control characters in a field (%s)', (kind) => {
  it.each([
    ['a NUL in a patient name', { 'PID-5': 'DO\u0000E^JOHN^^^^^L' }, 'PID^1^5^1^1'],
    ['a TAB in a patient name', { 'PID-5': 'DO\tE^JOHN^^^^^L' }, 'PID^1^5^1^1'],
    ['a VT (an MLLP block byte) inside a name', { 'PID-5': 'DO\u000bE^JOHN^^^^^L' }, 'PID^1^5^1^1'],
    ['an ESC in the second given name', { 'PID-5': 'DOE^JOHN^A\u001bB^^^^L' }, 'PID^1^5^1^3'],
    ['a NUL written as a hex escape', { 'PID-5': 'DO\\X00\\E^JOHN^^^^^L' }, 'PID^1^5^1^1'],
    ['a NUL in the sending application', { 'MSH-3': 'GA\u0000M' }, 'MSH^1^3^1^1'],
  ])('%s: AE 102 at the field, nothing applied, the file goes on', async (_label, fields, err2) => {
    const ws = await site(kind);
    const bad = a28('CTL2', '900002', fields);
    const r = await run(ws, 'f.hl7', a28('CTL1', '900001') + bad + a28('CTL3', '900003'));
    expect(r.code).toBe(1);
    expect(r.report.files[0].state).toBe('done');
    expect(r.report.totals).toMatchObject({ messages: 3, AA: 2, AE: 1 });
    const o = outcome(r.acks.get('f.CTL2.ack.hl7'));
    expect(o).toMatchObject({ msa1: 'AE', msa2: 'CTL2', err2, err3: '102' });
    expect(o.err8).toMatch(/control character 0x[01][0-9A-F] not allowed/);
    expect(await ws.patient('900002')).toBeNull();
    expect(await ws.patient('900003')).not.toBeNull();
    // The ACK itself carries no control character.
    expect(/[\x00-\x0c\x0e-\x1f]/.test(r.acks.get('f.CTL2.ack.hl7')!.toString('latin1'))).toBe(false);
  });

  it('a NUL in MSH-10: AE 102, echoed as \\X00\\, the file and the next one go on; a resend is a duplicate', async () => {
    const ws = await site(kind);
    const bad = a28('GAM\u00001', '900002');
    const r = await run(ws, 'f.hl7', a28('CTL1', '900001') + bad + a28('CTL3', '900003'));
    expect(r.code).toBe(1);
    expect(r.report.files[0].state).toBe('done');
    expect(r.report.totals).toMatchObject({ messages: 3, AA: 2, AE: 1 });
    const name = [...r.acks.keys()].find((n) => n.startsWith('f.GAM'))!;
    expect(outcome(r.acks.get(name))).toMatchObject({ msa1: 'AE', msa2: 'GAM\\X00\\1', err2: 'MSH^1^10^1^1', err3: '102' });
    expect(await ws.patient('900003')).not.toBeNull();
    // The same bytes again: recognised by their (escaped) key, the stored ACK replayed byte for byte.
    const again = await run(ws, 'g.hl7', bad);
    expect(again.report.totals).toMatchObject({ messages: 1, duplicates: 1 });
    const replayed = [...again.acks.keys()].find((n) => n.startsWith('g.GAM'))!;
    expect(again.acks.get(replayed)!.equals(r.acks.get(name)!)).toBe(true);
  });

  it('CR/LF written as hex escapes (a line break in a text) stay allowed', async () => {
    const ws = await site(kind);
    const r = await run(ws, 'f.hl7', a28('CTL1', '900001', { 'PID-11': '12 RUE\\X0D0A\\BAT B^^AJACCIO^^20000^FRA^H~^^AJACCIO^^^FRA^BDL^^2A004' }));
    expect(r.report.totals).toMatchObject({ messages: 1, AA: 1 });
  });
});

describe.each(dbKinds())('encoding characters (%s)', (kind) => {
  it('a NUL among the encoding characters: AR at MSH-2, nothing applied', async () => {
    const ws = await site(kind);
    const bad = a28('CTL2', '900002').replace('MSH|^~\\&|', 'MSH|^\u0000~\\&|');
    const r = await run(ws, 'f.hl7', bad + a28('CTL3', '900003'));
    expect(r.report.totals).toMatchObject({ messages: 2, AA: 1, AR: 1 });
    const o = outcome(r.acks.get('f.CTL2.ack.hl7'));
    expect(o).toMatchObject({ msa1: 'AR', msa2: 'CTL2', err2: 'MSH^1^2', err3: '102' });
    expect(o.err8).toContain('MSH-2 encoding characters missing or invalid');
    expect(await ws.patient('900002')).toBeNull();
    expect((await ws.patients()).length).toBe(1);
  });

  it('MSH-2 missing (`MSH||~\\&|`): AR naming MSH-2 (not MSH-18), and an ACK with the header fields in place', async () => {
    const ws = await site(kind);
    const bad = a28('CTL2', '900002').replace('MSH|^~\\&|', 'MSH||~\\&|');
    const r = await run(ws, 'f.hl7', bad);
    const ack = r.acks.get('f.CTL2.ack.hl7');
    const o = outcome(ack);
    expect(o).toMatchObject({ msa1: 'AR', msa2: 'CTL2', err2: 'MSH^1^2', err3: '102' });
    expect(o.err8).toContain('MSH-2 encoding characters missing or invalid');
    const msh = ackSegments(ack!)[0]!;
    // Sender and receiver swapped from the inbound MSH-3..6 (GAM|CHEX|TLSV|EDITEUR), version echoed.
    expect(msh.slice(0, 6)).toEqual(['MSH', '^~\\&', 'TLSV', 'EDITEUR', 'GAM', 'CHEX']);
    expect(msh[8]).toBe('ACK^A28^ACK');
    expect(msh[11]).toBe('2.5^FRA^2.11');
    expect(await ws.patient('900002')).toBeNull();
  });
});

/** A real refusal by the store: a trigger that refuses a ledger row whose MSH-13 is 666 (SQLSTATE 23514 / SQLite trigger). */
async function refuseSequence666(ws: Workspace, kind: DbKind): Promise<void> {
  const db = await openDb(ws.db);
  try {
    if (kind === 'sqlite') {
      await db.run(`CREATE TRIGGER refuse_666 BEFORE INSERT ON messages WHEN NEW.sequence_number = 666
        BEGIN SELECT RAISE(ABORT, 'refused by a site rule'); END`);
    } else {
      await db.run(`CREATE FUNCTION refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.sequence_number = 666 THEN RAISE EXCEPTION 'refused by a site rule' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$`);
      await db.run('CREATE TRIGGER refuse_666 BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_666()');
    }
  } finally {
    await db.close();
  }
}

describe.each(dbKinds())('a message the database refuses (%s)', (kind) => {
  it.each([
    ['in the middle of a group', 5, 2],
    ['alone in its file', 1, 0],
  ])('%s: AE 207 for that message, nothing of it applied, the others applied, the file archived', async (_label, n, at) => {
    const ws = await site(kind);
    await refuseSequence666(ws, kind);
    const msgs = Array.from({ length: n }, (_, i) => a28(`CTL${i}`, `90000${i}`, i === at ? { 'MSH-13': '666' } : {}));
    const r = await run(ws, 'f.hl7', msgs.join(''));
    expect(r.code).toBe(1);
    expect(r.report.files[0].state).toBe('done');
    expect(r.report.totals).toMatchObject({ messages: n, AA: n - 1, AE: 1 });
    const o = outcome(r.acks.get(`f.CTL${at}.ack.hl7`));
    expect(o).toMatchObject({ msa1: 'AE', msa2: `CTL${at}`, err3: '207' });
    expect(o.err8).toMatch(/the database refused a value of this message \((23514|SQLITE_CONSTRAINT_TRIGGER)/);
    expect(await ws.patient(`90000${at}`)).toBeNull();
    for (let i = 0; i < n; i++) if (i !== at) expect(await ws.patient(`90000${i}`)).not.toBeNull();
    expect(r.acks.size).toBe(n);
  });
});
