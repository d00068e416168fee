/**
 * Test program — a file that changes while it is processed, on real folders and a real store (SQLite and
 * PostgreSQL), through the intake service `run` uses; the change is made at a fault point between two groups:
 * - messages appended after the file was hashed are not applied; the messages hashed are, each with its ACK file;
 *   the file is quarantined (never archived: the ledger's size and SHA-256 describe only the bytes processed), its
 *   reason naming the byte ranges processed and not processed, and a warning is logged;
 * - a file only touched (mtime moved, same bytes) is archived as usual.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { appendFileSync, readFileSync, utimesSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { dbKinds } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { a28File, files, ledgerFiles, makeSite, memoryLogger, runIntake, type Site } from '../intake/site.js';

const sites: Site[] = [];
afterAll(async () => { for (const s of sites) await s.cleanup(); });

async function count(s: Site, table: 'patients' | 'messages'): Promise<number> {
  const db = await openDb(s.db, { migrate: false });
  try { return Number((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n); } finally { await db.close(); }
}

describe.each(dbKinds())('a file that changes while it is processed (%s)', (kind) => {
  // Regression: the second pass read to the end of the file: the appended messages were applied, while the ledger
  // kept the size and SHA-256 of the first pass and the archive held bytes the ledger did not describe.
  it('appended messages are not applied; the file is quarantined with the byte ranges processed and not processed', async () => {
    const s = makeSite({ db: kind, groupSize: 2, source: { stableMs: 0 } });
    sites.push(s);
    const original = a28File(1, 4);
    const added = a28File(10, 3);
    const path = s.drop('adt_1.hl7', original);
    let appended = false;
    const m = memoryLogger();
    const r = await runIntake(s, { log: m.log, fault: (p) => { if (p === 'after-commit' && !appended) { appended = true; appendFileSync(path, added, 'latin1'); } } });
    expect(appended).toBe(true);

    const n = original.length, total = n + added.length;
    expect(r.files).toHaveLength(1);
    const f = r.files[0]!;
    expect(f.state).toBe('quarantined');
    const sha = createHash('sha256').update(original, 'latin1').digest('hex');
    expect(f.state === 'quarantined' && f.reason).toBe(`file changed while it was processed: bytes 0–${n - 1} (SHA-256 ${sha}, the size and hash in the ledger) `
      + `were processed: 4 message(s), each with its ACK file; bytes ${n}–${total - 1} were added meanwhile and were NOT processed. `
      + 'Deliver the messages of those bytes again in a new file (messages already processed are recognised as duplicates)');
    expect(f.state === 'quarantined' && f.summary).toMatchObject({ messages: 4, AA: 4 });

    expect((await ledgerFiles(s)).map((x) => [x.name, x.state, x.size, x.message_count])).toEqual([['adt_1.hl7', 'quarantined', n, 4]]);
    expect(await count(s, 'messages')).toBe(4);
    expect(await count(s, 'patients')).toBe(4);
    expect(files(s.outbox)).toEqual(['adt_1.F1.ack.hl7', 'adt_1.F2.ack.hl7', 'adt_1.F3.ack.hl7', 'adt_1.F4.ack.hl7']);
    // Never archived: only the error folder holds it, whole, with its reason.
    expect(files(s.archive)).toEqual(['error/adt_1.hl7', 'error/adt_1.hl7.reason.txt']);
    expect(readFileSync(join(s.error, 'adt_1.hl7'), 'latin1')).toBe(original + added);
    expect(readFileSync(join(s.error, 'adt_1.hl7.reason.txt'), 'utf8')).toBe(`${f.state === 'quarantined' ? f.reason : ''}\n`);
    const warned = m.lines.filter((l) => l.msg === 'file changed while it was processed: quarantined, the bytes added were not processed');
    expect(warned.map((l) => [l.level, l.source, l.file, l.processedBytes, l.bytesNow])).toEqual([['warn', 'local', 'adt_1.hl7', n, total]]);
  });

  it('a file only touched meanwhile (same bytes, new mtime) is archived as usual', async () => {
    const s = makeSite({ db: kind, groupSize: 2, source: { stableMs: 0 } });
    sites.push(s);
    const path = s.drop('adt_1.hl7', a28File(1, 4));
    let touched = false;
    const r = await runIntake(s, { fault: (p) => { if (p === 'after-commit' && !touched) { touched = true; utimesSync(path, new Date(), new Date(Date.now() + 60_000)); } } });
    expect(touched).toBe(true);
    expect(r.files.map((x) => [x.file, x.state])).toEqual([['adt_1.hl7', 'done']]);
    expect(files(s.archive)).toEqual([expect.stringMatching(/^\d{4}\/\d\d\/\d\d\/adt_1\.hl7$/)]);
    expect(await count(s, 'patients')).toBe(4);
  });
});
