/**
 * `pamdrop doctor` on the MLLP listeners: the port can be bound on its address (in use: WARN, as a running `watch`
 * holds it; refused: FAIL), the TLS files load into a TLS context (certificate, key that matches it, CA), and the
 * server certificate is not expired (WARN within 30 days of its end).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { ListenerConfig } from '../config/types.js';
import type { Check } from '../ops/doctor.js';

const DAY_MS = 86_400_000;

async function checkPort(l: ListenerConfig): Promise<Check> {
  const name = `listener ${l.name}: port`;
  const where = `${l.host}:${l.port}`;
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        resolve({ name, status: 'WARN', detail: `${where} is in use`, hint: 'fine if `pamdrop watch` is running and holds it; otherwise another program does, and watch will not start: change the port' });
      } else {
        resolve({ name, status: 'FAIL', detail: `cannot bind ${where}: ${err.code ?? err.message}`, hint: err.code === 'EACCES' ? 'ports below 1024 need privileges: use a port ≥ 1024' : 'check host (an address of this machine) and port' });
      }
    });
    s.listen({ host: l.host, port: l.port }, () => s.close(() => resolve({ name, status: 'OK', detail: `${where} can be bound` })));
  });
}

function checkTls(l: ListenerConfig, now: Date): Check[] {
  const t = l.tls;
  const name = `listener ${l.name}: TLS`;
  if (!t) return [{ name, status: 'OK', detail: l.allowPlain ? `plain TCP on ${l.host} (allowPlain)` : `plain TCP on loopback ${l.host}` }];
  let cert: Buffer;
  try {
    cert = readFileSync(t.certFile);
    createSecureContext({ cert, key: readFileSync(t.keyFile), ca: t.caFile ? readFileSync(t.caFile) : undefined });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return [{ name, status: 'FAIL', detail: `the certificate, key or CA does not load: ${e.code ?? ''} ${e.message}`.trim(), hint: 'certFile and keyFile: PEM, the key matching the certificate; caFile: PEM CA certificates; readable by pamdrop' }];
  }
  const x = new X509Certificate(cert);
  const end = new Date(x.validTo);
  const left = end.getTime() - now.getTime();
  const detail = `certificate ${x.subject.replace(/\n/g, ', ')}, valid until ${end.toISOString().slice(0, 10)}${t.requireClientCert ? ', client certificates required' : ''}`;
  if (left <= 0) return [{ name, status: 'FAIL', detail: `${detail}: expired`, hint: 'renew the server certificate' }];
  if (left < 30 * DAY_MS) return [{ name, status: 'WARN', detail: `${detail}: expires in ${Math.ceil(left / DAY_MS)} day(s)`, hint: 'renew the server certificate' }];
  return [{ name, status: 'OK', detail }];
}

export async function checkListeners(listeners: readonly ListenerConfig[], now = new Date()): Promise<Check[]> {
  const out: Check[] = [];
  for (const l of listeners) out.push(...checkTls(l, now), await checkPort(l));
  return out;
}
