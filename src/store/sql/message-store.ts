/** The plain MessageStore: the repository and the ledger over a transaction, atomic steps as savepoints. */
import type { IdentityRepo } from '../../identity/repo.js';
import { findOriginal, insertMessage, supersedeOriginal, type NewMessage, type OriginalRow } from '../ledger.js';
import type { MessageLedger, MessageStore } from '../ports.js';
import type { Dialect, Tx } from '../tx.js';
import { RegistryCache, RegistryCachingRepo, SqlIdentityRepo } from './identity-repo.js';

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
  /**
   * @param registry the authority registry read once per transaction (RegistryCache): SQLite only, never on
   * PostgreSQL, where another importer's registry row can commit while this transaction runs.
   */
  constructor(private readonly tx: Tx, private readonly registry: RegistryCache | null = null) {
    this.dialect = tx.dialect;
    this.identity = registry ? new RegistryCachingRepo(tx, registry) : new SqlIdentityRepo(tx);
    this.ledger = new SqlLedger(tx);
  }
  /** A store for one group's transaction, reading the authority registry once when the database allows it. */
  static forGroup(tx: Tx): SqlMessageStore {
    return new SqlMessageStore(tx, tx.dialect === 'sqlite' ? new RegistryCache() : null);
  }
  async atomic<T>(fn: (store: MessageStore) => Promise<T>): Promise<T> {
    try {
      // Most Tx answer a savepoint with themselves: the same repositories serve inside it.
      return await this.tx.savepoint((sp) => fn(sp === this.tx ? this : new SqlMessageStore(sp, this.registry)));
    } catch (err) {
      // The step's registry writes, if any, were undone with it.
      if (this.registry) this.registry.rows = null;
      throw err;
    }
  }
}
