/**
 * The store's entry point for the import: one group of messages, read by the pipeline, applied inside the
 * transaction the pipeline opened, with one result (ACK name and bytes, ledger status, outcome) per message.
 *
 * On PostgreSQL in `batched` mode (the default) the group runs as one unit of work (pg/group.ts) and is redone
 * message by message if that attempt fails; otherwise every message runs in a savepoint of its own (message.ts).
 */
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import type { AuthorityAliases } from '../pam/authority.js';
import { processGuarded, type MessageContext, type MessageItem, type MessageResult } from './message.js';
import type { AckNamer } from './ports.js';
import type { FileRow } from './ledger.js';
import { SqlMessageStore } from './sql/message-store.js';
import { KnexTx, type Tx } from './tx.js';
import { runBatched } from './pg/group.js';

export type { MessageItem, MessageResult } from './message.js';
export type { AckNamer } from './ports.js';
export { Gate } from './pg/group.js';

export type PgGroupMode = 'batched' | 'per-message';

/** What one message needs (message.ts), less the file, plus how the group runs. */
export interface ApplyGroupOptions extends Omit<MessageContext, 'file'> {
  pgGroupMode: PgGroupMode;
  /** A group opened ahead (groupsOverlap): apply nothing before `wait` resolves; call `locked` once the apply lock is held. */
  gate?: { wait: Promise<void>; locked: () => void };
}

/**
 * Whether the import may open a group's transaction before the previous group's has committed (PostgreSQL, batched):
 * that transaction begins, takes the apply lock and prefetches (the lock waits for the previous COMMIT, so it reads
 * what that group wrote), then waits for its gate before it applies anything. It must be opened only once the
 * previous group holds the lock (`locked`), or it could take the lock first and wait for its gate while the previous
 * group waits for the lock.
 */
export function groupsOverlap(db: Tx, mode: PgGroupMode): boolean {
  return mode === 'batched' && db.dialect === 'pg' && db instanceof KnexTx;
}

/**
 * Applies one group of messages in the open transaction `tx`; one result per item, in order. `items` may be read
 * lazily (a generator): message by message, each reading is then garbage once its message is done, instead of a whole
 * group of parsed messages living at once; the batched PostgreSQL attempt needs them all first (its prefetch).
 */
export async function applyGroup(tx: Tx, file: FileRow, items: Iterable<MessageItem>, opts: ApplyGroupOptions): Promise<MessageResult[]> {
  const ctx: MessageContext = {
    file, clock: opts.clock, log: opts.log, staleUpdates: opts.staleUpdates, authorityAliases: opts.authorityAliases,
    self: opts.self, acks: opts.acks, ...(opts.supersede ? { supersede: opts.supersede } : {}),
  };
  const { gate } = opts;
  const batched = opts.pgGroupMode === 'batched' && tx instanceof KnexTx && tx.dialect === 'pg';
  const list = batched ? [...items] : null;
  const conn = list && list.length > 1 ? await (tx as KnexTx).pgConnection() : null;
  if (conn && list) {
    const out = await runBatched(conn, list, ctx, opts.log, gate);
    if (out) return out;
  }
  // Without a batched attempt nothing is read before the gate opens (a fence took its lock before this call).
  if (gate) { gate.locked(); await gate.wait; }
  const store = SqlMessageStore.forGroup(tx);
  const out: MessageResult[] = [];
  for (const item of list ?? items) out.push(await processGuarded(store, item, ctx));
  return out;
}
