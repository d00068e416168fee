/**
 * INS erasure (PAM FR 2.11.2 §4.4.3: "l'événement A47 est utilisé pour supprimer l'INS et son historique
 * incorrectement attribué"). An A47 that deletes an INS removes the value from the record's history too: the history
 * rows stay (identity vigilance still sees that a message changed the INS, and when), the value becomes
 * `ERASED_INS`. A downgrade by A28/A31 (status no longer VALI) is not a deletion: its history keeps the value.
 *
 * Only the A47 INS path calls these functions, so the import hot path pays nothing for them.
 */
import type { IdentityRepo } from './repo.js';
import type { FieldChange } from './types.js';

/** What an erased INS value reads as, wherever it was recorded. */
export const ERASED_INS = '[INS supprimé]';

/** `v` with every string equal to one of `values` replaced by ERASED_INS (changes are small JSON trees). */
export function eraseValues(v: unknown, values: ReadonlySet<string>): unknown {
  if (typeof v === 'string') return values.has(v) ? ERASED_INS : v;
  if (Array.isArray(v)) return v.map((x) => eraseValues(x, values));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = eraseValues(x, values);
    return out;
  }
  return v;
}

/** `changes` with the INS values erased (for the history row of the deleting message itself). */
export function eraseFromChanges(changes: readonly FieldChange[], values: ReadonlySet<string>): FieldChange[] {
  return changes.map((c) => eraseValues(c, values) as FieldChange);
}

/**
 * Replaces `values` by ERASED_INS in every history row of record `patientId` and of the records merged into it (A40
 * re-points earlier merges, so one level is all there is: `pamdrop history` shows them together).
 * Returns the number of rows rewritten.
 */
export async function eraseInsFromHistory(repo: IdentityRepo, patientId: number, values: ReadonlySet<string>): Promise<number> {
  if (values.size === 0) return 0;
  let n = 0;
  for (const row of await repo.historyOfRecord(patientId)) {
    // A cheap test first: most rows never mention an INS.
    if (![...values].some((v) => row.changes.includes(v))) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.changes);
    } catch {
      continue;
    }
    const text = JSON.stringify(eraseValues(parsed, values));
    if (text !== row.changes) {
      await repo.rewriteHistory(row.id, text);
      n++;
    }
  }
  return n;
}

type InsLike = { value?: unknown; oid?: unknown };
const insValues = (v: unknown): InsLike[] =>
  v === null || v === undefined ? [] : Array.isArray(v) ? (v as InsLike[]) : typeof v === 'object' ? [v as InsLike] : [];

/**
 * Whether the record's own history shows it held exactly `ins` (value and authority OID) until a downgrade removed
 * it: its last INS change took `ins` away, left no INS, and came from a message other than an A47 (docs/behaviour.md,
 * A47 "INS held by nobody").
 */
export async function removedByDowngrade(repo: IdentityRepo, patientId: number, ins: { oid: string; value: string }): Promise<boolean> {
  let last: { event: string; change: FieldChange } | undefined;
  for (const row of await repo.historyEvents(patientId)) {
    let changes: FieldChange[];
    try {
      changes = JSON.parse(row.changes) as FieldChange[];
    } catch {
      continue;
    }
    for (const c of changes) if (c.field === 'ins') last = { event: row.event, change: c };
  }
  if (!last || last.event === 'A47' || insValues(last.change.after).length > 0) return false;
  return insValues(last.change.before).some((b) => b.value === ins.value && b.oid === ins.oid);
}
