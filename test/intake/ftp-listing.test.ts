/**
 * Test program — what pamdrop reads off an FTP listing (pure, no server): times of LIST and MLSD lines as
 * numbers that compare equal when the listing did not change, and names in any bytes, shown as text and sent
 * back byte for byte.
 */
import { describe, it, expect } from 'vitest';
import { listingTime, RemoteNames, unrender } from '../../src/intake/ftp-listing.js';

describe('listing times', () => {
  const now = new Date(Date.UTC(2026, 0, 10, 12, 0));
  it('reads LIST times to the minute, inferring the year (never more than a day ahead of ours)', () => {
    expect(listingTime('Jan 10 11:59', undefined, now)).toBe(Date.UTC(2026, 0, 10, 11, 59));
    expect(listingTime('Dec 31 23:00', undefined, now)).toBe(Date.UTC(2025, 11, 31, 23, 0));
    expect(listingTime('Jan 11 08:00', undefined, now)).toBe(Date.UTC(2026, 0, 11, 8, 0));
    expect(listingTime('Mar  3  2024', undefined, now)).toBe(Date.UTC(2024, 2, 3));
  });
  it('prefers the exact MLSD time; an unknown format is a stable number of its text', () => {
    const exact = new Date(Date.UTC(2026, 0, 9, 8, 7, 6));
    expect(listingTime('Jan 09 08:07', exact, now)).toBe(exact.getTime());
    const odd = listingTime('yesterday-ish', undefined, now);
    expect(Number.isFinite(odd)).toBe(true);
    expect(listingTime('yesterday-ish', undefined, now)).toBe(odd);
    expect(listingTime('today-ish', undefined, now)).not.toBe(odd);
  });
});

describe('remote names', () => {
  const wire = (b: Buffer) => b.toString('latin1');
  it('UTF-8 names are shown decoded and sent back as their UTF-8 bytes', () => {
    const names = new RemoteNames();
    const utf8 = Buffer.from('adt_février.hl7', 'utf8');
    expect(names.fromWire(wire(utf8))).toEqual({ name: 'adt_février.hl7', raw: null });
    expect(Buffer.from(names.toWire('/in/adt_février.hl7'), 'latin1')).toEqual(Buffer.from('/in/adt_février.hl7', 'utf8'));
  });
  it('other names are shown under their rendering and sent back as their own bytes, even from a fresh listing-less state', () => {
    const latin1 = Buffer.from('adt_f\xe9vrier 100%.hl7', 'latin1');
    const names = new RemoteNames();
    expect(names.fromWire(wire(latin1)).name).toBe('adt_f%E9vrier 100%25.hl7');
    expect(Buffer.from(names.toWire('/arc/adt_f%E9vrier 100%25.hl7'), 'latin1')).toEqual(Buffer.concat([Buffer.from('/arc/'), latin1]));
    // After a restart, before any listing: the rendering alone gives the bytes back.
    expect(Buffer.from(new RemoteNames().toWire('/in/adt_f%E9vrier 100%25.hl7'), 'latin1')).toEqual(Buffer.concat([Buffer.from('/in/'), latin1]));
  });
  it('a UTF-8 name that merely contains %XX is not taken for a rendering', () => {
    expect(unrender('report%20final.hl7')).toBeNull();
    expect(unrender('plain.hl7')).toBeNull();
    expect(Buffer.from(new RemoteNames().toWire('/in/report%20final.hl7'), 'latin1').toString('utf8')).toBe('/in/report%20final.hl7');
    // A UTF-8 name that reads like a rendering, once listed, stands for itself.
    const names = new RemoteNames();
    expect(names.fromWire(wire(Buffer.from('f%E9vrier.hl7'))).raw).toBeNull();
    expect(names.toWire('/in/f%E9vrier.hl7')).toBe('/in/f%E9vrier.hl7');
    expect(Buffer.from(new RemoteNames().toWire('/in/f%E9vrier.hl7'), 'latin1')).toEqual(Buffer.from('/in/f\xe9vrier.hl7', 'latin1'));
  });
});
