/**
 * `pamdrop history <identifier> [--authority A] [--ins NIR] [--json]` (src/ops/history.ts): which message
 * changed what on one patient record. The record is found as `pamdrop patient` finds it; like `patient`, this is a
 * deliberate look at one identity, so values are shown. Exit 4 when no record matches, 2 when several do.
 */
import type { CliContext } from '../context.js';
import { ConfigError, ExitCode } from '../../shared/errors.js';
import { findPatients } from '../../store/patients.js';
import { patientHistory, type PatientHistory } from '../../ops/history.js';
import { formatChange, formatIdentifier, localTime, messageTime } from '../../ops/format.js';

export interface HistoryArgs { value?: string; ins?: string; authority?: string }

function render(h: PatientHistory): string {
  const p = h.patient;
  let out = `history of ${p.identifiers.map(formatIdentifier).join(', ') || `record #${p.id}`} — ${p.active ? 'active' : `MERGED into ${formatIdentifier(p.mergedInto)}`}`
    + `${h.merged.length > 0 ? `; merged into it: ${h.merged.map(formatIdentifier).join(', ')}` : ''} — ${h.entries.length} change(s)\n`;
  for (const e of h.entries) {
    const rec = e.ownRecord ? '' : `  [merged record ${formatIdentifier(e.record)}]`;
    out += `${localTime(e.recordedAt)}  ${e.event} ${e.controlId} from ${e.sendingApp}/${e.sendingFacility}`
      + `${e.file ? ` in ${e.file.name} (ledger #${e.file.id}${e.file.reimportOf !== null ? `, reimport of #${e.file.reimportOf}` : ''})` : ''}`
      + `  MSH-7 ${messageTime(e.messageTime)}${rec}\n`;
    out += `    ${e.kinds.join(', ')}\n`;
    for (const c of e.changes) out += `      ${formatChange(c)}\n`;
  }
  return out;
}

export async function historyCommand(ctx: CliContext, args: HistoryArgs): Promise<number> {
  if (!args.value && !args.ins) throw new ConfigError('history: give an identifier value or --ins');
  const db = await ctx.openStore();
  try {
    const found = await findPatients(db, { value: args.value, authority: args.authority, ins: args.ins });
    if (found.length === 0) {
      ctx.out(ctx.json ? 'null\n' : 'no patient matches\n');
      return ExitCode.NotFound;
    }
    if (found.length > 1) {
      const where = found.map((p) => p.identifiers.map((i) => i.authority || i.oid).join('/')).join(', ');
      throw new ConfigError(`history: ${found.length} records match (${where}); narrow with --authority`);
    }
    const h = await patientHistory(db, found[0]!);
    ctx.out(ctx.json ? JSON.stringify(h, null, 2) + '\n' : render(h));
    return ExitCode.Ok;
  } finally {
    await db.close();
  }
}
