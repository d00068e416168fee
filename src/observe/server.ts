/**
 * `watch`'s HTTP endpoint, on `node:http`, loopback by default and off unless `httpPort` (or
 * `watch --http-port`) is set:
 * - `GET /metrics`: Prometheus text format 0.0.4 (observer.ts, prometheus.ts);
 * - `GET /healthz`: 200 `{"status":"ok",…}` while every source completes a poll cycle within 3 × its pollMs, else
 *   503 naming the late sources;
 * - `GET /`: the read-only status page (page.ts), `GET /patient?id=…`: patient lookup (identities shown only with
 *   `showIdentities`).
 *
 * Read-only: GET and HEAD only (anything else is 405). No authentication, hence loopback: a non-loopback `httpHost`
 * is refused at start-up unless `httpAllowRemote` is set (config/load.ts). On loopback the Host header must be a
 * loopback name (a web page elsewhere cannot read the server through DNS rebinding). Responses are never cached, and
 * the page may load nothing but its own inline style. Requests are logged at debug level without their query string
 * (a lookup's identifier must not reach the logs).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResolvedConfig } from '../config/types.js';
import type { Db, Tx } from '../store/tx.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { openDb } from '../store/db.js';
import { buildStatus } from '../ops/status.js';
import type { Observer } from './observer.js';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
import { isLoopbackHost } from './loopback.js';
import { lookupPatient, readPage } from './read.js';
import { renderError, renderIdentitiesHidden, renderPatientPage, renderStatusPage } from './page.js';

export { isLoopbackHost };

/** Security headers of every response. The CSP allows no script, no image, no frame; only the page's inline style. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export interface ObserveServerOptions {
  host: string;
  port: number;
  /** Config of this `watch`, with the sources it serves. */
  config: ResolvedConfig;
  observer: Observer;
  /** Read connection (openReadStore). */
  db: Tx;
  /** Store description without secrets (Db.description). */
  store: string;
  log: Logger;
  clock: Clock;
}

export interface ObserveServer {
  /** `http://host:port` actually bound (port 0 → the port the system chose). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A second connection to the store for the page's reads, so that they never run inside the daemon's group
 * transactions (on SQLite, one connection is one transaction; in WAL mode a reader never takes the writer lock).
 * `:memory:` cannot be opened twice: the daemon's own connection is used then.
 */
export async function openReadStore(config: ResolvedConfig, main: Db): Promise<{ db: Tx; close(): Promise<void> }> {
  if (config.database === ':memory:') return { db: main, close: async () => {} };
  const db = await openDb(config.database, { sqliteDriver: config.sqliteDriver, migrate: false, busyTimeoutMs: 1000 });
  return { db, close: () => db.close() };
}

function send(res: ServerResponse, head: boolean, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(bytes.length), ...extra });
  res.end(head ? undefined : bytes);
}

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Whether a Host header names this server. Bound to loopback: any loopback name, whatever the port (an SSH tunnel
 * `ssh -L 8080:127.0.0.1:9464` arrives as `localhost:8080`); a DNS-rebinding page arrives with its own domain name.
 * Bound beyond loopback on purpose (httpAllowRemote): the names clients use cannot be known here, all are accepted.
 */
export function hostAllowed(bindHost: string, header: string | undefined): boolean {
  if (!isLoopbackHost(bindHost)) return true;
  if (!header) return false;
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d*$/, '');
  return isLoopbackHost(name);
}

