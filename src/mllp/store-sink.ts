/**
 * The store behind a listener: each MLLP message goes through the same reader (pam/reading.ts) and the store's own
 * processing of a message (store/apply-group.ts: duplicate rule, identity rules, ACK bytes, ledger row), as a
 * message of a file does, but in one transaction of its own,
 * and its ACK bytes are handed back only after that transaction committed durably (PostgreSQL: its synchronous
 * COMMIT; SQLite: an fsync of the `-wal` after the COMMIT, shared by the messages committed meanwhile,
 * store/sqlite/wal-sync.ts).
 *
 * - Idempotency is the file path's: a message resent with the same MSH-3/4/10 and bytes is answered with the ACK
 *   stored for it, byte for byte, and nothing is applied again.
 * - Order and isolation: on PostgreSQL each transaction takes the store-wide apply lock (store/locks.ts
 *   `serializeApply`), as every file group does, so messages of several connections and files never interleave
 *   their identity writes. On SQLite `watch` is the one writer (the writer lock) and its transactions share one
 *   connection: a message's transaction runs start to end without yielding to other work, and waits for any other
 *   transaction on that connection to end first.
 * - Ledger: one `files` row per connection (store/connections.ts), made with its first message. ACK names (the
 *   store's AckNamer port) are the names an ACK file of the connection would have; no ACK file is written.
 */
import { frameBuffer, type RawMessage } from '../hl7/batch.js';
import { SqliteTx, type Db } from '../store/tx.js';
import { WalSync } from '../store/sqlite/wal-sync.js';
import { closeConnectionRow, closeLeftoverConnections, keepReceived, openConnectionRow } from '../store/connections.js';
import type { FileRow } from '../store/ledger.js';
import { assertTxAlive, serializeApply } from '../store/locks.js';
import { applyGroup, type AckNamer } from '../store/apply-group.js';
import { messageItem } from '../pipeline/message.js';
import { AckNameSet } from '../pipeline/ack-names.js';
import { ackFileName, safeName } from '../pipeline/files.js';
import type { PipelineContext } from '../pipeline/context.js';
import type { ListenerConfig } from '../config/types.js';
import type { MessageMeta, MessageSink } from './listener.js';
import { refusalAck } from './refuse.js';

/** ACK names of one connection: `<connection id>.<MSH-10>.ack.hl7`, unique on the connection (no folder to check). */
class ConnectionAckNamer implements AckNamer {
  constructor(private readonly connection: string, private readonly used: Set<string>) {}
  name(controlId: string | null, index: number): string { return ackFileName(this.connection, controlId, index, this.used); }
  release(names: readonly string[]): void { for (const n of names) this.used.delete(n); }
}

interface Conn { file: FileRow | null; acks: ConnectionAckNamer; remote: string }

export class StoreSink implements MessageSink {
  private readonly conns = new Map<string, Conn>();
  /** SQLite: this sink's transactions one at a time (they share the store's one connection). */
  private chain: Promise<unknown> = Promise.resolve();
  /** Messages of this sink being handled now, every connection together. */
  private active = 0;
  /** SQLite in WAL mode: commits made durable by a shared fsync before their ACK (store/sqlite/wal-sync.ts). */
  private readonly wal: WalSync | null;

  constructor(private readonly ctx: Omit<PipelineContext, 'fence'>, private readonly listener: Pick<ListenerConfig, 'name' | 'maxMessageBytes'>) {
    this.wal = WalSync.of(ctx.db);
  }

  /** Closes the rows of connections an earlier process left open (call before the listener accepts connections). */
  async recover(): Promise<number> {
    return closeLeftoverConnections(this.ctx.db, this.listener.name, this.ctx.owner, this.ctx.clock.now().toISOString());
  }

