/** The assigning-authority registry as read by tools (reconcile, status); the import's rules are in identity/authorities.ts. */
import type { AuthorityRow } from '../identity/repo.js';
import { SQL_AUTHORITIES } from './sql/identity-repo.js';
import type { Tx } from './tx.js';

export type { AuthorityRow } from '../identity/repo.js';
export { matchAuthority } from '../identity/authorities.js';

/** Every registry row, oldest first. */
export function listAuthorities(tx: Tx): Promise<AuthorityRow[]> {
  return tx.all<AuthorityRow>(SQL_AUTHORITIES);
}
