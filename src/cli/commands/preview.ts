/**
 * `pamdrop preview <files…>` and `pamdrop import --dry-run <files…>`: what the files would do, message by
 * message, computed by the real pipeline in a transaction that is rolled back (src/ops/preview.ts). Nothing is
 * written: not the store, not the ACK folder, not the archive, and the files stay where they are.
 * Exit code as `import` would end: 0 all AA, 1 some AE/AR or a quarantined file.
 */
import { basename, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { CliContext } from '../context.js';
import { naturalCompare } from '../../shared/natural.js';
import { ConfigError } from '../../shared/errors.js';
import { previewFiles, type FilePreview, type PreviewOptions } from '../../ops/preview.js';
import { previewExitCode } from '../exit-codes.js';
import { formatFinding } from '../../ops/ack-read.js';
import { formatChange, formatIdentifier } from '../../ops/format.js';

export interface PreviewArgs { files: string[] }

/** Resolves, checks and sorts file arguments in natural name order (as `import` does). */
export function existingFiles(files: readonly string[]): string[] {
  const paths = files.map((f) => resolve(f)).sort((a, b) => naturalCompare(basename(a), basename(b)));
  for (const p of paths) if (!existsSync(p) || !statSync(p).isFile()) throw new ConfigError(`${p}: no such file`);
  return paths;
}

const STATUS_TEXT: Record<string, string> = {
  applied: 'applied', stale: 'stale: skipped, older than the record', duplicate: 'duplicate: stored ACK replayed, nothing applied',
  rejected: 'not applied', conflict: 'MSH-10 reused with other content: not applied',
};

/** Text rendering of previews (also used by `reimport --dry-run`). */
export function renderPreviews(files: readonly FilePreview[], title: string): string {
  let out = '';
  for (const f of files) {
    out += `${f.file} — ${title}\n`;
    if (f.state === 'quarantined') {
      out += `  QUARANTINED (nothing applied): ${f.reason}\n`;
      continue;
    }
    for (const m of f.messages) {
      out += `  #${m.position}  ${m.controlId ?? '(no MSH-10)'}  ${m.event ?? '?'}  ${m.outcome}  ${STATUS_TEXT[m.status] ?? m.status}\n`;
      for (const p of m.patients) {
        out += `      ${formatIdentifier(p.patient)}: ${p.kinds.join(', ') || 'no change'}\n`;
        for (const c of p.changes) out += `        ${formatChange(c)}\n`;
      }
      for (const e of m.findings) out += `      ${formatFinding(e)}\n`;
    }
    const s = f.summary;
    out += `  ${s.messages} messages: ${s.AA} AA, ${s.AE} AE, ${s.AR} AR, ${s.duplicates} duplicates, ${s.stale} stale\n`;
  }
  return out;
}

export async function previewCommand(ctx: CliContext, args: PreviewArgs, opts: PreviewOptions = {}): Promise<number> {
  const paths = existingFiles(args.files);
  const db = await ctx.openStore();
  try {
    const files = await previewFiles(paths, { db, config: ctx.config, log: ctx.log, clock: ctx.clock }, opts);
    const exitCode = previewExitCode(files);
    if (ctx.json) ctx.out(JSON.stringify({ dryRun: true, files, exitCode }, null, 2) + '\n');
    else ctx.out(renderPreviews(files, 'dry run: nothing written'));
    return exitCode;
  } finally {
    await db.close();
  }
}
