/**
 * The unit of work's prefetch: one query each for everything a group's messages can read, in two round trips — the
 * identifiers carrying any identifier or INS value of their commands (with their patient rows) and the live ledger
 * rows of their MSH-10 values, then the INS rows and links of those patients and values. The answers are exact for
 * every value asked about, so the model answers a lookup of such a value from memory.
 */
import { storable } from '../refusals.js';
import type { Row } from '../tx.js';
import type { InsRow, PatientRow } from '../../identity/types.js';
import type { PamCommand } from '../../pam/types.js';
import type { MessageItem } from '../message.js';
import type { GroupModel } from './model.js';

/** What a group's messages can look up: identifier and INS values (CX-1), and MSH-10 values as the ledger keeps them. */
export interface PrefetchKeys { values: Set<string>; controlIds: Set<string> }

/** Every value a command looks identifiers or INS up by. */
function commandValues(cmd: PamCommand, out: Set<string>): void {
  const ids = cmd.kind === 'upsert' || cmd.kind === 'change-ins' ? cmd.identifiers
    : cmd.kind === 'merge' ? [...cmd.survivor, cmd.retired]
      : cmd.kind === 'change-id' ? [cmd.old, cmd.replacement, ...cmd.identifiers]
        : [...cmd.first, ...cmd.second];
  for (const id of ids) out.add(id.value);
  if (cmd.kind === 'change-ins') out.add(cmd.old.value);
  if ('ins' in cmd && cmd.ins.action === 'set') {
    out.add(cmd.ins.ins.value);
    if (cmd.ins.nia) out.add(cmd.ins.nia.value);
  }
}

/** The keys of a group's messages, from their readings (a message that reaches no rule adds none). */
export function prefetchKeys(items: readonly MessageItem[]): PrefetchKeys {
  const values = new Set<string>();
  const controlIds = new Set<string>();
  for (const { reading } of items) {
    if (reading.header.controlId !== null) controlIds.add(storable(reading.header.controlId));
    const interp = reading.interpretation;
    if (!reading.unreadable && interp?.ok) commandValues(interp.command, values);
  }
  return { values, controlIds };
}

// Prefetch statements (one array parameter per list). Every value is looked up on its own through a LATERAL
// subquery fenced with OFFSET 0, so each one is an index lookup whatever the planner's statistics say. Left to the
// planner, a join with `unnest()` (or `= ANY(array)`) is planned from estimates that lag behind a store growing by
// thousands of rows a second: on the 100k benchmark it became hash joins over sequential scans of identifiers and
// patients, growing from ~35 to ~200 ms per group, half the import's wall time. The messages lookup keeps the
// partial key index's predicate outside the fence: inside, the planner picks uq_messages_key, whose control_id is
// its third column (a full index scan per value, ~2 ms each), over ix_messages_control. Not links.patient_b, which has no index of its own (uq_links leads with
// patient_a): one join, a single scan of the (small) links table at worst. They run unnamed (a plan for these values).
const PREFETCH_SQL = {
  identifiers: `SELECT i.auth_key AS ik_auth, i.value AS ik_value, i.type AS ik_type, p.id, p.active, p.merged_into,
  p.status, p.attributes, p.birth_name, p.first_name, p.birth_given_names, p.used_name, p.used_first_name, p.birth_date, p.sex,
  p.birth_place, p.names, p.addresses, p.other, p.last_message_time, p.created_at, p.updated_at
  FROM unnest(?::text[]) AS u(v)
  CROSS JOIN LATERAL (SELECT auth_key, value, type, patient_id FROM identifiers WHERE value = u.v OFFSET 0) i
  CROSS JOIN LATERAL (SELECT * FROM patients WHERE id = i.patient_id OFFSET 0) p`,
  ins: `SELECT n.id, n.patient_id, n.value, n.oid, n.kind FROM unnest(?::text[]) AS u(v)
    CROSS JOIN LATERAL (SELECT id, patient_id, value, oid, kind FROM ins WHERE value = u.v OFFSET 0) n
  UNION SELECT n.id, n.patient_id, n.value, n.oid, n.kind FROM unnest(?::int[]) AS o(p)
    CROSS JOIN LATERAL (SELECT id, patient_id, value, oid, kind FROM ins WHERE patient_id = o.p OFFSET 0) n
  ORDER BY id`,
  links: `SELECT l.id, l.patient_a, l.patient_b FROM unnest(?::int[]) AS o(p)
    CROSS JOIN LATERAL (SELECT id, patient_a, patient_b FROM links WHERE patient_a = o.p OFFSET 0) l
  UNION SELECT l.id, l.patient_a, l.patient_b FROM unnest(?::int[]) AS o(p) JOIN links l ON l.patient_b = o.p
  ORDER BY id`,
  originals: `SELECT m.id, m.sending_app, m.sending_facility, m.control_id, m.content_sha256, m.outcome, m.status, m.ack, m.patient_id
  FROM unnest(?::text[]) AS u(v)
  CROSS JOIN LATERAL (SELECT * FROM messages WHERE control_id = u.v OFFSET 0) m
  WHERE m.status NOT IN ('duplicate', 'conflict') AND m.superseded = 0`,
};

