/**
 * PostgreSQL's batched group: a group of messages (one transaction, groupSize messages) in a handful of round trips
 * instead of ~8 per message (BENCHMARKS.md "PostgreSQL"). Every statement on PostgreSQL is a loopback round trip,
 * and node-postgres cannot pipeline prepared statements, so the group runs optimistically on a unit of work
 * (unit-of-work.ts): the store-wide apply lock, a savepoint of the group's own and the prefetch (prefetch.ts), then
 * every message with its writes queued behind (write-behind.ts), then the queue and the RELEASE.
 *
 * The attempt fails on anything the unit of work cannot undo by itself (a write the database refuses, a wrong
 * predicted id, a message failing after its writes were sent): it is rolled back to its savepoint, the ACK names it
 * took are given back, and the caller redoes the group message by message with real savepoints, so a failing message
 * still rolls back alone and gets its AE while the others commit. Row ids are the same as statement by statement,
 * except after such a redo (sequence values the abandoned attempt drew are not given back, as for any rollback).
 */
import type { Logger } from '../../shared/logger.js';
import { processMessage, type MessageContext, type MessageItem, type MessageResult } from '../message.js';
import type { AckNamer } from '../ports.js';
import type { PgConnection } from '../tx.js';
import { prefetch, prefetchKeys, SQL_PATIENT_SEQUENCE } from './prefetch.js';
import { PgUnitOfWork } from './unit-of-work.js';
import { GroupFailed, WriteBehind } from './write-behind.js';

/** Key of the transaction-scoped advisory lock serialising group transactions (lease.ts APPLY_LOCK_KEY, 'pamd'). */
const APPLY_LOCK_KEY = 0x70616d64;

let groupSeq = 0;

/**
 * The gate of a group opened ahead: `wait` is opened (resolved) or closed (rejected) once, from outside; `hasLock`
 * resolves when applyGroup holds the apply lock (or reads nothing before the gate).
 */
export class Gate {
  readonly wait: Promise<void>;
  readonly hasLock: Promise<void>;
  readonly locked: () => void;
  private settle!: (err?: unknown) => void;
  constructor() {
    this.wait = new Promise<void>((resolve, reject) => { this.settle = (err) => (err === undefined ? resolve() : reject(err)); });
    this.wait.catch(() => {}); // observed by applyGroup; never an unhandled rejection
    let locked!: () => void;
    this.hasLock = new Promise<void>((resolve) => { locked = resolve; });
    this.locked = locked;
  }
  open(): void { this.settle(); }
  close(err: unknown): void { this.settle(err ?? new Error('gate closed')); }
}

/** The ACK names an attempt took, given back when it is abandoned. */
class AttemptNames implements AckNamer {
  readonly taken: string[] = [];
  constructor(private readonly base: AckNamer) {}
  name(controlId: string | null, index: number, ack: Buffer): string {
    const n = this.base.name(controlId, index, ack);
    this.taken.push(n);
    return n;
  }
  release(names: readonly string[]): void { this.base.release(names); }
}

/**
 * Runs the group as one batched attempt on the transaction's connection. Resolves to the results, or to null when
 * the attempt was abandoned (rolled back to its savepoint: the transaction is usable, the caller redoes the group).
 * Throws, with the transaction unusable, when the first round trip failed before its savepoint existed.
 */
