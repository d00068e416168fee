/**
 * Hardening harness: `npm run harden` (short, the CI sizes) or `npm run harden -- --long`.
 *
 *   crash   imports a ~10k-message batch (4 files: envelope, AE/AR mix, quarantine, resends) with the real CLI and
 *           kills it with SIGKILL at random moments (a timer: child.kill('SIGKILL') after a random delay; a share of
 *           the kills use the named PAMDROP_FAULT points instead), restarting each time. Each round ends with an
 *           uninterrupted run; the store (every table), the ACK folder (bytes, clock pinned with PAMDROP_FIXED_TIME),
 *           the archive and the inbox must then equal one clean run's. When the harness may mount a tmpfs, every
 *           other round (the first included) puts the archive on it (archiving across file systems: copy + unlink).
 *   fuzz    seeded mutations of valid files through the real pipeline in-process (bench/harden-fuzz.ts), plus a
 *           handful through the spawned CLI.
 *   controls a control character in every field (bench/harden-controls.ts), on SQLite and, with --pg URL (or
 *           PAMDROP_HARDEN_PG_URL), on PostgreSQL, which must answer alike.
 *   names   a seeded inbox of odd entries (names as bytes up to 255, links of every kind, FIFOs, folders, ignored
 *           names) taken by the real intake: the suite test/harden/names.test.ts at a larger size and several seeds,
 *           on SQLite and, with --pg URL, on PostgreSQL.
 *
 *   node dist/bench/harden.js [crash] [fuzz] [controls] [names] [--long] [--kills N] [--files N] [--cli-files N] [--seed S]
 *        [--messages N] [--dir D] [--keep] [--json] [--pg URL]
 *
 * Exit 0 when every check held, 1 otherwise. Failing sites and reproducers are kept and named.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { generate, rng } from './generate.js';
import { frameBuffer } from '../src/hl7/batch.js';
import { FIXED_TIME, REPO, countMessageStarts, ackCode, runFuzz, writeFuzzFile, type FuzzSummary } from './harden-fuzz.js';
import { runControls, type ControlsSummary } from './harden-controls.js';

const BIN = join(REPO, 'bin', 'pamdrop.js');

// ---------------------------------------------------------------------------------------------------------
// Sites, runs and snapshots

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

export interface Site { root: string; inbox: string; outbox: string; archive: string; error: string; db: string; config: string; files: string[] }

/** A site with the batch files copied into its inbox. */
export function makeSite(root: string, batch: ReadonlyArray<{ name: string; bytes: Buffer }>, config: object, database = 'data/pamdrop.sqlite'): Site {
  const s: Site = {
    root, inbox: join(root, 'inbox'), outbox: join(root, 'outbox'), archive: join(root, 'archive'), error: join(root, 'archive', 'error'),
    db: join(root, 'data', 'pamdrop.sqlite'), config: join(root, 'config.json'), files: [],
  };
  for (const d of [s.inbox, s.outbox, s.archive]) mkdirSync(d, { recursive: true });
  writeFileSync(s.config, JSON.stringify({ database, ...config }));
  for (const f of batch) { writeFileSync(join(s.inbox, f.name), f.bytes); s.files.push(join(s.inbox, f.name)); }
  return s;
}

/** `pamdrop import` of the site's files with the spawned CLI; optionally killed after `killAfterMs`. */
export function runImport(s: Site, opts: { killAfterMs?: number; fault?: string; env?: Record<string, string>; logLevel?: string } = {}): Promise<RunResult> {
  const args = [BIN, '--config', s.config, '--log-level', opts.logLevel ?? 'warn', '--json', 'import', ...s.files,
    '--ack-dir', s.outbox, '--archive-dir', s.archive, '--error-dir', s.error];
  const env: Record<string, string | undefined> = { ...process.env, PAMDROP_FIXED_TIME: FIXED_TIME, ...opts.env };
  delete env.PAMDROP_FAULT;
  if (opts.fault) env.PAMDROP_FAULT = opts.fault;
  return new Promise((res) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: s.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = opts.killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs) : null;
    child.on('close', (code, signal) => { if (timer) clearTimeout(timer); res({ code, signal, stdout, stderr, ms: performance.now() - t0 }); });
  });
}

