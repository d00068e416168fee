/**
 * The assigning-authority registry (table `authorities`, migration 0003): one row per domain, holding the most
 * complete spelling seen (DTFR 1.8.2 N.1; docs/behaviour.md "Identity model"). Every identifier of a command is matched
 * against it before the command is applied, and takes the stored spelling, so that `…^^^AUT^PI` and
 * `…^^^AUT&1.2.3&ISO^PI` reach the same identifier rows (whose `auth_key` is the stored spelling's OID, else its
 * namespace).
 *
 * - No stored authority matches → a new one, stored when the command is applied.
 * - One matches → its spelling. When the message completes it (a namespace-only authority meets its OID, an OID-only
 *   one its namespace), the registry row and every identifier of the domain are rewritten to the complete spelling
 *   once the command is applied (the command itself runs on the stored spelling, so its lookups find the rows).
 * - Several match (two universal IDs under one namespace, and a namespace-only identifier that could mean either)
 *   → AE 204 naming them, nothing applied.
 *
 * Cost: one read of this small table per group (SQLite: store/sql/identity-repo.ts RegistryCache; PostgreSQL: the
 * unit of work holds it); one per message when PostgreSQL runs a group message by message.
 */
import type { AuthorityRow, IdentityRepo } from './repo.js';
import { aliasNamespace, sameAuthority, spell, type AuthorityAliases } from '../pam/authority.js';
import { authorityKey, type Identifier, type PamCommand } from '../pam/types.js';
import { ErrorCode, Severity, type Finding, type Location } from '../hl7/errors.js';

/** The stored rows an incoming spelling can match: its OID or its namespace (every row when aliases are configured). */
async function candidates(repo: IdentityRepo, spellings: readonly Identifier[], aliases: AuthorityAliases): Promise<AuthorityRow[]> {
  return repo.authorities(spellings[0]!, Object.keys(aliases).length > 0 || spellings.length > 1);
}

/** A registry row being worked on: `stored` is its spelling in the database (null: new). */
interface Working { namespace: string; oid: string | null; stored: AuthorityRow | null }

/** The registry rows equal to a spelling (pure). */
export function matchAuthority(sp: Pick<Identifier, 'authority' | 'oid'>, rows: readonly AuthorityRow[], aliases: AuthorityAliases = {}): AuthorityRow[] {
  return rows.filter((r) => sameAuthority({ authority: r.namespace, oid: r.oid }, sp, aliases));
}

/** Result of resolving a command's authorities. */
export type ResolvedAuthorities =
  | { finding: Finding }
  | {
    /** The command with every identifier in its stored spelling. */
    command: PamCommand;
    /** Registry writes, to run once the command is applied. */
    commit(repo: IdentityRepo, now: string): Promise<void>;
  };

const PID3: Location = { segment: 'PID', field: 3 };
const MRG1: Location = { segment: 'MRG', field: 1 };

