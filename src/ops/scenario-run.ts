/**
 * `pamdrop scenarios run`: replays the PAM FR §4.4 consumer scenarios (scenarios.ts) through the import pipeline
 * itself (each step a file in a sandbox inbox, imported by `runJobsClaimed` as `import` does), checks each step's
 * expected outcome against the ledger and the store, and writes an evidence bundle: one page per step (the
 * `evidence` page with the step and its checks on top) and index.html with pass/fail.
 *
 * The store is the one given (a fresh sandbox unless the operator names another): the caller opens it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/tx.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import { runJobsClaimed } from '../pipeline/runner.js';
import { historyOfRecord, recordsByIdentifier, storedIdentity } from '../store/reads/evidence.js';
import { gatherEvidence, type MessageEvidence } from './evidence.js';
import { badge, esc, messagePage, page } from './evidence-page.js';
import { writePages } from './evidence-write.js';
import { openScenarioLink, type ScenarioLink } from './scenario-mllp.js';
import { scenarioSteps, type ScenarioStep, type StepExpectation } from './scenarios.js';

export interface StepCheck { what: string; expected: string; got: string; ok: boolean }

export interface StepResult {
  step: ScenarioStep;
  ok: boolean;
  checks: StepCheck[];
  page: string;
  evidence: MessageEvidence | null;
}

export type ScenarioVia = 'files' | 'mllp';

export interface ScenarioReport { ok: boolean; steps: StepResult[]; out: string; sandbox: string; store: string; via: ScenarioVia }

export interface ScenarioRunOptions {
  db: Db;
  config: ResolvedConfig;
  log: Logger;
  clock: Clock;
  /** Bundle folder. */
  out: string;
  /** Inbox, ACK, archive and error folders of the run. */
  sandbox: string;
  /** The store's description, for the index. */
  storeLabel: string;
  /** How each message reaches pamdrop: a file in the sandbox inbox (default), or an in-process MLLP listener. */
  via?: ScenarioVia;
}

const SOURCE = 'scenarios';

/** How the ACK reached the sender: the ACK file in the outbox, or the ACK frame received over MLLP. */
type AckSeen = { via: 'files'; outbox: string } | { via: 'mllp'; received: Buffer | null };

async function checkStep(db: Db, step: ScenarioStep, ev: MessageEvidence | null, seen: AckSeen): Promise<StepCheck[]> {
  const x: StepExpectation = step.expect;
  const checks: StepCheck[] = [];
  const check = (what: string, expected: unknown, got: unknown) => {
    const e = JSON.stringify(expected);
    const g = JSON.stringify(got);
    checks.push({ what, expected: e, got: g, ok: e === g });
  };
  check('ACK code (MSA-1)', x.ack, ev?.ledger.outcome ?? null);
  check('ACK structure (validate --ack)', [], ev ? ev.ack.check.problems.map((p) => `${p.location}: ${p.text}`) : ['no ACK']);
  if (seen.via === 'files') {
    const ackFile = ev ? join(seen.outbox, ev.ack.name) : null;
    check('ACK file written, identical to the ledger', true, !!ackFile && existsSync(ackFile) && readFileSync(ackFile).equals(ev!.ack.bytes));
  } else {
    check('ACK received over MLLP, identical to the ledger', true, !!ev && !!seen.received && seen.received.equals(ev.ack.bytes));
  }
  const ids = await recordsByIdentifier(db, x.record);
  check(`records holding ${x.record}`, 1, ids.length);
  const rec = ids.length === 1 ? await storedIdentity(db, ids[0]!) : undefined;
  if (!rec) return checks;
  const kindOrder = (k: string) => (k === 'NIR' ? 0 : 1);
  if (x.status !== undefined) check('PID-32 status stored', x.status, rec.status);
  if (x.ins !== undefined) check('INS stored', x.ins, [...rec.ins].sort((a, b) => kindOrder(a.kind) - kindOrder(b.kind)).map((i) => ({ kind: i.kind, value: i.value })));
  if (x.qualified !== undefined) check('qualified identity', x.qualified, rec.status === 'VALI' && rec.ins.length > 0);
  if (x.active !== undefined) check('record active', x.active, rec.active === 1);
  if (x.usedName !== undefined) check('used name', x.usedName, rec.used_name);
  if (x.mergedInto !== undefined) {
    const survivor = rec.merged_into !== null ? await storedIdentity(db, rec.merged_into) : undefined;
    check('merged into', x.mergedInto, survivor?.identifiers.find((i) => i.value === x.mergedInto)?.value ?? null);
  }
  if (x.erasedFromHistory !== undefined) {
    const hits = (await historyOfRecord(db, rec.id)).filter((h) => h.changes.includes(x.erasedFromHistory!)).length;
    check('history rows still holding the deleted INS', 0, hits);
  }
  return checks;
}

