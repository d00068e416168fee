/** Links between records (A24 / A37, and the links a merge moves): an unordered pair stored as (smaller id, larger id). */
import type { IdentityRepo } from './repo.js';

const pair = (a: number, b: number): [number, number] => (a < b ? [a, b] : [b, a]);

/** Links two records. Returns false when they were already linked. */
export async function link(repo: IdentityRepo, a: number, b: number, now: string): Promise<boolean> {
  if (a === b) throw new Error('a patient record cannot be linked to itself');
  const [x, y] = pair(a, b);
  return repo.link(x, y, now);
}

/** Unlinks two records. Returns false when they were not linked. */
export async function unlink(repo: IdentityRepo, a: number, b: number): Promise<boolean> {
  const [x, y] = pair(a, b);
  return repo.unlink(x, y);
}

/**
 * Moves every link of `fromId` to `toId` (A40). A link between the two records themselves disappears. Returns the
 * other end of every link that was moved (or dropped), with whether the survivor gained a new link.
 */
export async function moveLinks(repo: IdentityRepo, fromId: number, toId: number, now: string): Promise<Array<{ other: number; added: boolean }>> {
  const out: Array<{ other: number; added: boolean }> = [];
  for (const l of await repo.linksOf(fromId)) {
    const other = l.patient_a === fromId ? l.patient_b : l.patient_a;
    await repo.deleteLink(l.id);
    out.push({ other, added: other !== toId && (await link(repo, other, toId, now)) });
  }
  return out;
}
