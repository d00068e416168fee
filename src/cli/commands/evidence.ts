/**
 * `pamdrop evidence <control id | file:ID | message:ID> | --since T  --out DIR [--pdf]`: one self-contained HTML
 * page per message (src/ops/evidence.ts, evidence-page.ts) and an index, from the ledger and the store only.
 * Exit 0 written · 2 bad usage (or --pdf without Chromium, checked before anything is written) · 4 no such message.
 */
import { resolve } from 'node:path';
import type { CliContext } from '../context.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { gatherEvidence } from '../../ops/evidence.js';
import { indexPage, messagePage, pageName } from '../../ops/evidence-page.js';
import { CHROMIUM_PATHS, findChromium, printPdfs, writePages } from '../../ops/evidence-write.js';
import { parseSince } from '../../ops/format.js';
import type { EvidenceSelector } from '../../store/reads/evidence.js';

export interface EvidenceArgs { target?: string; since?: string; out: string; pdf?: boolean; limit?: number }

/** `file:12` (every message of ledger file 12), `message:345` (ledger message 345), anything else an MSH-10. */
export function selectorOf(target: string | undefined, since: string | undefined, now: Date, limit?: number): EvidenceSelector {
  const sel: EvidenceSelector = { limit: limit ?? 1000 };
  if (target !== undefined) {
    const m = /^(file|message):(\d+)$/.exec(target);
    if (m) sel[m[1] === 'file' ? 'fileId' : 'messageId'] = Number(m[2]);
    else if (/^(file|message):/.test(target)) throw new ConfigError(`${target}: a ledger id is a number (file:12, message:345)`);
    else sel.controlId = target;
  }
  if (since !== undefined) {
    const d = parseSince(since, now);
    if (!d) throw new ConfigError(`--since ${since}: not a date (YYYY-MM-DD), an ISO time or 7d / 24h`);
    sel.since = d.toISOString();
  }
  return sel;
}

export async function evidenceCommand(ctx: CliContext, args: EvidenceArgs): Promise<number> {
  const sel = selectorOf(args.target, args.since, ctx.clock.now(), args.limit);
  const chromium = args.pdf ? findChromium() : null;
  if (args.pdf && !chromium) {
    throw new ConfigError(`--pdf: no headless Chromium found (looked at ${CHROMIUM_PATHS.join(', ')}; Debian: apt-get install chromium). Leave --pdf out to write the HTML pages only`);
  }
  const out = resolve(args.out);
  const db = await ctx.openStore();
  try {
    const found = await gatherEvidence(db, sel, ctx.config);
    if (found.length === 0) {
      ctx.err('pamdrop: no message in the ledger matches: nothing written\n');
      return ExitCode.NotFound;
    }
    ctx.err(`pamdrop: evidence pages hold patient identity data by design (names, birth data, INS): writing ${found.length} page(s) to ${out} only; keep it access-restricted\n`);
    const now = ctx.clock.now().toISOString();
    const pages = found.map((ev) => ({ name: pageName(ev), html: messagePage(ev, now), ev }));
    const written = writePages(out, [...pages, { name: 'index.html', html: indexPage(pages.map((p) => ({ ev: p.ev, href: p.name })), now) }]);
    const pdfs = chromium ? printPdfs(chromium, out, written) : [];
    if (ctx.json) {
      ctx.out(JSON.stringify({ out, pages: written, pdfs, messages: found.map((ev) => ({ ledgerId: ev.ledger.id, controlId: ev.ledger.control_id, event: ev.ledger.event, outcome: ev.ledger.outcome, ackProblems: ev.ack.check.problems })) }, null, 2) + '\n');
    } else {
      for (const p of pages) ctx.out(`${p.ev.ledger.control_id ?? '—'} ${p.ev.ledger.event ?? '?'} ${p.ev.ledger.outcome} → ${p.name}\n`);
      ctx.out(`${pages.length} page(s) and index.html in ${out}${pdfs.length ? ` (and ${pdfs.length} PDF)` : ''}${found.length === sel.limit ? ` — stopped at --limit ${sel.limit}` : ''}\n`);
    }
    return ExitCode.Ok;
  } finally {
    await db.close();
  }
}
