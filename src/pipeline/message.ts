/**
 * The pipeline's side of one message's processing: its reading (pam/reading.ts) as the store takes it, and the ACK
 * file names the store asks for (the store's AckNamer port).
 */
import { hash as oneShotHash } from 'node:crypto';
import type { RawMessage } from '../hl7/batch.js';
import { readMessage, type ReadingOptions } from '../pam/reading.js';
import type { AckNamer, MessageItem } from '../store/apply-group.js';
import { ackFileName, ackSlotFree } from './files.js';

/** The messages of a group read one at a time, as the store takes them (see applyGroup). */
export function* messageItems(raws: readonly RawMessage[], cfg: ReadingOptions): Generator<MessageItem> {
  for (const raw of raws) yield messageItem(raw, cfg);
}

/** A framed message read for the store: decode, parse, acceptance and interpretation, and its content hash. */
export function messageItem(raw: RawMessage, cfg: ReadingOptions): MessageItem {
  // One-shot crypto.hash: the same digest as createHash().update().digest() without a Hash object per message.
  return { index: raw.index, contentSha256: oneShotHash('sha256', raw.bytes, 'hex'), reading: readMessage(raw, cfg) };
}

/** The names given during a group, seen together with the file's earlier names. */
class GroupNames extends Set<string> {
  constructor(readonly base: Set<string>) { super(); }
  override has(v: string): boolean { return super.has(v) || this.base.has(v); }
}

/** A name given to a message during a group and not yet looked up in the ACK folder. */
interface Unchecked { controlId: string | null; index: number; ack: Buffer }

/** A message whose ACK file name was held by other bytes in the folder, and the name it takes instead. */
export interface AckRename { index: number; from: string; to: string }

/**
 * ACK file names of one file (ackFileName): unique in the file, and never a file already in the ACK folder with other
 * bytes. Names given during a group are held apart until `settle` (after the group returned), so that names an
 * abandoned attempt took can be released and chosen again by its redo.
 *
 * The folder is looked into once per group (`check`, before its COMMIT), not as each message is named: a lookup of a
 * new name waits for the ACK writer thread's creates and renames in that folder (45–60 µs each while it writes the
 * previous group's files, against ~6 µs alone; BENCHMARKS.md), and at a group's end that thread has most often
 * finished. A name found held by other bytes is then replaced, in the ledger row too, inside the same transaction.
 */
export class FileAckNamer implements AckNamer {
  private readonly group: GroupNames;
  private readonly unchecked = new Map<string, Unchecked>();
  constructor(private readonly fileName: string, private readonly ackDir: string, used: Set<string>) {
    this.group = new GroupNames(used);
  }
  name(controlId: string | null, index: number, ack: Buffer): string {
    const name = ackFileName(this.fileName, controlId, index, this.group);
    this.unchecked.set(name, { controlId, index, ack });
    return name;
  }
  release(names: readonly string[]): void {
    for (const n of names) {
      this.group.delete(n);
      this.unchecked.delete(n);
    }
  }
  /**
   * Looks the group's names up in the ACK folder; each one held there by other bytes is replaced by the next free name
   * (`.2`, `.3`…, ackFileName) and returned, for the caller to record before the COMMIT.
   */
  check(): AckRename[] {
    const renames: AckRename[] = [];
    for (const [name, m] of this.unchecked) {
      if (ackSlotFree(this.ackDir, name, m.ack)) continue;
      this.group.delete(name);
      const to = ackFileName(this.fileName, m.controlId, m.index, this.group, (n) => ackSlotFree(this.ackDir, n, m.ack));
      renames.push({ index: m.index, from: name, to });
    }
    this.unchecked.clear();
    return renames;
  }
  /** The group's names become the file's (the group returned: they are final). */
  settle(): void {
    for (const n of this.group) this.group.base.add(n);
    this.group.clear();
  }
}
