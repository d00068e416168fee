/** `pamdrop patient <value> | --ins NIR` and `pamdrop patients`: read the identity store. */
import type { CliContext } from '../context.js';
import { findPatients, listPatients, type PatientView } from '../../store/patients.js';
import { ExitCode } from '../../shared/errors.js';
import { ConfigError } from '../../shared/errors.js';

export interface PatientArgs { value?: string; ins?: string; authority?: string }

function text(p: PatientView): string {
  const id = p.identifiers.map((i) => `${i.value}^^^${i.authority}${i.oid ? '&' + i.oid : ''}^${i.type}`).join(' ~ ');
  const lines = [
    `patient #${p.id} ${p.active ? 'active' : 'MERGED'}${p.mergedInto ? ` into ${p.mergedInto.value} (${p.mergedInto.authority})` : ''}`,
    `  identifiers: ${id}`,
    `  INS: ${p.ins ? `${p.ins.value} (${p.ins.kind}, ${p.ins.oid})` : '—'}   status: ${p.status ?? '—'}${p.attributes.length ? ' ' + p.attributes.join(' ') : ''}   qualified: ${p.qualified ? 'yes' : 'no'}`,
    `  birth name: ${p.birthName ?? '—'}  first name: ${p.firstName ?? '—'}  given names: ${p.birthGivenNames ?? '—'}`,
    `  used name: ${p.usedName ?? '—'}  used first name: ${p.usedFirstName ?? '—'}`,
    `  birth date: ${p.birthDate ?? '—'}  sex: ${p.sex ?? '—'}  birthplace (COG): ${p.birthPlace ?? '—'}`,
    `  history: ${p.history.map((h) => `${h.event} ${h.controlId}`).join(', ') || '—'}`,
  ];
  return lines.join('\n') + '\n';
}

export async function patientCommand(ctx: CliContext, args: PatientArgs): Promise<number> {
  if (!args.value && !args.ins) throw new ConfigError('patient: give an identifier value or --ins');
  const db = await ctx.openStore();
  try {
    const found = await findPatients(db, { value: args.value, authority: args.authority, ins: args.ins });
    if (found.length === 0) {
      if (ctx.json) ctx.out('null\n'); else ctx.out('no patient matches\n');
      return ExitCode.NotFound;
    }
    if (found.length > 1) {
      const where = found.map((p) => p.identifiers.map((i) => i.authority || i.oid).join('/')).join(', ');
      throw new ConfigError(`patient: ${found.length} records match (${where}); narrow with --authority`);
    }
    ctx.out(ctx.json ? JSON.stringify(found[0], null, 2) + '\n' : text(found[0]!));
    return ExitCode.Ok;
  } finally {
    await db.close();
  }
}

export async function patientsCommand(ctx: CliContext): Promise<number> {
  const db = await ctx.openStore();
  try {
    const all = await listPatients(db);
    ctx.out(ctx.json ? JSON.stringify(all, null, 2) + '\n' : all.map(text).join('') + `${all.length} records\n`);
    return ExitCode.Ok;
  } finally {
    await db.close();
  }
}
