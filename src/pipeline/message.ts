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

/**
 * ACK file names of one file (ackFileName): unique in the file, and never a file already in the ACK folder with other
 * bytes. Names given during a group are held apart until `settle` (after the group returned), so that names an
 * abandoned attempt took can be released and chosen again by its redo.
 */
export class FileAckNamer implements AckNamer {
  private readonly group: GroupNames;
  constructor(private readonly fileName: string, private readonly ackDir: string, used: Set<string>) {
    this.group = new GroupNames(used);
  }
  name(controlId: string | null, index: number, ack: Buffer): string {
    return ackFileName(this.fileName, controlId, index, this.group, (n) => ackSlotFree(this.ackDir, n, ack));
  }
  release(names: readonly string[]): void { for (const n of names) this.group.delete(n); }
  /** The group's names become the file's (the group returned: they are final). */
  settle(): void {
    for (const n of this.group) this.group.base.add(n);
    this.group.clear();
  }
}