/** Starts the server; rejects with a ConfigError when the address cannot be bound (port in use, bad host). */
export async function startObserveServer(o: ObserveServerOptions): Promise<ObserveServer> {
  if (!isLoopbackHost(o.host) && !o.config.httpAllowRemote) {
    throw new ConfigError(`config: httpHost: ${o.host} is not a loopback address; the status page has no authentication: set httpAllowRemote to true to serve it beyond this machine`);
  }
  const log = o.log.child({ component: 'http' });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://pamdrop.invalid');
    log.debug('request', { method, path: url.pathname });
    const head = method === 'HEAD';
    if (!hostAllowed(o.host, req.headers.host)) {
      send(res, head, 421, 'text/plain; charset=utf-8', 'unknown Host: use the address this server listens on\n');
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      send(res, head, 405, 'text/plain; charset=utf-8', 'read-only: GET and HEAD only\n', { Allow: 'GET, HEAD' });
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        let snapshot = null;
        try {
          snapshot = await buildStatus(o.db, o.config, o.clock.now());
        } catch (err) {
          log.warn('metrics: cannot read the store', { error: (err as Error).message });
        }
        send(res, head, 200, PROMETHEUS_CONTENT_TYPE, o.observer.renderMetrics(snapshot));
        return;
      }
      case '/healthz': {
        const h = o.observer.health();
        const body = { status: h.ok ? 'ok' : 'late', late: h.late, checkedAt: h.checkedAt, startedAt: h.startedAt, sources: h.sources };
        send(res, head, h.ok ? 200 : 503, JSON_TYPE, JSON.stringify(body, null, 2) + '\n');
        return;
      }
      case '/': {
        const now = o.clock.now();
        const data = await readPage(o.db, o.config, now);
        send(res, head, 200, HTML, renderStatusPage(data, o.observer.health(), { showIdentities: o.config.showIdentities, store: o.store, now, listeners: o.observer.listeners() }));
        return;
      }
      case '/patient': {
        if (!o.config.showIdentities) {
          send(res, head, 403, HTML, renderIdentitiesHidden());
          return;
        }
        const value = (url.searchParams.get('id') ?? '').trim();
        if (value === '' || value.length > 250) {
          send(res, head, 400, HTML, renderError('Patient lookup', 'Give an identifier (IPP) or INS value, up to 250 characters.'));
          return;
        }
        send(res, head, 200, HTML, renderPatientPage(value, await lookupPatient(o.db, value)));
        return;
      }
      default:
        send(res, head, 404, HTML, renderError('Not found', 'This server has /, /patient, /metrics and /healthz.'));
    }
  };

  const c = o.config;
  // Idle and slow connections are closed by node's periodic check: often enough that the timeouts mean what they say.
  const connectionsCheckingInterval = Math.max(50, Math.min(1000, Math.floor(c.httpHeadersTimeoutMs / 4)));
  const server: Server = createServer({ headersTimeout: c.httpHeadersTimeoutMs, requestTimeout: c.httpRequestTimeoutMs, connectionsCheckingInterval }, (req, res) => {
    handle(req, res).catch((err) => {
      log.error('request failed', { path: new URL(req.url ?? '/', 'http://pamdrop.invalid').pathname, error: (err as Error).message });
      if (!res.headersSent) send(res, req.method === 'HEAD', 500, 'text/plain; charset=utf-8', 'internal error (see the pamdrop log)\n');
      else res.destroy();
    });
  });
  // The status port must never starve the importer: a bounded number of connections (more are closed as they
  // arrive), each closed when it sends nothing (headers timeout, idle ones included), idles between requests
  // (keep-alive timeout) or takes too long over one (request timeout). A slow or idle client never holds the
  // daemon's shutdown either.
  server.maxConnections = c.httpMaxConnections;
  server.keepAliveTimeout = c.httpKeepAliveTimeoutMs;
  let lastDropLog = 0;
  server.on('drop', () => {
    const now = Date.now();
    if (now - lastDropLog < 60_000) return;
    lastDropLog = now;
    log.warn('http: connection limit reached; new connections are closed until some end', { maxConnections: c.httpMaxConnections });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(new ConfigError(`http: cannot listen on ${o.host}:${o.port}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ' (port in use: change httpPort or --http-port)' : ''}`, { cause: err }));
    };
    const onListening = () => { server.off('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(o.port, o.host);
  });
  server.on('error', (err) => log.error('http server error', { error: err.message }));
  const port = (server.address() as AddressInfo).port;
  const shown = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${shown}:${port}`;
  log.info('status page, metrics and health check listening', { url, showIdentities: o.config.showIdentities });
  return {
    url, port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** What `watch` is waiting for before it can serve (the store at start-up). */
export interface StartupState {
  /** e.g. `store unreachable`. */
  waitingFor: string;
  attempt: number;
  /** Last error, one line, no secrets. */
  error: string;
  retryAt: string;
}

/**
 * The HTTP endpoint while `watch` cannot start yet (PostgreSQL down at start-up): `/healthz` answers 503 with
 * `{"status":"starting", …}` saying what it waits for and when it retries; everything else 503. Closed once the
 * store opens, and the full server takes the same port.
 */
export async function startStartupServer(o: { host: string; port: number; log: Logger; state: () => StartupState | null }): Promise<ObserveServer> {
  const server: Server = createServer((req, res) => {
    const head = req.method === 'HEAD';
    if (!hostAllowed(o.host, req.headers.host)) {
      send(res, head, 421, 'text/plain; charset=utf-8', 'unknown Host: use the address this server listens on\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://pamdrop.invalid').pathname;
    const s = o.state();
    if (path === '/healthz') {
      send(res, head, 503, JSON_TYPE, JSON.stringify({ status: 'starting', ...(s ?? {}) }, null, 2) + '\n');
      return;
    }
    send(res, head, 503, 'text/plain; charset=utf-8', `pamdrop is starting${s ? `: ${s.waitingFor} (attempt ${s.attempt}, next try ${s.retryAt})` : ''}\n`, { 'Retry-After': '5' });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigError(`http: cannot listen on ${o.host}:${o.port}: ${err.code ?? err.message}`, { cause: err })));
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  o.log.info('health check listening while the daemon starts', { url });
  return {
    url, port,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
