/**
 * The benchmark stages, each run in its own child process by bench/run.ts (bench/child.ts) so that its
 * peak RSS is its own and one stage's garbage never slows the next one down.
 *
 *   floor            read + decode + split into messages and segments with plain string ops
 *   hl7-standard     the same message texts parsed by hl7-standard 1.0.4 (transform + the fields pamdrop reads)
 *   parser           pamdrop's parser: frame (streaming) + decode (MSH-18) + Hl7Message.parse + interpret
 *   parse-only       like for like with hl7-standard: frame + decode + Hl7Message.parse + the same fields read
 *   floor-pipeline   floor + raw better-sqlite3 inserting the rows pamdrop writes (1000 messages per transaction, same
 *                    schema, indexes and pragmas) + one small file per message written to a temp name then renamed
 *   import           `pamdrop import` end to end (CLI main in-process: scan, parse, apply, ACK files, archive)
 *   resume           `pamdrop import` killed (SIGKILL at a fault point) after 10 %, 50 % and 90 % of the file's groups,
 *                    then the file resumed in-process: time to the first new group committed, and to the end
 *   mllp             the first 10,000 messages sent to an MLLP listener (bench/mllp.ts): one connection, or four (-x4)
 *
 * Every stage returns the messages it saw, the bytes it read, its wall time and its peak RSS.
 */
import { closeSync, linkSync, copyFileSync, mkdirSync, openSync, opendirSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { frameFile } from './frame-file.js';
import { decodeMessage, DEFAULT_DECODE_OPTIONS } from '../src/hl7/charset.js';
import { Hl7Message } from '../src/hl7/model.js';
import { interpret } from '../src/pam/interpret.js';
import { syncFile } from '../src/pipeline/ack-sync.js';
import { defaultPamOptions } from '../src/pam/types.js';
import { mllpStage } from './mllp.js';

/** What a stage reports (one JSON line from the child). */
export interface StageResult {
  stage: string;
  messages: number;
  bytes: number;
  ms: number;
  /** Peak resident set size of the child process, in kB (getrusage). */
  maxRssKb: number;
  /** Stage-specific facts (segments seen, ACK files counted, errors…). */
  extra: Record<string, unknown>;
}

export interface StageArgs {
  stage: string;
  file: string;
  /** Charset of the generated file: decides how the floor decodes. */
  charset: 'latin9' | 'utf8';
  /** Working folder of this run (databases, ACK folders). */
  work: string;
  /** PostgreSQL URL (import on PostgreSQL). */
  pg?: string;
}

const CHUNK = 1 << 20;

/**
 * The floor's reader: fixed 1 MiB reads, one decode per chunk, split on CR into lines, a new message at each line
 * starting `MSH`. Calls `onMessage` with the segments of each message (envelope lines FHS/BHS/BTS/FTS skipped).
 */
export function splitFloor(file: string, charset: 'latin9' | 'utf8', onMessage: (segments: string[]) => void): { bytes: number; segments: number } {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  // latin1 is the byte-for-byte reading 8859-15 starts from; UTF-8 needs a decoder that keeps split characters.
  const dec = charset === 'utf8' ? new StringDecoder('utf8') : null;
  let carry = '';
  let bytes = 0;
  let segs = 0;
  let cur: string[] | null = null;
  const line = (l: string) => {
    if (l === '') return;
    segs++;
    if (l.startsWith('MSH')) {
      if (cur) onMessage(cur);
      cur = [l];
    } else if (l.startsWith('FHS') || l.startsWith('BHS') || l.startsWith('BTS') || l.startsWith('FTS')) {
      if (cur) onMessage(cur);
      cur = null;
    } else if (cur) cur.push(l);
  };
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      bytes += n;
      const text = carry + (dec ? dec.write(buf.subarray(0, n)) : buf.toString('latin1', 0, n));
      const lines = text.split('\r');
      carry = lines.pop()!;
      for (const l of lines) line(l);
    }
  } finally {
    closeSync(fd);
  }
  line(carry + (dec ? dec.end() : ''));
  if (cur) onMessage(cur);
  return { bytes, segments: segs };
}

