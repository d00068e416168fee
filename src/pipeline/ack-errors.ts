/**
 * Tells ACK write failures apart from the other I/O and database errors processFile throws, without changing the
 * error itself: reports and logs keep the file system's own text (`ENOSPC: no space left on device, write`), and
 * `watch` counts `pamdrop_ack_write_failures_total` (src/observe) from the same error object.
 */

const ackWriteErrors = new WeakSet<object>();

/** True when `err` was thrown while writing ACK files (local ACK folder, ACK writer thread, or an AckSink upload). */
export function isAckWriteError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ackWriteErrors.has(err);
}

/** Wraps an ACK-writing function: whatever it throws is marked as an ACK write failure, then rethrown unchanged. */
export function markAckErrors<A extends unknown[], R>(write: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    try {
      return await write(...args);
    } catch (err) {
      if (typeof err === 'object' && err !== null) ackWriteErrors.add(err);
      throw err;
    }
  };
}
