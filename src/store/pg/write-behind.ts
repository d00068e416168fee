/**
 * Write-behind for PostgreSQL's unit of work: writes whose result is not needed are queued as structured statements
 * (sql/writes.ts), rendered with escaped literals, and sent later, in order per table, as one multi-statement simple
 * query (one round trip, not awaited: the database works while the next messages are processed). Consecutive INSERTs
 * of the same shape are merged into one multi-row INSERT from their structure, never from their text.
 *
 * Any failure (a write refused, a check that does not hold, a query error) marks the attempt failed: every later call
 * throws GroupFailed, and the group is redone message by message (group.ts).
 */
import { pgStatement, type PgConnection, type Row } from '../tx.js';
import type { Table, Write } from '../sql/writes.js';

/**
 * The group attempt cannot be trusted any more: it is rolled back and redone statement by statement. The original
 * error is `reason`, not `cause`: it is not this message's error, so the message must not be retried for it
 * (retry.ts follows `cause`); the redo meets the error again, in its own savepoint, if it is real.
 */
export class GroupFailed extends Error {
  override readonly name = 'GroupFailed';
  constructor(readonly reason: unknown) { super(`group attempt abandoned: ${(reason as Error)?.message ?? String(reason)}`); }
}

/** A statement's answer, checked once it ran; false fails the attempt. */
export type Check = (r: { rows: Row[]; rowCount: number }) => boolean;

class NotFormattable extends Error {}

/** A bound value as an SQL literal: escaped text (an untyped literal, typed by its column like a parameter), bytea hex, NULL. */
function literal(v: unknown, escapeLiteral: (s: string) => string): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? "'1'" : "'0'";
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new NotFormattable('number');
    return `'${v}'`;
  }
  if (typeof v === 'bigint') return `'${v}'`;
  if (typeof v === 'string') {
    // A NUL cannot be sent inside a query text (it would end it): such a statement runs as a prepared one.
    if (v.includes('\u0000')) throw new NotFormattable('NUL');
    // Without a quote or a backslash, escapeLiteral's answer is the text between quotes.
    return /['\\]/.test(v) ? escapeLiteral(v) : `'${v}'`;
  }
  if (Buffer.isBuffer(v)) return `'\\x${v.toString('hex')}'::bytea`;
  throw new NotFormattable(typeof v);
}

/** Placeholder texts split at their `?` (the writes' texts hold `?` only as placeholders). */
const templates = new Map<string, string[]>();
function inline(sql: string, params: readonly unknown[], escapeLiteral: (s: string) => string): string {
  let parts = templates.get(sql);
  if (!parts) templates.set(sql, (parts = sql.split('?')));
  const n = parts.length - 1;
  if (params.length !== n) throw new NotFormattable('arity');
  let out = parts[0]!;
  for (let i = 0; i < n; i++) out += literal(params[i], escapeLiteral) + parts[i + 1]!;
  return out;
}

interface Pending {
  /** The whole statement; for an INSERT also its VALUES rows alone (merging) and their count. */
  text: string; table: Table | null; head: string | null; tail: string; values: string | null; rows: number;
  check?: Check;
}
interface Sent { parts: Array<{ p: Pending; rows: number }> }

/**
 * Order in which the tables' queued statements run in one round trip. Each table keeps its own statements in their
 * original order, so every sequence is drawn in the same order and a later statement on a row sees the earlier ones;
 * across tables the only dependencies are foreign keys to patients (inserted first), and no queued statement deletes
 * a patient. A batch with any other statement (the registry's) runs in its original order.
 */
const TABLE_ORDER: readonly Table[] = ['patients', 'identifiers', 'ins', 'links', 'history', 'messages'];

/**
 * The batch as statements: per table in TABLE_ORDER, consecutive INSERTs of the same shape merged into one; the
 * group's RELEASE (a control statement) last. The text is joined once from its pieces (the VALUES rows are ~2 MB per
 * group: joining them per statement, then the statements, copied them twice).
 */
