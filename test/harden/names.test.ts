/**
 * Hardening harness — inbox entries fuzz: a seeded inbox of odd entries taken by the real intake (`run`, in-process)
 * on a real store (SQLite and PostgreSQL):
 * - file names as bytes: Latin-1 and random high bytes (not UTF-8), valid multi-byte UTF-8, spaces and control
 *   characters, lengths up to 255 bytes;
 * - symbolic links to a file outside, to a folder, to another inbox file, dangling, to themselves;
 * - FIFOs, folders, and ignored (temporary) names.
 * Every data file must be applied once, acknowledged and archived; every link quarantined as a link with a reason
 * and its target untouched; FIFOs, folders and ignored names left where they are; `status` must have shown every
 * file and link beforehand; a second run must find nothing to do. PAMDROP_HARDEN_NAMES sets the entry count,
 * PAMDROP_HARDEN_SEED the seed.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dbKinds } from '../helpers/db.js';
import { rng } from '../../bench/generate.js';
import { openDb } from '../../src/store/db.js';
import { listInbox } from '../../src/ops/inbox.js';
import { a28File, makeSite, runIntake, type Site } from '../intake/site.js';

const ENTRIES = Number(process.env.PAMDROP_HARDEN_NAMES ?? 60);
const SEED = Number(process.env.PAMDROP_HARDEN_SEED ?? 20260301);

const sites: Site[] = [];
afterAll(async () => { for (const s of sites) await s.cleanup(); });

const PIECES: Array<(r: () => number) => Buffer> = [
  (r) => Buffer.from(String.fromCharCode(97 + Math.floor(r() * 26))), // ASCII letter
  (r) => Buffer.from([0x80 + Math.floor(r() * 128)]), // a lone high byte: not UTF-8 (Latin-1 é is 0xE9)
  () => Buffer.from([0xe9]),
  (r) => Buffer.from(['é', '中', '🙂', 'ß', 'Ω'][Math.floor(r() * 5)]!), // valid multi-byte UTF-8
  () => Buffer.from(' '),
  (r) => Buffer.from([1 + Math.floor(r() * 31)]), // a control character (valid UTF-8, legal in a name)
  () => Buffer.from('%'),
];

/** A name of `prefix`, random bytes and `.hl7`, at most `max` bytes. */
function randomName(r: () => number, prefix: string, max: number): Buffer {
  const target = prefix.length + 4 + Math.floor(r() ** 2 * (max - prefix.length - 4));
  const parts: Buffer[] = [Buffer.from(prefix)];
  let len = prefix.length;
  while (len < target - 4) {
    const p = PIECES[Math.floor(r() * PIECES.length)]!(r);
    if (len + p.length > target - 4) break;
    parts.push(p);
    len += p.length;
  }
  parts.push(Buffer.from('.hl7'));
  return Buffer.concat(parts);
}

type Entry =
  | { kind: 'data'; name: Buffer; content: string; controlIds: string[] }
  | { kind: 'link'; name: Buffer; target: string }
  | { kind: 'fifo' | 'folder' | 'ignored'; name: Buffer };

const at = (dir: string, name: Buffer) => Buffer.concat([Buffer.from(dir + '/'), name]);
const namesIn = (dir: string): Buffer[] => readdirSync(dir, { encoding: 'buffer' }) as Buffer[];

async function counts(s: Site): Promise<{ patients: number; messages: number }> {
  const db = await openDb(s.db, { migrate: false });
  try {
    return {
      patients: Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM patients'))!.n),
      messages: Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM messages'))!.n),
    };
  } finally { await db.close(); }
}