function tree(dir: string, root: string, out: Record<string, string> = {}): Record<string, string> {
  let entries: string[];
  try { entries = readdirSync(dir).sort(); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) tree(p, root, out);
    else out[relative(root, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

const SNAPSHOT_TABLES: Record<string, string> = {
  patients: 'SELECT * FROM patients ORDER BY id',
  identifiers: 'SELECT * FROM identifiers ORDER BY id',
  ins: 'SELECT * FROM ins ORDER BY id',
  history: 'SELECT * FROM history ORDER BY id',
  links: 'SELECT * FROM links ORDER BY id',
  // owner (host:pid) and lease are per process; claimed_at/finished_at come from the pinned clock but are left out too.
  files: 'SELECT id, source, name, path, size, sha256, state, message_count, summary, reason, archived_path, reimport_of FROM files ORDER BY id',
  messages: 'SELECT * FROM messages ORDER BY id',
  locks: 'SELECT name FROM locks ORDER BY name',
};

/** Everything a clean run and a crashed-and-resumed run must agree on: tables (row hashes), folders (file hashes). */
export function snapshot(s: Site): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  const db = new Database(s.db, { readonly: true, fileMustExist: true });
  try {
    for (const [t, sql] of Object.entries(SNAPSHOT_TABLES)) {
      const rows = db.prepare(sql).all() as Array<Record<string, unknown>>;
      const m: Record<string, string> = {};
      rows.forEach((r, i) => {
        const norm = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('base64') : typeof v === 'string' ? v.split(s.root).join('<root>') : v]));
        m[`${t}#${i}`] = JSON.stringify(norm);
      });
      out[t] = m;
    }
  } finally {
    db.close();
  }
  out.outbox = tree(s.outbox, s.root);
  out.archive = tree(s.archive, s.root);
  out.inbox = tree(s.inbox, s.root);
  return out;
}

/** Human summary of the differences between two snapshots (first few per part). */
export function diffSnapshots(a: Record<string, Record<string, string>>, b: Record<string, Record<string, string>>): string[] {
  const out: string[] = [];
  for (const part of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[part] ?? {}, y = b[part] ?? {};
    const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
    const diffs: string[] = [];
    for (const k of keys) {
      if (x[k] === y[k]) continue;
      diffs.push(x[k] === undefined ? `+${k}: ${y[k]!.slice(0, 240)}` : y[k] === undefined ? `-${k}: ${x[k]!.slice(0, 240)}` : `~${k}: ${x[k]!.slice(0, 240)} → ${y[k]!.slice(0, 240)}`);
    }
    if (diffs.length) out.push(`${part}: ${diffs.length} difference(s): ${diffs.slice(0, 4).join(' | ')}`);
  }
  return out;
}

/** Progress of an interrupted site, read without writing (for the "where did the kills land" figures). */
function progress(s: Site): { messages: number; files: string } {
  if (!existsSync(s.db)) return { messages: 0, files: 'no store' };
  try {
    const db = new Database(s.db, { readonly: true, fileMustExist: true });
    try {
      const m = db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number };
      const f = db.prepare('SELECT state FROM files ORDER BY id').all() as Array<{ state: string }>;
      return { messages: m.n, files: f.map((x) => x.state).join(',') };
    } finally {
      db.close();
    }
  } catch {
    return { messages: 0, files: 'store not migrated' };
  }
}

// ---------------------------------------------------------------------------------------------------------
// The crash batch: ~10k messages over four files, built from the seeded generator.

