/**
 * `pamdrop evidence`: what a vendor deposits to prove a message was consumed (docs/evidence.md). For each message
 * chosen in the ledger: the inbound message as received (read back from the archived file at its byte offset, or for a
 * message received over MLLP from the bytes kept beside its ledger row; checked against the ledger's hash), its transport, the ACK sent (the ledger's exact bytes, with the structure check of
 * hl7/ack-check.ts), the history rows it wrote, and each record it touched **before and after** it.
 *
 * Nothing is re-run. The store keeps no snapshots: "after" is the record as stored now with every later history
 * row undone (each row holds its changes as before → after), and "before" is "after" with this message's own rows
 * undone. An INS erased by an A47 (docs/behaviour.md, PAM FR §4.4.3) reads `[INS supprimé]` in every state, as in
 * the history itself.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { frameBuffer, type RawMessage } from '../hl7/batch.js';
import { decodeMessage } from '../hl7/charset.js';
import { checkAck, decodeAck, type AckCheck } from '../hl7/ack-check.js';
import { inboundHeaderFor } from './ack-validate.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Tx } from '../store/tx.js';
import type { TraitsView } from '../store/patients.js';
import {
  evidenceMessages, historyOfMessage, historyOfRecord, receivedBytes, storedIdentity, type EvidenceHistoryRow, type EvidenceMessageRow,
  type EvidenceSelector, type StoredIdentity,
} from '../store/reads/evidence.js';

export interface IdentifierShown { value: string; authority: string; oid: string | null; type: string }
export interface InsShown { value: string; oid: string; kind: string }

/** A record's identity at one moment: the traits a patient view shows, every INS held, and PID-13 and the like. */
export interface IdentityState extends TraitsView {
  recordId: number;
  identifiers: IdentifierShown[];
  ins: InsShown[];
  other: Record<string, unknown>;
}

export interface FieldChangeShown { field: string; before: unknown; after: unknown }

export interface RecordEvidence {
  recordId: number;
  /** Null when the message created the record. */
  before: IdentityState | null;
  after: IdentityState | null;
  /** This message's history rows for the record. */
  history: Array<{ id: number; recordedAt: string; event: string; changes: FieldChangeShown[] }>;
}

export interface MessageEvidence {
  ledger: Omit<EvidenceMessageRow, 'ack'>;
  transport: {
    /** `file`: a dropped file; `mllp`: a connection of an MLLP listener (the ledger row of a connection has an `mllp://` path). */
    kind: 'file' | 'mllp';
    source: string; fileName: string; path: string; archivedPath: string | null; fileState: string; fileSha256: string;
    index: number; offset: number | null; line: number | null; reimportOf: number | null;
  };
  inbound: { text: string | null; charset: string | null; hashMatches: boolean | null; unavailable: string | null };
  /** The ledger's exact ACK bytes, their text and the structure check. */
  ack: { bytes: Buffer; text: string; name: string; check: AckCheck };
  records: RecordEvidence[];
}

const parse = <T>(text: string | null, fallback: T): T => {
  if (text === null || text === '') return fallback;
  try { return JSON.parse(text) as T; } catch { return fallback; }
};

const pickId = (ids: readonly IdentifierShown[]): IdentifierShown | null => ids.find((i) => i.type === 'PI') ?? ids[0] ?? null;

function stateOf(s: StoredIdentity, survivor: StoredIdentity | undefined): IdentityState {
  const st: IdentityState = {
    recordId: s.id,
    identifiers: s.identifiers.map((i) => ({ value: i.value, authority: i.authority, oid: i.oid, type: i.type })),
    ins: s.ins.map((i) => ({ value: i.value, oid: i.oid, kind: i.kind })),
    status: s.status, attributes: parse<string[]>(s.attributes, []), qualified: false,
    birthName: s.birth_name, firstName: s.first_name, birthGivenNames: s.birth_given_names, usedName: s.used_name,
    usedFirstName: s.used_first_name, birthDate: s.birth_date, sex: s.sex, birthPlace: s.birth_place,
    names: parse(s.names, {}), addresses: parse(s.addresses, {}), other: parse(s.other, {}),
    active: s.active === 1, mergedInto: survivor ? pickId(survivor.identifiers) : null,
  };
  return settle(st);
}

const settle = (s: IdentityState): IdentityState => ({ ...s, qualified: s.status === 'VALI' && s.ins.length > 0 });

