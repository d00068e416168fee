/**
 * Test program — the status page's read model (src/observe/read.ts) on every database (SQLite always, PostgreSQL at
 * PAMDROP_TEST_PG_URL): after a real import of the §8.6 envelope batch and a batch with a wrong BTS count,
 * - the last messages, newest first, with control id, event, outcome, file, and no patient field unless asked;
 * - with identities: the first PI identifier and the name of each message's record;
 * - the quarantined file with its reason (ops/status.ts) and the inbox files with why they wait;
 * - the lookup by identifier, by INS, and not found.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dbKinds } from '../helpers/db.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { openDb } from '../../src/store/db.js';
import type { Db } from '../../src/store/tx.js';
import { resolveConfig } from '../../src/config/load.js';
import { lookupPatient, readPage, recentMessages } from '../../src/observe/read.js';
import { FIXTURES } from './helpers.js';

describe.each(dbKinds())('status page read model (%s)', (kind) => {
  let ws: Workspace;
  let db: Db;
  beforeAll(async () => {
    ws = await makeWorkspace(kind, { config: { pam: { acceptTestIns: true } } });
    ws.drop('adt_20250312.hl7', readFileSync(join(FIXTURES, 'envelope.hl7')));
    ws.drop('adt_20250313.hl7', readFileSync(join(FIXTURES, 'wrong-bts-count.hl7')));
    const r = await ws.importFiles('adt_20250312.hl7', 'adt_20250313.hl7');
    expect(r.code).toBe(1); // a quarantined file
    ws.drop('adt_20250314.hl7', readFileSync(join(FIXTURES, 'one-message.hl7')));
    db = await openDb(ws.db, { migrate: false });
  });
  afterAll(async () => {
    await db?.close();
    await ws?.cleanup();
  });

  it('lists the last messages newest first, without patient data unless asked', async () => {
    const hidden = await recentMessages(db, 100, false);
    expect(hidden.map((m) => [m.controlId, m.event, m.outcome, m.status, m.file, m.source])).toEqual([
      ['GAM000203', 'A40', 'AA', 'applied', 'adt_20250312.hl7', 'local'],
      ['GAM000202', 'A31', 'AA', 'applied', 'adt_20250312.hl7', 'local'],
      ['GAM000201', 'A28', 'AA', 'applied', 'adt_20250312.hl7', 'local'],
    ]);
    expect(hidden.every((m) => !('patient' in m))).toBe(true);
    expect(JSON.stringify(hidden)).not.toMatch(/MOREL|CLAIRE|100300/);
    expect(await recentMessages(db, 2, false)).toHaveLength(2);
    const shown = await recentMessages(db, 100, true);
    expect(shown.map((m) => m.patient)).toEqual(Array(3).fill({ identifier: '100300 (CHEX)', name: 'MOREL CLAIRE' }));
  });

  it('gives the quarantined file with its reason and the inbox files with why they wait', async () => {
    const config = resolveConfig({ sources: [{ name: 'local', inbox: ws.inbox, ackDir: ws.outbox, archiveDir: ws.archive, errorDir: ws.error, stableMs: 0 }] });
    const page = await readPage(db, config, new Date());
    expect(page.status.failed.recentQuarantined.map((q) => [q.name, q.reason])).toEqual([['adt_20250313.hl7', 'BTS-1 says 2 messages, batch has 3 (BTS at line 16)']]);
    expect(page.inbox.map((f) => [f.source, f.name, f.reason])).toEqual([['local', 'adt_20250314.hl7', 'pending']]);
    expect(page.messages).toHaveLength(3);
    expect(page.messages[0]!.patient).toBeUndefined();
  });

  it('looks a patient up by identifier, then by INS; nothing for an unknown value', async () => {
    const byIpp = await lookupPatient(db, '100300');
    expect(byIpp.map((p) => [p.birthName, p.firstName, p.active])).toEqual([['MOREL', 'CLAIRE', true]]);
    const byIns = await lookupPatient(db, '292093155504523');
    expect(byIns.map((p) => p.id)).toEqual(byIpp.map((p) => p.id));
    const alias = await lookupPatient(db, '100301');
    expect(alias.map((p) => [p.active, p.mergedInto?.value])).toEqual([[false, '100300']]);
    expect(await lookupPatient(db, '999999')).toEqual([]);
  });
});
