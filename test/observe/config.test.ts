/**
 * Test program — the observation settings: off by default, loopback by default, a non-loopback httpHost
 * refused unless httpAllowRemote, ports and flags checked at the edge, config.example.json in step with the defaults.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../src/config/load.js';
import { getDefaultConfig } from '../../src/config/defaults.js';
import { isLoopbackHost } from '../../src/observe/loopback.js';
import { hostAllowed } from '../../src/observe/server.js';

describe('httpPort, httpHost, httpAllowRemote, showIdentities', () => {
  it('are off and loopback by default, as config.example.json says', () => {
    const d = getDefaultConfig();
    expect([d.httpPort, d.httpHost, d.httpAllowRemote, d.showIdentities]).toEqual([null, '127.0.0.1', false, false]);
    const example = JSON.parse(readFileSync('config.example.json', 'utf8'));
    expect([example.httpPort, example.httpHost, example.httpAllowRemote, example.showIdentities]).toEqual([null, '127.0.0.1', false, false]);
  });

  it('refuses a non-loopback host unless httpAllowRemote is true', () => {
    expect(() => resolveConfig({ httpPort: 9464, httpHost: '0.0.0.0' })).toThrow(/httpHost: 0\.0\.0\.0 is not a loopback address.*httpAllowRemote/);
    expect(() => resolveConfig({ httpHost: '10.1.2.3', httpAllowRemote: false })).toThrow(/not a loopback address/);
    expect(resolveConfig({ httpHost: '0.0.0.0', httpAllowRemote: true }).httpHost).toBe('0.0.0.0');
    for (const h of ['127.0.0.1', 'localhost', '::1', '127.0.0.2']) expect(resolveConfig({ httpHost: h }).httpHost).toBe(h);
  });

  it('checks types and ranges at the edge', () => {
    expect(() => resolveConfig({ httpPort: 70000 })).toThrow(/httpPort: must be a TCP port/);
    expect(() => resolveConfig({ httpPort: -1 })).toThrow(/httpPort/);
    expect(() => resolveConfig({ showIdentities: 'yes' as unknown as boolean })).toThrow(/showIdentities: must be true or false/);
    expect(() => resolveConfig({ httpHost: 'a b' })).toThrow(/httpHost: must be an IP address or host name/);
    expect(resolveConfig({ httpPort: 0 }).httpPort).toBe(0);
  });

  it('isLoopbackHost', () => {
    expect(['localhost', '127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'pamdrop.chu.example', '128.0.0.1'].some(isLoopbackHost)).toBe(false);
  });

  it('Host header check: loopback names on any port (SSH tunnels), never another name while bound to loopback', () => {
    for (const h of ['127.0.0.1:9464', 'localhost:9464', 'localhost:8080', '[::1]:9464', 'LOCALHOST', '127.0.0.1']) expect(hostAllowed('127.0.0.1', h)).toBe(true);
    for (const h of ['evil.example', 'evil.example:9464', '10.0.0.5:9464', '127.0.0.1.evil.example:9464', '', undefined]) expect(hostAllowed('127.0.0.1', h)).toBe(false);
    // Bound beyond loopback on purpose (httpAllowRemote): the client's name for the host cannot be known.
    expect(hostAllowed('0.0.0.0', 'pamdrop.chu.example:9464')).toBe(true);
  });
});
