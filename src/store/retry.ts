/**
 * Transient concurrency errors (several instances on PostgreSQL). When another writer works the same rows at
 * the same moment, PostgreSQL answers with an error that says nothing about the message being applied: trying the
 * same work again a moment later succeeds. Such an error must never become an AE NAK (the sender would be told its
 * message is wrong). The pipeline retries the message (its savepoint) with a bounded backoff; when the retries are
 * spent, the error propagates as a database failure: the file stays claimed and is retried as a whole (intake backoff,
 * or the next `import`), never acknowledged with an error.
 *
 * SQLSTATE codes (PostgreSQL, appendix A):
 * - 40001 serialization_failure, 40P01 deadlock_detected: the transaction (savepoint) was chosen as the victim;
 * - 55P03 lock_not_available: a lock_timeout (or NOWAIT) expired while another writer held the row;
 * - 23505 unique_violation: another instance inserted the same key (an identifier, an INS, a message key) after this
 *   one looked it up and before it inserted it. Apply checks every key before writing, so on the retry the lookup
 *   sees the committed row and the message is applied to it. A unique violation that is not concurrency (a bug)
 *   fails the same way after the retries: the file is retried, not NAKed.
 * SQLite has one writer (the store lock): none of its errors is transient here.
 */

const TRANSIENT: Readonly<Record<string, string>> = {
  '40001': 'serialization failure',
  '40P01': 'deadlock',
  '55P03': 'lock timeout',
  '23505': 'unique violation (concurrent insert)',
};

/** The reason when `err` (or an error in its `cause` chain) is a transient PostgreSQL concurrency error; else null. */
export function transientDbError(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && Object.prototype.hasOwnProperty.call(TRANSIENT, code)) return `${code} ${TRANSIENT[code]}`;
  }
  return null;
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 6). */
  attempts?: number;
  /** First backoff in ms, doubled each time, with jitter (default 25). */
  baseMs?: number;
  /** Longest backoff in ms (default 1000). */
  maxMs?: number;
  /** Called before each new attempt. */
  onRetry?: (info: { reason: string; attempt: number; delayMs: number }) => void;
  /** Test hook. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Backoff before attempt `attempt` (2, 3…): base × 2^(attempt−2), capped, with ±50 % jitter so that two losers do not collide again. */
export function backoffMs(attempt: number, o: Pick<RetryOptions, 'baseMs' | 'maxMs' | 'random'> = {}): number {
  const base = Math.min((o.baseMs ?? 25) * 2 ** (attempt - 2), o.maxMs ?? 1000);
  return Math.round(base * (0.5 + (o.random ?? Math.random)()));
}

/**
 * Runs `fn`; on a transient concurrency error runs it again, after a bounded backoff, up to `attempts` times in all.
 * Any other error, or the last transient one, is rethrown. `fn` must be safe to repeat: the pipeline passes a savepoint,
 * which rolls its writes back before the error reaches here.
 */
export async function retryTransient<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, o.attempts ?? 6);
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const reason = transientDbError(err);
      if (reason === null || attempt >= attempts) throw err;
      const delayMs = backoffMs(attempt + 1, o);
      o.onRetry?.({ reason, attempt: attempt + 1, delayMs });
      await sleep(delayMs);
    }
  }
}