export async function runBatched(conn: PgConnection, items: readonly MessageItem[], ctx: MessageContext, log: Logger,
  gate?: { wait: Promise<void>; locked: () => void }): Promise<MessageResult[] | null> {
  const wb = new WriteBehind(conn);
  const uow = new PgUnitOfWork(wb);
  const names = new AttemptNames(ctx.acks);
  const savepoint = `pamdrop_grp${++groupSeq}`;
  let started = false;
  const t0 = performance.now();
  const out: MessageResult[] = [];
  try {
    // The store-wide apply lock (lease.ts takes it too when fencing; it is re-entrant): no other instance writes
    // identities until COMMIT, so what is read now stays true for the whole group. No JIT for this transaction (SET
    // LOCAL; before the savepoint, so a redo keeps it): the prefetch's nested loops are estimated from default
    // statistics on a store not yet analysed, and compiling them took ~150 ms per group for a query of ~5 ms.
    // Two round trips in all: the lock, the savepoint and every read that depends on nothing, then the reads that
    // need the owners found by the first. Set before the first: a failure after its SAVEPOINT still rolls back to it.
    started = true;
    let seq: { name: string | null; inc: string } | undefined;
    await prefetch(uow.model, prefetchKeys(items), wb.escapeLiteral, async (reads, first) => {
      const head = first ? ['SET LOCAL jit = off', `SELECT pg_advisory_xact_lock(${APPLY_LOCK_KEY})`, `SAVEPOINT ${savepoint}`] : [];
      // The sequence's state as nextval() reads it: its name first, then last_value and whether it was drawn.
      const tail = first ? [SQL_PATIENT_SEQUENCE] : seq?.name ? [`SELECT last_value AS last, is_called AS called FROM ${seq.name}`] : [];
      const all = [...head, ...reads, ...tail];
      if (all.length === 0) return [];
      const res = await wb.query(all.join(';\n'));
      const list = (Array.isArray(res) ? res : [res]).map((r) => r.rows ?? []);
      if (first) seq = list[list.length - 1]![0] as typeof seq;
      else if (tail.length > 0) {
        const st = list[list.length - 1]![0] as { last: string; called: boolean } | undefined;
        const inc = Number(seq!.inc);
        if (st) uow.model.setNextPatientId(st.called ? Number(st.last) + inc : Number(st.last), inc);
      }
      return list.slice(head.length, head.length + reads.length);
    });
    // Opened ahead of time (groupsOverlap): lock and prefetch are done; nothing is applied before the gate opens.
    if (gate) { gate.locked(); await gate.wait; }
    const tb = performance.now();
    const c: MessageContext = { ...ctx, acks: names };
    for (const item of items) {
      out.push(await processMessage(uow, item, c));
      if (wb.failure) break;
      await wb.between();
    }
    if (!wb.failure) {
      const t1 = performance.now();
      wb.guard();
      wb.pushControl(`RELEASE SAVEPOINT ${savepoint}`);
      await wb.sync();
      // The caller commits next: nothing may still be unsent or unanswered.
      if (wb.pending) throw wb.fail(new Error('group write-behind: writes still pending at the end of the group'));
      wb.guard();
      log.debug('pg group applied', { messages: items.length, prefetchMs: Math.round(tb - t0), applyMs: Math.round(t1 - tb),
        finishMs: Math.round(performance.now() - t1), waitedMs: Math.round(wb.waitedMs) });
      return out;
    }
  } catch (err) {
    // Before the group savepoint exists the transaction cannot be saved: the group fails as it always did.
    if (!wb.failure && !(err instanceof GroupFailed)) {
      await abandon(conn, wb, savepoint, started).catch(() => {});
      throw err;
    }
  }
  log.debug('pg group abandoned, redone message by message', { messages: items.length, code: (wb.failure?.reason as { code?: string })?.code ?? null });
  await abandon(conn, wb, savepoint, started);
  names.release(names.taken);
  return null;
}

/** Rolls back to the group savepoint (the transaction is usable again). */
async function abandon(conn: PgConnection, wb: WriteBehind, savepoint: string, started: boolean): Promise<void> {
  await wb.drain();
  if (!started) return;
  try {
    await conn.query(`ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`);
  } catch (err) {
    // The first round trip failed before its SAVEPOINT (the lock): the transaction cannot be saved; its error, not this one.
    const f = wb.failure;
    throw f && !(f.reason instanceof GroupFailed) && f.reason instanceof Error ? f.reason : err;
  }
}
