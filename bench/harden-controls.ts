/**
 * Hardening harness, family `controls`: a control character in every field (bench/harden.ts).
 *
 * From one valid A28, one message per (segment, field) of MSH (3–21), EVN (1–7), PID (1–32) and PV1 (1–3): the field
 * gets a C0 control character (NUL, SOH, TAB, VT, ESC, US, seeded), raw or written as a hex escape (`\X00\`), at its
 * start, middle or end; MSH-2 gets one too (an AR). Valid messages are interleaved. One file through the real pipeline
 * (processFile) on SQLite, and on PostgreSQL when a URL is given. Checks:
 * - the file is archived (never failed, never retried): a bad message costs only its own answer;
 * - every mutated message is answered AE or AR, never AA, and an AE 102 points at the mutated segment and field;
 * - every valid message is AA, and only they created a patient (nothing of a refused message applied);
 * - no ACK carries a control character;
 * - SQLite and PostgreSQL answer every message alike (outcome and ACK bytes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rng } from './generate.js';
import { processFile, type PipelineContext } from '../src/pipeline/process-file.js';
import { openDb } from '../src/store/db.js';
import { getDefaultConfig } from '../src/config/defaults.js';
import { fixedClock } from '../src/shared/clock.js';
import { silentLogger } from '../src/shared/logger.js';
import { FIXED_TIME } from './harden-fuzz.js';

const BASE = [
  'MSH|^~\\&|GAM|CHEX|TLSV|EDITEUR|20250312101500||ADT^A28^ADT_A05|{CTL}|P|2.5^FRA^2.11|||||FRA|8859/15|FR||2.11^IHE_FRANCE-2.11-PAM',
  'EVN||20250312101500||||20250312101200',
  'PID|1||{IPP}^^^CHEX&1.2.250.1.999999.1&ISO^PI||DUPONT^JEAN^JEAN PIERRE^^M.^^L||19700101|M|||1 RUE X^^AJACCIO^^20000^FRA^H~^^AJACCIO^^^FRA^BDL^^2A004||||||||||||||||||||PROV',
  'PV1|1|N',
];
const FIELDS: Array<[string, number, number]> = [['MSH', 3, 21], ['EVN', 1, 7], ['PID', 1, 32], ['PV1', 1, 3]];
const CONTROLS = [0x00, 0x01, 0x09, 0x0b, 0x1b, 0x1f];

interface Case { i: number; ctl: string; ipp: string; mutated: { segment: string; field: number } | null; text: string }

function setField(line: string, n: number, fn: (v: string) => string): string {
  const f = line.split('|');
  // MSH: piece k is MSH-(k+1).
  const k = line.startsWith('MSH') ? n - 1 : n;
  while (f.length <= k) f.push('');
  f[k] = fn(f[k]!);
  return f.join('|');
}

/** The cases of one seed: every field once, mutated, with a valid message after each. */
export function controlCases(seed: number): Case[] {
  const r = rng(seed);
  const out: Case[] = [];
  let i = 0;
  const message = (ctl: string, ipp: string) => BASE.map((l) => l.replace('{CTL}', ctl).replace('{IPP}', ipp));
  const push = (lines: string[], ctl: string, ipp: string, mutated: Case['mutated']) => out.push({ i: i++, ctl, ipp, mutated, text: lines.join('\r') + '\r' });
  // Not MSH-1: a control character there makes the line no message start at all (framing, the fuzz family's ground).
  const targets: Array<[string, number]> = [['MSH', 2]];
  for (const [seg, from, to] of FIELDS) for (let f = from; f <= to; f++) targets.push([seg, f]);
  for (const [seg, field] of targets) {
    const n = out.length;
    const ctl = `C${n}`;
    const ipp = String(700000 + n);
    const code = CONTROLS[Math.floor(r() * CONTROLS.length)]!;
    const escaped = r() < 0.25 && !(seg === 'MSH' && field === 2);
    const ch = escaped ? `\\X${code.toString(16).toUpperCase().padStart(2, '0')}\\` : String.fromCharCode(code);
    const where = Math.floor(r() * 3);
    const lines = message(ctl, ipp);
    const at = lines.findIndex((l) => l.startsWith(seg));
    if (seg === 'MSH' && field === 2) lines[at] = lines[at]!.replace('^~\\&', ['^~\\&'.slice(0, where + 1), ch, '^~\\&'.slice(where + 1)].join(''));
    else {
      lines[at] = setField(lines[at]!, field, (v) => {
        const p = where === 0 ? 0 : where === 1 ? v.length >> 1 : v.length;
        return v.slice(0, p) + ch + v.slice(p);
      });
    }
    push(lines, ctl, ipp, { segment: seg, field });
    push(message(`V${n}`, String(800000 + n)), `V${n}`, String(800000 + n), null);
  }
  return out;
}

export interface ControlsSummary {
  cases: number; mutated: number; stores: string[]; outcomes: Record<string, Record<string, number>>;
  problems: string[]; seconds: number;
}