/** A list as a PostgreSQL array literal in a string literal, cast: `'{"a","b"}'::text[]`. */
function arrayLiteral(xs: ReadonlyArray<string | number>, type: 'text' | 'int', escapeLiteral: (s: string) => string): string {
  const body = xs.map((x) => (typeof x === 'number' ? String(x) : `"${x.replace(/[\\"]/g, '\\$&')}"`)).join(',');
  return `${escapeLiteral(`{${body}}`)}::${type}[]`;
}
/** `sql` with its `?` placeholders replaced by these literals, in order. */
function fill(sql: string, literals: readonly string[]): string {
  const parts = sql.split('?');
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i++) out += literals[i - 1]! + parts[i]!;
  return out;
}

/**
 * Reads into `cache` everything the group's messages can look up: the identifiers of every identifier and INS value
 * of their commands with their patient rows, the INS rows of those patients and values, their links, and the live originals of
 * their MSH-10 values. `run` sends a list of statements in one round trip and answers their rows: first the reads
 * that depend on nothing (`first`), then those that need the owners.
 */
export async function prefetch(cache: GroupModel, keys: PrefetchKeys, escapeLiteral: (s: string) => string,
  run: (reads: string[], first: boolean) => Promise<Row[][]>): Promise<void> {
  const sql = PREFETCH_SQL;
  const { values, controlIds } = keys;
  // A NUL cannot be in a query text (nor in a PostgreSQL text value): such a value is just not prefetched.
  const vals = [...values].filter((v) => !v.includes('\u0000'));
  const ctls = [...controlIds].filter((v) => !v.includes('\u0000'));
  const text = (xs: readonly string[]) => arrayLiteral(xs, 'text', escapeLiteral);
  const first: string[] = [];
  if (vals.length > 0) first.push(fill(sql.identifiers, [text(vals)]));
  if (ctls.length > 0) first.push(fill(sql.originals, [text(ctls)]));
  const r1 = await run(first, true);
  const idRows = vals.length === 0 ? [] : r1.shift()!;
  const origRows = ctls.length === 0 ? [] : r1.shift()!;
  // One row per identifier: a patient's row is built once, with the columns a PatientRow has (no ik_* ones).
  const rowsById = new Map<number, PatientRow>();
  const patients = idRows.map((r) => {
    const x = r as unknown as PatientRow & { ik_auth: string; ik_value: string; ik_type: string };
    let patient = rowsById.get(x.id);
    if (!patient) {
      patient = {
        id: x.id, active: x.active, merged_into: x.merged_into, status: x.status, attributes: x.attributes, birth_name: x.birth_name,
        first_name: x.first_name, birth_given_names: x.birth_given_names, used_name: x.used_name, used_first_name: x.used_first_name,
        birth_date: x.birth_date, sex: x.sex, birth_place: x.birth_place, names: x.names, addresses: x.addresses, other: x.other,
        last_message_time: x.last_message_time, created_at: x.created_at, updated_at: x.updated_at,
      };
      rowsById.set(x.id, patient);
    }
    return { auth_key: x.ik_auth, value: x.ik_value, type: x.ik_type, patient };
  });
  cache.learnIdentifierValues(vals, patients);
  cache.learnOriginals(ctls, origRows as never);
  const owners = [...new Set(patients.map((p) => p.patient.id))];
  const ints = arrayLiteral(owners, 'int', escapeLiteral);
  const second: string[] = [];
  const withIns = vals.length > 0 || owners.length > 0;
  if (withIns) second.push(fill(sql.ins, [text(vals), ints]));
  if (owners.length > 0) second.push(fill(sql.links, [ints, ints]));
  const r2 = await run(second, false);
  cache.learnIns(owners, vals, (withIns ? r2.shift()! : []) as unknown as InsRow[]);
  cache.learnLinks(owners, (owners.length > 0 ? r2.shift()! : []) as never);
}
export const SQL_PATIENT_SEQUENCE = `SELECT pg_get_serial_sequence('patients', 'id') AS name, seqincrement AS inc FROM pg_sequence
  WHERE seqrelid = pg_get_serial_sequence('patients', 'id')::regclass`;

