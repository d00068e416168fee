/** Exit codes of the commands that run files (docs/behaviour.md "Exit codes"): the data's fault 1, the system's 5. */
import { ExitCode } from '../shared/errors.js';
import { runOutcome, RunOutcome, type RunReport } from '../pipeline/runner.js';
import type { Check } from '../ops/doctor.js';
import type { FilePreview } from '../ops/preview.js';
import type { PruneReport } from '../ops/prune.js';

/** 0 every message accepted · 1 an AE/AR or a quarantined file · 5 a file failed on I/O or the database. */
export function runExitCode(r: RunReport): ExitCode {
  const outcome = runOutcome(r);
  switch (outcome) {
    case RunOutcome.Accepted: return ExitCode.Ok;
    case RunOutcome.Rejected: return ExitCode.Rejected;
    case RunOutcome.SystemFault: return ExitCode.SystemFault;
    default: return outcome satisfies never;
  }
}

/** A preview ends as `import` would (docs/behaviour.md): 1 when any message would get AE/AR or a file be quarantined. */
export function previewExitCode(files: readonly FilePreview[]): 0 | 1 {
  return files.some((f) => f.state === 'quarantined' || f.summary.AE + f.summary.AR > 0) ? ExitCode.Rejected : ExitCode.Ok;
}

/** `doctor`: 1 when any check failed. */
export const doctorExitCode = (checks: readonly Check[]): 0 | 1 => (checks.some((c) => c.status === 'FAIL') ? ExitCode.Rejected : ExitCode.Ok);

/** `prune`: 5 when a file could not be removed (the system's fault), 1 when one was kept because its bytes changed. */
export function pruneExitCode(r: PruneReport): ExitCode {
  const outcomes = new Set(r.archive.files.map((f) => f.outcome));
  if (outcomes.has('failed') || r.ackCopies.failed > 0) return ExitCode.SystemFault;
  if (outcomes.has('changed')) return ExitCode.Rejected;
  return ExitCode.Ok;
}