export function crashBatch(seed: number, messages: number): Array<{ name: string; bytes: Buffer }> {
  const r = rng(seed ^ 0x5eed);
  const all = Buffer.from([...generate({ messages, seed, envelope: false })].join(''), 'latin1');
  const msgs: Buffer[] = [];
  for (const it of frameBuffer(all)) if (it.kind === 'message') msgs.push(it.message.bytes);
  const a = Math.floor(msgs.length * 0.35), b = Math.floor(msgs.length * 0.7);
  const cat = (xs: Buffer[]) => Buffer.concat(xs);
  // 1. FHS/BHS envelope with the right counts, 8859/15.
  const f1 = cat([Buffer.from(`FHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101080000||ADT_1.hl7||F1\rBHS|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250101080000||||B1\r`),
    ...msgs.slice(0, a), Buffer.from(`BTS|${a}\rFTS|1\r`)]);
  // 2. bare, CRLF line ends, ~1% messages made AE/AR (bad NIR key, bad date, unparseable MSH, unsupported event).
  const spoil = (m: Buffer): Buffer => {
    let t = m.toString('latin1');
    switch (Math.floor(r() * 4)) {
      case 0: t = t.replace(/(\d{13})(\d{2})(\^\^\^ASIP)/, (_x, body: string, key: string, rest: string) => `${body}${String((Number(key) + 1) % 97).padStart(2, '0')}${rest}`); break;
      case 1: t = t.replace(/\|(\d{8})\|([MF])\|/, '|19991399|$2|'); break;
      case 2: t = t.replace(/^MSH\|\^~\\&\|/, 'MSH|^~|'); break;
      default: t = t.replace(/ADT\^A(28|31)\^ADT_A05/, 'ADT^A08^ADT_A01'); break;
    }
    return Buffer.from(t, 'latin1');
  };
  const f2 = cat(msgs.slice(a, b).map((m) => (r() < 0.01 ? spoil(m) : m)).map((m) => Buffer.from(m.toString('latin1').replace(/\r/g, '\r\n'), 'latin1')));
  // 3. broken envelope (BTS-1 wrong): quarantined whole.
  const f3 = cat([Buffer.from('BHS|^~\\&|GAM|CHEX\r'), ...msgs.slice(0, 20), Buffer.from('BTS|21\r')]);
  // 4. the rest, then 100 exact resends of file 1 (duplicates) and 10 same-key-other-content (AE 205).
  const resend = msgs.slice(0, 100);
  const conflicts = msgs.slice(100, 110).map((m) => Buffer.from(m.toString('latin1').replace(/\rPV1\|1\|N\r/, '\rPV1|1|O\r'), 'latin1'));
  const f4 = cat([...msgs.slice(b), ...resend, ...conflicts]);
  return [{ name: 'adt_001.hl7', bytes: f1 }, { name: 'adt_002.hl7', bytes: f2 }, { name: 'adt_003.hl7', bytes: f3 }, { name: 'adt_004.hl7', bytes: f4 }];
}

const CRASH_CONFIG = { groupSize: 250, pam: { acceptTestIns: true } };
const FAULT_POINTS: Array<[string, number]> = [['after-claim', 3], ['after-commit', 40], ['after-acks', 40], ['before-archive', 3], ['after-archive-mark', 3], ['before-quarantine-move', 1]];

/** Tries to mount a small tmpfs (root with CAP_SYS_ADMIN); returns an unmount function, or null. */
export function tryMountTmpfs(dir: string, size = '256m'): (() => void) | null {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return () => { spawnSync('umount', ['-l', dir]); };
}

/**
 * The store a crash campaign runs on. SQLite by default (a file per site, compared row by row, ids included).
 * Another store (PostgreSQL in test/harden/crash-pg.test.ts) gives each site its own database and compares by
 * content: its sequences keep the ids a killed transaction drew.
 */
export interface CrashStore {
  /** The `database` config value of a fresh, empty store for the site rooted at `root`. */
  database(root: string): string;
  /** Store tables and the site's folders, as comparable maps (see snapshot). */
  snapshot(s: Site): Promise<Record<string, Record<string, string>>>;
  /** Messages recorded so far, and the files' states (for the "where did the kills land" figures). */
  progress(s: Site): Promise<{ messages: number; files: string }>;
  /** Removes the site's store (after its comparison). */
  dispose(s: Site): Promise<void>;
}

const sqliteStore: CrashStore = {
  database: () => 'data/pamdrop.sqlite',
  snapshot: async (s) => (existsSync(s.db) ? snapshot(s) : { store: { missing: 'no store' } }),
  progress: async (s) => progress(s),
  dispose: async () => {},
};

export interface CrashOptions {
  kills: number; seed: number; messages: number; dir: string; perRound?: number; faultShare?: number; exdev?: boolean; log?: (s: string) => void;
  /** Default: SQLite. */
  store?: CrashStore;
}
export interface KillRecord { round: number; via: 'timer' | 'fault'; delayMs: number | null; fault: string | null; messagesAfter: number; files: string }
export interface CrashSummary {
  startupMs: number;
  kills: number; timerKills: number; faultKills: number; rounds: number; roundsOnTmpfsArchive: number; seconds: number;
  cleanRunMs: number; batchMessages: number; batchFiles: number;
  landed: { beforeStore: number; noProgress: number; midFile: number; afterLastMessage: number };
  failures: string[]; kept: string | null; records: KillRecord[];
}

