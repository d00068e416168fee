/**
 * The ACK files of one file's groups, handed over after each COMMIT (group-loop.ts).
 *
 * Two ways, chosen once per file:
 * - **plain** (a file of one group): written on the main thread after the `-wal` fsync (when commits are relaxed),
 *   then the `after-acks` fault point.
 * - **overlapped** (a file of several groups): written on the ACK writer thread (ack-writer.ts), synced to disk
 *   there, while the next group is applied. At most one batch in flight: handed over only after its COMMIT, awaited
 *   (`settle`) before the next hand-over, a stop and the archive. A settled batch is durable: the next rows in ledger
 *   order (groups commit in order), counted in `durable` for the ledger (`files.acks_durable`).
 *
 * Every write is marked as an ACK write failure when it throws (ack-errors.ts: `watch` counts them); the error
 * itself is rethrown unchanged.
 */
import { LocalAckSink, type AckSink } from './files.js';
import { markAckErrors } from './ack-errors.js';
import { writeAckFiles } from './ack-writer.js';
import { syncAckFiles, syncFile } from './ack-sync.js';
import type { FaultPoint } from './context.js';

export type AckEntry = { name: string; bytes: Buffer };

export interface AckBatchesOptions {
  ackDir: string;
  ackSink?: AckSink;
  /** Several groups: overlap each batch with the next group's database work. */
  overlap: boolean;
  /** fsynced before any ACK file of a batch (relaxed SQLite commits: store/sqlite/commit-policy.ts). */
  walToSync: string | null;
  /** Checkpointed by the writer thread after each overlapped batch. */
  checkpointDb: string | null;
  fault: (point: FaultPoint) => void;
}

export class AckBatches {
  /** Message rows, in ledger order, whose ACK files are known durable. */
  durable = 0;
  /** The count last written to the ledger (`files.acks_durable`). */
  recorded = 0;
  private inflight: Promise<void> | null = null;
  private inflightCount = 0;
  private readonly local: LocalAckSink;
  private readonly write: (entries: AckEntry[], threaded?: boolean) => Promise<void>;

  constructor(private readonly o: AckBatchesOptions) {
    this.local = new LocalAckSink(o.ackDir);
    this.write = markAckErrors(async (entries: AckEntry[], threaded = false) => {
      // Threaded batches (files of several groups) are synced to disk: the ledger then records them as durable.
      if (threaded) await writeAckFiles(o.ackDir, entries, o.walToSync, o.checkpointDb, true);
      else {
        if (o.walToSync) syncFile(o.walToSync);
        await this.local.write(entries);
      }
      if (o.ackSink) await o.ackSink.write(entries);
    });
  }

  /** The durable count the next group's transaction should record, or null when the ledger has it already. */
  toRecord(): number | null { return this.durable > this.recorded ? this.durable : null; }

  /**
   * Resume: the ACK files of the last groups before the crash (not known durable), rewritten from the ledger
   * (identical bytes) and synced; then every recorded row counts as durable.
   */
  async rewrite(missing: AckEntry[]): Promise<void> {
    await this.write(missing);
    syncAckFiles(this.o.ackDir, missing.map((m) => m.name));
  }

  /** Hands over the ACK files of a group just committed. */
  async hand(entries: AckEntry[]): Promise<void> {
    if (entries.length === 0) return;
    if (!this.o.overlap) {
      await this.write(entries);
      this.o.fault('after-acks');
      return;
    }
    await this.settle();
    const p = this.write(entries, true);
    p.catch(() => {}); // observed by the next settle(); never an unhandled rejection meanwhile
    this.inflight = p;
    this.inflightCount = entries.length;
  }

  /** Waits for the batch in flight (its error, if any, is thrown here) and counts it durable. */
  async settle(): Promise<void> {
    if (!this.inflight) return;
    const p = this.inflight;
    this.inflight = null;
    await p;
    this.durable += this.inflightCount;
    this.o.fault('after-acks');
  }

  /** After a failure: lets the batch in flight finish as far as it gets (a rerun rewrites any missing file). */
  async drain(): Promise<void> {
    await this.inflight?.catch(() => {});
  }
}