/** The identifiers of a command with where each came from, and a way to rebuild the command from mapped ones. */
function identifiersOf(cmd: PamCommand): { ids: Array<{ id: Identifier; at: Location }>; rebuild(map: (id: Identifier) => Identifier): PamCommand } {
  const at = (list: readonly Identifier[], l: Location) => list.map((id) => ({ id, at: l }));
  switch (cmd.kind) {
    case 'upsert':
      return { ids: at(cmd.identifiers, PID3), rebuild: (m) => ({ ...cmd, identifiers: cmd.identifiers.map(m) }) };
    case 'merge':
      return {
        ids: [...at(cmd.survivor, PID3), { id: cmd.retired, at: MRG1 }],
        rebuild: (m) => ({ ...cmd, survivor: cmd.survivor.map(m), retired: m(cmd.retired) }),
      };
    case 'change-id':
      return {
        ids: [{ id: cmd.old, at: MRG1 }, ...at([cmd.replacement, ...cmd.identifiers], PID3)],
        rebuild: (m) => ({ ...cmd, old: m(cmd.old), replacement: m(cmd.replacement), identifiers: cmd.identifiers.map(m) }),
      };
    case 'change-ins':
      return { ids: at(cmd.identifiers, PID3), rebuild: (m) => ({ ...cmd, identifiers: cmd.identifiers.map(m) }) };
    case 'link':
    case 'unlink':
      return {
        ids: [...at(cmd.first, { segment: 'PID', sequence: 1, field: 3 }), ...at(cmd.second, { segment: 'PID', sequence: 2, field: 3 })],
        rebuild: (m) => ({ ...cmd, first: cmd.first.map(m), second: cmd.second.map(m) }),
      };
    default: {
      const never: never = cmd;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
}

const NOTHING_TO_COMMIT = async (): Promise<void> => {};

/**
 * Matches every identifier of `cmd` against the registry (reads only). An identifier sent with a namespace that
 * `aliases` renames is matched under the new name.
 */
export async function resolveAuthorities(repo: IdentityRepo, cmd: PamCommand, aliases: AuthorityAliases): Promise<ResolvedAuthorities> {
  const { ids, rebuild } = identifiersOf(cmd);
  // Distinct spellings, aliases applied (the hot path: one spelling, the stored one).
  const spellings: Identifier[] = [];
  for (const { id } of ids) {
    const s = { ...id, authority: aliasNamespace(id.authority, aliases), oid: id.oid || null };
    if (!spellings.some((x) => x.authority === s.authority && x.oid === s.oid)) spellings.push(s);
  }
  if (spellings.length === 0) return { command: cmd, commit: NOTHING_TO_COMMIT };
  const rows = await candidates(repo, spellings, aliases);

  const working: Working[] = rows.map((r) => ({ namespace: r.namespace, oid: r.oid, stored: r }));
  const chosen = new Map<Identifier, Working>();
  for (const s of spellings) {
    const match = working.filter((w) => sameAuthority({ authority: w.namespace, oid: w.oid }, s, aliases));
    if (match.length > 1) {
      const where = ids.find(({ id }) => sameAuthority(id, s, aliases))!.at;
      return { finding: { code: ErrorCode.UnknownKey, severity: Severity.Error, location: where,
        text: `assigning authority ${spell(s)} is ambiguous: it can be ${match.map((w) => spell({ authority: w.namespace, oid: w.oid })).join(' or ')}; not applied` } };
    }
    const w = match[0] ?? { namespace: s.authority, oid: s.oid, stored: null };
    if (!match[0]) working.push(w);
    // The most complete spelling: a missing OID or namespace is taken from the message.
    if (w.oid === null && s.oid !== null) w.oid = s.oid;
    if (w.namespace === '' && s.authority !== '') w.namespace = s.authority;
    chosen.set(s, w);
  }

  const writes = working.filter((w) => w.stored === null || w.stored.namespace !== w.namespace || w.stored.oid !== w.oid);
  const canonical = (id: Identifier): Identifier => {
    const s = spellings.find((x) => x.authority === aliasNamespace(id.authority, aliases) && x.oid === (id.oid || null))!;
    const w = chosen.get(s)!;
    // A stored authority keeps its stored spelling until the command is applied (its identifier rows are keyed by it).
    const sp = w.stored ?? w;
    return sp.namespace === id.authority && sp.oid === id.oid ? id : { ...id, authority: sp.namespace, oid: sp.oid };
  };
  return {
    command: rebuild(canonical),
    commit: writes.length === 0 ? NOTHING_TO_COMMIT : (r, now) => writeAuthorities(r, writes, now),
  };
}

/** Stores new authorities and completes stored ones, rewriting their identifiers to the complete spelling. */
async function writeAuthorities(repo: IdentityRepo, writes: readonly Working[], now: string): Promise<void> {
  for (const w of writes) {
    const after: AuthorityRow = { namespace: w.namespace, oid: w.oid };
    if (w.stored === null) {
      await repo.insertAuthority(after, now);
      continue;
    }
    const before = w.stored;
    await repo.completeAuthority(before, after, now);
    const fromKey = authorityKey({ authority: before.namespace, oid: before.oid });
    const toKey = authorityKey({ authority: w.namespace, oid: w.oid });
    if (fromKey !== toKey) await repo.rekeyIdentifiers(fromKey, after, toKey);
    else await repo.renameIdentifiersAuthority(toKey, w.namespace);
  }
}
