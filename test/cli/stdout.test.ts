/**
 * Test program — stdout carries reports only:
 * 1. knex prints its own warnings ("Connection Error: …", pool warnings) with console.log, i.e. on stdout, which
 *    would corrupt `--json` output. openDb routes them to the pamdrop logger (stderr), on both databases.
 * 2. `pamdrop patients | head -1`: the reader goes away (EPIPE); the CLI stops writing and exits with its own exit
 *    code, without a stack trace on stderr.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateFile } from '../../bench/generate.js';
import { dbKinds, openTestDb } from '../helpers/db.js';
import { createLogger } from '../../src/shared/logger.js';

const BIN = resolve('bin/pamdrop.js');

describe.each(dbKinds())('knex warnings go to the logger, never stdout (%s)', (kind) => {
  it('a driver warning is a log record on the pamdrop logger', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(JSON.parse(l)) });
    const t = await openTestDb(kind, { log });
    const consoleLog = vi.spyOn(console, 'log');
    const stdout = vi.spyOn(process.stdout, 'write');
    try {
      const logger = (t.db.knex as unknown as { client: { logger: { warn(m: unknown): void; error(m: unknown): void } } }).client.logger;
      logger.warn('Connection Error: Error: connect ECONNREFUSED 127.0.0.1:5432');
      logger.error(new Error('pool is broken'));
      expect(consoleLog).not.toHaveBeenCalled();
      expect(stdout).not.toHaveBeenCalled();
    } finally {
      consoleLog.mockRestore();
      stdout.mockRestore();
      await t.cleanup();
    }
    expect(lines.map((l) => [l.level, l.detail])).toEqual([
      ['warn', 'Connection Error: Error: connect ECONNREFUSED 127.0.0.1:5432'],
      ['error', 'Error: pool is broken'],
    ]);
  });
});

describe('pamdrop patients | head -1', () => {
  let dir: string;
  const db = () => join(dir, 'pamdrop.sqlite');
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pamdrop-epipe-'));
    // Enough patients for an output far larger than a pipe buffer (64 KiB): the writer is still writing when head exits.
    await generateFile(join(dir, 'batch.hl7'), { messages: 1500, seed: 3, envelope: false });
    const r = spawnSync(process.execPath, [BIN, '--db', db(), '--log-level', 'error', 'import', join(dir, 'batch.hl7'),
      '--ack-dir', join(dir, 'outbox'), '--archive-dir', join(dir, 'archive'), '--error-dir', join(dir, 'error')], { encoding: 'utf8' });
    expect(r.status === 0 || r.status === 1, r.stderr).toBe(true);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([[[] as string[]], [['--json']]])('exits quietly when the reader goes away (%j)', (flags) => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" --db "${db()}" ${flags.join(' ')} patients | head -1`], { encoding: 'utf8' });
    const full = spawnSync(process.execPath, [BIN, '--db', db(), ...flags, 'patients'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(full.stdout.length).toBeGreaterThan(256 * 1024);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe(full.stdout.split('\n')[0]);
  }, 30_000);

  it('the exit code is the command\'s own, not a crash', () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" --db "${db()}" patients | head -c 10 >/dev/null`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 30_000);
});
