/**
 * Test program — what else than a plain file an inbox (or `import`) can hold, on real folders, the built CLI and a
 * real store (SQLite and PostgreSQL), no mocks:
 * - a file name that is not valid UTF-8 (`f\xE9vrier.hl7`, Latin-1): `status` counts it pending, `run` renames it to
 *   its rendering (`f%E9vrier.hl7`) and takes it — applied, ACK file, archive — and `import` of the name as the shell
 *   passes it (U+FFFD for the odd byte) finds it;
 * - a symbolic link: `status` shows it as a link with its own size, `run` quarantines the link itself (never
 *   followed: its target is neither applied nor moved), `import` of a link does the same;
 * - a FIFO or a folder given to `import` is named for what it is (exit 2), not "no such file".
 */
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dbKinds } from '../helpers/db.js';
import { openDb } from '../../src/store/db.js';
import { listInbox } from '../../src/ops/inbox.js';
import { a28File, cli, ledgerFiles, makeSite, type Site } from './site.js';

const sites: Site[] = [];
afterAll(async () => { for (const s of sites) await s.cleanup(); });

/** Names of a folder as bytes rendered in hex where they are not ASCII (test/intake/site.ts `files` reads names as text). */
const namesIn = (dir: string): string[] => (readdirSync(dir, { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString('latin1')).sort();

/** Every file under the archive (error folder included), relative, names as latin1. */
function archived(s: Site): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const b of readdirSync(d, { encoding: 'buffer' }) as Buffer[]) {
      const n = b.toString('latin1');
      const p = Buffer.concat([Buffer.from(d + '/'), b]);
      if (lstatSync(p).isDirectory()) walk(p.toString('latin1'), `${rel}${n}/`); else out.push(rel + n);
    }
  };
  walk(s.archive, '');
  return out.sort();
}