export async function runCrash(o: CrashOptions): Promise<CrashSummary> {
  const log = o.log ?? (() => {});
  const store = o.store ?? sqliteStore;
  const started = performance.now();
  const batch = crashBatch(o.seed, o.messages);
  const totalMessages = batch.reduce((n, f) => n + countMessageStarts(f.bytes), 0) - countMessageStarts(batch[2]!.bytes);
  mkdirSync(o.dir, { recursive: true });
  const cleanRoot = join(o.dir, 'clean');
  const clean = makeSite(cleanRoot, batch, CRASH_CONFIG, store.database(cleanRoot));
  // Watch the clean run's progress: the start-up time (spawn → first committed group) shapes the kill delays.
  let startupMs = 0;
  const t0 = performance.now();
  let polling = false;
  const poll = setInterval(() => {
    if (startupMs || polling) return;
    polling = true;
    store.progress(clean).then((p) => { if (!startupMs && p.messages > 0) startupMs = performance.now() - t0; }, () => {}).finally(() => { polling = false; });
  }, 50);
  const c = await runImport(clean);
  clearInterval(poll);
  if (!startupMs || startupMs > c.ms) startupMs = c.ms / 4;
  const failures: string[] = [];
  if (c.code !== 1) failures.push(`clean run: exit ${c.code} (expected 1: AE/AR and a quarantined file), stderr: ${c.stderr.slice(0, 500)}`);
  const cleanSnap = await store.snapshot(clean);
  const cleanTotals = JSON.parse(c.stdout).totals;
  log(`clean run: ${Math.round(c.ms)} ms (first group committed after ${Math.round(startupMs)} ms), ${cleanTotals.messages} messages (${cleanTotals.AA} AA, ${cleanTotals.AE} AE, ${cleanTotals.AR} AR, ${cleanTotals.duplicates} duplicates), ${cleanTotals.quarantined} quarantined`);
  const r = rng(o.seed);
  const perRound = o.perRound ?? 10;
  const records: KillRecord[] = [];
  let rounds = 0, onTmpfs = 0;
  let kept: string | null = null;
  while (records.length < o.kills) {
    rounds++;
    const root = join(o.dir, `round-${rounds}`);
    let unmount: (() => void) | null = null;
    if (o.exdev !== false && rounds % 2 === 1) unmount = tryMountTmpfs(join(root, 'archive'));
    if (unmount) onTmpfs++;
    const s = makeSite(root, batch, CRASH_CONFIG, store.database(root));
    const want = Math.min(perRound, o.kills - records.length);
    let k = 0;
    try {
      while (k < want) {
        const viaFault = r() < (o.faultShare ?? 0.2);
        const [point, maxN] = FAULT_POINTS[Math.floor(r() * FAULT_POINTS.length)]!;
        const fault = viaFault ? `${point}:${1 + Math.floor(r() * maxN)}` : undefined;
        // Timer kills: 15% during start-up (node, migrations, scan, claim), the rest after it, uniform over twice a
        // per-kill share of the clean run's work, so that the kills of a round spread over the whole import.
        const delay = viaFault ? undefined : Math.floor(r() < 0.15 ? r() * startupMs : startupMs + r() * (2 * (c.ms - startupMs) / perRound));
        const res = await runImport(s, { killAfterMs: delay, fault });
        if (res.signal !== 'SIGKILL') {
          if (res.code !== 1) failures.push(`round ${rounds}: an uninterrupted run exited ${res.code} (signal ${res.signal}): ${res.stderr.slice(0, 500)}`);
          break; // the import finished before the kill: the round is over
        }
        k++;
        const after = await store.progress(s);
        records.push({ round: rounds, via: viaFault ? 'fault' : 'timer', delayMs: delay ?? null, fault: fault ?? null, messagesAfter: after.messages, files: after.files });
      }
      const fin = await runImport(s);
      if (fin.code !== 1 || fin.signal) failures.push(`round ${rounds}: final run exited ${fin.code}/${fin.signal}: ${fin.stderr.slice(0, 800)}`);
      else {
        const totals = JSON.parse(fin.stdout).totals;
        if (JSON.stringify(totals) !== JSON.stringify(cleanTotals)) failures.push(`round ${rounds}: final report totals ${JSON.stringify(totals)} differ from the clean run's ${JSON.stringify(cleanTotals)}`);
      }
      const d = diffSnapshots(cleanSnap, await store.snapshot(s));
      if (d.length > 0) {
        failures.push(`round ${rounds} (${k} kills${unmount ? ', archive on tmpfs' : ''}): differs from the clean run: ${d.join('\n    ')}\n    kills: ${JSON.stringify(records.filter((x) => x.round === rounds))}`);
        kept = kept ?? root;
      }
      log(`round ${rounds}: ${k} kills${unmount ? ' (archive on tmpfs)' : ''}, ${d.length === 0 ? 'equal to the clean run' : 'DIFFERENT'}; total ${records.length}/${o.kills}`);
    } finally {
      unmount?.();
      if (kept !== root) { await store.dispose(s).catch(() => {}); rmSync(root, { recursive: true, force: true }); }
    }
    if (rounds > o.kills * 3 + 10) { failures.push('too many rounds without kills: the import finishes before the kill delays'); break; }
  }
  const landed = { beforeStore: 0, noProgress: 0, midFile: 0, afterLastMessage: 0 };
  let prevRound = -1, prevMsgs = 0;
  for (const k of records) {
    if (k.round !== prevRound) { prevRound = k.round; prevMsgs = 0; }
    if (k.files === 'no store' || k.files === 'store not migrated') landed.beforeStore++;
    else if (k.messagesAfter === prevMsgs) landed.noProgress++;
    else if (k.messagesAfter >= totalMessages) landed.afterLastMessage++;
    else landed.midFile++;
    prevMsgs = k.messagesAfter;
  }
  if (!kept) { await store.dispose(clean).catch(() => {}); rmSync(cleanRoot, { recursive: true, force: true }); }
  return {
    kills: records.length, timerKills: records.filter((x) => x.via === 'timer').length, faultKills: records.filter((x) => x.via === 'fault').length,
    startupMs: Math.round(startupMs), rounds, roundsOnTmpfsArchive: onTmpfs, seconds: (performance.now() - started) / 1000, cleanRunMs: Math.round(c.ms),
    batchMessages: totalMessages, batchFiles: batch.length, landed, failures, kept, records,
  };
}

