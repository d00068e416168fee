/**
 * PostgreSQL group mode (src/store/pg/): a group of messages applied as one unit of work (prefetch, model, write-behind)
 * must leave exactly the store and ACK files that message-by-message processing leaves (pgGroupMode "per-message"),
 * including when the optimistic attempt fails and the group is redone: a write refused by the database, a wrong
 * predicted patient id.
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../../bench/generate.js';
import { main } from '../../src/cli/main.js';
import { openDb } from '../../src/store/db.js';
import { dumpSite } from '../helpers/dump.js';
import { makeTarget } from '../helpers/db.js';

const hasPg = !!process.env.PAMDROP_TEST_PG_URL;

/** The generated traffic as separate messages (latin1 "binary" strings). */
function messages(n: number, seed: number): string[] {
  return [...generate({ messages: n, seed, charset: 'latin9', envelope: false })].join('').split(/(?=MSH\|)/).filter((m) => m.startsWith('MSH|'));
}

interface Site { root: string; target: string; dispose(): Promise<void> }

async function site(): Promise<Site> {
  const root = mkdtempSync(join(tmpdir(), 'pamdrop-group-'));
  for (const d of ['inbox', 'outbox', 'archive', 'error']) mkdirSync(join(root, d));

  const t = makeTarget('pg');
  return { root, target: t.target, dispose: async () => { await t.dispose(); rmSync(root, { recursive: true, force: true }); } };
}

/** Imports the files in order; group mode on or off. Returns the totals of each run. */
async function importAll(s: Site, files: string[][], group: boolean): Promise<Array<Record<string, number>>> {
  // Groups of 500 (the default is 2000): the cases below place messages in the second or third group on purpose.
  writeFileSync(join(s.root, 'config.json'), JSON.stringify({ groupSize: 500, pgGroupMode: group ? 'batched' : 'per-message' }));
  const time = process.env.PAMDROP_FIXED_TIME;
  process.env.PAMDROP_FIXED_TIME = '2026-01-02T03:04:05.000Z';
  const totals: Array<Record<string, number>> = [];
  try {
    for (const [i, f] of files.entries()) {
      const p = join(s.root, 'inbox', `adt_${i}.hl7`);
      writeFileSync(p, f.join(''), 'latin1');
      let out = '';
      await main(['--config', join(s.root, 'config.json'), '--db', s.target, '--log-level', 'silent', '--json', 'import', p, '--ack-dir', join(s.root, 'outbox'),
        '--archive-dir', join(s.root, 'archive'), '--error-dir', join(s.root, 'error')], (t) => { out += t; });
      totals.push(JSON.parse(out).totals);
    }
  } finally {
    if (time === undefined) delete process.env.PAMDROP_FIXED_TIME; else process.env.PAMDROP_FIXED_TIME = time;
  }
  return totals;
}

/** Runs `prepare` on a fresh migrated store, then the import with the group mode on and off: both sites, dumped. */
async function both(files: string[][], prepare?: (s: Site) => Promise<void>) {
  const out: Array<{ totals: Array<Record<string, number>>; dump: Record<string, unknown>; ids: unknown[] }> = [];
  for (const group of [true, false]) {
    const s = await site();
    try {
      const db = await openDb(s.target);
      try { await prepare?.(s); } finally { await db.close(); }
      const totals = await importAll(s, files, group);
      const db2 = await openDb(s.target);
      const ids = await db2.all('SELECT id FROM patients ORDER BY id').finally(() => db2.close());
      out.push({ totals, dump: await dumpSite(s.root, s.target), ids });
    } finally {
      await s.dispose();
    }
  }
  return { group: out[0]!, plain: out[1]! };
}

