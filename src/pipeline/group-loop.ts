/**
 * The group loop of one file: its messages in groups of `groupSize`, one transaction per group, each group's ACK
 * files handed over after its COMMIT (ack-batches.ts), a stop honoured only between groups.
 *
 *   for each message:  recorded by an interrupted run?  counted, nothing re-applied
 *                      else into the current group; a full group is flushed, then the stop is checked
 *   flush:  COMMIT the group  →  fault `after-commit`  →  count its outcomes  →  hand its ACK files over
 *   end:    flush what is left, the group opened ahead, and the ACK batch in flight
 *
 * On PostgreSQL in batched group mode (store/apply-group.ts `groupsOverlap`) each group's transaction is opened when the
 * group is full, while the previous one still runs and commits (its lock and prefetch wait for that COMMIT
 * server-side); it applies nothing until its gate opens: after the previous group committed and no stop was asked,
 * or when it is the next to finish. So at any time there is at most one group committing, one group opened ahead,
 * and one ACK batch in flight.
 *
 * The SQLite commit policy (store/sqlite/commit-policy.ts: synchronous NORMAL, the `-wal` fsynced before any ACK
 * file, checkpoints on the ACK writer thread) holds for exactly the span of the loop.
 */
import type { RawMessage } from '../hl7/batch.js';
import type { AckCode } from '../hl7/ack.js';
import type { Tx } from '../store/tx.js';
import type { Logger } from '../shared/logger.js';
import { applyGroup, Gate, groupsOverlap, type MessageResult } from '../store/apply-group.js';
import {
  acksAfter, recordAcksDurable, renameAck, MessageStatus, type FileRow, type FileSummary, type MessageStatus as MsgStatus, type RecordedMessage,
} from '../store/ledger.js';
import { assertTxAlive } from '../store/locks.js';
import { groupCommitPolicy } from '../store/sqlite/commit-policy.js';
import { closeCheckpointer } from './ack-writer.js';
import { AckBatches, type AckEntry } from './ack-batches.js';
import { FileAckNamer, messageItems } from './message.js';
import { StopRequested, type FileJob, type PipelineContext } from './context.js';

export interface GroupLoopInput {
  job: FileJob;
  ctx: PipelineContext;
  file: FileRow;
  /** The file's name in the ledger (progress, StopRequested). */
  name: string;
  log: Logger;
  /** Messages in the file (progress; more than one group → ACK batches overlap). */
  total: number;
  /** ACK names taken so far in the file (those of recorded rows included). */
  usedNames: Set<string>;
  /** Counted into as messages are done. */
  summary: FileSummary;
  /** Resume: the rows an interrupted run recorded, and how many of them (in ledger order) have durable ACK files. */
  resume: { rows: RecordedMessage[]; durable: number } | null;
}

/** Counts one message's outcome into a file summary. */
export function countOutcome(summary: FileSummary, status: MsgStatus, outcome: AckCode): void {
  summary.messages++;
  summary[outcome]++;
  if (status === MessageStatus.Duplicate) summary.duplicates++;
  if (status === MessageStatus.Stale) summary.stale++;
}

/** Runs the group loop over `messages` (file order, or sorted). Throws StopRequested, or an I/O / database error. */
export async function runGroups(input: GroupLoopInput, messages: AsyncIterable<RawMessage>): Promise<void> {
  const { ctx, job, file, resume } = input;
  const overlap = input.total > ctx.config.groupSize;
  const policy = groupCommitPolicy(ctx.db);
  const checkpointDb = policy && overlap ? policy.checkpointDb : null;
  const acks = new AckBatches({
    ackDir: job.ackDir, ackSink: job.ackSink, overlap, walToSync: policy?.walToSync ?? null, checkpointDb, fault: ctx.fault ?? (() => {}),
  });
  const loop = new GroupLoop(input, acks);
  const recorded = new Map<number, RecordedMessage>();
  try {
    if (resume) {
      for (const m of resume.rows) recorded.set(m.idx, m);
      acks.recorded = resume.durable;
      if (resume.durable < resume.rows.length) {
        // Only the ACK files not known durable (the last group or two) are rewritten, never every ACK already
        // written: a resume costs the same at 10 % or 90 % of a file.
        const after = resume.durable > 0 ? resume.rows[resume.durable - 1]!.id : 0;
        const missing = await acksAfter(ctx.db, file.id, after);
        await acks.rewrite(missing);
        input.log.info('ACK files of the interrupted run rewritten', { fileId: file.id, rewritten: missing.length, kept: resume.durable });
      }
      acks.durable = resume.rows.length;
    }
    for await (const raw of messages) {
      const done = recorded.get(raw.index);
      if (done) countOutcome(input.summary, done.status, done.outcome);
      // Awaited only when the group is full: no promise per message on the hot path.
      else if (loop.push(raw)) await loop.groupFull();
    }
    await loop.finish();
  } catch (err) {
    await loop.abort(err);
    throw err;
  } finally {
    policy?.restore();
    // Best effort: that connection only ever checkpoints.
    if (checkpointDb) await closeCheckpointer(checkpointDb).catch(() => {});
  }
}