// ---------------------------------------------------------------------------------------------------------
// A handful of fuzz files through the spawned CLI.

export interface CliFuzzSummary { files: number; seconds: number; exitCodes: Record<string, number>; failures: string[] }

export async function runCliFuzz(o: { seed: number; files: number; dir: string }): Promise<CliFuzzSummary> {
  const started = performance.now();
  const limits = { maxMessageBytes: 2 * 1024 * 1024, maxFileBytes: 8 * 1024 * 1024 };
  const failures: string[] = [];
  const exitCodes: Record<string, number> = {};
  for (let i = 0; i < o.files; i++) {
    const root = join(o.dir, `cli-${i}`);
    const s = makeSite(root, [], { ...limits, pam: { acceptTestIns: true } });
    const name = `cf_${String(i).padStart(4, '0')}.hl7`;
    const path = join(s.inbox, name);
    const { mutators } = writeFuzzFile(o.seed + 1_000_000, i, path, limits);
    const original = readFileSync(path);
    s.files.push(path);
    const res = await runImport(s);
    exitCodes[String(res.code ?? res.signal)] = (exitCodes[String(res.code ?? res.signal)] ?? 0) + 1;
    const problems: string[] = [];
    if (res.code !== 0 && res.code !== 1) problems.push(`exit ${res.code ?? res.signal}: ${res.stderr.slice(0, 500)}`);
    else {
      const rep = JSON.parse(res.stdout);
      const f = rep.files[0];
      if (!f || f.state === 'failed') problems.push(`file failed: ${JSON.stringify(f)}`);
      else if (f.state === 'done') {
        const acks = readdirSync(s.outbox).filter((x) => !x.startsWith('.'));
        const n = countMessageStarts(original);
        if (acks.length !== n || f.summary.messages !== n) problems.push(`${acks.length} ACK files, ${f.summary.messages} messages reported, ${n} MSH starts`);
        for (const a of acks) if (!['AA', 'AE', 'AR'].includes(ackCode(readFileSync(join(s.outbox, a))) ?? '')) problems.push(`ACK ${a} has no MSA-1`);
        if (!existsSync(f.archivedPath)) problems.push('archived file missing');
        const expected = (rep.totals.AE + rep.totals.AR + rep.totals.quarantined > 0) ? 1 : 0;
        if (res.code !== expected) problems.push(`exit ${res.code}, expected ${expected}`);
      } else if (!existsSync(`${f.archivedPath}.reason.txt`)) problems.push('quarantined without a reason file');
      if (/\n\s+at /.test(res.stderr)) problems.push(`stack trace on stderr: ${res.stderr.slice(0, 500)}`);
    }
    if (existsSync(path)) problems.push('file left in the inbox');
    if (problems.length) { failures.push(`${name} (${mutators.join('+')}): ${problems.join('; ')} [kept: ${root}]`); continue; }
    rmSync(root, { recursive: true, force: true });
  }
  return { files: o.files, seconds: (performance.now() - started) / 1000, exitCodes, failures };
}

