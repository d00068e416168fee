/**
 * `pamdrop scenarios run [--via files|mllp] [--store TARGET] --out DIR`: the PAM FR §4.4 consumer scenarios replayed on a
 * sandbox store (src/ops/scenario-run.ts), with an evidence bundle in DIR. The sandbox (a fresh SQLite file and its
 * folders) lives in DIR/sandbox, so the run writes nothing outside DIR; the configured store is never used, only the
 * one `--store` names (created when missing). Exit 0 every step passed · 1 a step failed · 2 bad usage.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CliContext } from '../context.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { openDb } from '../../store/db.js';
import { checkStoreTarget, normalizeStoreTarget, redactUrl } from '../../store/target.js';
import { runScenarios } from '../../ops/scenario-run.js';

export interface ScenariosArgs { via?: string; store?: string; out: string }

/** Ways the messages can reach pamdrop: files in a sandbox inbox, or an in-process MLLP listener on a loopback port. */
const VIAS = new Set(['files', 'mllp']);

export async function scenariosCommand(ctx: CliContext, args: ScenariosArgs): Promise<number> {
  const via = args.via ?? 'files';
  if (!VIAS.has(via)) {
    throw new ConfigError(`--via ${via}: unknown; use --via files or --via mllp`);
  }
  const out = resolve(args.out);
  if (existsSync(out) && readdirSync(out).length > 0) throw new ConfigError(`--out ${out}: the folder is not empty; give a new or empty folder`);
  const sandbox = join(out, 'sandbox');
  const target = args.store ? normalizeStoreTarget(args.store, process.cwd(), '--store') : join(sandbox, 'pamdrop.sqlite');
  checkStoreTarget(target, 'create');
  mkdirSync(sandbox, { recursive: true });
  ctx.err(`pamdrop: scenarios use fictitious identities; the bundle in ${out} shows them as a real one would (patient data pages)\n`);
  const db = await openDb(target, { sqliteDriver: ctx.config.sqliteDriver, log: ctx.log, create: true });
  try {
    const rep = await runScenarios({ db, config: { ...ctx.config, database: target }, log: ctx.log, clock: ctx.clock, out, sandbox, storeLabel: redactUrl(target), via: via as 'files' | 'mllp' });
    if (ctx.json) {
      ctx.out(JSON.stringify({ ok: rep.ok, out, store: redactUrl(target), steps: rep.steps.map((s) => ({ id: s.step.id, ok: s.ok, controlId: s.evidence?.ledger.control_id ?? null, ack: s.evidence?.ledger.outcome ?? null, page: s.page, failed: s.checks.filter((c) => !c.ok) })) }, null, 2) + '\n');
    } else {
      for (const s of rep.steps) {
        ctx.out(`${s.ok ? 'PASS' : 'FAIL'} ${s.step.id} (${s.step.section}) ${s.evidence?.ledger.outcome ?? '—'}\n`);
        for (const c of s.checks.filter((x) => !x.ok)) ctx.out(`  ${c.what}: expected ${c.expected}, got ${c.got}\n`);
      }
      ctx.out(`${rep.steps.filter((s) => s.ok).length}/${rep.steps.length} steps passed · bundle: ${join(out, 'index.html')}\n`);
    }
    return rep.ok ? ExitCode.Ok : ExitCode.Rejected;
  } finally {
    await db.close();
  }
}
