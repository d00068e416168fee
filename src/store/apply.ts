/** The identity rules (identity/apply.ts) on a transaction through the plain repository: for tests and tools. */
import { applyCommand as apply, type ApplyContext, type ApplyOutcome } from '../identity/apply.js';
import type { PamCommand } from '../pam/types.js';
import { SqlIdentityRepo } from './sql/identity-repo.js';
import type { Tx } from './tx.js';

export type { ApplyContext, ApplyOutcome } from '../identity/apply.js';
export type { FieldChange } from '../identity/types.js';

/** Applies one command in `tx` (no savepoint of its own: a rejected command has written nothing). */
export function applyCommand(tx: Tx, cmd: PamCommand, ctx: ApplyContext): Promise<ApplyOutcome> {
  return apply(new SqlIdentityRepo(tx), cmd, ctx);
}
