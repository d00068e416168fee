/**
 * Test program — the `ftp` block of a source: what the schema and the loader accept and refuse, and what they
 * resolve to (TLS by default, plain FTP only when asked for in so many words, secrets never in the JSON).
 */
import { describe, it, expect } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/shared/errors.js';
import { preflight } from '../../src/pipeline/service.js';
import { certFingerprint, defaultFtpPort, normalizeCertPin } from '../../src/intake/ftp.js';

const ftp = { host: 'ftp.example.org', username: 'u', remoteInbox: '/in', remoteArchiveDir: '/arc', passwordEnv: 'FTP_PW' };
const load = (f: Record<string, unknown>) => resolveConfig({ sources: [{ name: 'a', type: 'ftp', ftp: f } as never] }, '/base');

describe('ftp source settings', () => {
  it('resolves to explicit TLS, archive after processing, no pin; relative files against the config folder', () => {
    const s = load({ ...ftp, passwordEnv: undefined, passwordFile: 'secrets/ftp.pw', caFile: 'ca.pem' }).sources[0]!;
    expect(s.type).toBe('ftp');
    expect(s.ftp).toMatchObject({ secure: 'explicit', afterProcessing: 'archive', pinnedCertSha256: [], passwordFile: '/base/secrets/ftp.pw', caFile: '/base/ca.pem' });
    expect(defaultFtpPort('explicit')).toBe(21);
    expect(defaultFtpPort('implicit')).toBe(990);
  });

  it.each([
    [{ ...ftp, secure: false }, /^config: sources\[0\]\.ftp\.secure: is false \(plain FTP: password and files in clear\)/],
    [{ ...ftp, insecure: true }, /^config: sources\[0\]\.ftp\.insecure: only allows plain FTP/],
    [{ ...ftp, secure: false, insecure: true, pinnedCertSha256: ['AA'.repeat(32)] }, /caFile and pinnedCertSha256 need TLS/],
    [{ ...ftp, passwordEnv: undefined }, /^config: sources\[0\]\.ftp: needs passwordEnv or passwordFile$/],
    [{ ...ftp, passwordFile: 'pw' }, /give passwordEnv or passwordFile, not both/],
    [{ ...ftp, password: 'hunter2' }, /^config: sources\[0\]\.ftp\.password: secrets are not allowed in the config: use passwordEnv or passwordFile$/],
    [{ ...ftp, passive: false }, /^config: sources\[0\]\.ftp\.passive: must be true: only passive mode is supported$/],
    [{ ...ftp, secure: true }, /^config: sources\[0\]\.ftp\.secure: must be one of explicit, implicit, false$/],
    [{ ...ftp, pinnedCertSha256: ['SHA256:abc'] }, /pinnedCertSha256\[0\]: must pin one or two SHA-256 certificate fingerprints/],
    [{ ...ftp, remoteArchiveDir: undefined }, /^config: sources\[0\]\.ftp\.remoteArchiveDir: is required when afterProcessing is "archive"/],
    [{ ...ftp, user: 'u' }, /^config: sources\[0\]\.ftp\.user: unknown key$/],
  ])('refuses %j', (f, message) => {
    expect(() => load(f)).toThrow(ConfigError);
    expect(() => load(f)).toThrow(message);
  });

  it('a type ftp source needs its ftp block', () => {
    expect(() => resolveConfig({ sources: [{ name: 'a', type: 'ftp' } as never] }, '/')).toThrow(/^config: sources\[0\]\.ftp: is required$/);
  });

  it('plain FTP with insecure: true loads; pins are read in any of the usual spellings', () => {
    expect(load({ ...ftp, secure: false, insecure: true }).sources[0]!.ftp!.secure).toBe(false);
    const fp = certFingerprint(Buffer.from('certificate'));
    expect(fp).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    for (const spelling of [fp, fp.toLowerCase(), fp.replace(/:/g, ''), `sha256:${fp}`, ` ${fp.replace(/:/g, '').toLowerCase()} `]) {
      expect(normalizeCertPin(spelling)).toBe(fp);
      expect(() => load({ ...ftp, pinnedCertSha256: [spelling] })).not.toThrow();
    }
  });

  it('preflight: an unset password variable is a configuration error before any connection', () => {
    const c = load(ftp);
    expect(() => preflight(c.sources, {})).toThrow(/^config: source a\.ftp\.passwordEnv: environment variable FTP_PW is not set$/);
    expect(() => preflight(c.sources, { FTP_PW: 'x' })).not.toThrow();
  });
});
