/**
 * Test program — the pure parts of intake: which names are taken (globs, ignore list, done markers, unsafe
 * names), when a file is complete (size + mtime unchanged for stableMs on our clock), and in which order
 * (natural names or mtime; a settling file holds back the files after it; resumed files first); host key
 * fingerprints and the SFTP config rules; the progress line.
 */
import { describe, it, expect } from 'vitest';
import { globMatch, matchesAny } from '../../src/intake/match.js';
import { unsafeName, type SourceEntry } from '../../src/intake/source.js';
import { StabilityTracker } from '../../src/intake/stability.js';
import { candidates, select, type SelectOptions } from '../../src/intake/select.js';
import { DEFAULT_IGNORE } from '../../src/config/defaults.js';
import { fingerprint, isPin, keyType, normalizePin } from '../../src/intake/sftp.js';
import { resolveConfig } from '../../src/config/load.js';
import { Progress } from '../../src/intake/progress.js';
import { createLogger } from '../../src/shared/logger.js';

const opts = (o: Partial<SelectOptions> = {}): SelectOptions => ({ pattern: '*', ignore: DEFAULT_IGNORE, doneMarker: null, minBytes: 8, sort: 'name', ...o });
const e = (name: string, size = 100, mtimeMs = 1000): SourceEntry => ({ name, size, mtimeMs });

describe('name filters', () => {
  it.each([
    ['*.hl7', 'adt_1.hl7', true], ['*.hl7', 'adt_1.HL7', false], ['*.hl7', 'adt_1.hl7.part', false],
    ['adt_??.hl7', 'adt_12.hl7', true], ['adt_??.hl7', 'adt_1.hl7', false], ['[ab]*', 'b.txt', true], ['[!ab]*', 'b.txt', false],
    ['*', '.hidden', true], ['a+b(1).hl7', 'a+b(1).hl7', true],
  ])('%s on %s → %s', (glob, name, want) => {
    expect(globMatch(glob, name)).toBe(want);
  });

  it.each(['.x.hl7', 'a.tmp', 'a.hl7.part', 'a.hl7.filepart', '.staging'])('default ignore list skips %s', (name) => {
    expect(matchesAny(DEFAULT_IGNORE, name)).toBe(true);
  });

  it.each([['a/b'], ['..'], ['.'], ['a..b.hl7'], ['bad\x01.hl7'], ['bad\n.hl7'], ['a\\b'], ['']])('refuses the remote name %j', (name) => {
    expect(unsafeName(name)).not.toBeNull();
  });

  it('accepts ordinary names', () => {
    expect(unsafeName('ADT_20250312-001.hl7')).toBeNull();
    expect(unsafeName('é è.hl7')).toBeNull();
  });
});

describe('stability on our clock', () => {
  it('needs the same size and mtime for stableMs between two listings', () => {
    const t = new StabilityTracker(1000);
    t.observe([e('a', 10)], 0);
    expect(t.isStable(e('a', 10), 0)).toBe(false);
    expect(t.isStable(e('a', 10), 5000)).toBe(false); // seen once only: a second listing must confirm
    t.observe([e('a', 10)], 900);
    expect(t.isStable(e('a', 10), 900)).toBe(false);
    t.observe([e('a', 10)], 1000);
    expect(t.isStable(e('a', 10), 1000)).toBe(true);
  });

  it('starts over when the size or the mtime changes, and marks the file as changing', () => {
    const t = new StabilityTracker(1000);
    t.observe([e('a', 10, 1)], 0);
    t.observe([e('a', 20, 1)], 1500);
    expect(t.isStable(e('a', 20, 1), 1500)).toBe(false);
    expect(t.get('a')!.changed).toBe(true);
    t.observe([e('a', 20, 2)], 2600); // same size, new mtime (a copy that rewrote the same bytes)
    expect(t.isStable(e('a', 20, 2), 2600)).toBe(false);
    t.observe([e('a', 20, 2)], 3600);
    expect(t.isStable(e('a', 20, 2), 3600)).toBe(true);
    expect(t.get('a')!.changed).toBe(false);
  });

  it('stableMs 0 takes a file at first sight', () => {
    const t = new StabilityTracker(0);
    t.observe([e('a')], 0);
    expect(t.isStable(e('a'), 0)).toBe(true);
  });

  it('forgets files that disappear', () => {
    const t = new StabilityTracker(1000);
    t.observe([e('a')], 0);
    t.observe([], 10);
    expect(t.get('a')).toBeUndefined();
  });
});

