/**
 * What a database error says about its cause, for the pipeline's choice between "this message is refused" (an AE
 * for that message, the file goes on) and "the store failed" (the file fails and is retried later).
 *
 * - A refusal of the content: the same statement with the same values fails again on every attempt, so retrying
 *   the file can only stall its source. PostgreSQL SQLSTATE classes 22 (data exception: a NUL in text, a value too
 *   long, a number out of range…) and 23 (integrity constraint violation), except 23505, which is a concurrent
 *   insert and retried (retry.ts); SQLite's constraint failures except UNIQUE / PRIMARY KEY (they fail the file as
 *   PostgreSQL's 23505 does once its retries are spent, so both stores answer alike), SQLITE_TOOBIG, SQLITE_MISMATCH.
 * - A fault of the system: connection lost, server shutting down, disk full, I/O error, corruption. Nothing to
 *   do with the message.
 * Anything else (no code: a bug, or a driver error without one) is left to the caller.
 */

/** The first `code` string in an error's cause chain. */
function codeOf(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return null;
}

const PG_SQLSTATE = /^[0-9A-Z]{5}$/;
const SQLITE_CONTENT = /^SQLITE_(CONSTRAINT(_(CHECK|NOTNULL|FOREIGNKEY|TRIGGER|DATATYPE))?|TOOBIG|MISMATCH)$/;
const SQLITE_SYSTEM = /^SQLITE_(IOERR|FULL|CORRUPT|NOTADB|CANTOPEN|READONLY|NOMEM|PROTOCOL|BUSY|LOCKED|PERM|AUTH)/;
/** PostgreSQL classes of a system fault: connection, resources, operator intervention, system error, internal error. */
const PG_SYSTEM_CLASS = new Set(['08', '53', '54', '57', '58', 'XX', 'F0', 'HV']);
/** Node's network and file system errors (the pg client's socket, the SQLite file). */
const NODE_SYSTEM = /^(E(CONN(RESET|REFUSED|ABORTED)|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|NETDOWN|AI_AGAIN|NOSPC|IO|ROFS|DQUOT|MFILE|NFILE|ACCES|PERM))$/;

/**
 * The SQLSTATE (or SQLite code) when `err` is the database refusing the values of a statement; else null.
 */
export function contentRefusal(err: unknown): string | null {
  const code = codeOf(err);
  if (code === null) return null;
  if (PG_SQLSTATE.test(code)) return (code.startsWith('22') || code.startsWith('23')) && code !== '23505' ? code : null;
  return SQLITE_CONTENT.test(code) ? code : null;
}

/** True when `err` is a fault of the database system or its connection, never of the message being applied. */
export function systemFault(err: unknown): boolean {
  const code = codeOf(err);
  if (code === null) return /Connection terminated|connection (lost|closed|ended)|Timeout acquiring a connection/i.test(String((err as Error)?.message ?? ''));
  if (PG_SQLSTATE.test(code)) return PG_SYSTEM_CLASS.has(code.slice(0, 2));
  return SQLITE_SYSTEM.test(code) || NODE_SYSTEM.test(code);
}

/** Names a database object the error names (column, constraint, table), never a value. */
export function refusalDetail(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { column?: unknown; constraint?: unknown; table?: unknown };
    const parts: string[] = [];
    if (typeof x.table === 'string') parts.push(`table ${x.table}`);
    if (typeof x.column === 'string') parts.push(`column ${x.column}`);
    if (typeof x.constraint === 'string') parts.push(`constraint ${x.constraint}`);
    if (parts.length > 0) return parts.join(', ');
  }
  return '';
}
