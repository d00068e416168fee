/**
 * MLLP over TLS with client certificates (throwaway certificates made with openssl here): a client whose certificate
 * the configured CA signed is served; one without a certificate, or with one from another CA, is refused at the
 * handshake and nothing reaches the store. And the configuration rules: loopback unless TLS or allowPlain, a CA with
 * requireClientCert.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/load.js';
import { startListeners, type RunningListeners } from '../../src/mllp/service.js';
import { openDb } from '../../src/store/db.js';
import type { Db } from '../../src/store/tx.js';
import { silentLogger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { makeOwner } from '../../src/store/ledger.js';
import { A28_CREATE, A31_UPDATE } from '../fixtures/examples.js';
import { MllpClient, msa } from './client.js';
import { checkListeners } from '../../src/mllp/doctor.js';
import { runDoctor } from '../../src/ops/doctor.js';

const dir = mkdtempSync(join(tmpdir(), 'mllp-tls-'));
const p = (f: string) => join(dir, f);
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

function makeCa(name: string): void {
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
}
function makeCert(name: string, ca: string, san?: string): void {
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  const ext = join(dir, `${name}.ext`);
  execFileSync('sh', ['-c', `printf '%s\\n' "${san ? `subjectAltName=${san}` : 'extendedKeyUsage=clientAuth'}" > "${ext}"`]);
  ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext);
}

let db: Db;
let running: RunningListeners;
let port = 0;

beforeAll(async () => {
  makeCa('ca1');
  makeCa('ca2');
  makeCert('server', 'ca1', 'IP:127.0.0.1,DNS:localhost');
  makeCert('client', 'ca1');
  makeCert('stranger', 'ca2');
  db = await openDb(p('pamdrop.sqlite'));
  const config = resolveConfig({ listeners: [{ name: 'tls', port: 0, tls: { certFile: 'server.crt', keyFile: 'server.key', caFile: 'ca1.crt' } }] }, dir);
  running = await startListeners({ db, config, log: silentLogger, clock: systemClock, owner: makeOwner('tls-test') }, config.listeners);
  port = running.listeners[0]!.port;
}, 60_000);

afterAll(async () => {
  await running?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ca = () => readFileSync(p('ca1.crt'));

/** Connects and sends one message; resolves its ACK, rejects when the server refused the client. */
async function sendOne(tls: { cert?: string; key?: string }, message: string): Promise<Buffer> {
  const c = await MllpClient.open(port, { ca: ca(), servername: 'localhost', ...(tls.cert ? { cert: readFileSync(p(tls.cert)), key: readFileSync(p(tls.key!)) } : {}) });
  try {
    return await c.request(message, 5000);
  } finally {
    c.close();
  }
}

const stored = async () => (await db.all<{ control_id: string }>('SELECT control_id FROM messages ORDER BY id')).map((r) => r.control_id);

describe('MLLP over TLS with client certificates', () => {
  it('serves a client whose certificate the configured CA signed', async () => {
    const ack = await sendOne({ cert: 'client.crt', key: 'client.key' }, A28_CREATE);
    expect(msa(ack)).toEqual({ code: 'AA', controlId: 'GAM000101' });
    expect(await stored()).toEqual(['GAM000101']);
    expect(running.views()[0]!.tls).toBe(true);
  });

  it('refuses a client without a certificate: no ACK, nothing stored', async () => {
    await expect(sendOne({}, A31_UPDATE)).rejects.toThrow();
    expect(await stored()).toEqual(['GAM000101']);
  });

  it('refuses a client whose certificate another CA signed: no ACK, nothing stored', async () => {
    await expect(sendOne({ cert: 'stranger.crt', key: 'stranger.key' }, A31_UPDATE)).rejects.toThrow();
    expect(await stored()).toEqual(['GAM000101']);
  });
});

