/**
 * A comparable snapshot of a site after a run: every table of the store (ids included, paths made relative
 * to the site root), the ACK folder (name → bytes as hex-free latin1 text) and the archive tree.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { openDb } from '../../src/store/db.js';

const TABLES: Record<string, string> = {
  patients: 'SELECT * FROM patients ORDER BY id',
  identifiers: 'SELECT * FROM identifiers ORDER BY id',
  ins: 'SELECT * FROM ins ORDER BY id',
  history: 'SELECT * FROM history ORDER BY id',
  links: 'SELECT * FROM links ORDER BY id',
  files: 'SELECT id, source, name, size, sha256, state, message_count, summary, reason, archived_path FROM files ORDER BY id',
  messages: 'SELECT * FROM messages ORDER BY id',
};

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

export async function dumpSite(root: string, dbTarget: string): Promise<Record<string, unknown>> {
  const db = await openDb(dbTarget);
  try {
    const out: Record<string, unknown> = {};
    for (const [t, sql] of Object.entries(TABLES)) {
      const rows = await db.all<Record<string, unknown>>(sql);
      out[t] = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k,
        Buffer.isBuffer(v) ? v.toString('latin1') : typeof v === 'string' ? v.split(root).join('<root>') : v])));
    }
    out.outbox = tree(join(root, 'outbox'), root);
    out.archive = tree(join(root, 'archive'), root);
    out.inbox = tree(join(root, 'inbox'), root);
    return out;
  } finally {
    await db.close();
  }
}
