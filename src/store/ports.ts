/**
 * What one message's processing (message.ts) works on: the identity repository, the message ledger, and atomic steps
 * (a message's writes undone together). Implemented plainly over a transaction (sql/message-store.ts) and by
 * PostgreSQL's unit of work (pg/unit-of-work.ts).
 */
import type { IdentityRepo } from '../identity/repo.js';
import type { NewMessage, OriginalRow } from './ledger.js';
import type { Dialect } from './tx.js';

/** The ledger operations of one message. */
export interface MessageLedger {
  /** The live original for an idempotency key (MSH-3.1, MSH-4.1, MSH-10), if any. */
  findOriginal(app: string, facility: string, controlId: string): Promise<OriginalRow | undefined>;
  /** Reimport: the live original gives way (compare-and-set; false when it is not live or belongs to `fileId`). */
  supersedeOriginal(id: number, fileId: number): Promise<boolean>;
  insertMessage(m: NewMessage): Promise<void>;
}

export interface MessageStore {
  readonly dialect: Dialect;
  readonly identity: IdentityRepo;
  readonly ledger: MessageLedger;
  /** Runs `fn` as one step: if it throws, its writes are undone (the error is rethrown). */
  atomic<T>(fn: (store: MessageStore) => Promise<T>): Promise<T>;
}

/**
 * Chooses the ACK file name of a message (implemented by the pipeline, which knows the ACK folder). `release` gives
 * back names taken by an attempt that is redone: the redo then chooses them again.
 */
export interface AckNamer {
  name(controlId: string | null, index: number, ack: Buffer): string;
  release(names: readonly string[]): void;
}
