/**
 * Test program — the status port cannot starve the importer: the real `watch` loop with its HTTP server (in-process,
 * real folders, a real SQLite file), small limits from the config, and raw loopback sockets:
 * - more idle connections than `httpMaxConnections`: the extra ones are closed as they arrive, the held ones after
 *   `httpHeadersTimeoutMs`; meanwhile the importer takes a file; once they are gone, /healthz answers a fresh
 *   connection;
 * - a keep-alive connection left idle after a request is closed after `httpKeepAliveTimeoutMs` (plus node's one second);
 * - a request that never finishes its headers (slow client) is closed after `httpHeadersTimeoutMs`.
 * - the limits are config keys with bounded defaults, checked at the edge.
 * The tests open a bounded number of sockets (a few dozen), on 127.0.0.1 only.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { resolveConfig } from '../../src/config/load.js';
import { makeSite, until, files, a28File, type Site } from '../intake/site.js';
import { fetchText, startWatching, type Watching } from './helpers.js';

const sites: Site[] = [];
const running: Watching[] = [];
afterAll(async () => {
  for (const w of running) await w.close().catch(() => {});
  for (const s of sites) await s.cleanup();
});

const LIMITS = { httpMaxConnections: 4, httpHeadersTimeoutMs: 2000, httpRequestTimeoutMs: 4000, httpKeepAliveTimeoutMs: 300 };

interface Probe { socket: Socket; closedAt: number | null; data: string }

/** A raw loopback connection that records when the server closes it. */
function open(url: string, t0: number): Promise<Probe> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const p: Probe = { socket: connect(Number(port), '127.0.0.1'), closedAt: null, data: '' };
    p.socket.on('data', (d: Buffer) => { p.data += d.toString('latin1'); });
    p.socket.on('close', () => { p.closedAt = Date.now() - t0; });
    p.socket.on('error', () => {});
    p.socket.once('connect', () => resolve(p));
  });
}

describe('the HTTP server of watch has bounded connections and timeouts', () => {
  // Regression: 19,985 idle connections used up the daemon's file descriptors; the inbox scan failed with EMFILE.
  it('extra connections are closed at once, idle ones after the headers timeout; the importer works throughout', async () => {
    const s = makeSite({ ...LIMITS, source: { stableMs: 0, pollMs: 100 } });
    sites.push(s);
    const w = await startWatching(s);
    running.push(w);

    const t0 = Date.now();
    const probes: Probe[] = [];
    for (let i = 0; i < 12; i++) probes.push(await open(w.url, t0));
    // The cap: 4 held, 8 closed as they arrived (long before the headers timeout).
    await until(() => probes.filter((p) => p.closedAt !== null).length >= 8, 1000, 'the extra connections to be closed');
    expect(probes.filter((p) => p.closedAt === null)).toHaveLength(4);

    // While the HTTP side is full, the importer still takes a file.
    s.drop('adt_1.hl7', a28File(1, 2));
    await until(() => files(s.archive).some((f) => f.endsWith('adt_1.hl7')), 10_000, 'the file to be archived');

    // The held idle connections are closed by the server after the headers timeout (checked every ≤ 500 ms).
    await until(() => probes.every((p) => p.closedAt !== null), 6000, 'the idle connections to be closed');
    const held = probes.map((p) => p.closedAt!).sort((a, b) => a - b).slice(8);
    for (const at of held) expect(at).toBeGreaterThanOrEqual(LIMITS.httpHeadersTimeoutMs - 100);

    const h = await fetchText(`${w.url}/healthz`);
    expect(h.status).toBe(200);
    expect(JSON.parse(h.text)).toMatchObject({ status: 'ok' });
  });

  it('a keep-alive connection idle after its request is closed after the keep-alive timeout; a slow request after the headers timeout', async () => {
    const s = makeSite({ ...LIMITS, source: { stableMs: 0, pollMs: 100 } });
    sites.push(s);
    const w = await startWatching(s);
    running.push(w);

    const t0 = Date.now();
    const kept = await open(w.url, t0);
    kept.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    await until(() => kept.data.includes('"status"'), 5000, 'the /healthz answer');
    const answeredAt = Date.now() - t0;
    expect(kept.data).toMatch(/^HTTP\/1\.1 200 /);
    await until(() => kept.closedAt !== null, 5000, 'the keep-alive connection to be closed');
    expect(kept.closedAt! - answeredAt).toBeGreaterThanOrEqual(LIMITS.httpKeepAliveTimeoutMs - 100);
    // node adds one second of grace to the keep-alive timeout; still well before the headers timeout would apply.
    expect(kept.closedAt! - answeredAt).toBeLessThan(LIMITS.httpKeepAliveTimeoutMs + 1000 + 500);

    const t1 = Date.now();
    const slow = await open(w.url, t1);
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // headers never finished
    await until(() => slow.closedAt !== null, 6000, 'the slow request to be closed');
    expect(slow.closedAt!).toBeGreaterThanOrEqual(LIMITS.httpHeadersTimeoutMs - 100);
  });
});

describe('httpMaxConnections, httpHeadersTimeoutMs, httpRequestTimeoutMs, httpKeepAliveTimeoutMs', () => {
  it('have bounded defaults (config.example.json says the same) and are checked at the edge', () => {
    const d = resolveConfig({});
    expect([d.httpMaxConnections, d.httpHeadersTimeoutMs, d.httpRequestTimeoutMs, d.httpKeepAliveTimeoutMs]).toEqual([64, 10_000, 30_000, 5000]);
    expect(resolveConfig(LIMITS)).toMatchObject(LIMITS);
    const example = JSON.parse(readFileSync('config.example.json', 'utf8'));
    expect([example.httpMaxConnections, example.httpHeadersTimeoutMs, example.httpRequestTimeoutMs, example.httpKeepAliveTimeoutMs]).toEqual([64, 10_000, 30_000, 5000]);
    expect(() => resolveConfig({ httpMaxConnections: 0 })).toThrow(/httpMaxConnections: must be an integer ≥ 1/);
    expect(() => resolveConfig({ httpKeepAliveTimeoutMs: 'soon' as unknown as number })).toThrow(/httpKeepAliveTimeoutMs: must be an integer ≥ 100/);
    expect(() => resolveConfig({ httpHeadersTimeoutMs: 5000, httpRequestTimeoutMs: 1000 })).toThrow(/httpHeadersTimeoutMs: must not exceed httpRequestTimeoutMs \(1000\)/);
  });
});
