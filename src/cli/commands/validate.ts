/**
 * `pamdrop validate <files…>`: offline PAM FR conformance report (src/ops/validate.ts); no database.
 * Exit 0 when no file has an error (warnings allowed), 1 when any has one, 2 when a file cannot be read.
 */
import type { CliContext } from '../context.js';
import { ExitCode } from '../../shared/errors.js';
import { validateFile, type FileValidation } from '../../ops/validate.js';
import { existingFiles } from './preview.js';
import { checkAckFile, inboundIndex, type AckFileCheck } from '../../ops/ack-validate.js';

export interface ValidateArgs { files: string[]; quiet?: boolean; ack?: boolean; inbound?: string[] }

function render(v: FileValidation, quiet: boolean): string {
  const verdict = v.errors > 0 ? 'NOT CONFORMANT' : v.warnings > 0 ? 'conformant, with warnings' : 'conformant';
  const outcomes = { AA: 0, AE: 0, AR: 0 };
  for (const m of v.messages) outcomes[m.outcome]++;
  let out = `${v.file}: ${v.messages.length} messages, ${v.errors} errors, ${v.warnings} warnings — ${verdict}\n`;
  out += `  envelope: ${v.envelope.fhs ? 'FHS, ' : ''}${v.envelope.batches} batch(es), ${v.envelope.ok ? 'counts OK' : 'BROKEN (file would be quarantined)'}`
    + ` · import would answer (offline): ${outcomes.AA} AA, ${outcomes.AE} AE, ${outcomes.AR} AR\n`;
  for (const f of v.findings) {
    if (quiet && f.severity !== 'E') continue;
    const where = [f.line !== undefined ? `line ${f.line}` : '', f.message !== undefined ? `#${f.message}` : '', f.controlId ?? ''].filter(Boolean).join(' ');
    // Most texts start with their location already (`PID-3[2]: …`): do not say it twice.
    const located = /^[A-Z][A-Z0-9]{2}(\(\d+\))?(-\d+)?\b/.test(f.text);
    out += `  ${f.severity} ${f.code} ${f.rule.padEnd(10)} ${where ? where + ' ' : ''}${f.location && !located ? f.location + ': ' : ''}${f.text}\n`;
  }
  return out;
}

function renderAck(c: AckFileCheck): string {
  const head = `${c.file}: ACK ${c.code || '?'} for ${c.inboundControlId || '?'}${c.inboundKnown ? ' (inbound known: echoes checked)' : ''}`;
  if (c.problems.length === 0) return `${head} — well formed\n`;
  return `${head} — ${c.problems.length} irregularit${c.problems.length === 1 ? 'y' : 'ies'}\n${c.problems.map((p) => `  E ${p.location}: ${p.text}\n`).join('')}`;
}

/** `validate --ack`: exit 0 when every ACK is well formed, 1 when any is not, 2 when a file cannot be read. */
function validateAcks(ctx: CliContext, args: ValidateArgs): number {
  const index = args.inbound ? inboundIndex(existingFiles(args.inbound), ctx.config) : undefined;
  const results = existingFiles(args.files).map((p) => checkAckFile(p, ctx.config, index));
  const irregular = results.filter((r) => r.problems.length > 0).length;
  const exitCode = irregular > 0 ? ExitCode.Rejected : ExitCode.Ok;
  if (ctx.json) ctx.out(JSON.stringify({ acks: results, irregular, exitCode }, null, 2) + '\n');
  else ctx.out(results.map(renderAck).join('') + `${results.length} ACK file(s), ${irregular} with irregularities\n`);
  return exitCode;
}

export async function validateCommand(ctx: CliContext, args: ValidateArgs): Promise<number> {
  if (args.ack) return validateAcks(ctx, args);
  const results = existingFiles(args.files).map((p) => validateFile(p, ctx.config));
  const errors = results.reduce((n, r) => n + r.errors, 0);
  const exitCode = errors > 0 ? ExitCode.Rejected : ExitCode.Ok;
  if (ctx.json) ctx.out(JSON.stringify({ files: results, errors, warnings: results.reduce((n, r) => n + r.warnings, 0), exitCode }, null, 2) + '\n');
  else ctx.out(results.map((r) => render(r, !!args.quiet)).join(''));
  return exitCode;
}