function floor(a: StageArgs): Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'> {
  let messages = 0;
  const r = splitFloor(a.file, a.charset, () => { messages++; });
  return { messages, bytes: r.bytes, extra: { segments: r.segments } };
}

interface Hl7StandardMessage { transform(): void; get(path: string): unknown }

/** hl7-standard on each message text: transform, then the fields pamdrop's interpret reads. */
function hl7Standard(a: StageArgs): Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'> {
  const HL7 = createRequire(import.meta.url)('hl7-standard') as new (text: string) => Hl7StandardMessage;
  let messages = 0;
  let errors = 0;
  const r = splitFloor(a.file, a.charset, (segs) => {
    messages++;
    try {
      const h = new HL7(segs.join('\r') + '\r');
      h.transform();
      for (const f of ['MSH.7', 'MSH.9', 'MSH.10', 'MSH.18', 'PID.3', 'PID.5', 'PID.7', 'PID.8', 'PID.11', 'PID.32', 'MRG.1']) h.get(f);
    } catch {
      errors++;
    }
  });
  return { messages, bytes: r.bytes, extra: { errors } };
}

/** pamdrop's parser as the pipeline runs it, without the database. */
async function parser(a: StageArgs): Promise<Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'>> {
  const pam = defaultPamOptions();
  let messages = 0;
  let commands = 0;
  let rejected = 0;
  for await (const item of frameFile(a.file)) {
    if (item.kind !== 'message') continue;
    messages++;
    const d = decodeMessage(item.message.bytes, DEFAULT_DECODE_OPTIONS);
    const res = interpret(Hl7Message.parse(d.text), pam);
    if (res.ok) commands++;
    else rejected++;
  }
  return { messages, bytes: statSync(a.file).size, extra: { commands, rejected } };
}

/** Like for like with the hl7-standard stage: frame + decode + Hl7Message.parse + the same 11 fields read (every repetition's first component). */
async function parseOnly(a: StageArgs): Promise<Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'>> {
  const fields: Array<[string, number]> = [['MSH', 7], ['MSH', 9], ['MSH', 10], ['MSH', 18], ['PID', 3], ['PID', 5], ['PID', 7], ['PID', 8], ['PID', 11], ['PID', 32], ['MRG', 1]];
  let messages = 0;
  let values = 0;
  for await (const item of frameFile(a.file)) {
    if (item.kind !== 'message') continue;
    messages++;
    const msg = Hl7Message.parse(decodeMessage(item.message.bytes, DEFAULT_DECODE_OPTIONS).text);
    for (const [name, n] of fields) {
      const seg = msg.segment(name);
      if (seg) for (const f of seg.reps(n)) if (f.get(1) !== '') values++;
    }
  }
  return { messages, bytes: statSync(a.file).size, extra: { values } };
}

/**
 * The floor pipeline: per message, the rows pamdrop writes for a new patient (one `messages` row with ACK-sized
 * bytes, one `patients` row, one `identifiers` row per non-INS PID-3 repetition and one `ins` row when PID-3 has an
 * INS (both INSERT OR IGNORE: a known identifier is not inserted twice), one `history` row) through raw prepared
 * better-sqlite3 statements, 1000 messages per transaction, in the
 * pamdrop schema (same indexes, WAL); then one file per message, temp name + rename. Durability as in the import:
 * synchronous NORMAL and one fsync of the -wal before each transaction's files.
 */