// ---------------------------------------------------------------------------------------------------------
// CLI

interface Args { crash: boolean; fuzz: boolean; controls: boolean; names: boolean; pg: string | null; long: boolean; kills: number; files: number; cliFiles: number; seed: number; messages: number; dir: string | null; keep: boolean; json: boolean }

export function parseArgs(argv: string[]): Args {
  const get = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const long = argv.includes('--long');
  const parts = argv.filter((a) => a === 'crash' || a === 'fuzz' || a === 'controls' || a === 'names');
  return {
    crash: parts.length === 0 || parts.includes('crash'), fuzz: parts.length === 0 || parts.includes('fuzz'),
    controls: parts.length === 0 || parts.includes('controls'), names: parts.length === 0 || parts.includes('names'), pg: get('--pg') ?? process.env.PAMDROP_HARDEN_PG_URL ?? null, long,
    kills: Number(get('--kills') ?? (long ? 100 : 10)), files: Number(get('--files') ?? (long ? 10_000 : 300)),
    cliFiles: Number(get('--cli-files') ?? (long ? 50 : 5)), seed: Number(get('--seed') ?? 20260301),
    messages: Number(get('--messages') ?? 10_000), dir: get('--dir') ?? null, keep: argv.includes('--keep'), json: argv.includes('--json'),
  };
}

