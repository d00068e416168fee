/**
 * `pamdrop preview`, `import --dry-run`, `reimport --dry-run`: what files would do to the store, message by
 * message — the outcome each would get (AA/AE/AR, with every ERR of its ACK) and the identity changes (created,
 * updated fields, merged, identifier changed, INS added/removed) — without writing anything.
 *
 * How: each file is copied to a private temporary folder and run through the real pipeline (processFile) inside
 * one transaction rolled back at the end (sandbox.ts). Inside that transaction the ledger rows and history rows
 * the pipeline wrote are read back: the message rows give outcomes and exact ACKs, the history rows (which message
 * changed what, before → after) give the identity changes. Several files are previewed in order in the same
 * transaction, so the second file sees what the first one would have done (as `import` would).
 * The original files, the ACK folders, the archive and the store are untouched.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import type { Db, Tx } from '../store/tx.js';
import { processFile } from '../pipeline/process-file.js';
import { makeOwner, messagesOfFile, emptySummary, type FileSummary, type MessageStatus } from '../store/ledger.js';
import { listIdentifiers, type FieldChange, type IdentifierView } from '../store/identity.js';
import { historyAfter, maxRowId, type HistoryChange } from '../store/reads/history.js';
import { readAck, type AckFinding } from './ack-read.js';
import { txAsDb, withRollback } from './sandbox.js';

/** Source name of the ledger rows a dry run writes (and rolls back): never a valid configured source name. */
export const DRY_RUN_SOURCE = '~dry-run';

/** What kind of change a message makes to one record (derived from its history row). */
export type ChangeKind =
  | 'created' | 'updated' | 'merged' | 'retired' | 'identifier-added' | 'identifier-changed' | 'identifier-removed'
  | 'ins-added' | 'ins-removed' | 'ins-replaced' | 'linked' | 'unlinked';

/** The changes one message makes to one patient record. */
export interface PatientChange {
  /** An identifier of the record (its first PI, else its first identifier) after the message. */
  patient: IdentifierView | null;
  kinds: ChangeKind[];
  /** Field by field, before → after, as the history table would record them. */
  changes: FieldChange[];
}

/** One message of a previewed file. */
export interface MessagePreview {
  /** 1-based position in the file. */
  position: number;
  controlId: string | null;
  event: string | null;
  outcome: 'AA' | 'AE' | 'AR';
  /** applied · stale (skipped, older than the record) · duplicate (ACK replayed) · rejected · conflict (same MSH-10, other content). */
  status: MessageStatus;
  /** Every ERR of the ACK the message would get (errors and warnings). */
  findings: AckFinding[];
  /** Records the message would change (empty when nothing would change). */
  patients: PatientChange[];
}

/** One previewed file. */
export interface FilePreview {
  file: string;
  /** 'quarantined': the envelope is broken and the whole file would go to the error folder, nothing applied. */
  state: 'done' | 'quarantined';
  reason: string | null;
  summary: FileSummary;
  messages: MessagePreview[];
}

export interface PreviewContext {
  db: Db;
  config: ResolvedConfig;
  log: Logger;
  clock: Clock;
}

export interface PreviewOptions {
  /** Reimport dry run: which originals give way (FileJob.supersede). */
  supersede?: 'failed' | 'all';
  /** Reimport dry run: the ledger id the reimport would link to. */
  reimportOf?: number | null;
}

/** A file to preview: its path, or its path and the name the ledger knows it by (reimport of an archived copy). */
export type PreviewInput = string | { path: string; name: string };

/** Kinds of change of one history row. */
export function classifyChanges(changes: readonly FieldChange[], created: boolean): ChangeKind[] {
  const kinds = new Set<ChangeKind>();
  if (created) kinds.add('created');
  for (const c of changes) {
    switch (c.field) {
      case 'identifier':
        if (!created) kinds.add(c.before && c.after ? 'identifier-changed' : c.after ? 'identifier-added' : 'identifier-removed');
        break;
      case 'ins':
        kinds.add(c.before === null ? 'ins-added' : c.after === null ? 'ins-removed' : 'ins-replaced');
        break;
      case 'active':
        if (c.after === false) kinds.add('retired');
        break;
      case 'mergedInto':
        break;
      case 'mergedFrom':
        kinds.add('merged');
        break;
      case 'link':
        kinds.add(c.before === null ? 'linked' : 'unlinked');
        break;
      default:
        if (!created) kinds.add('updated');
    }
  }
  return [...kinds];
}

async function representative(tx: Tx, patientId: number): Promise<IdentifierView | null> {
  const ids = await listIdentifiers(tx, patientId);
  const pick = ids.find((i) => i.type === 'PI') ?? ids[0];
  return pick ? { value: pick.value, authority: pick.authority, oid: pick.oid, type: pick.type } : null;
}

