/**
 * Test program — `pamdrop` as a hospital's scripts run it: `node bin/pamdrop.js …` in a child process (the
 * compiled dist/, so `npm run build` first). The CLI contract:
 * 1. `--help` works; usage and configuration errors exit 2 with a message on stderr (the list of causes runs
 *    in-process through the same `main()`, two of them as real processes); a store that cannot be opened ends
 *    the process with its error.
 * 2. On a site (per database kind): exit 0 when everything is accepted, 1 on an AE or a quarantined file; the
 *    `import --json` report shape; `patient --json` (exact field set), `--ins`, `--authority`, exit 4 when not
 *    found; `patients --json`; a retired (merged) identifier resolves to the retired record.
 * 3. `--sqlite-driver sqlite3`: imports the §8 examples and reads them back, with better-sqlite3 made unloadable
 *    (a preload that throws on it), so the flag provably selects the other driver.
 * 4. Logs on stderr at the default level (and at debug) never carry a patient name, birth date or INS, whatever
 *    the outcome (AA, AE, AR, stale, duplicate, quarantine, undecodable bytes, junk lines).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { A28_8859_15, A28_BAD_NIR_KEY, A28_CREATE, A31_DOWNGRADE, A31_UPDATE, A40_MERGE, BATCH } from '../fixtures/examples.js';
import { FIXTURES } from '../fixtures/make-fixtures.js';
import { dbKinds, makeTarget, type DbKind } from '../helpers/db.js';
import { edit, event, ipp } from '../helpers/messages.js';
import { main } from '../../src/cli/main.js';
import { openDb } from '../../src/store/db.js';
import { acquireLock, releaseLock } from '../../src/store/ledger.js';
import { WRITER_LOCK } from '../../src/pipeline/runner.js';
import { sourceLeaseName } from '../../src/pipeline/lease.js';

const BIN = resolve('bin/pamdrop.js');
const fixture = (name: string): Buffer => FIXTURES.find((f) => f.name === name)!.bytes;

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `node [node args] bin/pamdrop.js args` and collects its output. */
function pamdrop(args: string[], opts: { cwd?: string; nodeArgs?: string[] } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    // A process that never exits is a failure (see the regression test below); it is killed rather than left behind.
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args],
      { cwd: opts.cwd, env: { ...process.env, PAMDROP_FAULT: '' }, timeout: 25_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** A site: folders, a config file, a store; `run` adds --config and --db, `imp` the folders of `import`. */
interface Site {
  root: string;
  inbox: string;
  /** The store (SQLite path or PostgreSQL URL with its schema). */
  db: string;
  drop(name: string, content: string | Buffer): string;
  run(...args: string[]): Promise<Run>;
  imp(...names: string[]): Promise<Run>;
  cleanup(): Promise<void>;
}

function makeSite(kind: DbKind, config: object = { pam: { acceptTestIns: true } }, extra: { nodeArgs?: string[]; globals?: string[] } = {}): Site {
  const root = mkdtempSync(join(tmpdir(), 'pamdrop-cli-'));
  const inbox = join(root, 'inbox');
  for (const d of ['inbox', 'outbox', 'archive']) mkdirSync(join(root, d));
  writeFileSync(join(root, 'config.json'), JSON.stringify(config));
  const target = kind === 'sqlite' ? { target: join(root, 'data', 'pamdrop.sqlite'), dispose: async () => {} } : makeTarget(kind);
  const site: Site = {
    root,
    inbox,
    db: target.target,
    drop: (name, content) => {
      const p = join(inbox, name);
      writeFileSync(p, typeof content === 'string' ? Buffer.from(content, 'latin1') : content);
      return p;
    },
    run: (...args) => pamdrop(['--config', join(root, 'config.json'), '--db', target.target, ...(extra.globals ?? []), ...args], { cwd: root, nodeArgs: extra.nodeArgs }),
    imp: (...names) => site.run('import', ...names.map((n) => (n.startsWith('--') ? n : join(inbox, n))), '--ack-dir', join(root, 'outbox'),
      '--archive-dir', join(root, 'archive'), '--error-dir', join(root, 'archive', 'error')),
    cleanup: async () => {
      await target.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
  return site;
}

// ---------------------------------------------------------------------------------------------------------

describe('usage', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pamdrop-cli-usage-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ pam: { acceptTestIns: true }, stalUpdates: 'apply' }));
    writeFileSync(join(dir, 'broken.json'), '{ "pam": ');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--help prints the commands and exits 0', async () => {
    const r = await pamdrop(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['import <files..>', 'patient [value]', 'patients']) expect(r.stdout).toContain(c);
  });

  let n = 0;
  const db = () => ['--db', join(dir, `store${++n}`, 'pamdrop.sqlite')];
  it.concurrent.each([
    ['no command', () => [], /command/],
    ['an unknown command', () => ['frobnicate'], /frobnicate/],
    ['an unknown option', () => [...db(), 'patients', '--frobnicate'], /frobnicate/],
    ['import without files', () => [...db(), 'import'], /Not enough non-option arguments/],
    ['import of a file that does not exist', () => [...db(), 'import', join(dir, 'nope.hl7')], /nope\.hl7: no such file/],
    ['patient without a value', () => [...db(), 'patient'], /identifier value or --ins/],
    ['a config file with an unknown key', () => ['--config', join(dir, 'bad.json'), ...db(), 'patients'], /stalUpdates: unknown key/],
    ['a config file that is not JSON', () => ['--config', join(dir, 'broken.json'), ...db(), 'patients'], /not valid JSON/],
    ['a missing config file', () => ['--config', join(dir, 'none.json'), ...db(), 'patients'], /cannot read/],
    ['an unknown --sqlite-driver', () => [...db(), '--sqlite-driver', 'nope', 'patients'], /sqlite-driver/],
  ] as const)('%s → exit 2 with a message', async (_what, args, message) => {
    // In-process (same main() as bin/pamdrop.js): the real process exit code is checked by the spawned cases below.
    let stderr = '';
    const code = await main([...args()], () => {}, (t) => { stderr += t; });
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it.concurrent.each([
    ['an unknown command', () => ['frobnicate'], /frobnicate/],
    ['a config file with an unknown key', () => ['--config', join(dir, 'bad.json'), ...db(), 'patients'], /stalUpdates: unknown key/],
  ] as const)('as a process: %s → exit status 2', async (_what, args, message) => {
    const r = await pamdrop([...args()], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  // Regression: when the store could not be opened (here a foreign table where ours goes), the error was printed
  // but knex's pool was never destroyed and the process never exited (a cron job hanging forever).
  it('a store that cannot be opened: the error is reported and the process exits', async () => {
    const path = join(dir, 'foreign.sqlite');
    const foreign = new Database(path);
    foreign.exec('CREATE TABLE patients (x TEXT)');
    foreign.close();
    // A command that may create the store tries to migrate it: the system's fault, exit 5, one line.
    const r = await pamdrop(['--db', path, 'run'], { cwd: dir });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/patients. already exists/);
    // A read-only command does not touch a file that holds no pamdrop store: exit 2.
    const other = join(dir, 'foreign2.sqlite');
    const foreign2 = new Database(other);
    foreign2.exec('CREATE TABLE patients (x TEXT)');
    foreign2.close();
    const ro = await pamdrop(['--db', other, 'patients'], { cwd: dir });
    expect(ro.code).toBe(2);
    expect(ro.stderr).toMatch(/no pamdrop store at .*foreign2\.sqlite: the file holds no pamdrop tables/);
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Exact keys of `patient --json`. */
const PATIENT_KEYS = [
  'id', 'identifiers', 'ins', 'status', 'attributes', 'qualified', 'birthName', 'firstName', 'birthGivenNames', 'usedName',
  'usedFirstName', 'birthDate', 'sex', 'birthPlace', 'names', 'addresses', 'active', 'mergedInto', 'links', 'lastMessageTime', 'history',
].sort();
const SUMMARY_KEYS = ['messages', 'AA', 'AE', 'AR', 'duplicates', 'stale'];

describe.each(dbKinds())('a site on %s', (kind) => {
  let site: Site;
  beforeAll(() => { site = makeSite(kind); });
  afterAll(async () => { await site.cleanup(); });

  it('import: all accepted → exit 0; --json gives a per-file summary and totals', async () => {
    site.drop('adt_1.hl7', A28_CREATE + A31_UPDATE);
    site.drop('adt_2.hl7', BATCH);
    const r = await site.imp('adt_1.hl7', 'adt_2.hl7', '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report).sort()).toEqual(['exitCode', 'files', 'totals']);
    expect(report.exitCode).toBe(0);
    expect(report.files).toHaveLength(2);
    expect(report.files[0]).toMatchObject({
      file: 'adt_1.hl7', source: 'local', state: 'done', reason: null, fileId: expect.any(Number),
      archivedPath: expect.stringMatching(/archive[/\\]\d{4}[/\\]\d{2}[/\\]\d{2}[/\\]adt_1\.hl7$/),
      summary: { messages: 2, AA: 2, AE: 0, AR: 0, duplicates: 0, stale: 0 },
    });
    expect(Object.keys(report.files[1].summary).sort()).toEqual([...SUMMARY_KEYS].sort());
    expect(report.files[1].summary).toEqual({ messages: 3, AA: 3, AE: 0, AR: 0, duplicates: 0, stale: 0 });
    expect(report.totals).toEqual({ files: 2, messages: 5, AA: 5, AE: 0, AR: 0, duplicates: 0, stale: 0, quarantined: 0, failed: 0 });
  });

  it('import of files already processed while another process holds the lock: reported from the ledger, exit 0', async () => {
    site.drop('adt_20.hl7', edit(A28_CREATE, { 'MSH-10': 'DONE20' }));
    expect((await site.imp('adt_20.hl7')).code).toBe(0);
    // A watch (SQLite: the writer lock) or another instance (PostgreSQL: the source lease) is running.
    const db = await openDb(site.db);
    const lock = kind === 'sqlite' ? WRITER_LOCK : sourceLeaseName('local');
    try {
      expect(await acquireLock(db, lock, 'otherhost:4242:watch', new Date(), 60_000)).toEqual({ ok: true });
      const again = await site.imp('adt_20.hl7', '--json');
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).files).toEqual([expect.objectContaining({ file: 'adt_20.hl7', state: 'done', alreadyProcessed: true })]);
      // With a file left to process the lock is needed: refused (exit 3), nothing done.
      site.drop('adt_21.hl7', edit(A31_UPDATE, { 'MSH-10': 'TODO21' }));
      expect((await site.imp('adt_21.hl7')).code).toBe(3);
    } finally {
      await releaseLock(db, lock, 'otherhost:4242:watch');
      await db.close();
    }
  });

  it('import: a message answered AE → exit 1', async () => {
    site.drop('adt_4.hl7', A28_BAD_NIR_KEY);
    const r = await site.imp('adt_4.hl7', '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.exitCode).toBe(1);
    expect(report.files[0]).toMatchObject({ state: 'done', summary: { messages: 1, AE: 1 } });
  });

  it('import: a quarantined file → exit 1, reported with its reason; the text report says so too', async () => {
    site.drop('adt_6.hl7', fixture('wrong-bts-count.hl7'));
    const r = await site.imp('adt_6.hl7', '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.files[0]).toMatchObject({ file: 'adt_6.hl7', state: 'quarantined', reason: expect.stringContaining('BTS-1'),
      archivedPath: expect.stringMatching(/error[/\\]adt_6\.hl7$/) });
    expect(report.totals.quarantined).toBe(1);
    site.drop('adt_7.hl7', fixture('truncated-envelope.hl7'));
    const t = await site.imp('adt_7.hl7');
    expect(t.code).toBe(1);
    expect(t.stdout).toMatch(/adt_7\.hl7: QUARANTINED: .*no BTS/);
    expect(t.stdout).toMatch(/1 quarantined/);
  });

  it('import: an A31 for 100234 of another domain (unknown there: created, W only) → exit 0', async () => {
    site.drop('adt_8.hl7', edit(A31_DOWNGRADE, { 'MSH-10': 'DOM2', 'PID-3': '100234^^^CHEY&1.2.250.1.999999.2&ISO^PI' }));
    expect((await site.imp('adt_8.hl7')).code).toBe(0);
  });

  // Read-only lookups on the site above: independent, run concurrently.
  describe.concurrent('lookups', () => {
    it('patient --json: the documented fields; identifiers without the INS; birth date YYYY-MM-DD; history', async () => {
      const r = await site.run('patient', '100234', '--authority', 'CHEX', '--json');
      expect(r.code).toBe(0);
      const p = JSON.parse(r.stdout);
      expect(Object.keys(p).sort()).toEqual(PATIENT_KEYS);
      expect(p).toMatchObject({
        identifiers: [{ value: '100234', authority: 'CHEX', oid: '1.2.250.1.999999.1', type: 'PI' }],
        ins: { value: '285032A00412371', oid: '1.2.250.1.213.1.4.10', kind: 'NIR' },
        status: 'VALI', attributes: [], qualified: true, birthName: 'CASANOVA', firstName: 'MARIE', birthGivenNames: 'MARIE LAETITIA ANNE',
        usedName: 'BONAPARTE', usedFirstName: 'MARIE', birthDate: '1985-03-17', sex: 'F', birthPlace: '2A004', active: true, mergedInto: null,
      });
      expect(p.identifiers.every((i: any) => i.type !== 'INS')).toBe(true);
      expect(p.history.map((h: any) => [h.controlId, h.event])).toEqual([['GAM000101', 'A28'], ['GAM000102', 'A31']]);
      for (const h of p.history) {
        expect(Object.keys(h).sort()).toEqual(['changes', 'controlId', 'event', 'messageTime', 'recordedAt', 'sendingApp', 'sendingFacility']);
      }
    });

    it('patient --ins finds the record by its INS', async () => {
      const r = await site.run('patient', '--ins', '285032A00412371', '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).identifiers[0].value).toBe('100234');
    });

    it('a retired (merged) identifier resolves to the retired record, which names its survivor', async () => {
      const r = await site.run('patient', '100301', '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ active: false, identifiers: [{ value: '100301' }], mergedInto: { value: '100300', type: 'PI' } });
    });

    it('not found → exit 4 (null with --json)', async () => {
      const r = await site.run('patient', '999999', '--json');
      expect(r.code).toBe(4);
      expect(r.stdout.trim()).toBe('null');
      });

    it('patient --authority narrows a value held in two domains (exit 2 without it)', async () => {
      const both = await site.run('patient', '100234', '--json');
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/--authority/);
      const byOid = await site.run('patient', '100234', '--authority', '1.2.250.1.999999.2', '--json');
      expect(byOid.code).toBe(0);
      expect(JSON.parse(byOid.stdout)).toMatchObject({ identifiers: [{ authority: 'CHEY' }], status: 'PROV', ins: null });
      const byNamespace = await site.run('patient', '100234', '--authority', 'CHEX', '--json');
      expect(JSON.parse(byNamespace.stdout).ins.value).toBe('285032A00412371');
    });

    it('patients --json lists every record, active and merged, in the patient shape', async () => {
      const r = await site.run('patients', '--json');
      expect(r.code).toBe(0);
      const all = JSON.parse(r.stdout);
      expect(all.map((p: any) => [p.identifiers[0].value, p.active])).toEqual([['100234', true], ['100300', true], ['100301', false], ['100234', true]]);
      for (const p of all) expect(Object.keys(p).sort()).toEqual(PATIENT_KEYS);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('--sqlite-driver sqlite3', () => {
  let site: Site;
  let blocked: string[];
  beforeAll(() => {
    site = makeSite('sqlite');
    // Preload that makes better-sqlite3 unloadable: only the sqlite3 driver can work under it.
    const preload = join(site.root, 'no-better-sqlite3.cjs');
    writeFileSync(preload, `const M = require('node:module'); const load = M._load;
M._load = function (req, ...rest) { if (req === 'better-sqlite3') throw new Error('better-sqlite3 blocked by the test'); return load.call(this, req, ...rest); };\n`);
    blocked = ['--require', preload];
  });
  afterAll(async () => { await site.cleanup(); });

  it('imports the §8 examples and reads the patients back', async () => {
    site.drop('a_1.hl7', A28_CREATE + A31_UPDATE);
    site.drop('a_2.hl7', BATCH);
    site.drop('a_3.hl7', fixture('latin9.hl7'));
    const driver = ['--sqlite-driver', 'sqlite3'];
    const r = await pamdrop(['--config', join(site.root, 'config.json'), '--db', join(site.root, 'data', 'pamdrop.sqlite'), ...driver,
      'import', ...['a_1.hl7', 'a_2.hl7', 'a_3.hl7'].map((n) => join(site.inbox, n)), '--ack-dir', join(site.root, 'outbox'),
      '--archive-dir', join(site.root, 'archive'), '--error-dir', join(site.root, 'archive', 'error'), '--json'], { nodeArgs: blocked });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).totals).toMatchObject({ messages: 6, AA: 6 });
    const read = await pamdrop(['--db', join(site.root, 'data', 'pamdrop.sqlite'), ...driver, 'patients', '--json'], { nodeArgs: blocked });
    expect(read.code, read.stderr).toBe(0);
    const [marie, , , helene] = JSON.parse(read.stdout);
    expect(marie).toMatchObject({ identifiers: [{ value: '100234' }], usedName: 'BONAPARTE', qualified: true, ins: { value: '285032A00412371' } });
    expect(helene).toMatchObject({ usedName: 'LEFÈVRE', addresses: { H: { street: '3 RUE DU CŒUR VOLANT' } } });
    // The same file is readable with the default driver too.
    const other = await site.run('patients', '--json');
    expect(JSON.parse(other.stdout).map((p: any) => p.usedName)).toEqual(['BONAPARTE', null, null, 'LEFÈVRE']);
  });

  it('(control) the preload does block the default driver', async () => {
    const r = await pamdrop(['--db', join(site.root, 'data', 'pamdrop.sqlite'), 'patients', '--json'], { nodeArgs: blocked });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/better-sqlite3 blocked/);
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Every PID-5 / MRG-7 name part, PID-7 birth date and 15-character INS value of the given messages. */
function patientData(messages: string[]): string[] {
  const out = new Set<string>();
  for (const m of messages) {
    for (const seg of m.split(/\r|\n/)) {
      const f = seg.split('|');
      const names = seg.startsWith('PID|') ? f[5] : seg.startsWith('MRG|') ? f[7] : undefined;
      for (const part of (names ?? '').split(/[~^ ]/)) if (part.length > 2 && !['Mme', '""'].includes(part)) out.add(part);
      if (seg.startsWith('PID|') && f[7]) out.add(f[7]);
      for (const v of seg.match(/\b\d[0-9AB]{14}\b/g) ?? []) out.add(v);
    }
  }
  return [...out];
}

describe('logs', () => {
  const files: Array<[string, string | Buffer]> = [
    ['l_01.hl7', A28_CREATE + A31_UPDATE],                                              // AA
    ['l_02.hl7', A28_CREATE],                                                           // duplicate
    ['l_03.hl7', edit(A31_UPDATE, { 'MSH-10': 'OLD', 'MSH-7': '20250313000000' })],     // stale
    ['l_04.hl7', A28_BAD_NIR_KEY],                                                      // AE 102
    ['l_05.hl7', event(A31_UPDATE, 'ADT^A08^ADT_A01', 'AR1')],                          // AR 201
    ['l_06.hl7', A40_MERGE],                                                            // AE 204
    ['l_07.hl7', edit(A31_DOWNGRADE, { 'MSH-18': 'UNICODE UTF-8', 'PID-5': 'CASANOVA\xff^MARIE^^^Mme^^L' })], // undecodable
    ['l_08.hl7', fixture('wrong-bts-count.hl7')],                                       // quarantined
    ['l_09.hl7', fixture('leading-junk.hl7')],                                          // junk line (duplicate of l_01's A28)
    ['l_10.hl7', fixture('latin9.hl7')],                                                // accents
    ['l_11.hl7', edit(A28_CREATE, { 'MSH-10': 'X', 'PID-3': `${ipp('100235')}~285032A00412371^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS` })], // INS collision
  ];
  const forbidden = patientData([
    ...files.map(([, c]) => (typeof c === 'string' ? c : c.toString('latin1'))), A28_8859_15,
  ]);

  it('the forbidden list really holds the patient data of the input', () => {
    for (const s of ['CASANOVA', 'MARIE', 'LAETITIA', 'BONAPARTE', 'MOREL', 'CLAIRE', 'DURAND', 'PAUL', 'HENRI', 'LEFÈVRE', 'HÉLÈNE', 'DUBOIS', '19850317', '285032A00412371', '292093155504523']) {
      expect(forbidden).toContain(s);
    }
  });

  it.concurrent.each(['default', 'debug'])('at the %s level: no patient name, birth date or INS on stderr', async (level) => {
    const site = makeSite('sqlite', { pam: { acceptTestIns: true } }, { globals: level === 'debug' ? ['--log-level', 'debug'] : [] });
    try {
      for (const [n, c] of files) site.drop(n, c);
      const r = await site.imp(...files.map(([n]) => n));
      expect(r.code).toBe(1);
      const lines = r.stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
      const msgs = lines.map((l) => l.msg);
      expect(msgs.filter((m) => m === 'file processed')).toHaveLength(files.length - 1);
      expect(msgs).toContain('file quarantined');
      expect(lines.find((l) => l.msg === 'lines outside any message ignored')).toMatchObject({ file: 'l_09.hl7', junk: [{ line: 1 }] });
      if (level === 'debug') expect(msgs).toContain('message');
      else expect(msgs).not.toContain('message');
      for (const s of forbidden) expect(r.stderr, `stderr carries "${s}"`).not.toContain(s);
    } finally {
      await site.cleanup();
    }
  });
});