function stepHeader(r: StepResult): string {
  const rows = r.checks.map((c) => `<tr class="${c.ok ? '' : 'changed'}"><td>${esc(c.what)}</td><td class="mono">${esc(c.expected)}</td><td class="mono">${esc(c.got)}</td><td>${badge(c.ok ? 'PASS' : 'FAIL')}</td></tr>`).join('');
  return `<section id="step"><h2>Scenario step ${esc(r.step.id)} · PAM FR ${esc(r.step.section)} · ${badge(r.ok ? 'PASS' : 'FAIL')}</h2>
<p><strong>${esc(r.step.title)}</strong> — ${esc(r.step.purpose)}</p>
<table id="checks"><thead><tr><th>Check</th><th>Expected</th><th>Got</th><th>Result</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function indexHtml(rep: ScenarioReport, generatedAt: string): string {
  const passed = rep.steps.filter((s) => s.ok).length;
  const rows = rep.steps.map((s) => `<tr><td><a href="${esc(s.page)}">${esc(s.step.id)}</a></td><td>${esc(s.step.section)}</td><td>${esc(s.step.title)}</td>`
    + `<td class="mono nowrap">${esc(s.evidence?.ledger.control_id ?? '—')}</td><td>${badge(s.evidence?.ledger.outcome ?? '')}</td><td>${badge(s.ok ? 'PASS' : 'FAIL')}</td></tr>`).join('');
  const body = `<section id="verdict"><h2>Verdict</h2><p>${badge(rep.ok ? 'PASS' : 'FAIL')} ${passed} of ${rep.steps.length} steps passed.</p>
<p class="empty">Store: ${esc(rep.store)} · ${rep.via === 'mllp' ? 'messages sent over MLLP to an in-process listener on a loopback port' : `messages replayed as files through the import pipeline (sandbox folders in ${esc(rep.sandbox)})`}.</p></section>
<section><h2>Steps</h2><table id="steps"><thead><tr><th>Step</th><th>PAM FR</th><th>What</th><th>Control id</th><th>ACK</th><th>Result</th></tr></thead><tbody>${rows}</tbody></table></section>`;
  return page('PAM FR §4.4 consumer scenarios', `${passed}/${rep.steps.length} passed · ${rep.ok ? 'PASS' : 'FAIL'}`, body, generatedAt);
}

/** Runs every step in order, writes the bundle, and reports. */
export async function runScenarios(o: ScenarioRunOptions): Promise<ScenarioReport> {
  const folders = { inbox: join(o.sandbox, 'inbox'), ackDir: join(o.sandbox, 'outbox'), archiveDir: join(o.sandbox, 'archive'), errorDir: join(o.sandbox, 'archive', 'error') };
  for (const d of [folders.inbox, folders.ackDir, folders.archiveDir, folders.errorDir]) mkdirSync(d, { recursive: true });
  const tag = o.clock.now().toISOString().replace(/\D/g, '').slice(0, 14);
  const steps = scenarioSteps(tag);
  const via = o.via ?? 'files';
  const rep: ScenarioReport = { ok: true, steps: [], out: o.out, sandbox: o.sandbox, store: o.storeLabel, via };
  const generatedAt = o.clock.now().toISOString();
  const link = via === 'mllp' ? await openScenarioLink(o) : null;
  try {
    for (const step of steps) await runStep(o, step, folders, link, rep, generatedAt);
  } finally {
    await link?.close();
  }
  writePages(o.out, [{ name: 'index.html', html: indexHtml(rep, generatedAt) }]);
  return rep;
}

type Folders = { inbox: string; ackDir: string; archiveDir: string; errorDir: string };

async function runStep(o: ScenarioRunOptions, step: ScenarioStep, folders: Folders, link: ScenarioLink | null, rep: ScenarioReport, generatedAt: string): Promise<void> {
  let ev: MessageEvidence | null;
  let checks: StepCheck[];
  if (link) {
    const received = await link.request(Buffer.from(step.message, 'latin1'));
    // The step's row: the newest with its control id (a run again on the same store adds duplicates of it).
    const controlId = step.message.split('\r')[0]!.split('|')[9] ?? '';
    ev = (await gatherEvidence(o.db, { controlId }, o.config)).at(-1) ?? null;
    checks = await checkStep(o.db, step, ev, { via: 'mllp', received });
  } else {
    const path = join(folders.inbox, `${step.id}.hl7`);
    writeFileSync(path, Buffer.from(step.message, 'latin1'));
    const run = await runJobsClaimed([{ source: SOURCE, path, ackDir: folders.ackDir, archiveDir: folders.archiveDir, errorDir: folders.errorDir }],
      { db: o.db, config: o.config, log: o.log, clock: o.clock }, 'scenarios');
    const file = run.files[0];
    ev = file && file.state !== 'failed' && file.fileId !== null
      ? (await gatherEvidence(o.db, { fileId: file.fileId }, o.config))[0] ?? null : null;
    checks = await checkStep(o.db, step, ev, { via: 'files', outbox: folders.ackDir });
    if (!file || file.state !== 'done') checks.unshift({ what: 'file processed', expected: '"done"', got: JSON.stringify(file?.state ?? null), ok: false });
  }
  const result: StepResult = { step, ok: checks.every((c) => c.ok), checks, page: `step-${step.id}.html`, evidence: ev };
  rep.steps.push(result);
  if (!result.ok) rep.ok = false;
  const html = ev ? messagePage(ev, generatedAt, stepHeader(result))
    : page(`Scenario step ${step.id}`, 'no message evidence', stepHeader(result), generatedAt);
  writePages(o.out, [{ name: result.page, html }]);
}