function plan(batch: readonly Pending[]): { sent: Sent[]; text: string } {
  const tail: Pending[] = [];
  const byTable = new Map<Table, Pending[]>(TABLE_ORDER.map((t) => [t, []]));
  for (const p of batch) {
    const list = p.table ? byTable.get(p.table) : undefined;
    if (list) list.push(p);
    else if (p.table === null && p === batch[batch.length - 1]) tail.push(p);
    else return { sent: batch.map((x) => ({ parts: [{ p: x, rows: x.rows }] })), text: batch.map((x) => x.text).join(';\n') };
  }
  const out: Sent[] = [];
  const pieces: string[] = [];
  const statement = (...xs: string[]) => { if (pieces.length > 0) pieces.push(';\n'); pieces.push(...xs); };
  for (const t of TABLE_ORDER) {
    let cur: { sent: Sent; head: string; tail: string } | null = null;
    const close = () => { if (cur) { pieces.push(cur.tail); out.push(cur.sent); cur = null; } };
    for (const p of byTable.get(t)!) {
      if (p.head !== null && p.values !== null) {
        const c = cur as { sent: Sent; head: string; tail: string } | null;
        if (c && c.head === p.head && c.tail === p.tail) {
          pieces.push(', ', p.values);
          c.sent.parts.push({ p, rows: p.rows });
          continue;
        }
        close();
        cur = { sent: { parts: [{ p, rows: p.rows }] }, head: p.head, tail: p.tail };
        statement(p.head, p.values);
        continue;
      }
      close();
      statement(p.text);
      out.push({ parts: [{ p, rows: 1 }] });
    }
    close();
  }
  for (const p of tail) { statement(p.text); out.push({ parts: [{ p, rows: 1 }] }); }
  return { sent: out, text: pieces.join('') };
}

type PgResult = { rows?: Row[]; rowCount?: number | null };

/**
 * One batch is in flight at a time (node-postgres runs one query at a time per client). When none is, the queue is
 * sent as soon as it holds EAGER_STATEMENTS, so PostgreSQL works while the next messages are processed; while one is
 * in flight the queue grows and is sent when that batch's answer is read. Past MAX_QUEUED the messages wait.
 */
const EAGER_STATEMENTS = 100;
const MAX_QUEUED = 1600;
/** The message loop lets the event loop run (read a batch's answer, send the next) at least this often (ms). */
const YIELD_MS = 1;

export class WriteBehind {
  private queue: Pending[] = [];
  /** The batch in flight, settled (never rejected) when its answer was read and checked. */
  private running: Promise<void> | null = null;
  private lastYield = 0;
  /** Set once the attempt must be abandoned; every later call throws it. */
  failure: GroupFailed | null = null;
  /**
   * Per open atomic step (innermost last): where its writes begin in the queue, and whether any write of it has left
   * the process (sent in a batch, or run directly). Only a step none of whose writes left can be undone here.
   */
  private readonly marks: number[] = [];
  private readonly sent: boolean[] = [];
  /** Time spent waiting for batches (trace). */
  waitedMs = 0;
  /** node-postgres's own escaping (Client#escapeLiteral: quotes doubled, E'' with backslashes doubled when needed). */
  readonly escapeLiteral: (s: string) => string;

  constructor(private readonly conn: PgConnection & { escapeLiteral?: (s: string) => string }) {
    if (typeof conn.escapeLiteral !== 'function') throw new Error('PostgreSQL client without escapeLiteral');
    this.escapeLiteral = conn.escapeLiteral.bind(conn);
  }

  fail(err: unknown): GroupFailed {
    if (!this.failure) this.failure = err instanceof GroupFailed ? err : new GroupFailed(err);
    return this.failure;
  }
  guard(): void { if (this.failure) throw this.failure; }

