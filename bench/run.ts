/**
 * `npm run bench`: pamdrop against its floors, side by side on one generated file, in one run.
 *
 *   node --expose-gc dist/bench/run.js [--messages 100000] [--runs 3] [--json] [--pg URL] [--charset latin9|utf8]
 *        [--only floor,hl7-standard,parser,import-sqlite,import-pg,floor-pipeline] [--growth [10000,100000]] [--growth-1m]
 *        [--no-main] [--dir D] [--keep] [--seed 42] [--pg-runs 1] [--baseline OTHER_BUILD/dist]
 *
 * Stages (bench/stages.ts), each in a child process of its own (peak RSS is the stage's own):
 *   floor, hl7-standard, parse-only, parser, import-sqlite, import-pg (with --pg or PAMDROP_BENCH_PG_URL), floor-pipeline,
 *   resume-sqlite, resume-pg (a kill at 10 %, 50 %, 90 % of the file, then the resume: its table below the main one),
 *   mllp-sqlite, mllp-pg (10,000 messages over one MLLP connection, each ACK after its durable commit; -x4: four
 *   connections at once; msg/s and round-trip percentiles in a table of their own).
 * Runs are interleaved (every stage once, then every stage again…) so that a noisy neighbour on the shared machine
 * hits all stages alike; the table shows medians. `--growth` imports (and parses) batches of growing size to
 * check that time is linear and memory flat; `--growth-1m` adds the 1,000,000-message batch (minutes, ~4 GB of
 * ACK files on disk while it runs).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateFile } from './generate.js';
import type { StageArgs, StageResult } from './stages.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = join(HERE, 'child.js');
const ALL_STAGES = ['floor', 'hl7-standard', 'parse-only', 'parser', 'import-sqlite', 'import-pg', 'floor-pipeline', 'resume-sqlite', 'resume-pg',
  'mllp-sqlite', 'mllp-sqlite-x4', 'mllp-pg', 'mllp-pg-x4'] as const;
const PG_STAGES = new Set(['import-pg', 'resume-pg', 'mllp-pg', 'mllp-pg-x4']);

interface Options {
  messages: number; runs: number; json: boolean; pg: string | null; charset: 'latin9' | 'utf8'; stages: string[];
  growth: number[] | null; main: boolean; dir: string | null; keep: boolean; seed: number;
  /** Another build's dist/ folder (e.g. the commit before a change): its import stages run interleaved with ours. */
  baseline: string | null;
  /** Runs of the PostgreSQL stages (slow: default 1). */
  pgRuns: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    messages: 100_000, runs: 3, json: false, pg: process.env.PAMDROP_BENCH_PG_URL ?? null, charset: 'latin9', stages: [...ALL_STAGES],
    growth: null, main: true, dir: null, keep: false, seed: 42, baseline: null, pgRuns: 1,
  };
  const num = (v: string | undefined, k: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${k} needs a positive integer`);
    return n;
  };
  let growth1m = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i];
    switch (a) {
      case '--messages': o.messages = num(next(), a); break;
      case '--runs': o.runs = num(next(), a); break;
      case '--json': o.json = true; break;
      case '--pg': o.pg = next() ?? null; break;
      case '--charset': o.charset = next() === 'utf8' ? 'utf8' : 'latin9'; break;
      case '--only': o.stages = (next() ?? '').split(',').filter(Boolean); break;
      case '--growth': {
        const v = argv[i + 1];
        if (v && /^\d+(,\d+)*$/.test(v)) { o.growth = v.split(',').map(Number); i++; } else o.growth = [10_000, 100_000];
        break;
      }
      case '--growth-1m': growth1m = true; break;
      case '--no-main': o.main = false; break;
      case '--dir': o.dir = next() ?? null; break;
      case '--keep': o.keep = true; break;
      case '--seed': o.seed = num(next(), a); break;
      case '--baseline': o.baseline = next() ?? null; break;
      case '--pg-runs': o.pgRuns = num(next(), a); break;
      case '-h': case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (growth1m) o.growth = [...new Set([...(o.growth ?? [10_000, 100_000]), 1_000_000])];
  if (!o.pg) o.stages = o.stages.filter((s) => !PG_STAGES.has(s));
  // The baseline build runs every stage whose code it has of its own: not floor and hl7-standard (the same code).
  if (o.baseline) o.stages.push(...o.stages.filter((s) => s !== 'floor' && s !== 'hl7-standard').map((s) => `baseline:${s}`));
  return o;
}
const USAGE = `node --expose-gc dist/bench/run.js [--messages 100000] [--runs 3] [--json] [--pg URL] [--charset latin9|utf8]
  [--only ${ALL_STAGES.join(',')}] [--growth [10000,100000]] [--growth-1m] [--no-main] [--dir D] [--keep] [--seed 42]
  [--pg-runs 1] [--baseline OTHER_DIST]   (another build's dist/, e.g. of the previous commit: its parser, import and floor-pipeline stages run interleaved, as baseline:…)
`;

/** Runs one stage in a child process (`childJs`: another build's child.js for a baseline); resolves its result. */
function runChild(args: StageArgs, childJs = CHILD): Promise<StageResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childJs, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) reject(new Error(`stage ${args.stage} exited ${code}: ${err.slice(-2000)}`));
      else resolve(JSON.parse(line.slice('BENCH_RESULT '.length)) as StageResult);
    });
  });
}

/** A fresh PostgreSQL schema per run, dropped afterwards. */
async function withPgSchema<T>(url: string, tag: string, fn: (target: string) => Promise<T>): Promise<T> {
  const schema = `pamdrop_bench_${process.pid}_${tag}`;
  const target = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
  try {
    return await fn(target);
  } finally {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      // Outside the timed part: flush what the import left in shared buffers now, so that PostgreSQL's checkpoint
      // (hundreds of MB after a 100k import) does not run during the next stages and slow them down instead. Needs
      // superuser or pg_checkpoint; without it the checkpoint comes when PostgreSQL decides.
      await c.query('CHECKPOINT').catch(() => {});
    } finally { await c.end(); }
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Row { stage: string; runs: StageResult[]; msgPerSec: number; mbPerSec: number; seconds: number; maxRssMb: number }

function summarise(stage: string, runs: StageResult[]): Row {
  return {
    stage, runs,
    msgPerSec: median(runs.map((r) => r.messages / (r.ms / 1000))),
    mbPerSec: median(runs.map((r) => r.bytes / 1e6 / (r.ms / 1000))),
    seconds: median(runs.map((r) => r.ms / 1000)),
    maxRssMb: Math.max(...runs.map((r) => r.maxRssKb / 1024)),
  };
}

function checkImport(r: StageResult, expected: number): void {
  if (!r.stage.replace(/^baseline:/, '').startsWith('import')) return;
  const e = r.extra as { ackFiles?: number; AA?: number };
  if (r.messages !== expected || e.ackFiles !== expected) {
    throw new Error(`${r.stage}: ${r.messages} messages and ${e.ackFiles} ACK files for ${expected} messages generated`);
  }
}

const LABEL: Record<string, string> = {
  'floor': 'floor: read + decode + split (string ops)',
  'hl7-standard': 'hl7-standard 1.0.4: transform + get',
  'parse-only': 'pamdrop frame + decode + parse + the same field reads',
  'parser': 'pamdrop parser: frame + decode + parse + interpret',
  'import-sqlite': 'pamdrop import, SQLite (end to end)',
  'import-pg': 'pamdrop import, PostgreSQL (end to end)',
  'floor-pipeline': 'floor pipeline: split + raw SQLite rows + temp/rename files',
  'resume-sqlite': 'resume after kills at 10/50/90 %, SQLite (messages of the three resumes)',
  'resume-pg': 'resume after kills at 10/50/90 %, PostgreSQL (messages of the three resumes)',
  'mllp-sqlite': 'MLLP, SQLite: one connection, ACK after each durable commit',
  'mllp-sqlite-x4': 'MLLP, SQLite: four connections at once',
  'mllp-pg': 'MLLP, PostgreSQL: one connection, ACK after each durable commit',
  'mllp-pg-x4': 'MLLP, PostgreSQL: four connections at once',
  'baseline:parse-only': 'baseline build: frame + decode + parse + the same field reads',
  'baseline:parser': 'baseline build: parser (frame + decode + parse + interpret)',
  'baseline:floor-pipeline': 'baseline build: floor pipeline',
  'baseline:import-sqlite': 'baseline build: import, SQLite',
  'baseline:import-pg': 'baseline build: import, PostgreSQL',
};

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const root = o.dir ?? mkdtempSync(join(tmpdir(), 'pamdrop-bench-'));
  mkdirSync(root, { recursive: true });
  const machine = {
    date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? '?', cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30), loadBefore: loadavg().map((x) => Number(x.toFixed(2))),
  };
  const log = (s: string) => { if (!o.json) process.stderr.write(s); };
  let runId = 0;
  // Work folders are removed at the end of the whole run, never between stages. This disk's ext4 runs without a
  // journal, and there a file created within ~1–6 minutes of mass deletions pays for it: inode allocation checks
  // every recently freed inode (`recently_deleted` in fs/ext4/ialloc.c). Removing a stage's 100,000 ACK files
  // right before the next stage made that stage's file creation 2–3× slower (import 12.2 s → 17.8 s at 100k).
  const toRemove: string[] = [];

  /** One run of one stage in a fresh work folder (removed at the end of the run unless --keep). */
  const once = async (stage: string, file: string, expected: number): Promise<StageResult> => {
    const work = join(root, `run-${++runId}-${stage}`);
    mkdirSync(work, { recursive: true });
    try {
      const baseline = stage.startsWith('baseline:');
      const real = baseline ? stage.slice('baseline:'.length) : stage;
      const childJs = baseline ? join(o.baseline!, 'bench', 'child.js') : CHILD;
      const args: StageArgs = { stage: real, file, charset: o.charset, work };
      const r = PG_STAGES.has(real)
        ? await withPgSchema(o.pg!, String(runId), (target) => runChild({ ...args, pg: target }, childJs))
        : await runChild(args, childJs);
      r.stage = stage;
      checkImport(r, expected);
      log(`  ${stage.padEnd(15)} ${(r.messages / (r.ms / 1000)).toFixed(0).padStart(9)} msg/s  ${(r.ms / 1000).toFixed(2).padStart(7)} s  ${(r.maxRssKb / 1024).toFixed(0).padStart(5)} MB\n`);
      return r;
    } finally {
      if (!o.keep) toRemove.push(work);
    }
  };

  const batch = async (n: number): Promise<{ file: string; bytes: number }> => {
    const file = join(root, `adt_${n}_${o.charset}.hl7`);
    const bytes = statSync(file, { throwIfNoEntry: false })?.size ?? await generateFile(file, { messages: n, seed: o.seed, charset: o.charset, envelope: true });
    return { file, bytes };
  };

  let rows: Row[] = [];
  let mainFile: { file: string; bytes: number } | null = null;
  if (o.main && o.stages.length > 0) {
    mainFile = await batch(o.messages);
    log(`pamdrop bench: ${o.messages} messages, ${(mainFile.bytes / 1e6).toFixed(1)} MB (${o.charset}), ${o.runs} run(s) per stage, interleaved; work ${root}\n`);
    const results = new Map<string, StageResult[]>(o.stages.map((s) => [s, []]));
    for (let i = 0; i < o.runs; i++) {
      log(`run ${i + 1}/${o.runs}\n`);
      for (const s of o.stages) {
        if (PG_STAGES.has(s.replace(/^baseline:/, '')) && i >= o.pgRuns) continue;
        results.get(s)!.push(await once(s, mainFile.file, o.messages));
      }
    }
    rows = o.stages.map((s) => summarise(s, results.get(s)!));
  }

  const growth: Array<{ messages: number; bytes: number; import: Row; parser: Row }> = [];
  if (o.growth) {
    for (const n of o.growth) {
      const g = await batch(n);
      log(`growth: ${n} messages, ${(g.bytes / 1e6).toFixed(1)} MB\n`);
      const runs = n >= 1_000_000 ? 1 : o.runs;
      const imp: StageResult[] = [];
      const par: StageResult[] = [];
      for (let i = 0; i < runs; i++) {
        par.push(await once('parser', g.file, n));
        imp.push(await once('import-sqlite', g.file, n));
      }
      growth.push({ messages: n, bytes: g.bytes, import: summarise('import-sqlite', imp), parser: summarise('parser', par) });
      if (!o.keep) rmSync(g.file, { force: true });
    }
  }
  for (const w of toRemove) rmSync(w, { recursive: true, force: true });
  if (!o.keep && !o.dir) rmSync(root, { recursive: true, force: true });

  const by = (s: string) => rows.find((r) => r.stage === s);
  const floorRate = by('floor')?.msgPerSec;
  const hl7Rate = by('hl7-standard')?.msgPerSec;
  const pipeRate = by('floor-pipeline')?.msgPerSec;
  const report = {
    machine: { ...machine, loadAfter: loadavg().map((x) => Number(x.toFixed(2))) },
    messages: o.messages, bytes: mainFile?.bytes ?? null, charset: o.charset, runs: o.runs,
    stages: rows.map((r) => ({
      stage: r.stage, msgPerSec: Math.round(r.msgPerSec), mbPerSec: Number(r.mbPerSec.toFixed(1)), seconds: Number(r.seconds.toFixed(2)),
      maxRssMb: Math.round(r.maxRssMb), vsFloor: floorRate ? r.msgPerSec / floorRate : null, vsHl7Standard: hl7Rate ? r.msgPerSec / hl7Rate : null,
      vsFloorPipeline: pipeRate ? r.msgPerSec / pipeRate : null,
      runs: r.runs.map((x) => ({ ms: Math.round(x.ms), maxRssKb: x.maxRssKb, messages: x.messages, ...x.extra })),
    })),
    growth: growth.map((g) => ({
      messages: g.messages, bytes: g.bytes,
      import: { seconds: Number(g.import.seconds.toFixed(2)), msgPerSec: Math.round(g.import.msgPerSec), usPerMsg: Number((1e6 / g.import.msgPerSec).toFixed(1)), maxRssMb: Math.round(g.import.maxRssMb) },
      parser: { seconds: Number(g.parser.seconds.toFixed(2)), msgPerSec: Math.round(g.parser.msgPerSec), maxRssMb: Math.round(g.parser.maxRssMb) },
    })),
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  const f = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
  const lines: string[] = [];
  lines.push(`\n${machine.date} · Node ${machine.node} · ${machine.cores}× ${machine.cpu} · load ${machine.loadBefore.join(' ')} → ${report.machine.loadAfter.join(' ')}`);
  if (rows.length > 0) {
    lines.push(`${o.messages} messages, ${((mainFile?.bytes ?? 0) / 1e6).toFixed(1)} MB, medians (msg/s, MB/s), worst peak RSS\n`);
    lines.push('| stage | msg/s | MB/s | × floor | × hl7-standard | × floor pipeline | peak RSS MB | runs |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of report.stages) {
      lines.push(`| ${LABEL[s.stage] ?? s.stage} | ${s.msgPerSec.toLocaleString('en')} | ${s.mbPerSec} | ${f(s.vsFloor, 3)} | ${f(s.vsHl7Standard)} | ${f(s.vsFloorPipeline)} | ${s.maxRssMb} | ${s.runs.length} |`);
    }
  }
  const resumes = report.stages.filter((s) => s.stage.replace(/^baseline:/, '').startsWith('resume'));
  if (resumes.length > 0) {
    lines.push('\nResume after a kill (SIGKILL right after a group commit): ms until the first new group is committed, and to the end of the file');
    lines.push('| stage | killed at | messages done | first new group ms | to the end ms |');
    lines.push('|---|---:|---:|---:|---:|');
    for (const s of resumes) {
      for (const run of s.runs) {
        for (const k of (run as unknown as { kills: Array<{ at: number; done: number; firstGroupMs: number; totalMs: number }> }).kills) {
          lines.push(`| ${s.stage} | ${Math.round(k.at * 100)} % | ${k.done.toLocaleString('en')} | ${k.firstGroupMs} | ${k.totalMs} |`);
        }
      }
    }
  }
  const mllp = report.stages.filter((s) => s.stage.replace(/^baseline:/, '').startsWith('mllp'));
  if (mllp.length > 0) {
    lines.push('\nMLLP: round trip per message as the client sees it (frame sent → ACK received, the durable commit included), median of the runs');
    lines.push('| stage | connections | msg/s | p50 ms | p99 ms | max ms | CPU ms/msg | ACKs |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---|');
    for (const s of mllp) {
      const runs = s.runs as unknown as Array<{ connections: number; msgPerSec: number; p50Ms: number; p99Ms: number; maxMs: number; cpuMsPerMsg: number; acks: Record<string, number> }>;
      const m = (k: 'msgPerSec' | 'p50Ms' | 'p99Ms' | 'maxMs' | 'cpuMsPerMsg') => Number(median(runs.map((r) => r[k])).toFixed(2));
      lines.push(`| ${s.stage} | ${runs[0]!.connections} | ${Math.round(m('msgPerSec')).toLocaleString('en')} | ${m('p50Ms')} | ${m('p99Ms')} | ${m('maxMs')} | ${m('cpuMsPerMsg')} | ${Object.entries(runs[0]!.acks).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
    }
  }
  if (report.growth.length > 0) {
    lines.push('\n| messages | MB | import s | import msg/s | µs/msg | import peak RSS MB | parser s | parser peak RSS MB |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const g of report.growth) {
      lines.push(`| ${g.messages.toLocaleString('en')} | ${(g.bytes / 1e6).toFixed(0)} | ${g.import.seconds} | ${g.import.msgPerSec.toLocaleString('en')} | ${g.import.usPerMsg} | ${g.import.maxRssMb} | ${g.parser.seconds} | ${g.parser.maxRssMb} |`);
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