/** Runs the family on SQLite (and PostgreSQL at `pgUrl`, a fresh schema). */
export async function runControls(o: { seed: number; dir: string; pgUrl?: string | null }): Promise<ControlsSummary> {
  const t0 = performance.now();
  const cases = controlCases(o.seed);
  const body = Buffer.from(cases.map((c) => c.text).join(''), 'latin1');
  const problems: string[] = [];
  const outcomes: ControlsSummary['outcomes'] = {};
  const answers: Array<Map<number, { outcome: string; ack: Buffer }>> = [];
  const stores: Array<{ name: string; target: string; drop?: () => Promise<void> }> = [{ name: 'sqlite', target: join(o.dir, 'sqlite', 'store.sqlite') }];
  if (o.pgUrl) {
    const schema = `pamdrop_harden_controls_${process.pid}`;
    const target = `${o.pgUrl}${o.pgUrl.includes('?') ? '&' : '?'}schema=${schema}`;
    stores.push({ name: 'pg', target, drop: async () => {
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: o.pgUrl! });
      await c.connect();
      try { await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`); } finally { await c.end(); }
    } });
  }
  for (const store of stores) {
    const site = join(o.dir, store.name);
    for (const d of ['inbox', 'outbox', 'archive', 'error']) mkdirSync(join(site, d), { recursive: true });
    const path = join(site, 'inbox', 'controls.hl7');
    writeFileSync(path, body);
    const cfg = getDefaultConfig();
    cfg.groupSize = 16;
    cfg.log.level = 'silent';
    const db = await openDb(store.target);
    const byIdx = new Map<number, { outcome: string; ack: Buffer }>();
    try {
      const ctx: PipelineContext = { db, config: cfg, log: silentLogger, clock: fixedClock(FIXED_TIME), owner: 'harden-controls' };
      const report = await processFile({ source: 'controls', path, ackDir: join(site, 'outbox'), archiveDir: join(site, 'archive'), errorDir: join(site, 'error') }, ctx)
        .catch((e: Error) => { problems.push(`${store.name}: processFile threw ${e.name}: ${e.message}`); return null; });
      if (report && report.state !== 'done') problems.push(`${store.name}: file ${report.state}: ${report.reason ?? ''}`);
      const rows = await db.all<{ idx: number; outcome: string; ack: Buffer }>('SELECT idx, outcome, ack FROM messages ORDER BY idx');
      const count: Record<string, number> = {};
      for (const row of rows) {
        const idx = Number(row.idx);
        byIdx.set(idx, { outcome: row.outcome, ack: row.ack });
        const c = cases[idx];
        if (!c) { problems.push(`${store.name}: message ${idx} is not a case`); continue; }
        const label = c.mutated ? `${c.mutated.segment}-${c.mutated.field}` : `valid ${c.ctl}`;
        count[c.mutated ? row.outcome : `valid ${row.outcome}`] = (count[c.mutated ? row.outcome : `valid ${row.outcome}`] ?? 0) + 1;
        const ack = row.ack.toString('latin1');
        if (/[\x00-\x0c\x0e-\x1f]/.test(ack)) problems.push(`${store.name}: ${label}: the ACK carries a control character`);
        if (c.mutated && row.outcome === 'AA') problems.push(`${store.name}: ${label}: control character accepted (AA)`);
        if (!c.mutated && row.outcome !== 'AA') problems.push(`${store.name}: ${label}: valid message answered ${row.outcome}`);
        const err = ack.split('\r').find((l) => l.startsWith('ERR|'));
        if (c.mutated && row.outcome === 'AE' && err?.split('|')[3]?.startsWith('102^')) {
          const loc = (err.split('|')[2] ?? '').split('^');
          if (loc[0] !== c.mutated.segment || Number(loc[2]) !== c.mutated.field) problems.push(`${store.name}: ${label}: AE 102 at ${loc.join('^')}`);
        }
      }
      if (rows.length !== cases.length) problems.push(`${store.name}: ${rows.length} ledger rows for ${cases.length} messages`);
      const ipps = new Set((await db.all<{ value: string }>("SELECT value FROM identifiers WHERE type = 'PI'")).map((x) => x.value));
      for (const c of cases) {
        if (c.mutated && ipps.has(c.ipp)) problems.push(`${store.name}: ${c.mutated.segment}-${c.mutated.field}: refused message left a patient`);
        if (!c.mutated && !ipps.has(c.ipp)) problems.push(`${store.name}: valid ${c.ctl}: no patient`);
      }
      outcomes[store.name] = count;
    } finally {
      await db.close();
      await store.drop?.();
    }
    answers.push(byIdx);
  }
  if (answers.length === 2) {
    for (const c of cases) {
      const a = answers[0]!.get(c.i), b = answers[1]!.get(c.i);
      if (!a || !b) continue;
      const label = c.mutated ? `${c.mutated.segment}-${c.mutated.field}` : `valid ${c.ctl}`;
      if (a.outcome !== b.outcome) problems.push(`${label}: SQLite ${a.outcome}, PostgreSQL ${b.outcome}`);
      else if (!a.ack.equals(b.ack)) problems.push(`${label}: SQLite and PostgreSQL ACKs differ`);
    }
  }
  return { cases: cases.length, mutated: cases.filter((c) => c.mutated).length, stores: stores.map((s) => s.name), outcomes, problems, seconds: (performance.now() - t0) / 1000 };
}