describe('selection and order', () => {
  const plan = (entries: SourceEntry[], o = opts(), settled: string[] = entries.map((x) => x.name), resumable = new Map<string, number>()) => {
    const t = new StabilityTracker(1000);
    const c = candidates(entries, o);
    t.observe(c.files.filter((f) => settled.includes(f.name)), 0);
    t.observe(c.files, 2000);
    return select(c, o, t, 2000, resumable);
  };

  it('natural name order over the whole listing', () => {
    const names = ['adt_10.hl7', 'adt_2.hl7', 'adt_1.hl7', 'ADT_3.hl7', 'adt_100.hl7'];
    expect(plan(names.map((n) => e(n))).take.map((x) => x.entry.name)).toEqual(['adt_1.hl7', 'adt_2.hl7', 'ADT_3.hl7', 'adt_10.hl7', 'adt_100.hl7']);
  });

  it('mtime order, natural name breaking ties', () => {
    const s = plan([e('c', 100, 3), e('b', 100, 1), e('a', 100, 3)], opts({ sort: 'mtime' }));
    expect(s.take.map((x) => x.entry.name)).toEqual(['b', 'a', 'c']);
  });

  it('a file still settling holds back every file after it, never the ones before', () => {
    const s = plan([e('adt_1.hl7'), e('adt_2.hl7'), e('adt_3.hl7')], opts(), ['adt_1.hl7', 'adt_3.hl7']);
    expect(s.take.map((x) => x.entry.name)).toEqual(['adt_1.hl7']);
    expect(s.heldBy).toBe('adt_2.hl7');
    expect(s.settleInMs).toBe(1000);
    expect(s.waitable).toBe(true);
  });

  it('skips temporary names, non-matching names and tiny files without holding anything', () => {
    const s = plan([e('a.hl7.part'), e('.b.hl7'), e('c.txt'), e('d.hl7', 3), e('e.hl7')], opts({ pattern: '*.hl7' }));
    expect(s.take.map((x) => x.entry.name)).toEqual(['e.hl7']);
    expect(s.tooSmall).toEqual(['d.hl7']);
  });

  it('a done marker is required, is never taken itself, and an orphan marker is reported', () => {
    const o = opts({ doneMarker: '.done' });
    const s = plan([e('a.hl7'), e('a.hl7.done', 0), e('b.hl7'), e('c.hl7.done', 0)], o);
    expect(s.take.map((x) => x.entry.name)).toEqual(['a.hl7']);
    expect(s.unmarked).toEqual(['b.hl7']);
    expect(candidates([e('c.hl7.done', 0)], o).orphanMarkers).toEqual(['c.hl7.done']);
  });

  it('files claimed by an interrupted run come first and skip the stability wait (same size only)', () => {
    const s = plan([e('adt_1.hl7'), e('adt_2.hl7'), e('adt_3.hl7', 50)], opts(), [], new Map([['adt_2.hl7', 100], ['adt_3.hl7', 999]]));
    expect(s.take).toEqual([{ entry: e('adt_2.hl7'), resume: true }]);
    expect(s.heldBy).toBe('adt_1.hl7');
  });
});

describe('host key fingerprints and pins', () => {
  it('formats like OpenSSH: SHA256 + unpadded base64 of the raw blob; reads the key type', () => {
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]);
    const fp = fingerprint(blob);
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(isPin(fp)).toBe(true);
    expect(normalizePin(fp + '=')).toBe(fp);
    expect(keyType(blob)).toBe('ssh-ed25519');
  });

  const sftpSource = (sftp: Record<string, unknown>) => ({ sources: [{ name: 's', type: 'sftp', sftp: { host: 'h', username: 'u', remoteInbox: '/in', remoteArchiveDir: '/arc', privateKeyFile: 'k', ...sftp } }] }) as never;

  it('config: at most two pins, in the SHA256:… form; none is accepted (keyscan) but refused at connection', () => {
    const pin = 'SHA256:' + 'A'.repeat(43);
    expect(resolveConfig(sftpSource({ hostKeySha256: [pin, 'SHA256:' + 'B'.repeat(43)] }), '/').sources[0]!.sftp!.hostKeySha256).toHaveLength(2);
    expect(resolveConfig(sftpSource({}), '/').sources[0]!.sftp!.hostKeySha256).toEqual([]);
    expect(() => resolveConfig(sftpSource({ hostKeySha256: [pin, pin, pin] }), '/')).toThrow(/hostKeySha256/);
    expect(() => resolveConfig(sftpSource({ hostKeySha256: ['MD5:aa:bb'] }), '/')).toThrow(/hostKeySha256/);
  });

  it('config: secrets never in the JSON; some credential required; remote archive needed unless delete', () => {
    expect(() => resolveConfig(sftpSource({ password: 'x' }), '/')).toThrow(/secrets are not allowed/);
    expect(() => resolveConfig(sftpSource({ privateKeyFile: undefined }), '/')).toThrow(/privateKeyFile, passwordEnv or passwordFile/);
    expect(() => resolveConfig(sftpSource({ remoteArchiveDir: undefined }), '/')).toThrow(/remoteArchiveDir/);
    expect(resolveConfig(sftpSource({ remoteArchiveDir: undefined, afterProcessing: 'delete' }), '/').sources[0]!.sftp!.afterProcessing).toBe('delete');
    expect(() => resolveConfig(sftpSource({ hots: 'typo' }), '/')).toThrow(/sftp\.hots: unknown key/);
  });
});

describe('progress of a long file', () => {
  it('on a TTY: one rewritten line (done/total, %, msg/s), cleared at the end of the file', () => {
    let out = '';
    const p = new Progress({ tty: true, write: (t) => { out += t; }, log: createLogger({ level: 'silent' }), redrawMs: 0 });
    p.update('chu', { file: 'adt.hl7', done: 0, total: 400 });
    p.update('chu', { file: 'adt.hl7', done: 200, total: 400 });
    expect(out.startsWith('\r\x1b[K')).toBe(true);
    expect(out.split('\r\x1b[K').pop()).toMatch(/^\[chu\] adt\.hl7: 200\/400 messages 50%, \d+ msg\/s$/);
    p.update('chu', null);
    expect(out.endsWith('\r\x1b[K')).toBe(true);
  });

  it('otherwise: a structured log line now and then, counts only', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
    const p = new Progress({ tty: false, write: () => { throw new Error('no drawing off a TTY'); }, log, logEveryMs: 0 });
    p.update('chu', { file: 'adt.hl7', done: 0, total: 400 });
    p.update('chu', { file: 'adt.hl7', done: 100, total: 400 });
    expect(lines.map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ msg: 'progress', source: 'chu', file: 'adt.hl7', done: 100, total: 400 })]);
  });
});
