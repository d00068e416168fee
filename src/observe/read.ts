/**
 * What the status page reads from the store, on its own read connection (server.ts `openReadStore`): never inside
 * the daemon's write transactions, and on SQLite (WAL) a reader never takes the writer lock.
 *
 * Reuses the operations read models: `buildStatus` (ops/status.ts) for sources, unfinished and quarantined files,
 * `listInbox` (ops/inbox.ts) for the pending files and why each waits, `findPatients` (store/patients.ts) for the
 * lookup, and store/reads/ for the last messages, which no command lists. Names and identifiers are read only when
 * the operator turned `showIdentities` on: otherwise they are never loaded.
 */
import type { ResolvedConfig } from '../config/types.js';
import type { Tx } from '../store/tx.js';
import { buildStatus, type Status } from '../ops/status.js';
import { listInbox, type InboxFile } from '../ops/inbox.js';
import { claimedNames } from '../store/reads/files.js';
import { recentMessageRows } from '../store/reads/messages.js';
import { patientNames } from '../store/reads/patients.js';
import { findPatients, type PatientView } from '../store/patients.js';
import { readAck } from '../ops/ack-read.js';

/** One row of the "last messages" table. */
export interface RecentMessage {
  id: number;
  /** When pamdrop processed it (ISO). */
  at: string;
  /** MSH-7 as stored (UTC, YYYYMMDDHHMMSS…), null when absent. */
  messageTime: string | null;
  source: string;
  file: string;
  fileId: number;
  controlId: string | null;
  event: string | null;
  outcome: 'AA' | 'AE' | 'AR';
  /** applied, stale, duplicate, rejected, conflict. */
  status: string;
  /** First error (0357 code and rule text: field locations, never values). */
  code: number | null;
  reason: string | null;
  /** Warnings of the ACK (ERR with severity W: code and text, never values), e.g. W 204 "already removed". */
  warnings: Array<{ code: number; text: string }>;
  /** Only with showIdentities: the record's first PI identifier and its name. */
  patient?: { identifier: string | null; name: string | null } | null;
}

/** The last `limit` messages, newest first. Patient names and identifiers only when `withIdentities`. */
export async function recentMessages(db: Tx, limit: number, withIdentities: boolean): Promise<RecentMessage[]> {
  const rows = await recentMessageRows(db, limit);
  const out: RecentMessage[] = rows.map((r) => ({
    id: r.id, at: r.created_at, messageTime: r.message_time, source: r.source, file: r.name, fileId: r.file_id,
    controlId: r.control_id, event: r.event, outcome: r.outcome, status: r.status, code: r.error_code, reason: r.error_text,
    // The ledger keeps the first error only; warnings are in the stored ACK (ERR text carries no patient data).
    warnings: readAck(r.ack).findings.filter((f) => f.severity === 'W').map((f) => ({ code: f.code, text: f.text })),
  }));
  if (!withIdentities) return out;
  const ids = [...new Set(rows.map((r) => r.patient_id).filter((x): x is number => x !== null))];
  const people = new Map<number, { identifier: string | null; name: string | null }>();
  for (const p of await patientNames(db, ids)) {
    const pick = p.identifiers.find((i) => i.type === 'PI') ?? p.identifiers[0];
    const family = p.used_name ?? p.birth_name;
    const name = [family, p.first_name].filter((x) => x).join(' ') || null;
    people.set(p.id, { identifier: pick ? `${pick.value}${pick.authority ? ` (${pick.authority})` : ''}` : null, name });
  }
  rows.forEach((r, i) => { out[i]!.patient = r.patient_id === null ? null : people.get(r.patient_id) ?? null; });
  return out;
}

/** A file waiting in a source's inbox (or SFTP staging folder). */
export interface WaitingFile extends InboxFile { source: string }

export interface PageData {
  status: Status;
  /** Inbox files not yet taken, with why (pending, still-changing, waiting-for-marker, in-progress, too-small, …). */
  inbox: WaitingFile[];
  messages: RecentMessage[];
}

/** Most pending files and messages the page lists. */
export const PAGE_LIMITS = { inbox: 200, messages: 100 } as const;

/** Everything the status page shows from the store and the inboxes. */
export async function readPage(db: Tx, config: ResolvedConfig, now: Date): Promise<PageData> {
  const status = await buildStatus(db, config, now);
  const claimed = await claimedNames(db);
  const inbox: WaitingFile[] = [];
  for (const src of config.sources) {
    for (const f of listInbox(src, now, claimed.get(src.name) ?? new Set())) inbox.push({ source: src.name, ...f });
  }
  const messages = await recentMessages(db, PAGE_LIMITS.messages, config.showIdentities);
  return { status, inbox: inbox.slice(0, PAGE_LIMITS.inbox), messages };
}

/**
 * Patient lookup by identifier value (any authority), then by INS when no identifier matches. Only called when
 * showIdentities is on (server.ts): with identities hidden the page says so without reading the store, so that it
 * does not even tell whether an identifier exists.
 */
export async function lookupPatient(db: Tx, value: string): Promise<PatientView[]> {
  const byId = await findPatients(db, { value });
  if (byId.length > 0) return byId;
  return findPatients(db, { ins: value });
}