async function patientCount(s: Site): Promise<number> {
  const db = await openDb(s.db, { migrate: false });
  try { return Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM patients'))!.n); } finally { await db.close(); }
}

const status = (s: Site) => JSON.parse(cli(s, ['status', '--json']).stdout);

describe.each(dbKinds())('odd inbox entries (%s)', (kind) => {
  const site = (user: Parameters<typeof makeSite>[0] = {}) => { const s = makeSite({ db: kind, ...user, source: { stableMs: 0, ...user.source } }); sites.push(s); return s; };

  // Regression: `readdir` as text turned byte 0xE9 into U+FFFD, a path that does not exist: the file was never taken,
  // status counted 0 pending, run exited 0, and the file stayed in the inbox for ever.
  it('a name that is not valid UTF-8 is counted pending, then renamed to its rendering and taken by run', async () => {
    const s = site();
    const raw = Buffer.concat([Buffer.from(s.inbox + '/adt_f'), Buffer.from([0xe9]), Buffer.from('vrier.hl7')]);
    writeFileSync(raw, a28File(1, 2), 'latin1');
    await (await openDb(s.db)).close(); // status never creates a store

    const before = status(s);
    expect(before.sources[0].inbox).toMatchObject({ files: 1, pending: 1 });
    expect(listInbox(s.config.sources[0]!, new Date(), new Set()).map((f) => [f.name, f.reason])).toEqual([['adt_f%E9vrier.hl7', 'pending']]);

    const r = cli(s, ['run']);
    expect(r.stderr).toMatch(/file name is not valid UTF-8: renamed to its rendering before it is taken/);
    expect(r.stderr).toContain(`"nameBytes":"${Buffer.concat([Buffer.from('adt_f'), Buffer.from([0xe9]), Buffer.from('vrier.hl7')]).toString('hex')}"`);
    expect(r.status).toBe(0);
    expect(namesIn(s.inbox)).toEqual([]);
    const today = archived(s);
    expect(today).toHaveLength(1);
    expect(today[0]).toMatch(/^\d{4}\/\d\d\/\d\d\/adt_f%E9vrier\.hl7$/);
    expect(readFileSync(join(s.archive, today[0]!), 'latin1')).toBe(a28File(1, 2));
    expect(namesIn(s.outbox)).toEqual(['adt_f_E9vrier.F1.ack.hl7', 'adt_f_E9vrier.F2.ack.hl7']);
    expect((await ledgerFiles(s)).map((f) => [f.name, f.state, f.message_count])).toEqual([['adt_f%E9vrier.hl7', 'done', 2]]);
    expect(await patientCount(s)).toBe(2);
    expect(status(s).sources[0].inbox).toMatchObject({ files: 0, pending: 0 });
  });

  it('a long name that is not valid UTF-8 (its rendering would pass 255 bytes) is shortened with a hash, and taken; so is a link of such a name', async () => {
    const s = site();
    const odd = Buffer.concat([Buffer.from('adt_'), Buffer.alloc(200, 0xe9), Buffer.from('.hl7')]);
    writeFileSync(Buffer.concat([Buffer.from(s.inbox + '/'), odd]), a28File(1, 1), 'latin1');
    const oddLink = Buffer.concat([Buffer.from('lnk_'), Buffer.from([0xff]), Buffer.from('.hl7')]);
    symlinkSync(join(s.root, 'nowhere.hl7'), Buffer.concat([Buffer.from(s.inbox + '/'), oddLink]));
    const r = cli(s, ['run']);
    expect(r.status).toBe(1); // the link is quarantined
    expect(namesIn(s.inbox)).toEqual([]);
    const [name] = archived(s).filter((f) => !f.startsWith('error/')).map((f) => f.split('/').pop()!);
    expect(name).toMatch(/^adt_(%E9)+~[0-9a-f]{16}\.hl7$/);
    expect(Buffer.byteLength(name!)).toBeLessThanOrEqual(200);
    expect(lstatSync(join(s.error, 'lnk_%FF.hl7')).isSymbolicLink()).toBe(true);
    // Links are quarantined at the start of the cycle (nothing of them is applied, so order does not matter).
    expect((await ledgerFiles(s)).map((f) => [f.name, f.state])).toEqual([['lnk_%FF.hl7', 'quarantined'], [name, 'done']]);
  });

  it('import of a name that is not valid UTF-8, as the shell decodes it (U+FFFD), takes that file', async () => {
    const s = site();
    const raw = Buffer.concat([Buffer.from(s.inbox + '/f'), Buffer.from([0xe9]), Buffer.from('vrier.hl7')]);
    writeFileSync(raw, a28File(1, 1), 'latin1');
    const r = cli(s, ['import', join(s.inbox, 'f\uFFFDvrier.hl7')]);
    expect(r.stdout).toContain('f%E9vrier.hl7: 1 messages: 1 AA');
    expect(r.status).toBe(0);
    expect(namesIn(s.inbox)).toEqual([]);
    expect(archived(s)).toEqual([expect.stringMatching(/\/f%E9vrier\.hl7$/)]);
    expect(await patientCount(s)).toBe(1);
  });

  // Regression: `watch` skipped links but status counted them pending for ever with the target's size, and `import`
  // of a link applied the target and archived only the link.
  it('a symbolic link is shown as a link, then quarantined as it is by run: its target is never read or moved', async () => {
    const s = site();
    const elsewhere = join(s.root, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'real.hl7'), a28File(1, 3), 'latin1');
    symlinkSync(join(elsewhere, 'real.hl7'), join(s.inbox, 'adt_1.hl7'));
    writeFileSync(join(s.inbox, 'adt_2.hl7'), a28File(10, 1), 'latin1');
    await (await openDb(s.db)).close(); // status never creates a store

    const listed = listInbox(s.config.sources[0]!, new Date(), new Set());
    expect(listed.map((f) => [f.name, f.reason, f.size])).toEqual([
      ['adt_1.hl7', 'link', lstatSync(join(s.inbox, 'adt_1.hl7')).size], ['adt_2.hl7', 'pending', a28File(10, 1).length]]);
    expect(status(s).sources[0].inbox).toMatchObject({ files: 2, pending: 2 });

    const r = cli(s, ['run']);
    expect(r.status).toBe(1); // a quarantined file
    expect(namesIn(s.inbox)).toEqual([]);
    expect(readlinkSync(join(s.error, 'adt_1.hl7'))).toBe(join(elsewhere, 'real.hl7'));
    expect(readFileSync(join(s.error, 'adt_1.hl7.reason.txt'), 'utf8')).toMatch(/^a symbolic link \(to .*real\.hl7\): pamdrop never follows links/);
    expect(readFileSync(join(elsewhere, 'real.hl7'), 'latin1')).toBe(a28File(1, 3)); // untouched, still there
    expect((await ledgerFiles(s)).map((f) => [f.name, f.state, f.message_count])).toEqual([['adt_1.hl7', 'quarantined', 0], ['adt_2.hl7', 'done', 1]]);
    expect(await patientCount(s)).toBe(1); // only adt_2's
    expect(status(s).sources[0].inbox).toMatchObject({ files: 0, pending: 0 });
  });

  it('import of a link quarantines the link; a FIFO or a folder is named for what it is (exit 2, nothing done)', async () => {
    const s = site();
    writeFileSync(join(s.root, 'real.hl7'), a28File(1, 1), 'latin1');
    symlinkSync(join(s.root, 'real.hl7'), join(s.inbox, 'link.hl7'));
    const l = cli(s, ['import', join(s.inbox, 'link.hl7')]);
    expect(l.stdout).toContain('link.hl7: QUARANTINED: a symbolic link');
    expect(l.status).toBe(1);
    expect(lstatSync(join(s.error, 'link.hl7')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(s.root, 'real.hl7'), 'latin1')).toBe(a28File(1, 1));
    expect(await patientCount(s)).toBe(0);

    execFileSync('mkfifo', [join(s.inbox, 'pipe.hl7')]);
    mkdirSync(join(s.inbox, 'folder.hl7'));
    const f = cli(s, ['import', join(s.inbox, 'pipe.hl7')]);
    expect(f.stderr).toContain('pipe.hl7: a FIFO (named pipe), not a file: nothing imported');
    expect(f.status).toBe(2);
    const d = cli(s, ['import', join(s.inbox, 'folder.hl7')]);
    expect(d.stderr).toContain('folder.hl7: a folder, not a file: nothing imported');
    expect(d.status).toBe(2);
    expect((await ledgerFiles(s)).map((x) => x.name)).toEqual(['link.hl7']);
  });
});
