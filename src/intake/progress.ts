/**
 * Progress of the file being processed: one rewritten line on a TTY (done/total, messages/s), a structured
 * log line every `logEveryMs` otherwise. Counts and file names only, never message content.
 */
import type { Logger } from '../shared/logger.js';

/** Where and how often progress is shown. */
export interface ProgressOptions {
  /** Draw a line on a terminal (stderr is a TTY) rather than logging. */
  tty: boolean;
  write: (text: string) => void;
  log: Logger;
  /** Minimum time between two redraws on a TTY. */
  redrawMs?: number;
  /** Time between two progress log lines when not on a TTY (short files never log progress). */
  logEveryMs?: number;
}

/** Progress reporter shared by every source of a command. */
export class Progress {
  private file: string | null = null;
  private startedAt = 0;
  private startDone = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly o: ProgressOptions) {}

  /** Reports progress of `p.file`; null ends the current file (clears the line). */
  update(source: string, p: { file: string; done: number; total: number } | null): void {
    const now = Date.now();
    if (p === null) {
      if (this.drawn) this.o.write('\r\x1b[K');
      this.drawn = false;
      this.file = null;
      return;
    }
    if (this.file !== `${source}/${p.file}`) {
      this.file = `${source}/${p.file}`;
      this.startedAt = now;
      this.startDone = p.done;
      this.lastDraw = now;
      if (!this.o.tty) return;
    }
    const every = this.o.tty ? (this.o.redrawMs ?? 200) : (this.o.logEveryMs ?? 10_000);
    if (now - this.lastDraw < every) return;
    this.lastDraw = now;
    const secs = (now - this.startedAt) / 1000;
    const rate = secs > 0 ? Math.round((p.done - this.startDone) / secs) : 0;
    if (this.o.tty) {
      const pct = p.total > 0 ? ` ${Math.floor((100 * p.done) / p.total)}%` : '';
      this.o.write(`\r\x1b[K[${source}] ${p.file}: ${p.done}/${p.total} messages${pct}, ${rate} msg/s`);
      this.drawn = true;
    } else {
      this.o.log.info('progress', { source, file: p.file, done: p.done, total: p.total, msgPerSec: rate });
    }
  }
}
