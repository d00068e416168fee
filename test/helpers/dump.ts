/**
 * A comparable snapshot of a site after a run: every table of the store, the ACK folder (name → bytes as latin1
 * text), the archive tree and the inbox.
 *
 * Content-based, so that it compares on SQLite and PostgreSQL alike: row ids are not in it (PostgreSQL sequences
 * are not transactional, so a killed transaction leaves a gap that a clean run does not have). Every reference
 * to a row is replaced by a stable key of the row it points to:
 * - a patient by its identifiers (`type:auth_key:value`, sorted, joined with ` + `), which are unique in the store;
 * - a file by source, name and SHA-256 (and its rank among rows of the same three, in claim order).
 * Rows are then sorted by their content. Paths are made relative to the site root, and the integer columns that
 * PostgreSQL returns as text (bigint) are numbers, so a dump does not depend on the database kind either.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { openDb } from '../../src/store/db.js';

type Row = Record<string, unknown>;

const TABLES = ['patients', 'identifiers', 'ins', 'history', 'links', 'files', 'messages', 'authorities'] as const;
/** Columns of `files` in the dump (owner, lease and times depend on the instance and the moment). */
const FILE_COLUMNS = ['source', 'name', 'size', 'sha256', 'state', 'message_count', 'summary', 'reason', 'archived_path'];
/** bigint columns (PostgreSQL returns them as strings). */
const BIGINT = new Set(['size', 'sequence_number']);

function tree(dir: string, root: string): Record<string, string> {
  const out: Record<string, string> = {};
  let entries: string[] = [];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) Object.assign(out, tree(p, root));
    else out[relative(root, p)] = readFileSync(p).toString('latin1');
  }
  return out;
}

const byContent = (rows: Row[]): Row[] => rows.map((r) => [JSON.stringify(r), r] as const)
  .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, r]) => r);

/** Rows of every table (ordered by id), values normalised: bytes as latin1 text, paths relative, bigints as numbers. */
async function readTables(root: string, dbTarget: string): Promise<Record<(typeof TABLES)[number], Row[]>> {
  const db = await openDb(dbTarget);
  try {
    const out = {} as Record<(typeof TABLES)[number], Row[]>;
    for (const t of TABLES) {
      const rows = await db.all<Row>(`SELECT * FROM ${t} ORDER BY id`);
      out[t] = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k,
        Buffer.isBuffer(v) ? v.toString('latin1')
          : BIGINT.has(k) && v !== null && v !== undefined ? Number(v)
            : typeof v === 'string' ? v.split(root).join('<root>') : v])));
    }
    return out;
  } finally {
    await db.close();
  }
}

export async function dumpSite(root: string, dbTarget: string): Promise<Record<string, unknown>> {
  const t = await readTables(root, dbTarget);

  const idsOf = new Map<unknown, string[]>();
  for (const i of t.identifiers) {
    const k = String(i.patient_id);
    if (!idsOf.has(k)) idsOf.set(k, []);
    idsOf.get(k)!.push(`${i.type}:${i.auth_key}:${i.value}`);
  }
  const patientKey = new Map<string, string>();
  let anonymous = 0;
  for (const p of t.patients) {
    const ids = idsOf.get(String(p.id));
    patientKey.set(String(p.id), ids ? ids.sort().join(' + ') : `(no identifier #${++anonymous})`);
  }
  const pk = (id: unknown) => (id === null || id === undefined ? null : patientKey.get(String(id)) ?? `(unknown patient ${String(id)})`);

  const fileKey = new Map<string, string>();
  const seen = new Map<string, number>();
  for (const f of t.files) {
    const base = `${f.source}:${f.name}:${String(f.sha256).slice(0, 16)}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    fileKey.set(String(f.id), n === 1 ? base : `${base}#${n}`);
  }
  const fk = (id: unknown) => (id === null || id === undefined ? null : fileKey.get(String(id)) ?? `(unknown file ${String(id)})`);

  const without = (r: Row, ...cols: string[]) => Object.fromEntries(Object.entries(r).filter(([k]) => !cols.includes(k)));
  const out: Record<string, unknown> = {
    patients: byContent(t.patients.map((p) => ({ key: pk(p.id), ...without(p, 'id', 'merged_into'), merged_into: pk(p.merged_into) }))),
    identifiers: byContent(t.identifiers.map((i) => ({ patient: pk(i.patient_id), ...without(i, 'id', 'patient_id') }))),
    ins: byContent(t.ins.map((i) => ({ patient: pk(i.patient_id), ...without(i, 'id', 'patient_id') }))),
    history: byContent(t.history.map((h) => ({ patient: pk(h.patient_id), ...without(h, 'id', 'patient_id') }))),
    links: byContent(t.links.map((l) => ({ a: pk(l.patient_a), b: pk(l.patient_b), ...without(l, 'id', 'patient_a', 'patient_b') }))),
    files: byContent(t.files.map((f) => ({ key: fk(f.id), ...Object.fromEntries(FILE_COLUMNS.map((c) => [c, f[c]])) }))),
    messages: byContent(t.messages.map((m) => ({ file: fk(m.file_id), patient: pk(m.patient_id), ...without(m, 'id', 'file_id', 'patient_id') }))),
    authorities: byContent(t.authorities.map((a) => without(a, 'id'))),
  };
  out.outbox = tree(join(root, 'outbox'), root);
  out.archive = tree(join(root, 'archive'), root);
  out.inbox = tree(join(root, 'inbox'), root);
  return out;
}
