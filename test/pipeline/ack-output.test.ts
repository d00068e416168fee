/**
 * Test program for the two performance helpers of the ACK output (BENCHMARKS.md):
 * - pipeline/ack-names.ts: the compact set of ACK names answers exactly like a Set<string> (counters, gaps, leading
 *   zeros, scattered values past the interval limit, names of any other shape), 2 million counter names included;
 * - pipeline/ack-writer.ts: files land with their exact bytes and no temp file left, and a failure comes back as the
 *   same fs error the synchronous writer gives (code, message), so run reports do not change; with a database path it
 *   also checkpoints that SQLite WAL on its own connection, after the files.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckNameSet } from '../../src/pipeline/ack-names.js';
import Database from 'better-sqlite3';
import { closeCheckpointer, writeAckFiles } from '../../src/pipeline/ack-writer.js';
import { LocalAckSink } from '../../src/pipeline/files.js';
import { rng } from '../../bench/generate.js';

const work = mkdtempSync(join(tmpdir(), 'pamdrop-ack-output-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('AckNameSet', () => {
  it.each([
    ['counter with gaps', (r: () => number, i: number) => `G${String(i + Math.floor(r() * 3)).padStart(9, '0')}`],
    ['leading zeros and msgN forms', (r: () => number) => (r() < 0.5 ? `msg${Math.floor(r() * 50)}` : `G${String(Math.floor(r() * 100)).padStart(Math.floor(r() * 4), '0')}`)],
    ['scattered numbers (interval limit)', (r: () => number) => String(Math.floor(r() * 1e6))],
    ['other shapes', (r: () => number) => ['A_B', 'ab', '0', '00', '9'.repeat(16), '9'.repeat(15), 'G1.2', 'x'][Math.floor(r() * 8)]! + (r() < 0.5 ? Math.floor(r() * 10) : '')],
  ])('answers like a Set<string>: %s', (_label, middle) => {
    const r = rng(11);
    const compact = new AckNameSet('adt.', '.ack.hl7');
    const plain = new Set<string>();
    for (let i = 0; i < 12_000; i++) {
      const name = `${r() < 0.05 ? 'other.' : 'adt.'}${middle(r, i)}${r() < 0.05 ? '.txt' : '.ack.hl7'}`;
      expect(compact.has(name)).toBe(plain.has(name));
      compact.add(name);
      plain.add(name);
      expect(compact.size).toBe(plain.size);
    }
  });

  it('two million counter names (one interval): exact answers at both ends', () => {
    const names = new AckNameSet('adt.', '.ack.hl7');
    for (let i = 1; i <= 2_000_000; i++) names.add(`adt.G${String(i).padStart(9, '0')}.ack.hl7`);
    expect(names.size).toBe(2_000_000);
    expect(names.has('adt.G000000001.ack.hl7')).toBe(true);
    expect(names.has('adt.G002000001.ack.hl7')).toBe(false);
    expect(names.has('adt.G00000001.ack.hl7')).toBe(false);
  });
});

describe('writeAckFiles (ACK writer thread)', () => {
  it('writes every file with its bytes, through a temp name, and leaves no temp file', async () => {
    const dir = join(work, 'out', 'nested');
    const entries = Array.from({ length: 300 }, (_, i) => ({ name: `f.G${i}.ack.hl7`, bytes: Buffer.from(`MSH|^~\\&|é${i}\rMSA|AA|G${i}\r`, 'latin1') }));
    await writeAckFiles(dir, entries);
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(300);
    expect(files.some((f) => f.startsWith('.'))).toBe(false);
    for (const e of entries) expect(readFileSync(join(dir, e.name)).equals(e.bytes)).toBe(true);
  });

  it('fails with the same error as the synchronous writer', async () => {
    const blocker = join(work, 'not-a-folder');
    writeFileSync(blocker, 'x');
    const entries = [{ name: 'a.ack.hl7', bytes: Buffer.from('MSA|AA|1\r') }];
    const sync = await new LocalAckSink(join(blocker, 'sub')).write(entries).then(() => null, (e: NodeJS.ErrnoException) => e);
    const threaded = await writeAckFiles(join(blocker, 'sub'), entries).then(() => null, (e: NodeJS.ErrnoException) => e);
    expect(sync).not.toBeNull();
    expect(threaded).toBeInstanceOf(Error);
    expect({ code: threaded!.code, message: threaded!.message }).toEqual({ code: sync!.code, message: sync!.message });
  });

  it('checkpoints the WAL of the given database after the files, on its own connection', async () => {
    const path = join(work, 'ckpt.sqlite');
    const conn = new Database(path);
    conn.pragma('journal_mode = WAL');
    conn.pragma('wal_autocheckpoint = 0');
    conn.exec('CREATE TABLE t (x TEXT)');
    const ins = conn.prepare('INSERT INTO t VALUES (?)');
    conn.transaction(() => { for (let i = 0; i < 2000; i++) ins.run('x'.repeat(200)); })();
    const dir = join(work, 'ckpt-acks');
    const r = await writeAckFiles(dir, [{ name: 'a.ack.hl7', bytes: Buffer.from('MSA|AA|1\r') }], null, path);
    expect(readdirSync(dir)).toEqual(['a.ack.hl7']);
    expect(r).not.toBeNull();
    expect(r!.busy).toBe(0);
    expect(r!.log).toBeGreaterThan(50);
    expect(r!.checkpointed).toBe(r!.log);
    // Everything is in the database file: a checkpoint from this connection has nothing left to copy.
    expect(conn.pragma('wal_checkpoint(PASSIVE)')).toEqual([{ busy: 0, log: r!.log, checkpointed: r!.log }]);
    await closeCheckpointer(path);
    conn.close();
  });

  it('writes the files and reports no checkpoint when the database does not exist', async () => {
    const dir = join(work, 'ckpt-missing');
    const r = await writeAckFiles(dir, [{ name: 'b.ack.hl7', bytes: Buffer.from('MSA|AA|2\r') }], null, join(work, 'nope.sqlite'));
    expect(r).toBeNull();
    expect(readdirSync(dir)).toEqual(['b.ack.hl7']);
    await closeCheckpointer(join(work, 'nope.sqlite'));
  });
});