export async function hardenMain(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  const dir = a.dir ?? mkdtempSync(join(tmpdir(), 'pamdrop-harden-'));
  // The fuzz checks logic, not durability: on a RAM file system when there is one (fsyncs cost ~1 ms each on disk).
  const fuzzDir = a.dir === null && existsSync('/dev/shm') ? mkdtempSync('/dev/shm/pamdrop-fuzz-') : join(dir, 'fuzz');
  const say = (t: string) => { if (!a.json) process.stdout.write(t + '\n'); else process.stderr.write(t + '\n'); };
  const out: { crash?: CrashSummary; fuzz?: FuzzSummary; cliFuzz?: CliFuzzSummary; controls?: ControlsSummary[]; dir: string } = { dir };
  let failed = false;
  if (a.crash) {
    say(`crash: ${a.messages} generated messages, ${a.kills} kills (seed ${a.seed})`);
    const c = await runCrash({ kills: a.kills, seed: a.seed, messages: a.messages, dir: join(dir, 'crash'), log: (t) => say(`  ${t}`) });
    out.crash = { ...c, records: a.json ? c.records : [] };
    say(`crash: ${c.kills} kills survived (${c.timerKills} timer, ${c.faultKills} fault points) in ${c.rounds} rounds (${c.roundsOnTmpfsArchive} with the archive on tmpfs), `
      + `${c.seconds.toFixed(0)} s; clean run ${c.cleanRunMs} ms for ${c.batchMessages} messages in ${c.batchFiles} files; kills landed: `
      + `${c.landed.beforeStore} before the store existed, ${c.landed.noProgress} with no new message, ${c.landed.midFile} mid-import, ${c.landed.afterLastMessage} after the last message`);
    for (const f of c.failures) say(`  FAIL ${f}`);
    failed ||= c.failures.length > 0;
  }
  if (a.fuzz) {
    say(`fuzz: ${a.files} files in-process (seed ${a.seed})`);
    let n = 0;
    const f = await runFuzz({ seed: a.seed, files: a.files, dir: fuzzDir }, (r) => {
      if (r.problems.length) say(`  FAIL ${r.name} (${r.mutators.join('+')}): ${r.problems.join('; ').slice(0, 600)}`);
      if (++n % 1000 === 0) say(`  ${n} files`);
    });
    out.fuzz = f;
    say(`fuzz: ${f.files} files (${(f.bytes / (1 << 20)).toFixed(0)} MiB) in ${f.seconds.toFixed(0)} s: ${f.done} archived, ${f.quarantined} quarantined, ${f.failed} failed; `
      + `${f.messages} messages (${f.outcomes.AA} AA, ${f.outcomes.AE} AE, ${f.outcomes.AR} AR); slowest file ${f.maxFileMs} ms (${f.maxFileName}), p99 ${f.p99FileMs} ms; peak RSS ${f.peakRssMiB} MiB`);
    say(`fuzz: store checks ${f.storeProblems.length === 0 ? 'ok' : 'FAILED'}; differential replay of ${f.replay?.messages ?? 0} accepted messages ${f.replay?.equal ? 'equal' : 'DIFFERENT'}`);
    for (const p of [...f.storeProblems, ...(f.replay?.problems ?? [])]) say(`  FAIL ${p}`);
    for (const x of f.failures) say(`  FAIL ${x.name} (${x.mutators.join('+')}): ${x.problems.join('; ').slice(0, 400)} → ${x.reproducer}`);
    failed ||= f.failures.length > 0 || f.storeProblems.length > 0 || (f.replay !== null && !f.replay.equal);
    const cf = await runCliFuzz({ seed: a.seed, files: a.cliFiles, dir: join(dir, 'cli-fuzz') });
    out.cliFuzz = cf;
    say(`fuzz (spawned CLI): ${cf.files} files in ${cf.seconds.toFixed(0)} s, exit codes ${JSON.stringify(cf.exitCodes)}`);
    for (const x of cf.failures) say(`  FAIL ${x}`);
    failed ||= cf.failures.length > 0;
  }
  if (a.controls) {
    // A few seeds: each picks another control character, form (raw or hex escape) and place for every field.
    out.controls = [];
    for (let k = 0; k < (a.long ? 20 : 3); k++) {
      const c = await runControls({ seed: a.seed + k, dir: join(dir, 'controls', String(k)), pgUrl: a.pg });
      out.controls.push(c);
      say(`controls (seed ${a.seed + k}): ${c.mutated} fields with a control character, ${c.cases - c.mutated} valid messages, on ${c.stores.join(' and ')} `
        + `in ${c.seconds.toFixed(1)} s: ${JSON.stringify(c.outcomes)}`);
      for (const p of c.problems) say(`  FAIL ${p}`);
      failed ||= c.problems.length > 0;
    }
  }
  if (a.names) {
    // The family lives in a vitest suite (it reuses the intake test sites); each seed is one run of it.
    const entries = a.long ? 2000 : 300;
    const seeds = a.long ? 10 : 2;
    const names: Array<{ seed: number; entries: number; ok: boolean; seconds: number }> = [];
    for (let k = 0; k < seeds; k++) {
      const t0 = performance.now();
      const env: Record<string, string | undefined> = { ...process.env, PAMDROP_HARDEN_NAMES: String(entries), PAMDROP_HARDEN_SEED: String(a.seed + k) };
      if (a.pg) env.PAMDROP_TEST_PG_URL = a.pg; else delete env.PAMDROP_TEST_PG_URL;
      delete env.PAMDROP_TEST_REQUIRE_PG;
      const r = spawnSync(join(REPO, 'node_modules', '.bin', 'vitest'), ['run', 'test/harden/names.test.ts'], { cwd: REPO, env, encoding: 'utf8' });
      const ok = r.status === 0;
      names.push({ seed: a.seed + k, entries, ok, seconds: (performance.now() - t0) / 1000 });
      say(`names (seed ${a.seed + k}): ${entries} odd inbox entries on ${a.pg ? 'SQLite and PostgreSQL' : 'SQLite'}: ${ok ? 'ok' : 'FAILED'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (!ok) say(`  FAIL ${(r.stdout + r.stderr).split('\n').filter((l) => /FAIL|Error|expected/.test(l)).slice(0, 8).join('\n  ')}`);
      failed ||= !ok;
    }
    (out as Record<string, unknown>).names = names;
  }
  if (a.json) process.stdout.write(JSON.stringify(out) + '\n');
  if (!failed && !a.keep && !a.dir) { rmSync(dir, { recursive: true, force: true }); rmSync(fuzzDir, { recursive: true, force: true }); }
  else say(`work folders: ${dir}${fuzzDir.startsWith(dir) ? '' : `, ${fuzzDir}`}`);
  return failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  hardenMain(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 2; });
}
