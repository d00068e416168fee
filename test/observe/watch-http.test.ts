/**
 * Test program — `watch` with its HTTP server, on real folders and a real SQLite file, no mocks:
 * - /metrics after fixture drops (an envelope batch of 3 messages archived, a file with a wrong BTS count
 *   quarantined): files and messages by outcome, last successful cycle, queue depth, duration histogram, all in
 *   the 0.0.4 text format;
 * - /healthz: 200 while the loop cycles, 503 naming the source once polling has stopped for 3 × pollMs;
 * - the status page: sources, quarantined file with its reason, last messages with control ids; no patient name or
 *   identifier on the page, in /metrics or /healthz unless showIdentities; /patient says "identities hidden";
 *   with showIdentities, the names and the lookup;
 * - read-only and locked down: POST → 405, a foreign Host → 421, CSP and nosniff on every response;
 * - no patient data in the logs, even at debug level and for a lookup (paths are logged without query strings);
 * - the CLI: `pamdrop watch --http-port 0` serves, and SIGTERM stops the watcher and the server (exit 0, port closed).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'node:http';
import { makeSite, memoryLogger, spawnCli, until, files, BIN, type Site } from '../intake/site.js';
import { fetchText, fixture, PHI, sample, startWatching, type Watching } from './helpers.js';

const sites: Site[] = [];
const running: Watching[] = [];
const site = (...a: Parameters<typeof makeSite>) => { const s = makeSite(...a); sites.push(s); return s; };
afterAll(async () => {
  for (const w of running) await w.close().catch(() => {});
  for (const s of sites) s.cleanup();
});

const POLL_MS = 400;

async function dropFixtures(s: Site): Promise<void> {
  s.drop('adt_20250312.hl7', fixture('envelope.hl7'));
  await until(() => files(s.archive).some((f) => f.endsWith('adt_20250312.hl7')), 15_000, 'the envelope batch to be archived');
  s.drop('adt_20250313.hl7', fixture('wrong-bts-count.hl7'));
  await until(() => files(s.error).some((f) => f === 'adt_20250313.hl7'), 15_000, 'the bad batch to be quarantined');
}

describe('watch --http-port: /metrics, /healthz and the status page', () => {
  it('serves metrics and health from the running loop, and /healthz turns 503 when cycles stop', async () => {
    const s = site({ source: { stableMs: 150, pollMs: POLL_MS } });
    const w = await startWatching(s);
    running.push(w);
    await dropFixtures(s);
    // The cycle that took the quarantined file has ended (it is counted once the cycle completes).
    await until(() => w.observer.health().sources[0]!.lastCycleAt !== null, 5000, 'a completed cycle');
    await until(async () => sample((await fetchText(`${w.url}/metrics`)).text, 'pamdrop_files_total{source="local",outcome="quarantined"}') === 1, 5000, 'the quarantine to be counted');

    const m = await fetchText(`${w.url}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(sample(m.text, 'pamdrop_files_total{source="local",outcome="archived"}')).toBe(1);
    expect(sample(m.text, 'pamdrop_files_total{source="local",outcome="quarantined"}')).toBe(1);
    expect(sample(m.text, 'pamdrop_messages_total{source="local",ack="AA"}')).toBe(3);
    expect(sample(m.text, 'pamdrop_messages_total{source="local",ack="AE"}')).toBe(0);
    expect(sample(m.text, 'pamdrop_messages_total{source="local",ack="AR"}')).toBe(0);
    expect(sample(m.text, 'pamdrop_ack_write_failures_total{source="local"}')).toBe(0);
    expect(sample(m.text, 'pamdrop_file_failures_total{source="local"}')).toBe(0);
    expect(sample(m.text, 'pamdrop_import_duration_seconds_count{source="local"}')).toBe(2);
    expect(sample(m.text, 'pamdrop_import_duration_seconds_bucket{source="local",le="+Inf"}')).toBe(2);
    expect(sample(m.text, 'pamdrop_queue_depth{source="local"}')).toBe(0);
    expect(sample(m.text, 'pamdrop_quarantined_files')).toBe(1);
    expect(sample(m.text, 'pamdrop_store_up')).toBe(1);
    expect(sample(m.text, 'pamdrop_healthy')).toBe(1);
    const last = sample(m.text, 'pamdrop_last_successful_cycle_timestamp_seconds{source="local"}')!;
    expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(30);
    expect(m.text).toMatch(/^# HELP pamdrop_files_total .+\n# TYPE pamdrop_files_total counter$/m);
    expect(m.text).toMatch(/^# TYPE pamdrop_import_duration_seconds histogram$/m);

    const h = await fetchText(`${w.url}/healthz`);
    expect(h.status).toBe(200);
    expect(h.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(h.text)).toMatchObject({ status: 'ok', late: [], sources: [{ source: 'local', state: 'ok', limitMs: 3 * POLL_MS }] });

    for (const body of [m.text, h.text]) for (const re of PHI) expect(body).not.toMatch(re);

    // Polling stops (the server stays up): within 3 × pollMs plus a margin, /healthz reports the source late.
    await w.stopPolling();
    expect((await fetchText(`${w.url}/healthz`)).status).toBe(200);
    await until(async () => (await fetchText(`${w.url}/healthz`)).status === 503, 10_000, '/healthz to turn 503');
    const late = JSON.parse((await fetchText(`${w.url}/healthz`)).text);
    expect(late).toMatchObject({ status: 'late', late: ['local'], sources: [{ source: 'local', state: 'late', limitMs: 3 * POLL_MS }] });
    expect(late.sources[0].ageMs).toBeGreaterThan(3 * POLL_MS);
    // Nothing polls any more: a new file waits in the inbox, and the queue depth shows it.
    s.drop('adt_20250314.hl7', fixture('one-message.hl7'));
    const after = (await fetchText(`${w.url}/metrics`)).text;
    expect(sample(after, 'pamdrop_queue_depth{source="local"}')).toBe(1);
    expect(sample(after, 'pamdrop_healthy')).toBe(0);
    expect(sample(after, 'pamdrop_source_late{source="local"}')).toBe(1);
    await w.close();
  });

  it('status page without identities: tables, no patient data, lookup refused, read-only, locked down', async () => {
    const s = site({ source: { stableMs: 150, pollMs: POLL_MS } });
    const w = await startWatching(s);
    running.push(w);
    await dropFixtures(s);

    const page = await fetchText(`${w.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'unsafe-inline'/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).toContain('<table id="sources">');
    expect(page.text).toMatch(/<tr data-source="local"><td><strong>local<\/strong>/);
    // The quarantined file with its reason (envelope counts), and the last messages with their control ids.
    const quarantined = page.text.slice(page.text.indexOf('<table id="quarantined">'));
    expect(quarantined).toMatch(/adt_20250313\.hl7<\/td><td class="reason">[^<]*BTS/);
    for (const id of ['GAM000201', 'GAM000202', 'GAM000203']) expect(page.text).toContain(`>${id}<`);
    expect(page.text).toContain('>A40<');
    expect(page.text).not.toContain('<script');
    for (const re of PHI) expect(page.text).not.toMatch(re);
    expect(page.text).toContain('Identities are hidden');
    expect(page.text).not.toContain('<form');

    const lookup = await fetchText(`${w.url}/patient?id=100300`);
    expect(lookup.status).toBe(403);
    expect(lookup.text).toContain('Identities hidden');
    for (const re of [/MOREL/, /CLAIRE/]) expect(lookup.text).not.toMatch(re);

    const post = await fetchText(`${w.url}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${w.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetchText(`${w.url}/nope`)).status).toBe(404);
    // DNS rebinding: a page of another site resolving its name to 127.0.0.1 sends its own Host (fetch cannot set Host).
    const rebound = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const u = new URL(w.url);
      const req = request({ host: u.hostname, port: u.port, path: '/', headers: { Host: 'evil.example' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound.status).toBe(421);
    expect(rebound.text).not.toContain('GAM000201');
    await w.close();
  });

  it('with showIdentities the page names the patients and the lookup shows the record; values are HTML-escaped', async () => {
    const s = site({ showIdentities: true, source: { stableMs: 150, pollMs: POLL_MS } });
    const { log, lines } = memoryLogger();
    const w = await startWatching(s, log);
    running.push(w);
    await dropFixtures(s);
    const page = await fetchText(`${w.url}/`);
    expect(page.text).toContain('MOREL CLAIRE');
    expect(page.text).toContain('<form method="get" action="/patient">');
    const found = await fetchText(`${w.url}/patient?id=100300`);
    expect(found.status).toBe(200);
    expect(found.text).toContain('Record 1');
    expect(found.text).toMatch(/Birth name<\/dt><dd>MOREL/);
    const nasty = await fetchText(`${w.url}/patient?id=${encodeURIComponent('<script>alert(1)</script>')}`);
    expect(nasty.status).toBe(200);
    expect(nasty.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(nasty.text).not.toContain('<script>');
    expect((await fetchText(`${w.url}/patient?id=`)).status).toBe(400);
    await w.close();
    // Requests are logged (debug) by path only: the identifier looked up never reaches the logs, nor any name.
    expect(lines.filter((l) => l.msg === 'request').map((l) => l.path)).toContain('/patient');
    const logText = JSON.stringify(lines);
    for (const re of PHI) expect(logText).not.toMatch(re);
  });
});

describe('ACK write failures', () => {
  it('an ACK folder that cannot be written is counted as an ACK write failure, and the source reports its error', async () => {
    const s = site({ source: { stableMs: 150, pollMs: POLL_MS } });
    // The ACK folder's path is taken by a file: every ACK write fails (as root, modes would not stop it).
    rmSync(s.outbox, { recursive: true, force: true });
    writeFileSync(s.outbox, 'not a folder');
    const w = await startWatching(s);
    running.push(w);
    s.drop('adt_20250312.hl7', fixture('envelope.hl7'));
    await until(async () => (sample((await fetchText(`${w.url}/metrics`)).text, 'pamdrop_ack_write_failures_total{source="local"}') ?? 0) >= 1, 15_000, 'an ACK write failure to be counted');
    const m = (await fetchText(`${w.url}/metrics`)).text;
    expect(sample(m, 'pamdrop_file_failures_total{source="local"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'pamdrop_files_total{source="local",outcome="archived"}')).toBe(0);
    expect(sample(m, 'pamdrop_cycles_total{source="local",result="failed"}')).toBeGreaterThanOrEqual(1);
    expect(w.observer.health().sources[0]!.lastError).toMatch(/^adt_20250312\.hl7: E[A-Z]+/);
    // The page shows the source's error; the messages were committed, so they are listed too.
    const page = (await fetchText(`${w.url}/`)).text;
    expect(page).toMatch(/<div class="note">adt_20250312\.hl7: E[A-Z]+/);
    // Fixed: the backoff ends, the ACK files are rewritten from the ledger and the file is archived.
    rmSync(s.outbox, { force: true });
    mkdirSync(s.outbox);
    await until(() => files(s.archive).some((f) => f.endsWith('adt_20250312.hl7')), 20_000, 'the file to go through once the ACK folder is fixed');
    await until(async () => sample((await fetchText(`${w.url}/metrics`)).text, 'pamdrop_files_total{source="local",outcome="archived"}') === 1, 5000, 'the archive to be counted');
    expect(files(s.outbox)).toHaveLength(3);
    await w.close();
  });
});

describe('pamdrop watch --http-port (CLI)', () => {
  it('serves on a loopback port and closes it with the watcher on SIGTERM (exit 0)', async () => {
    if (!existsSync(BIN.replace(/bin\/pamdrop\.js$/, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run npm run build (npm test does)');
    const s = site({ source: { stableMs: 150, pollMs: POLL_MS } });
    s.drop('adt_20250312.hl7', fixture('envelope.hl7'));
    const p = spawnCli(s, ['watch', '--http-port', '0']);
    let url = '';
    await until(() => {
      const m = /"msg":"status page, metrics and health check listening"[^\n]*"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(p.stderr());
      if (m) url = m[1]!;
      return url !== '';
    }, 15_000, 'the HTTP server to listen');
    await until(async () => sample((await fetchText(`${url}/metrics`)).text, 'pamdrop_messages_total{source="local",ack="AA"}') === 3, 15_000, 'the batch to be counted');
    expect((await fetchText(`${url}/healthz`)).status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exit).toEqual({ code: 0, signal: null });
    const port = Number(new URL(url).port);
    await expect(new Promise((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => { sock.destroy(); resolve('connected'); });
      sock.on('error', reject);
    })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // No patient data in the daemon's logs either.
    for (const re of PHI) expect(p.stderr()).not.toMatch(re);
  });
});