  /** Registers a connection and its peer address (recorded as the path of its ledger row). */
  opened(meta: { connection: string }, remote: string): void {
    const used = new AckNameSet(`${safeName(meta.connection)}.`, '.ack.hl7');
    this.conns.set(meta.connection, { file: null, acks: new ConnectionAckNamer(meta.connection, used), remote });
  }

  async handle(bytes: Buffer, meta: MessageMeta): Promise<Buffer | null> {
    this.active++;
    try { return await this.apply(bytes, meta); } finally { this.active--; }
  }

  private async apply(bytes: Buffer, meta: MessageMeta): Promise<Buffer | null> {
    const items = [...frameBuffer(bytes, { maxMessageBytes: this.listener.maxMessageBytes })].filter((i) => i.kind === 'message');
    if (items.length !== 1) {
      // Not one message: answered AR from its header (not stored), or not at all.
      return this.refuse(bytes, items.length === 0 ? 'no HL7 message in the frame (no MSH segment)' : `${items.length} messages in one frame: one message per frame`, meta);
    }
    const raw: RawMessage = { ...(items[0] as { message: RawMessage }).message, index: meta.seq };
    const cfg = this.ctx.config;
    // The reading the file path makes (before the store, outside the transaction).
    const item = messageItem(raw, cfg);
    if (!this.conns.has(meta.connection)) this.opened(meta, '?');
    const c = this.conns.get(meta.connection)!;
    const run = () => this.ctx.db.transaction(async (tx) => {
      await serializeApply(tx);
      const file = c.file ?? await openConnectionRow(tx, { listener: meta.listener, connection: meta.connection, remote: c.remote, owner: this.ctx.owner, now: this.ctx.clock.now().toISOString() });
      const [r] = await applyGroup(tx, file, [item], {
        clock: this.ctx.clock, log: this.ctx.log, staleUpdates: cfg.staleUpdates, authorityAliases: cfg.pam.authorityAliases, self: cfg.self,
        acks: c.acks, pgGroupMode: cfg.pgGroupMode,
      });
      // No file to read it back from: the message as received, beside its ledger row (for `pamdrop evidence`).
      await keepReceived(tx, file.id, raw.index, raw.bytes);
      // PostgreSQL answers COMMIT in an aborted transaction with a ROLLBACK: prove it healthy before any ACK.
      await assertTxAlive(tx);
      return { file, ack: r!.ack };
    });
    const out = await this.exclusive(async () => {
      const restore = this.wal?.relax();
      try { return await run(); } finally { restore?.(); }
    });
    c.file = out.file; // only once committed: a rolled-back first message leaves no row to point at
    // The ACK only once the commit is durable (PostgreSQL: COMMIT returned; SQLite: the shared fsync of the -wal).
    // Alone: no other message to share an fsync with, so it runs at once (store/sqlite/wal-sync.ts).
    await this.wal?.durable(this.active === 1);
    return out.ack;
  }

  refuse(head: Buffer, reason: string, meta: MessageMeta): Buffer | null {
    return refusalAck(head, reason, meta, { ...this.ctx.config, maxMessageBytes: this.listener.maxMessageBytes }, this.ctx.clock.now());
  }

  async closed(meta: { connection: string }): Promise<void> {
    const c = this.conns.get(meta.connection);
    this.conns.delete(meta.connection);
    if (this.conns.size === 0) this.wal?.release();
    if (!c?.file) return;
    const id = c.file.id;
    await this.exclusive(() => closeConnectionRow(this.ctx.db, id, this.ctx.clock.now().toISOString()));
  }

  /** SQLite: one transaction at a time on the shared connection, never opened inside another's. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const db: Db = this.ctx.db;
    if (!(db instanceof SqliteTx)) return fn();
    const conn = db.conn;
    const next = this.chain.then(async () => {
      // Another transaction of this connection (a file group) is open across an await: wait for its end.
      while (conn.inTransaction) await new Promise((r) => setImmediate(r));
      return fn();
    });
    this.chain = next.catch(() => {});
    return next;
  }
}
