/**
 * `pamdrop doctor [--offline] [--min-free-mb N] [--json]` (src/ops/doctor.ts): checks folders, file systems,
 * disk space, the database and SFTP servers; prints each check OK / WARN / FAIL / SKIP with a hint.
 * Exit 1 when any check FAILs, else 0. Never migrates, never takes the writer lock.
 */
import type { CliContext } from '../context.js';
import { ConfigError } from '../../shared/errors.js';
import { runDoctor, type Check } from '../../ops/doctor.js';
import { doctorExitCode } from '../exit-codes.js';

export interface DoctorArgs { offline?: boolean; minFreeMb?: number }

function render(checks: readonly Check[]): string {
  let out = '';
  for (const c of checks) {
    out += `${c.status.padEnd(5)} ${c.name}: ${c.detail}\n`;
    if (c.hint && c.status !== 'OK') out += `      → ${c.hint}\n`;
  }
  const fails = checks.filter((c) => c.status === 'FAIL').length;
  const warns = checks.filter((c) => c.status === 'WARN').length;
  out += fails > 0 ? `${fails} check(s) FAILED, ${warns} warning(s)\n` : `all checks passed${warns > 0 ? `, ${warns} warning(s)` : ''}\n`;
  return out;
}

export async function doctorCommand(ctx: CliContext, args: DoctorArgs): Promise<number> {
  if (args.minFreeMb !== undefined && (!Number.isFinite(args.minFreeMb) || args.minFreeMb < 0)) throw new ConfigError('--min-free-mb must be a number ≥ 0');
  const checks = await runDoctor(ctx.config, ctx.log, { offline: args.offline, minFreeMb: args.minFreeMb, now: ctx.clock.now() });
  const exitCode = doctorExitCode(checks);
  ctx.out(ctx.json ? JSON.stringify({ checks, exitCode }, null, 2) + '\n' : render(checks));
  return exitCode;
}