  /** A query on the connection now (reads, the prefetch); its failure fails the attempt. */
  async query(config: string | { name?: string; text: string; values?: unknown[] }): Promise<PgResult | PgResult[]> {
    try {
      return await this.conn.query(config) as PgResult | PgResult[];
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Runs a statement now, after every queued write (a read, or a write whose answer is needed). */
  async now(sql: string, params: readonly unknown[], writes: boolean): Promise<{ rows: Row[]; rowCount: number }> {
    this.guard();
    // A write run now belongs to every open step: none of them can be undone here any more.
    if (writes) this.sent.fill(true);
    const t = performance.now();
    await this.sync();
    this.waitedMs += performance.now() - t;
    const st = pgStatement(sql);
    const values = params.map((p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : p));
    let res: PgResult | PgResult[];
    try {
      res = await this.conn.query(st ? { name: st.name, text: st.text, values } : { text: sql, values });
    } catch (err) {
      if (err instanceof Error && st) err.message = `${st.text} - ${err.message}`;
      throw this.fail(err);
    }
    const r = Array.isArray(res) ? res[res.length - 1]! : res;
    return { rows: r.rows ?? [], rowCount: r.rowCount ?? 0 };
  }

  /** Queues a write; `check` is given its answer once it ran. A write that cannot be rendered as literals runs now. */
  async push(w: Write, check?: Check): Promise<void> {
    this.guard();
    let p: Pending;
    try {
      if (w.insert) {
        const values = inline(w.insert.rows, w.params, this.escapeLiteral);
        p = { text: w.insert.head + values + w.insert.tail, table: w.table, head: w.insert.head, tail: w.insert.tail, values, rows: w.insert.count };
      } else {
        p = { text: inline(w.sql, w.params, this.escapeLiteral), table: w.table, head: null, tail: '', values: null, rows: 1 };
      }
    } catch (err) {
      if (!(err instanceof NotFormattable)) throw err;
      const r = await this.now(w.sql, w.params, true);
      if (check && !check(r)) throw this.fail(new Error('group write check failed'));
      return;
    }
    if (check) p.check = check;
    this.queue.push(p);
    if (this.running) {
      if (this.queue.length >= MAX_QUEUED) { await this.waitRunning(); this.send(); }
    } else if (this.queue.length >= EAGER_STATEMENTS) this.send();
  }

  /** Queues a control statement (no table), sent after every write of its batch. */
  pushControl(text: string): void {
    this.queue.push({ text, table: null, head: null, tail: '', values: null, rows: 1 });
  }

  // --- atomic steps ---
  /** Opens a step; returns its level. */
  open(): number {
    this.marks.push(this.queue.length);
    this.sent.push(false);
    return this.marks.length - 1;
  }
  /** Closes the step at `level`; `undo`: drops its queued writes, or answers false when some already left. */
  close(level: number, undo: boolean): boolean {
    const undoable = !this.failure && !this.sent[level];
    if (undo && undoable) this.queue.length = this.marks[level]!;
    this.marks.length = level;
    this.sent.length = level;
    return !undo || undoable;
  }

  /** Sends the queue as one round trip, not awaited, unless a batch is in flight (its answer sends it). */
  private send(): void {
    if (this.running || this.queue.length === 0 || this.failure) return;
    const batch = this.queue;
    this.queue = [];
    for (let i = 0; i < this.marks.length; i++) {
      if (batch.length > this.marks[i]!) this.sent[i] = true;
      this.marks[i] = 0;
    }
    const { sent, text } = plan(batch);
    this.running = this.query(text).then((res) => {
      const list = Array.isArray(res) ? res : [res];
      if (list.length !== sent.length) throw this.fail(new Error(`group write-behind: ${list.length} results for ${sent.length} statements`));
      sent.forEach((x, i) => {
        const r = list[i]!;
        let row = 0;
        for (const { p: part, rows } of x.parts) {
          // A merged INSERT … RETURNING answers its rows in VALUES order: each part gets its own.
          const mine = x.parts.length === 1 ? { rows: r.rows ?? [], rowCount: r.rowCount ?? 0 } : { rows: (r.rows ?? []).slice(row, row + rows), rowCount: rows };
          row += rows;
          if (part.check && !part.check(mine)) throw this.fail(new Error(`group write-behind check failed: ${part.text.slice(0, 60)}`));
        }
      });
    }).then(() => {
      this.running = null;
      // What was queued meanwhile goes at once: the connection is free again.
      if (this.queue.length >= EAGER_STATEMENTS) this.send();
    }, (err: unknown) => {
      this.running = null;
      this.fail(err);
    });
  }
  private async waitRunning(): Promise<void> {
    if (this.running) await this.running;
    this.guard();
  }
  /**
   * Sends the queue and waits for all of it: the database then holds everything written so far, every answer read and
   * checked. A batch's answer may send the next one at once, so the loop ends only when neither is left (returning on
   * an empty queue alone let the group commit while its last batch was in flight: a failure there went unseen, and
   * PostgreSQL answers COMMIT in an aborted transaction with a silent ROLLBACK).
   */
  async sync(): Promise<void> {
    for (;;) {
      await this.waitRunning();
      if (this.running) continue;
      if (this.queue.length === 0) return;
      this.send();
    }
  }
  /** Between messages: while a batch is in flight, lets the event loop run now and then so its answer is read. */
  async between(): Promise<void> {
    if (!this.running) return;
    const now = performance.now();
    if (now - this.lastYield < YIELD_MS) return;
    this.lastYield = now;
    await new Promise<void>((r) => setImmediate(r));
  }
  /** Drops the queue and waits for the batch in flight (abandoning the attempt). */
  async drain(): Promise<void> {
    this.queue = [];
    while (this.running) await this.running;
  }
  /** Whether anything is still queued or in flight. */
  get pending(): boolean { return this.running !== null || this.queue.length > 0; }
}