async function floorPipeline(a: StageArgs): Promise<Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'>> {
  const { openDb } = await import('../src/store/db.js');
  const db = await openDb(join(a.work, 'floor.sqlite'));
  const conn = (db as unknown as { conn: import('better-sqlite3').Database }).conn;
  const now = new Date().toISOString();
  const fileId = (conn.prepare(`INSERT INTO files (source, name, path, size, sha256, state, message_count, owner, claimed_at)
    VALUES ('bench', 'floor', ?, 0, '', 'claimed', 0, 'bench', ?) RETURNING id`).get(a.file, now) as { id: number }).id;
  const insMessage = conn.prepare(`INSERT INTO messages (file_id, idx, sending_app, sending_facility, control_id, content_sha256, event,
    message_time, status, outcome, error_code, error_text, patient_id, ack_name, ack, superseded, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'applied', 'AA', NULL, NULL, ?, ?, ?, 0, ?)`);
  const insPatient = conn.prepare(`INSERT INTO patients (active, merged_into, status, attributes, birth_name, first_name, birth_given_names,
    used_name, used_first_name, birth_date, sex, birth_place, names, addresses, other, last_message_time, created_at, updated_at)
    VALUES (1, NULL, ?, NULL, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?, ?, NULL, ?, ?, ?) RETURNING id`);
  const insIdentifier = conn.prepare(`INSERT OR IGNORE INTO identifiers (patient_id, value, authority, oid, type, auth_key, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`);
  const insIns = conn.prepare('INSERT OR IGNORE INTO ins (patient_id, value, oid, kind, created_at) VALUES (?, ?, ?, ?, ?)');
  const insHistory = conn.prepare(`INSERT INTO history (patient_id, sending_app, sending_facility, control_id, event, message_time,
    recorded_at, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
  // The import's durability scheme (store/sqlite/commit-policy.ts): commits with synchronous =
  // NORMAL, then one fsync of the -wal before a transaction's files are written.
  conn.pragma('synchronous = NORMAL');
  const wal = `${conn.name}-wal`;
  const ackDir = join(a.work, 'floor-acks');
  mkdirSync(ackDir, { recursive: true });
  let messages = 0;
  let inTx = 0;
  let files = 0;
  const pending: Array<{ name: string; bytes: Buffer }> = [];
  const writeFiles = () => {
    if (pending.length > 0) syncFile(wal);
    for (const f of pending) {
      const tmp = join(ackDir, `.${f.name}.tmp`);
      writeFileSync(tmp, f.bytes);
      renameSync(tmp, join(ackDir, f.name));
      files++;
    }
    pending.length = 0;
  };
  const r = splitFloor(a.file, a.charset, (segs) => {
    const idx = messages++;
    const msh = segs[0]!.split('|');
    const pid = segs.find((s) => s.startsWith('PID'))?.split('|') ?? [];
    if (inTx === 0) conn.exec('BEGIN IMMEDIATE');
    const time = msh[6] ?? '';
    const patientId = (insPatient.get(pid[31] ?? null, (pid[5] ?? '').split('^')[0] ?? null, (pid[5] ?? '').split('^')[1] ?? null, pid[7] ?? null,
      pid[8] ?? null, pid[5] ?? null, pid[11] ?? null, time, now, now) as { id: number }).id;
    for (const rep of (pid[3] ?? '').split('~')) {
      const cx = rep.split('^');
      const auth = (cx[3] ?? '').split('&');
      if (cx[4] === 'INS') insIns.run(patientId, cx[0] ?? '', auth[1] ?? '', 'NIR', now);
      else insIdentifier.run(patientId, cx[0] ?? '', auth[0] ?? '', auth[1] ?? null, cx[4] ?? '', auth[1] ?? auth[0] ?? '', now);
    }
    insHistory.run(patientId, msh[2] ?? '', msh[3] ?? '', msh[9] ?? '', (msh[8] ?? '').split('^')[1] ?? '', time, now, JSON.stringify(pid.slice(3, 12)));
    const ctl = msh[9] ?? `msg${idx}`;
    const ack = Buffer.from(`MSH|^~\\&|${msh[4]}|${msh[5]}|${msh[2]}|${msh[3]}|${time}||ACK^${(msh[8] ?? '').split('^')[1]}^ACK|PD${idx}|P|2.5\rMSA|AA|${ctl}\r`, 'latin1');
    const name = `floor.${ctl}.${idx}.ack.hl7`;
    insMessage.run(fileId, idx, msh[2] ?? '', msh[3] ?? '', ctl, '0'.repeat(64), (msh[8] ?? '').split('^')[1] ?? '', time, patientId, name, ack, now);
    pending.push({ name, bytes: ack });
    if (++inTx === 1000) {
      conn.exec('COMMIT');
      inTx = 0;
      writeFiles();
    }
  });
  if (inTx > 0) conn.exec('COMMIT');
  writeFiles();
  await db.close();
  return { messages, bytes: r.bytes, extra: { segments: r.segments, files } };
}

/** Counts directory entries without listing them all in memory. */
export function countFiles(dir: string): number {
  let n = 0;
  const d = opendirSync(dir);
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) if (e.isFile() && !e.name.startsWith('.')) n++;
  } finally {
    d.closeSync();
  }
  return n;
}

/** `pamdrop import` through the CLI's main, in this (child) process; checks that every message has its ACK file. */
async function importStage(a: StageArgs): Promise<Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'>> {
  const { main } = await import('../src/cli/main.js');
  const inbox = join(a.work, 'inbox');
  mkdirSync(inbox, { recursive: true });
  const input = join(inbox, 'adt_bench.hl7');
  // A hard link (same file system) saves copying the batch; the import moves it into the archive.
  try { linkSync(a.file, input); } catch { copyFileSync(a.file, input); }
  const bytes = statSync(input).size;
  let out = '';
  const code = await main(['--db', a.pg ?? join(a.work, 'pamdrop.sqlite'), '--log-level', 'warn', '--json', 'import', input,
    '--ack-dir', join(a.work, 'outbox'), '--archive-dir', join(a.work, 'archive'), '--error-dir', join(a.work, 'error')], (t) => { out += t; });
  const report = JSON.parse(out) as { totals: { messages: number; AA: number; AE: number; AR: number } };
  return { messages: report.totals.messages, bytes, extra: { exitCode: code, AA: report.totals.AA, AE: report.totals.AE, AR: report.totals.AR } };
}

/**
 * Resume after a kill at 10 %, 50 % and 90 % of the file: the spawned CLI is killed with SIGKILL right after the
 * commit of group n (PAMDROP_FAULT=after-commit:n), then processFile resumes the file in this process. Reported per
 * kill: messages already done, ms until the first new group is committed (the resume's own cost: scan, ledger,
 * unconfirmed ACK files rewritten, done messages skipped), ms to the end. The stage's time is the sum of the resumes.
 */
async function resumeStage(a: StageArgs): Promise<Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'>> {
  const { spawnSync } = await import('node:child_process');
  const { getDefaultConfig } = await import('../src/config/defaults.js');
  const { openDb } = await import('../src/store/db.js');
  const { processFile } = await import('../src/pipeline/process-file.js');
  const { systemClock } = await import('../src/shared/clock.js');
  const { silentLogger } = await import('../src/shared/logger.js');
  const { REPO } = await import('./harden-fuzz.js');
  const cfg = getDefaultConfig();
  const bytes = statSync(a.file).size;
  let messages = 0;
  for await (const item of frameFile(a.file)) if (item.kind === 'message') messages++;
  const groups = Math.ceil(messages / cfg.groupSize);
  const kills: Array<{ at: number; done: number; firstGroupMs: number; totalMs: number }> = [];
  let total = 0;
  for (const at of [0.1, 0.5, 0.9]) {
    const work = join(a.work, `kill-${Math.round(at * 100)}`);
    const inbox = join(work, 'inbox');
    mkdirSync(inbox, { recursive: true });
    const input = join(inbox, 'adt_bench.hl7');
    try { linkSync(a.file, input); } catch { copyFileSync(a.file, input); }
    // PostgreSQL: a schema of its own per kill (the run's schema with a suffix), dropped afterwards.
    const schema = a.pg ? `${/[?&]schema=([^&]+)/.exec(a.pg)?.[1] ?? 'pamdrop_bench'}_k${Math.round(at * 100)}` : null;
    const db = a.pg ? (/[?&]schema=/.test(a.pg) ? a.pg.replace(/schema=[^&]+/, `schema=${schema}`) : `${a.pg}${a.pg.includes('?') ? '&' : '?'}schema=${schema}`) : join(work, 'pamdrop.sqlite');
    const dirs = { ackDir: join(work, 'outbox'), archiveDir: join(work, 'archive'), errorDir: join(work, 'error') };
    const n = Math.max(1, Math.round(groups * at));
    const killed = spawnSync(process.execPath, [join(REPO, 'bin', 'pamdrop.js'), '--db', db, '--log-level', 'silent', 'import', input,
      '--ack-dir', dirs.ackDir, '--archive-dir', dirs.archiveDir, '--error-dir', dirs.errorDir], { env: { ...process.env, PAMDROP_FAULT: `after-commit:${n}` }, stdio: 'ignore' });
    if (killed.signal !== 'SIGKILL') throw new Error(`resume: the import was not killed at group ${n} (exit ${killed.status})`);
    const store = await openDb(db);
    try {
      const t0 = performance.now();
      let first = -1;
      const report = await processFile({ source: cfg.sources[0]!.name, path: input, ...dirs }, {
        db: store, config: cfg, log: silentLogger, clock: systemClock, owner: 'bench-resume',
        progress: () => { if (first < 0) first = performance.now() - t0; },
      });
      const totalMs = performance.now() - t0;
      if (!report.resumed || report.summary.messages !== messages) throw new Error(`resume: ${report.summary.messages} messages, resumed ${report.resumed}`);
      kills.push({ at, done: n * cfg.groupSize, firstGroupMs: Math.round(first), totalMs: Math.round(totalMs) });
      total += totalMs;
    } finally {
      if (schema) await store.run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await store.close();
    }
  }
  return { messages: messages * kills.length, bytes: bytes * kills.length, extra: { kills, resumeMs: Math.round(total) } };
}

/** Runs one stage; the caller adds the ACK count check for imports (outside the timed part). */
export async function runStage(a: StageArgs): Promise<StageResult> {
  const t0 = performance.now();
  let r: Omit<StageResult, 'stage' | 'ms' | 'maxRssKb'>;
  switch (a.stage) {
    case 'floor': r = floor(a); break;
    case 'hl7-standard': r = hl7Standard(a); break;
    case 'parser': r = await parser(a); break;
    case 'parse-only': r = await parseOnly(a); break;
    case 'floor-pipeline': r = await floorPipeline(a); break;
    case 'import-sqlite':
    case 'import-pg': r = await importStage(a); break;
    case 'resume-sqlite':
    case 'resume-pg': r = await resumeStage(a); break;
    case 'mllp-sqlite':
    case 'mllp-pg': r = await mllpStage(a, 1); break;
    case 'mllp-sqlite-x4':
    case 'mllp-pg-x4': r = await mllpStage(a, 4); break;
    default: throw new Error(`unknown stage ${a.stage}`);
  }
  // MLLP: the time of the send itself, not of reading the batch and opening the store.
  const ms = typeof r.extra.sendMs === 'number' ? r.extra.sendMs : performance.now() - t0;
  if (a.stage.startsWith('import')) r.extra.ackFiles = countFiles(join(a.work, 'outbox'));
  return { stage: a.stage, ...r, ms, maxRssKb: process.resourceUsage().maxRSS };
}