describe.skipIf(!hasPg)('PostgreSQL group mode (store/pg/)', () => {
  const all = messages(1300, 11);
  const cut = 800;
  // File 1: 800 messages (2 groups); file 2: the rest, 150 earlier messages again (duplicates) and one reusing an
  // MSH-10 with other content (AE 205); file 3: everything again (duplicates only).
  const conflict = all[5]!.replace('PV1|1|N', 'PV1|1|O');
  const files = [all.slice(0, cut), [...all.slice(cut), ...all.slice(100, 250), conflict], all];

  it('leaves the same store, ACK files and patient ids as message-by-message processing', async () => {
    const { group, plain } = await both(files);
    expect(group.totals).toEqual(plain.totals);
    expect(group.totals[1]).toMatchObject({ AE: 1, duplicates: 150 });
    expect(group.ids).toEqual(plain.ids);
    expect(group.dump).toEqual(plain.dump);
  }, 240_000);

  it('a write the database refuses: the group is redone message by message, only that message gets AE', async () => {
    const victim = all[300]!.split('|')[9]!;
    // A trigger refuses the history row of one message, something apply cannot foresee.
    const prepare = async (s: Site) => {
      const db = await openDb(s.target);
      try {
        await db.knex.raw(`CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.control_id = '${victim}' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$`);
        await db.knex.raw('CREATE TRIGGER refuse_one BEFORE INSERT ON history FOR EACH ROW EXECUTE FUNCTION refuse_one()');
      } finally {
        await db.close();
      }
    };
    const { group, plain } = await both([all.slice(0, cut)], prepare);
    expect(group.totals).toEqual(plain.totals);
    expect(group.totals[0]).toMatchObject({ messages: cut, AE: 1 });
    expect(group.dump).toEqual(plain.dump);
    const acks = group.dump.outbox as Record<string, string>;
    const ack = Object.entries(acks).find(([name]) => name.includes(victim))![1];
    expect(ack).toMatch(/MSA\|AE\|/);
  }, 240_000);

  it('a sequence reset (setval … false): patient ids still come from the sequence, in the same order', async () => {
    const prepare = async (s: Site) => {
      const db = await openDb(s.target);
      try { await db.knex.raw("SELECT setval(pg_get_serial_sequence('patients', 'id'), 1000, false)"); } finally { await db.close(); }
    };
    const { group, plain } = await both([all.slice(0, 600)], prepare);
    expect(group.totals).toEqual(plain.totals);
    expect((group.ids[0] as { id: number }).id).toBe(1000);
    expect(group.ids).toEqual(plain.ids);
    expect(group.dump).toEqual(plain.dump);
  }, 240_000);

  it('a predicted patient id proves wrong (the sequence drawn behind its back): the group is redone, same store', async () => {
    // An A28 creation (it writes a history row) in the second group (the first one of a fresh store predicts no id).
    const trigger = all.slice(550).find((m) => m.split('|')[8]!.startsWith('ADT^A28'))!.split('|')[9]!;
    const prepare = async (s: Site) => {
      const db = await openDb(s.target);
      try {
        await db.knex.raw(`CREATE FUNCTION draw_one() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.control_id = '${trigger}' THEN PERFORM nextval(pg_get_serial_sequence('patients', 'id')); END IF; RETURN NEW; END $$`);
        await db.knex.raw('CREATE TRIGGER draw_one BEFORE INSERT ON history FOR EACH ROW EXECUTE FUNCTION draw_one()');
      } finally {
        await db.close();
      }
    };
    const { group, plain } = await both([all.slice(0, cut)], prepare);
    expect(group.totals).toEqual(plain.totals);
    expect(group.totals[0]).toMatchObject({ messages: cut, AA: cut });
    expect(group.dump).toEqual(plain.dump);
  }, 240_000);

  it('links (A24/A37) prefetched from both sides, with merges and updates of linked records: same store', async () => {
    // PID-3 of every A28 creation of the first file (each a patient of its own).
    const created = all.slice(0, cut).filter((m) => m.split('|')[8]!.startsWith('ADT^A28'))
      .map((m) => /\rPID\|1\|\|([^|]*)\|/.exec(m)![1]!.split('~')[0]!);
    const link = (ev: 'A24' | 'A37', n: number, a: string, b: string) => [
      `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250402120000||ADT^${ev}^ADT_${ev}|LNK${ev}${n}|P|2.5^FRA^2.11|||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM`,
      'EVN||20250402120000', `PID|1||${a}`, 'PV1|1|N', `PID|2||${b}`, 'PV1|1|N',
    ].map((s) => `${s}\r`).join('');
    // File 2: links of pairs (a patient on either side, some on both sides of several links), then the rest of the
    // traffic (updates and merges of linked records), then some unlinked. File 3: more links and unlinks, each group
    // prefetching links stored by the earlier files.
    const pairs = Array.from({ length: 120 }, (_x, i) => [created[i]!, created[(i * 7 + 3) % created.length]!] as const)
      .filter(([a, b]) => a !== b);
    const f2 = [...pairs.map(([a, b], i) => link('A24', i, a, b)), ...all.slice(cut), ...pairs.slice(0, 40).map(([a, b], i) => link('A37', i, b, a))];
    const f3 = [...pairs.slice(20, 80).map(([a, b], i) => link('A37', 100 + i, a, b)), ...pairs.slice(60, 110).map(([a, b], i) => link('A24', 200 + i, b, a))];
    const { group, plain } = await both([all.slice(0, cut), f2, f3]);
    expect(group.totals).toEqual(plain.totals);
    expect(group.totals[1]!.AA).toBeGreaterThan(pairs.length);
    expect(group.ids).toEqual(plain.ids);
    expect(group.dump).toEqual(plain.dump);
    expect((group.dump.links as unknown[]).length).toBeGreaterThan(20);
  }, 240_000);

  it('NIAs kept beside NIRs (collisions included) and A40s moving or dropping the retired INS: same store', async () => {
    // File 1: the traffic with an NIA beside every NIR of an A28 (every fifth NIA reused: AE 205 collisions).
    // File 2: A40s between qualified and provisional records, with PID-32 VALI, PROV or absent (INS moved, kept,
    // dropped, or two INS → AE), then more traffic.
    const niaOf = (n: number) => { const body = String(1990000000000 + n); return body + String(97 - Number(BigInt(body) % 97n)).padStart(2, '0'); };
    let k = 0;
    const f1 = all.slice(0, 600).map((m) => (m.split('|')[8]!.startsWith('ADT^A28') && m.includes('^INS')
      ? m.replace(/(\rPID\|1\|\|[^|]*?)~([^~|]*\^INS)/, (_x, head: string, ins: string) => {
        k++;
        return `${head}~${niaOf(k % 5 === 0 ? k - 1 : k)}^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS~${ins}`;
      })
      : m));
    expect(k).toBeGreaterThan(20);
    const created = f1.filter((m) => m.split('|')[8]!.startsWith('ADT^A28')).map((m) => /\rPID\|1\|\|([^|]*)\|/.exec(m)![1]!.split('~')[0]!);
    const merge = (n: number, survivor: string, retired: string, pid32: string) => [
      `MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250402120000||ADT^A40^ADT_A39|MRG${n}|P|2.5^FRA^2.11|||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM`,
      'EVN||20250402120000',
      `PID|1||${survivor}||NOM^PRENOM^PRENOM^^^^L||19800101|F|||^^PARIS^^^FRA^BDL^^75056|||||||||||||||||||||${pid32}`,
      `MRG|${retired}`,
    ].map((x) => `${x}\r`).join('');
    const f2 = [
      ...Array.from({ length: 60 }, (_x, i) => merge(i, created[2 * i]!, created[2 * i + 1]!, ['VALI', 'PROV', ''][i % 3]!)),
      ...all.slice(600, 900),
    ];
    const { group, plain } = await both([f1, f2]);
    expect(group.totals).toEqual(plain.totals);
    expect(group.totals[0]!.AE).toBeGreaterThan(0);
    expect(group.ids).toEqual(plain.ids);
    expect(group.dump).toEqual(plain.dump);
    expect((group.dump.ins as Array<{ kind: string }>).some((r) => r.kind === 'NIA')).toBe(true);
  }, 240_000);

  it('one authority under two spellings: namespace-only then full (completed mid-group), mixed after: same store', async () => {
    // DTFR 1.8.2 N.1: the registry read once per group, the authority completed and its identifiers rekeyed in the
    // cache exactly as in the database.
    const nsOnly = (m: string) => m.split('^^^CHEX&1.2.250.1.999999.1&ISO^').join('^^^CHEX^');
    const f1 = all.slice(0, cut).map((m, i) => (i < 300 ? nsOnly(m) : m));
    const f2 = all.slice(cut).map((m, i) => (i % 3 === 0 ? nsOnly(m) : m));
    const { group, plain } = await both([f1, f2]);
    expect(group.totals).toEqual(plain.totals);
    expect(group.ids).toEqual(plain.ids);
    expect(group.dump).toEqual(plain.dump);
    expect(group.dump.authorities).toEqual(expect.arrayContaining([expect.objectContaining({ namespace: 'CHEX', oid: '1.2.250.1.999999.1' })]));
    expect(group.dump.authorities).toHaveLength(2); // CHEX and EPISODE
    expect(JSON.stringify(group.dump.identifiers)).not.toContain('"auth_key":"CHEX"');
  }, 240_000);

  it('literals: quotes, backslashes and non-ASCII text are stored as sent', async () => {
    const odd = all.slice(0, 40).map((m, i) => (i % 2 === 0 ? m.replace(/\rPID\|1\|\|([^|]*)\|\|([^^|]*)\^/, (_x, ids, fam) => `\rPID|1||${ids}||${fam}'O\\E\\X'\u00e9^`) : m));
    const { group, plain } = await both([odd]);
    expect(group.totals).toEqual(plain.totals);
    expect(group.dump).toEqual(plain.dump);
    expect(JSON.stringify(group.dump)).toContain("'O");
  }, 240_000);

  it('prefetch lists with quotes, double quotes and escapes in identifiers and MSH-10 (array literals): same store', async () => {
    // Every IPP and MSH-10 of the traffic, consistently: quotes and double quotes (prefetched), and for odd IPPs an
    // HL7 escape \E\ too (read differently from the raw text: not prefetched, looked up in the database).
    const odd = (m: string) => m
      .replace(/(\d+)(\^\^\^CHEX&)/g, (_x, n: string, rest: string) => `${n}'"${Number(n) % 2 ? '\\E\\z' : ''}${rest}`)
      .replace(/^(MSH(?:\|[^|\r]*){8}\|)(G\d+)\|/, (_x, head: string, ctl: string) => `${head}${ctl}'"{,}|`);
    const { group, plain } = await both([all.slice(0, 700).map(odd), all.slice(300, 400).map(odd)]);
    expect(group.totals).toEqual(plain.totals);
    expect(group.totals[1]).toMatchObject({ duplicates: 100 });
    expect(group.ids).toEqual(plain.ids);
    expect(group.dump).toEqual(plain.dump);
    expect(JSON.stringify(group.dump)).toContain(`'\\"{,}`);
  }, 240_000);
});