/** The groups of one file: the group being filled, the group opened ahead (PostgreSQL), and the ACK batches. */
class GroupLoop {
  private group: RawMessage[] = [];
  private ahead: { done: Promise<MessageResult[]>; gate: Gate } | null = null;
  private readonly pipelined: boolean;
  /** The ACK file names the store asks for (its AckNamer port). */
  private readonly names: FileAckNamer;

  constructor(private readonly input: GroupLoopInput, private readonly acks: AckBatches) {
    this.pipelined = groupsOverlap(input.ctx.db, input.ctx.config.pgGroupMode);
    this.names = new FileAckNamer(input.file.name, input.job.ackDir, input.usedNames);
  }

  /** Adds a message not yet recorded; true when the group is full (then call groupFull). */
  push(raw: RawMessage): boolean {
    this.group.push(raw);
    return this.group.length >= this.input.ctx.config.groupSize;
  }

  /** A full group: committed, its ACK files handed over, then a stop honoured. */
  async groupFull(): Promise<void> {
    await this.flush();
    await this.betweenGroups();
  }

  /** Everything left: the last group, the group opened ahead, the ACK batch in flight. */
  async finish(): Promise<void> {
    await this.flush();
    while (this.ahead) await this.flush();
    await this.acks.settle();
  }

  /** After a failure: a group opened ahead applies nothing (rolled back); committed groups keep their ACK files as far as the writer gets. */
  async abort(err: unknown): Promise<void> {
    await this.dropAhead(err);
    await this.acks.drain();
  }

  /** One group's transaction: fence, the messages, the durable-ACK count, and proof that nothing failed unseen. */
  private runGroup(batch: RawMessage[], gate?: Gate): Promise<MessageResult[]> {
    const { ctx, job, file } = this.input;
    const cfg = ctx.config;
    return ctx.db.transaction(async (tx: Tx) => {
      await ctx.fence?.(tx);
      // PostgreSQL: the whole group in a few round trips, redone message by message if that fails (store/apply-group.ts).
      const results = await applyGroup(tx, file, messageItems(batch, cfg), {
        clock: ctx.clock, log: ctx.log, staleUpdates: cfg.staleUpdates, authorityAliases: cfg.pam.authorityAliases, self: cfg.self,
        acks: this.names, pgGroupMode: cfg.pgGroupMode, ...(job.supersede ? { supersede: job.supersede } : {}), ...(gate ? { gate } : {}),
      });
      // Names found held by other bytes in the ACK folder: replaced before the COMMIT, in the ledger and the ACK batch.
      for (const r of this.names.check()) {
        await renameAck(tx, file.id, r.index, r.to);
        results.find((m) => m.ackName === r.from)!.ackName = r.to;
      }
      this.names.settle();
      const durable = this.acks.toRecord();
      if (durable !== null) {
        // No round trip of its own: the ACK files synced so far, recorded with this group's commit.
        await recordAcksDurable(tx, file.id, durable);
        this.acks.recorded = durable;
      }
      // Before the ACK files of this group are written (one round trip per group on PostgreSQL).
      await assertTxAlive(tx);
      return results;
    });
  }

  /** Commits the next group (the one opened ahead first), counts it and hands its ACK files over. */
  private async flush(): Promise<void> {
    let results: MessageResult[] | null = null;
    if (this.pipelined && (this.group.length > 0 || this.ahead)) {
      const prev = this.ahead;
      this.ahead = null;
      if (this.group.length > 0) {
        // Opened once the previous group holds the apply lock, so that the locks are taken in the groups' order.
        if (prev) await Promise.race([prev.gate.hasLock, prev.done.then(() => {}, () => {})]);
        const gate = new Gate();
        const done = this.runGroup(this.takeGroup(), gate);
        done.catch(() => {}); // awaited by the next flush, or dropped
        this.ahead = { done, gate };
      }
      if (prev) { prev.gate.open(); results = await prev.done; }
    } else if (this.group.length > 0) {
      results = await this.runGroup(this.takeGroup());
    }
    const { ctx, summary } = this.input;
    const entries: AckEntry[] = [];
    if (results) {
      ctx.fault?.('after-commit');
      for (const r of results) { countOutcome(summary, r.status, r.outcome); entries.push({ name: r.ackName, bytes: r.ack }); }
    }
    await this.acks.hand(entries);
    ctx.progress?.({ file: this.input.name, done: summary.messages, total: this.input.total });
  }

  /** Stop only between groups: everything committed so far has its ACK files. Else the group opened ahead may apply. */
  private async betweenGroups(): Promise<void> {
    if (this.input.ctx.shouldStop?.()) {
      const stop = new StopRequested(this.input.name);
      await this.dropAhead(stop);
      await this.acks.settle();
      throw stop;
    }
    this.ahead?.gate.open();
  }

  private takeGroup(): RawMessage[] {
    const batch = this.group;
    this.group = [];
    return batch;
  }

  private async dropAhead(err: unknown): Promise<void> {
    if (!this.ahead) return;
    const a = this.ahead;
    this.ahead = null;
    a.gate.close(err);
    await a.done.catch(() => {});
  }
}
