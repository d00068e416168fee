/**
 * Assigning authorities (CX-4): when two spellings name one domain (DTFR 1.8.2 N.1). Pure functions; the store keeps
 * one stored spelling per authority (store/authorities.ts) and matches every incoming identifier against it.
 *
 * `…^^^AUT^PI` and `…^^^AUT&1.2.3&ISO^PI` are one domain. Two spellings are equal when their CX-4.2 universal IDs
 * are equal, or when one side has no CX-4.2 and their CX-4.1 namespace IDs are equal (case as sent). Two different
 * universal IDs are two authorities, whatever their namespaces.
 */
import type { Identifier } from './types.js';

/** A spelling of an assigning authority: CX-4.1 namespace ID ('' when empty) and CX-4.2 universal ID. */
export type AuthoritySpelling = Pick<Identifier, 'authority' | 'oid'>;

/**
 * Configured namespace aliases (`pam.authorityAliases`): a sender that renamed its domain sends `NEW` where the
 * store knows `OLD`. `{ OLD: 'NEW' }` makes CX-4.1 `OLD` read as `NEW` on both sides of every comparison.
 */
export type AuthorityAliases = Readonly<Record<string, string>>;

/** A namespace ID after the configured aliases. */
export function aliasNamespace(ns: string, aliases: AuthorityAliases): string {
  return Object.prototype.hasOwnProperty.call(aliases, ns) ? aliases[ns]! : ns;
}

/** Whether two spellings name the same assigning authority (DTFR 1.8.2 N.1, with the configured aliases). */
export function sameAuthority(a: AuthoritySpelling, b: AuthoritySpelling, aliases: AuthorityAliases = {}): boolean {
  const ao = a.oid || null;
  const bo = b.oid || null;
  if (ao !== null && bo !== null) return ao === bo;
  const an = aliasNamespace(a.authority, aliases);
  const bn = aliasNamespace(b.authority, aliases);
  // An empty namespace matches only another authority without any CX-4 (not a universal ID spelled alone).
  if (ao === null && bo === null) return an === bn;
  return an !== '' && an === bn;
}

/**
 * A spelling for messages: `NS`, `NS (OID)` or `(OID)` — authority names only, never patient data, and no HL7
 * delimiter (an ERR-8 would carry it escaped).
 */
export function spell(a: AuthoritySpelling): string {
  return a.oid ? `${a.authority}${a.authority ? ' ' : ''}(${a.oid})` : a.authority;
}