describe.each(dbKinds())('inbox entries fuzz (%s)', (kind) => {
  it(`${ENTRIES} odd entries: data applied once and archived, links quarantined unfollowed, the rest left; nothing invisible`, async () => {
    const s = makeSite({ db: kind, source: { stableMs: 0 } });
    sites.push(s);
    const r = rng(SEED);
    const outside = join(s.root, 'outside');
    mkdirSync(join(outside, 'folder'), { recursive: true });
    writeFileSync(join(outside, 'target.hl7'), a28File(900000, 1, 'OUT'), 'latin1');
    const entries: Entry[] = [];
    let firstData: Buffer | null = null;
    for (let i = 0; i < ENTRIES; i++) {
      const x = r();
      if (x < 0.6 || i === 0) {
        const n = 1 + Math.floor(r() * 3);
        const name = randomName(r, `n${i}_`, 255);
        const prefix = `N${i}X`;
        const content = a28File(i * 10, n, prefix);
        writeFileSync(at(s.inbox, name), content, 'latin1');
        entries.push({ kind: 'data', name, content, controlIds: Array.from({ length: n }, (_, k) => `${prefix}${i * 10 + k}`) });
        firstData ??= name;
      } else if (x < 0.8) {
        const name = randomName(r, `l${i}_`, 255);
        const y = r();
        const target = y < 0.25 ? join(outside, 'target.hl7') : y < 0.5 ? join(outside, 'folder') : y < 0.7 ? join(outside, 'missing.hl7')
          : y < 0.85 ? at(s.inbox, name).toString('latin1') : `./${firstData!.toString('latin1')}`;
        // A link's target is bytes too: written as given (latin1 keeps each byte).
        symlinkSync(Buffer.from(target, 'latin1'), at(s.inbox, name));
        entries.push({ kind: 'link', name, target });
      } else if (x < 0.87) {
        const name = randomName(r, `f${i}_`, 100);
        // mkfifo(1) takes its argument as text: made under an ASCII name, then renamed to the bytes.
        execFileSync('mkfifo', [join(s.root, 'fifo.tmp')]);
        renameSync(join(s.root, 'fifo.tmp'), at(s.inbox, name));
        entries.push({ kind: 'fifo', name });
      } else if (x < 0.94) {
        const name = randomName(r, `d${i}_`, 100);
        mkdirSync(at(s.inbox, name));
        entries.push({ kind: 'folder', name });
      } else {
        const name = Buffer.concat([Buffer.from(`.t${i}_`), randomName(r, '', 100)]);
        writeFileSync(at(s.inbox, name), a28File(800000 + i, 1, 'IGN'), 'latin1');
        entries.push({ kind: 'ignored', name });
      }
    }
    const data = entries.filter((e): e is Extract<Entry, { kind: 'data' }> => e.kind === 'data');
    const links = entries.filter((e): e is Extract<Entry, { kind: 'link' }> => e.kind === 'link');
    const left = entries.filter((e) => e.kind === 'fifo' || e.kind === 'folder' || e.kind === 'ignored');
    await (await openDb(s.db)).close();

    // Nothing invisible: status lists every file and link with a reason (FIFOs and folders are not files);
    // names the source ignores (temporary names) are not pending work, so they are not listed.
    const listed = listInbox(s.config.sources[0]!, new Date(), new Set());
    const reasons = listed.reduce<Record<string, number>>((m, f) => { m[f.reason] = (m[f.reason] ?? 0) + 1; return m; }, {});
    expect(reasons).toEqual({
      ...(data.length ? { pending: data.length } : {}),
      ...(links.length ? { link: links.length } : {}),
    });

    const report = await runIntake(s);
    expect(report.files.filter((f) => f.state === 'failed')).toEqual([]);
    expect(report.files.filter((f) => f.state === 'done')).toHaveLength(data.length);
    expect(report.files.filter((f) => f.state === 'quarantined')).toHaveLength(links.length);

    // Data: applied once, one ACK per message, archived with the same bytes.
    const total = data.reduce((n, d) => n + d.controlIds.length, 0);
    expect(await counts(s)).toEqual({ patients: total, messages: total });
    const acks = readdirSync(s.outbox);
    for (const d of data) for (const id of d.controlIds) expect(acks.filter((a) => a.endsWith(`.${id}.ack.hl7`))).toHaveLength(1);
    const archivedContents: string[] = [];
    const walk = (dir: string) => {
      for (const n of namesIn(dir)) {
        const p = at(dir, n);
        const st = lstatSync(p);
        if (st.isDirectory()) { if (n.toString() !== 'error') walk(p.toString()); } else archivedContents.push(readFileSync(p, 'latin1'));
      }
    };
    walk(s.archive);
    expect(archivedContents.sort()).toEqual(data.map((d) => d.content).sort());

    // Links: each quarantined as a link (same target), with a reason; targets untouched.
    const quarantined = namesIn(s.error).filter((n) => !n.toString('latin1').endsWith('.reason.txt'));
    expect(quarantined.map((n) => lstatSync(at(s.error, n)).isSymbolicLink())).toEqual(links.map(() => true));
    expect(quarantined.map((n) => (readlinkSync(at(s.error, n), { encoding: 'buffer' }) as Buffer).toString('latin1')).sort())
      .toEqual(links.map((l) => l.target).sort());
    for (const n of quarantined) expect(readFileSync(Buffer.concat([at(s.error, n), Buffer.from('.reason.txt')]), 'utf8')).toMatch(/^a symbolic link \(to /);
    expect(readFileSync(join(outside, 'target.hl7'), 'latin1')).toBe(a28File(900000, 1, 'OUT'));
    expect(lstatSync(join(outside, 'folder')).isDirectory()).toBe(true);

    // The rest is left where it was, as it was.
    expect(namesIn(s.inbox).map((n) => n.toString('hex')).sort()).toEqual(left.map((e) => e.name.toString('hex')).sort());

    // Nothing more to do.
    const again = await runIntake(s);
    expect(again.files).toEqual([]);
    expect(await counts(s)).toEqual({ patients: total, messages: total });
  }, 120_000);
});