const DIRECT = new Set(['birthName', 'firstName', 'birthGivenNames', 'usedName', 'usedFirstName', 'birthDate', 'sex', 'birthPlace', 'status']);
const sameId = (a: IdentifierShown, b: IdentifierShown) => a.value === b.value && a.authority === b.authority && a.type === b.type;

function insList(v: unknown): InsShown[] {
  if (v === null || v === undefined) return [];
  return (Array.isArray(v) ? v : [v]) as InsShown[];
}

/** The state before one recorded change: the change undone. */
function undo(s: IdentityState, c: FieldChangeShown): IdentityState {
  const out: IdentityState = { ...s, identifiers: [...s.identifiers], names: { ...s.names }, addresses: { ...s.addresses }, other: { ...s.other } };
  const f = c.field;
  if (DIRECT.has(f)) (out as unknown as Record<string, unknown>)[f] = c.before ?? null;
  else if (f === 'attributes') out.attributes = (c.before as string[] | null) ?? [];
  else if (f === 'ins') out.ins = insList(c.before);
  else if (f === 'active') out.active = c.before !== false;
  else if (f === 'mergedInto') out.mergedInto = (c.before as IdentifierShown | null) ?? null;
  else if (f === 'identifier') {
    if (c.after) out.identifiers = out.identifiers.filter((i) => !sameId(i, c.after as IdentifierShown));
    if (c.before && !out.identifiers.some((i) => sameId(i, c.before as IdentifierShown))) out.identifiers.push(c.before as IdentifierShown);
  } else if (f.startsWith('names.') || f.startsWith('addresses.')) {
    const [group, type] = [f.slice(0, f.indexOf('.')), f.slice(f.indexOf('.') + 1)] as ['names' | 'addresses', string];
    if (c.before === null || c.before === undefined) delete out[group][type];
    else out[group][type] = c.before;
  } else if (f === 'link' || f === 'mergedFrom') {
    // Links and the list of merged records are not part of the identity shown.
  } else if (c.before === null || c.before === undefined) delete out.other[f];
  else out.other[f] = c.before;
  return settle(out);
}

const undoRow = (s: IdentityState, h: EvidenceHistoryRow): IdentityState =>
  parse<FieldChangeShown[]>(h.changes, []).reduceRight((acc, c) => undo(acc, c), s);

/** Whether history row `h` was written after message `m` (ledger order; processing instant when its message row is gone). */
const later = (h: EvidenceHistoryRow, m: EvidenceMessageRow): boolean =>
  h.message_id !== null ? h.message_id > m.id : h.recorded_at > m.created_at;

async function recordEvidence(tx: Tx, m: EvidenceMessageRow, recordId: number, own: readonly EvidenceHistoryRow[]): Promise<RecordEvidence> {
  const stored = await storedIdentity(tx, recordId);
  const mine = own.filter((h) => h.patient_id === recordId);
  const history = mine.map((h) => ({ id: h.id, recordedAt: h.recorded_at, event: h.event, changes: parse<FieldChangeShown[]>(h.changes, []) }));
  if (!stored) return { recordId, before: null, after: null, history };
  const survivor = stored.merged_into !== null ? await storedIdentity(tx, stored.merged_into) : undefined;
  let state = stateOf(stored, survivor);
  const rows = await historyOfRecord(tx, recordId);
  const ownIds = new Set(mine.map((h) => h.id));
  for (const h of [...rows].reverse()) if (!ownIds.has(h.id) && later(h, m)) state = undoRow(state, h);
  const after = state;
  for (const h of [...mine].reverse()) state = undoRow(state, h);
  // The record's first history row is its creation: before it there was no record.
  const created = rows.length > 0 && ownIds.has(rows[0]!.id);
  return { recordId, before: created ? null : state, after, history };
}

const isMllp = (path: string): boolean => path.startsWith('mllp://');

/** The archived file's messages at the wanted positions, read once per file. */
function messagesOf(path: string, wanted: ReadonlySet<number>, maxMessageBytes: number): Map<number, RawMessage> {
  const out = new Map<number, RawMessage>();
  for (const item of frameBuffer(readFileSync(path), { maxMessageBytes })) {
    if (item.kind === 'message' && wanted.has(item.message.index)) out.set(item.message.index, item.message);
  }
  return out;
}

/**
 * The messages of a connection's rows, from the bytes kept as received (store/connections.ts `keepReceived`).
 * Rows written before those were kept have none: the page says the message is not available.
 */
