/**
 * A throw-away site for pipeline and CLI tests: real folders (inbox, outbox, archive, archive/error) under
 * mkdtemp and a real store (SQLite file, or a private PostgreSQL schema). Runs the CLI in-process through
 * `main()` and reads back what a hospital would see: ACK files, archived and quarantined files, records.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { main } from '../../src/cli/main.js';
import { makeTarget, type DbKind } from './db.js';

export interface CliResult { code: number; stdout: string; stderr: string }

export interface Workspace {
  root: string;
  inbox: string;
  outbox: string;
  archive: string;
  error: string;
  /** --db target. */
  db: string;
  /** Writes a file into the inbox (string → written as latin1 "binary" unless a Buffer is given). */
  drop(name: string, content: string | Buffer): string;
  /** Runs `pamdrop <args>` with this site's --db and folders appended for `import`. */
  cli(...args: string[]): Promise<CliResult>;
  /** `import` of inbox files (all, in the order given by the CLI) with this site's folders. */
  importFiles(...names: string[]): Promise<CliResult>;
  /** ACK files: name → bytes, sorted by name. */
  acks(): Map<string, Buffer>;
  /** Files under archive/ (excluding error/), relative paths. */
  archived(): string[];
  /** Files under archive/error/, names. */
  quarantined(): string[];
  /** `patient <value> --json` parsed, or null when not found. */
  patient(value: string, ...extra: string[]): Promise<any>;
  patients(): Promise<any[]>;
  cleanup(): Promise<void>;
}

function walk(dir: string, skip?: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e);
    if (skip && p === skip) continue;
    if (statSync(p).isDirectory()) out.push(...walk(p, skip));
    else out.push(p);
  }
  return out;
}

/** A site before its first import has no store: read-only commands say so (exit 2) rather than create one. */
const noStoreYet = (r: CliResult): boolean => r.code === 2 && /^pamdrop: no pamdrop store at /.test(r.stderr);

export async function makeWorkspace(kind: DbKind = 'sqlite', opts: { config?: object } = {}): Promise<Workspace> {
  const root = mkdtempSync(join(tmpdir(), 'pamdrop-ws-'));
  const inbox = join(root, 'inbox'), outbox = join(root, 'outbox'), archive = join(root, 'archive'), error = join(archive, 'error');
  for (const d of [inbox, outbox, archive]) mkdirSync(d, { recursive: true });
  const target = kind === 'sqlite' ? { target: join(root, 'data', 'pamdrop.sqlite'), dispose: async () => {} } : makeTarget(kind);
  let configArgs: string[] = [];
  if (opts.config) {
    const cfgPath = join(root, 'config.json');
    writeFileSync(cfgPath, JSON.stringify(opts.config));
    configArgs = ['--config', cfgPath];
  }
  const cli = async (...args: string[]): Promise<CliResult> => {
    let stdout = '', stderr = '';
    const code = await main([...args, '--db', target.target, '--log-level', 'silent', ...configArgs], (t) => { stdout += t; }, (t) => { stderr += t; });
    return { code, stdout, stderr };
  };
  const ws: Workspace = {
    root, inbox, outbox, archive, error, db: target.target,
    drop(name, content) {
      const p = join(inbox, name);
      writeFileSync(p, typeof content === 'string' ? Buffer.from(content, 'latin1') : content);
      return p;
    },
    cli,
    importFiles: (...names) => cli('import', ...names.map((n) => join(inbox, n)), '--ack-dir', outbox, '--archive-dir', archive, '--error-dir', error, '--json'),
    acks() {
      const m = new Map<string, Buffer>();
      for (const f of readdirSync(outbox).sort()) m.set(f, readFileSync(join(outbox, f)));
      return m;
    },
    archived: () => walk(archive, error).map((p) => relative(archive, p)).sort(),
    quarantined: () => walk(error).map((p) => relative(error, p)).sort(),
    async patient(value, ...extra) {
      const r = await cli('patient', value, '--json', ...extra);
      if (r.code === 4 || noStoreYet(r)) return null;
      if (r.code !== 0) throw new Error(`patient ${value}: exit ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async patients() {
      const r = await cli('patients', '--json');
      if (noStoreYet(r)) return [];
      if (r.code !== 0) throw new Error(`patients: exit ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async cleanup() {
      await target.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
  return ws;
}

/** Splits ACK bytes (latin1) into segments → fields, for assertions. */
export function ackSegments(bytes: Buffer): string[][] {
  return bytes.toString('latin1').split('\r').filter((s) => s !== '').map((s) => s.split('|'));
}