const sameIdentifier = (a: IdentifierView, b: IdentifierView): boolean =>
  a.value === b.value && a.type === b.type && a.authority === b.authority && (a.oid ?? null) === (b.oid ?? null);

/** Runs one file through the pipeline inside `tx` and reads back what it did. */
async function previewOne(tx: Tx, db: Db, input: PreviewInput, work: string, ctx: PreviewContext, opts: PreviewOptions): Promise<FilePreview> {
  const path = typeof input === 'string' ? input : input.path;
  const name = typeof input === 'string' ? basename(path) : input.name;
  mkdirSync(join(work, 'in'), { recursive: true });
  const copy = join(work, 'in', name);
  copyFileSync(path, copy);
  const historyMark = await maxRowId(tx, 'history');
  const patientMark = await maxRowId(tx, 'patients');
  const report = await processFile({
    source: DRY_RUN_SOURCE, path: copy, name,
    ackDir: join(work, 'ack'), archiveDir: join(work, 'archive'), errorDir: join(work, 'error'),
    reimportOf: opts.reimportOf ?? null, supersede: opts.supersede,
  }, { db: txAsDb(tx, db), config: ctx.config, log: ctx.log.child({ dryRun: true }), clock: ctx.clock, owner: makeOwner('dry-run') });

  const rows = report.fileId !== null ? await messagesOfFile(tx, report.fileId) : [];
  // History rows written by this file, attached to their message by the idempotency key (one applied row per key).
  const history = await historyAfter(tx, historyMark);
  const byKey = new Map<string, HistoryChange[]>();
  for (const h of history) {
    const k = `${h.sending_app}\u0000${h.sending_facility}\u0000${h.control_id}`;
    const list = byKey.get(k);
    if (list) list.push(h); else byKey.set(k, [h]);
  }
  // The first history row of a record created during this dry run is its creation (processing order, which is
  // not file order with `order: "timestamp"`).
  const firstRow = new Map<number, number>();
  for (const h of history) if (!firstRow.has(Number(h.patient_id))) firstRow.set(Number(h.patient_id), Number(h.id));
  // Each change is labelled with the record's identifier as it stood right after that message: the final one,
  // walked back through later identifier changes (an A47 later in the file renames the record).
  const labelAt = new Map<number, IdentifierView | null>();
  const current = new Map<number, IdentifierView | null>();
  for (let i = history.length - 1; i >= 0; i--) {
    const h = history[i]!;
    const pid = Number(h.patient_id);
    if (!current.has(pid)) current.set(pid, await representative(tx, pid));
    labelAt.set(Number(h.id), current.get(pid) ?? null);
    for (const c of JSON.parse(h.changes) as FieldChange[]) {
      const cur = current.get(pid);
      if (c.field === 'identifier' && c.before && c.after && cur && sameIdentifier(c.after as IdentifierView, cur)) current.set(pid, c.before as IdentifierView);
    }
  }
  const messages: MessagePreview[] = [];
  for (const m of rows) {
    const patients: PatientChange[] = [];
    if (m.status === 'applied' && m.control_id !== null) {
      for (const h of byKey.get(`${m.sending_app}\u0000${m.sending_facility}\u0000${m.control_id}`) ?? []) {
        const pid = Number(h.patient_id);
        const changes = JSON.parse(h.changes) as FieldChange[];
        const created = pid > patientMark && firstRow.get(pid) === Number(h.id);
        patients.push({ patient: labelAt.get(Number(h.id)) ?? null, kinds: classifyChanges(changes, created), changes });
      }
    }
    messages.push({
      position: Number(m.idx) + 1, controlId: m.control_id, event: m.event, outcome: m.outcome, status: m.status,
      findings: readAck(Buffer.from(m.ack)).findings, patients,
    });
  }
  return { file: name, state: report.state, reason: report.reason, summary: report.summary ?? emptySummary(), messages };
}

/**
 * Previews files in order (each sees the effects the previous ones would have). Nothing is committed and nothing
 * outside a private temporary folder is written; that folder is removed before returning.
 */
export async function previewFiles(paths: readonly PreviewInput[], ctx: PreviewContext, opts: PreviewOptions = {}): Promise<FilePreview[]> {
  const work = mkdtempSync(join(tmpdir(), 'pamdrop-dry-run-'));
  try {
    return await withRollback(ctx.db, async (tx) => {
      const out: FilePreview[] = [];
      for (let i = 0; i < paths.length; i++) out.push(await previewOne(tx, ctx.db, paths[i]!, join(work, String(i)), ctx, opts));
      return out;
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
