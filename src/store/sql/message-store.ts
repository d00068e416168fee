/** The plain MessageStore: the repository and the ledger over a transaction, atomic steps as savepoints. */
import type { IdentityRepo } from '../../identity/repo.js';
import { findOriginal, insertMessage, supersedeOriginal, type NewMessage, type OriginalRow } from '../ledger.js';
import type { MessageLedger, MessageStore } from '../ports.js';
import type { Dialect, Tx } from '../tx.js';
import { SqlIdentityRepo } from './identity-repo.js';

export class SqlLedger implements MessageLedger {
  constructor(private readonly tx: Tx) {}
  findOriginal(app: string, facility: string, controlId: string): Promise<OriginalRow | undefined> { return findOriginal(this.tx, app, facility, controlId); }
  supersedeOriginal(id: number, fileId: number): Promise<boolean> { return supersedeOriginal(this.tx, id, fileId); }
  insertMessage(m: NewMessage): Promise<void> { return insertMessage(this.tx, m); }
}

export class SqlMessageStore implements MessageStore {
  readonly dialect: Dialect;
  readonly identity: IdentityRepo;
  readonly ledger: MessageLedger;
  constructor(private readonly tx: Tx) {
    this.dialect = tx.dialect;
    this.identity = new SqlIdentityRepo(tx);
    this.ledger = new SqlLedger(tx);
  }
  atomic<T>(fn: (store: MessageStore) => Promise<T>): Promise<T> {
    // Most Tx answer a savepoint with themselves: the same repositories serve inside it.
    return this.tx.savepoint((sp) => fn(sp === this.tx ? this : new SqlMessageStore(sp)));
  }
}