describe('listener configuration', () => {
  it('a non-loopback host needs tls or allowPlain', () => {
    expect(() => resolveConfig({ listeners: [{ name: 'l', port: 2575, host: '0.0.0.0' }] }, dir)).toThrow(/listeners\[0\]\.host: 0\.0\.0\.0 is not a loopback address/);
    expect(resolveConfig({ listeners: [{ name: 'l', port: 2575, host: '0.0.0.0', allowPlain: true }] }, dir).listeners[0]!.host).toBe('0.0.0.0');
    const tls = resolveConfig({ listeners: [{ name: 'l', port: 2575, host: '0.0.0.0', tls: { certFile: 'server.crt', keyFile: 'server.key', caFile: 'ca1.crt' } }] }, dir);
    expect(tls.listeners[0]!.tls).toEqual({ certFile: p('server.crt'), keyFile: p('server.key'), caFile: p('ca1.crt'), requireClientCert: true });
  });

  it('requireClientCert needs the CA; names are unique among sources and listeners; unknown keys are refused', () => {
    expect(() => resolveConfig({ listeners: [{ name: 'l', port: 1, tls: { certFile: 'a', keyFile: 'b' } }] }, dir)).toThrow(/listeners\[0\]\.tls\.caFile: is required with requireClientCert/);
    expect(() => resolveConfig({ listeners: [{ name: 'local', port: 1 }] }, dir)).toThrow(/listeners\[0\]\.name: local is already the name of a source or listener/);
    expect(() => resolveConfig({ listeners: [{ name: 'l', port: 1, bogus: 1 } as never] }, dir)).toThrow(/listeners\[0\]\.bogus: unknown key/);
    expect(resolveConfig({ listeners: [{ name: 'l', port: 1 }] }, dir).listeners[0]).toEqual({
      name: 'l', port: 1, host: '127.0.0.1', tls: null, allowPlain: false, maxMessageBytes: 1048576, idleTimeoutMs: 600000, maxConnections: 16, journalDir: null });
  });
});

describe('doctor on listeners', () => {
  it('port bound or free, TLS files loading or not, certificate end', async () => {
    const cfg = (o: object) => resolveConfig({ listeners: [{ name: 'tls', port, tls: { certFile: 'server.crt', keyFile: 'server.key', caFile: 'ca1.crt' }, ...o }] }, dir).listeners;
    const inUse = await checkListeners(cfg({}));
    expect(inUse.map((c) => [c.name, c.status])).toEqual([['listener tls: TLS', 'WARN'], ['listener tls: port', 'WARN']]); // a 2-day certificate
    expect(inUse[1]!.detail).toBe(`127.0.0.1:${port} is in use`);
    const free = await checkListeners(cfg({ port: 0 }));
    expect(free[1]).toMatchObject({ status: 'OK', detail: '127.0.0.1:0 can be bound' });
    const mismatch = await checkListeners(cfg({ port: 0, tls: { certFile: 'server.crt', keyFile: 'client.key', caFile: 'ca1.crt' } }));
    expect(mismatch[0]).toMatchObject({ name: 'listener tls: TLS', status: 'FAIL' });
    const missing = await checkListeners(cfg({ port: 0, tls: { certFile: 'nope.crt', keyFile: 'server.key', caFile: 'ca1.crt' } }));
    expect(missing[0]).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('ENOENT') });
    const later = await checkListeners(cfg({ port: 0 }), new Date(Date.now() + 3 * 86_400_000));
    expect(later[0]).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('expired') });
    const plain = await checkListeners(resolveConfig({ listeners: [{ name: 'p', port: 0 }] }, dir).listeners);
    expect(plain.map((c) => c.status)).toEqual(['OK', 'OK']);
  });

  it('journalDir: a folder pamdrop can write (OK), one it can create (WARN, as for source folders), a file in its place (FAIL)', async () => {
    writeFileSync(join(dir, 'not-a-folder'), 'x');
    const config = resolveConfig({ listeners: [
      { name: 'j0', port: 0, journalDir: dir },
      { name: 'j1', port: 0, journalDir: join(dir, 'journal', 'new') },
      { name: 'j2', port: 0, journalDir: join(dir, 'not-a-folder') },
    ] }, dir);
    const checks = await runDoctor(config, silentLogger, { offline: true });
    const journal = checks.filter((c) => c.name.endsWith(': journalDir'));
    expect(journal.map((c) => [c.name, c.status])).toEqual([['listener j0: journalDir', 'OK'], ['listener j1: journalDir', 'WARN'], ['listener j2: journalDir', 'FAIL']]);
    expect(journal[2]!.detail).toContain('exists but is not a folder');
  });
});
