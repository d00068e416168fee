/**
 * The real watch service in-process (pipeline/service.ts `watchSources` under the writer lock, as `pamdrop watch`
 * runs it) with the observation server of src/observe on a loopback port chosen by the system, on a throw-away
 * site (test/intake/site.ts: real folders, a real SQLite file). Polling can be stopped while the server stays up,
 * which is how /healthz is seen turning 503.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDb } from '../../src/store/db.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { withWriterLock } from '../../src/pipeline/runner.js';
import { watchSources, Wake } from '../../src/pipeline/service.js';
import { Observer } from '../../src/observe/observer.js';
import { openReadStore, startObserveServer } from '../../src/observe/server.js';
import type { Site } from '../intake/site.js';

export const FIXTURES = resolve('test/fixtures/hl7');
export const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

/** Patient data of the fixtures dropped by the suites: never on the page or in /metrics unless showIdentities. */
export const PHI = [/MOREL/i, /CLAIRE/i, /\b100300\b/, /19920915/, /1992-09-15/, /292093155504523/];

export interface Watching {
  url: string;
  observer: Observer;
  /** Ends the watch loop (no more poll cycles); the HTTP server stays up. */
  stopPolling(): Promise<void>;
  /** Stops polling (if not yet), closes the server and the store. */
  close(): Promise<void>;
}

/** Starts `watch` on the site with its HTTP server (port 0 → a free port). */
export async function startWatching(site: Site, log: Logger = createLogger({ level: 'silent' })): Promise<Watching> {
  const db = await openDb(site.db);
  const observer = new Observer(site.config.sources);
  const read = await openReadStore(site.config, db);
  const server = await startObserveServer({ host: '127.0.0.1', port: 0, config: site.config, observer, db: read.db, store: db.description, log, clock: systemClock });
  let stopping = false;
  const wake = new Wake();
  const loop = withWriterLock({ db, clock: systemClock, config: site.config }, 'test-watch', (owner) => watchSources({
    db, config: site.config, clock: systemClock, log, sources: site.config.sources, shouldStop: () => stopping, wake, observer,
  }, owner));
  loop.catch(() => {});
  const stopPolling = async () => { stopping = true; wake.notify(); await loop; };
  let closed = false;
  return {
    url: server.url, observer, stopPolling,
    async close() {
      if (closed) return;
      closed = true;
      try { await stopPolling(); } finally {
        await server.close();
        await read.close();
        await db.close();
      }
    },
  };
}

/** GET (or another method) with the body as text. */
export async function fetchText(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(url, init);
  return { status: r.status, headers: r.headers, text: await r.text() };
}

/** One sample of an exposition text (`name{labels}` exactly as rendered), undefined when absent. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
