/** Exit codes of the commands that run files (docs/behaviour.md "Exit codes"): the data's fault 1, the system's 5. */
import { ExitCode } from '../shared/errors.js';
import { runOutcome, RunOutcome, type RunReport } from '../pipeline/runner.js';

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