async function receivedOf(tx: Tx, rows: readonly EvidenceMessageRow[]): Promise<Map<number, RawMessage>> {
  const kept = await receivedBytes(tx, rows.map((r) => r.id));
  const out = new Map<number, RawMessage>();
  for (const r of rows) {
    const bytes = kept.get(r.id);
    if (bytes) out.set(r.idx, { index: r.idx, line: 1, offset: 0, bytes });
  }
  return out;
}

/** Evidence of every message the selector names, oldest first. */
export async function gatherEvidence(tx: Tx, sel: EvidenceSelector, config: Pick<ResolvedConfig, 'charset' | 'maxMessageBytes' | 'pam'>): Promise<MessageEvidence[]> {
  const rows = await evidenceMessages(tx, sel);
  const byFile = new Map<number, Set<number>>();
  for (const r of rows) byFile.set(r.file_id, (byFile.get(r.file_id) ?? new Set()).add(r.idx));
  const raw = new Map<number, Map<number, RawMessage> | string>();
  for (const r of rows) {
    if (raw.has(r.file_id)) continue;
    // A file not archived yet (still claimed) is read where it was taken from: the ledger's hash tells if it changed.
    const p = [r.file_archived_path, r.file_path].find((x): x is string => !!x && !isMllp(x) && existsSync(x));
    if (isMllp(r.file_path)) raw.set(r.file_id, await receivedOf(tx, rows.filter((x) => x.file_id === r.file_id)));
    else if (r.file_pruned_at) raw.set(r.file_id, `the archived file was removed by retention (pamdrop prune, ${r.file_pruned_at}): the ledger holds the message's SHA-256 and its ACK only`);
    else if (!p) raw.set(r.file_id, `the archived file is not available${r.file_archived_path ? ` (${r.file_archived_path})` : ''}`);
    else raw.set(r.file_id, messagesOf(p, byFile.get(r.file_id)!, config.maxMessageBytes));
  }
  const opts = { defaultCharset: config.charset.default, latin1AsCp1252: config.charset.latin1AsCp1252 };
  const out: MessageEvidence[] = [];
  for (const r of rows) {
    const found = raw.get(r.file_id)!;
    const msg = typeof found === 'string' ? undefined : found.get(r.idx);
    const inbound: MessageEvidence['inbound'] = { text: null, charset: null, hashMatches: null, unavailable: typeof found === 'string' ? found : null };
    if (msg) {
      inbound.hashMatches = createHash('sha256').update(msg.bytes).digest('hex') === r.content_sha256;
      try {
        const d = decodeMessage(msg.bytes, opts);
        inbound.text = d.text;
        inbound.charset = d.charset;
      } catch {
        inbound.text = msg.bytes.toString('latin1');
        inbound.charset = 'bytes shown as ISO-8859-1 (not valid in the declared charset)';
      }
    } else if (!inbound.unavailable) {
      inbound.unavailable = isMllp(r.file_path)
        ? 'received over MLLP, its bytes not kept (received before pamdrop kept them, or removed by retention): the ledger holds the message\'s SHA-256 and its ACK only'
        : `message ${r.idx + 1} not found in the archived file`;
    }
    const header = msg ? inboundHeaderFor(msg, config) : null;
    const ackText = decodeAck(r.ack, config.charset.default);
    const check = checkAck(ackText.text, header);
    if (ackText.problem) check.problems.unshift(ackText.problem);
    const own = r.status === 'applied' ? await historyOfMessage(tx, r) : [];
    const ids = [...new Set([...(r.patient_id !== null ? [r.patient_id] : []), ...own.map((h) => h.patient_id)])];
    const records: RecordEvidence[] = [];
    for (const id of ids) records.push(await recordEvidence(tx, r, id, own));
    const { ack: _ack, ...ledger } = r;
    const mllp = isMllp(r.file_path);
    out.push({
      ledger,
      transport: {
        kind: mllp ? 'mllp' : 'file',
        source: r.file_source, fileName: r.file_name, path: r.file_path, archivedPath: r.file_archived_path, fileState: r.file_state,
        fileSha256: r.file_sha256, index: r.idx, offset: mllp ? null : msg?.offset ?? null, line: mllp ? null : msg?.line ?? null, reimportOf: r.file_reimport_of,
      },
      inbound,
      ack: { bytes: r.ack, text: ackText.text, name: r.ack_name, check },
      records,
    });
  }
  return out;
}
