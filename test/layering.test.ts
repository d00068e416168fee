/**
 * Layering rules of `src/`, read from the source with the TypeScript parser (imports, property accesses and string
 * literals of the syntax tree, so comments never count). Type-only imports (`import type`, `export type`, or an
 * import whose every name is `type`) carry no code at run time and are left aside.
 *
 * Each rule has an allowlist of today's violations, by file and what. The test fails on a violation that is not
 * listed, and also on a listed one that is gone: the lists only shrink. Remove an entry when you fix it; never add
 * one. The store-boundary redesign empties them.
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

// --- Allowlists: today's violations (only ever shrink) -----------------------------------------------------------

/** hl7/ and pam/ importing a file system, network or database module: `file -> module`. */
const IO_IN_PURE_ALLOWED: readonly string[] = [];

/** Files outside store/ holding SQL (see `sqlIn` for what counts as SQL). */
const SQL_OUTSIDE_STORE_ALLOWED: readonly string[] = [];

/** process.exit / process.exitCode, or a `…ExitCode` mapping declared, outside cli/: `file: what`. */
const EXIT_OUTSIDE_CLI_ALLOWED: readonly string[] = [];

/** intake/ importing from pipeline/, ops/, observe/ or cli/: `file -> imported file`. */
const INTAKE_UP_ALLOWED: readonly string[] = [];

/** Import cycles (value imports), each as its files sorted and joined by ' + '. */
const CYCLES_ALLOWED: readonly string[] = [];

/** Files of more than MAX_LINES lines. */
const LONG_FILES_ALLOWED: readonly string[] = [
];

/** Environment variables read in src/ that are not in ENV_ALLOWED: `file: NAME`. */
const ENV_ALLOWED_VIOLATIONS: readonly string[] = [];

// --- The rules' parameters (not violations) ----------------------------------------------------------------------

/** Modules that touch the file system, the network, processes or a database. */
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|http|https|http2|tls|dgram|dns|child_process|worker_threads|cluster)$|^(knex|pg|pg-.*|better-sqlite3|sqlite3|node:sqlite|ssh2|ssh2-sftp-client|basic-ftp|chokidar)(\/.*)?$/;
/** The only environment variables that may change behaviour: the documented test switches and database passwords. */
const ENV_ALLOWED = new Set(['PAMDROP_FIXED_TIME', 'PAMDROP_FAULT', 'PAMDROP_DB_PASSWORD', 'PAMDROP_DB_PASSWORD_FILE']);
/** Files that read a variable whose name the configuration gives (sftp passwordEnv / passphraseEnv, ftp passwordEnv). */
const ENV_BY_CONFIGURED_NAME = new Set(['src/intake/sftp.ts', 'src/intake/ftp.ts']);
const SQL_INSIDE = /\.pragma\(|\bPRAGMA\s/;
const MAX_LINES = 500;
/**
 * SQL, as detected: a string or template literal whose text begins with an SQL statement keyword (SELECT, INSERT,
 * UPDATE, DELETE, CREATE, DROP, ALTER, PRAGMA, WITH … AS (, BEGIN, COMMIT, ROLLBACK, SAVEPOINT; case-sensitive, so
 * prose such as 'select a file' is not SQL) or that holds a PRAGMA anywhere (code of a worker written as a string);
 * a call on a knex handle (`knex(…)`, `db.knex(…)`, `db.knex.raw(…)`); a better-sqlite3 `.pragma(…)` call. A plain
 * `.raw(` is not counted: HL7 segments have a `raw(n)` accessor.
 */
const SQL_TEXT = /^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s|DROP\s|ALTER\s+TABLE\s|PRAGMA\s|WITH\s+\w+\s+AS\s*\(|BEGIN\b|COMMIT\b|ROLLBACK\b|SAVEPOINT\s)/;

// --- Reading src/ -------------------------------------------------------------------------------------------------

interface SrcFile { rel: string; lines: number; imports: Array<{ spec: string; target: string | null }>; sf: ts.SourceFile }

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? listTs(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const rel = (p: string) => relative(ROOT, p).split('\\').join('/');

function resolveImport(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  return rel(resolve(dirname(from), spec).replace(/\.js$/, '.ts'));
}

function typeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    const c = node.exportClause;
    return !!c && ts.isNamedExports(c) && c.elements.length > 0 && c.elements.every((e) => e.isTypeOnly);
  }
  const c = node.importClause;
  if (!c) return false; // a side-effect import runs code
  if (c.isTypeOnly) return true;
  if (c.name) return false;
  const b = c.namedBindings;
  return !!b && ts.isNamedImports(b) && b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly);
}

function readSrc(): SrcFile[] {
  return listTs(SRC).map((path) => {
    const text = readFileSync(path, 'utf8');
    const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const imports: SrcFile['imports'] = [];
    const add = (spec: string) => imports.push({ spec, target: resolveImport(path, spec) });
    const visit = (n: ts.Node): void => {
      if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
        if (!typeOnly(n)) add(n.moduleSpecifier.text);
      } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteralLike(n.arguments[0])) {
        add(n.arguments[0].text);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
    return { rel: rel(path), lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0), imports, sf };
  });
}

function walk(sf: ts.SourceFile, f: (n: ts.Node) => void): void {
  const visit = (n: ts.Node): void => { f(n); ts.forEachChild(n, visit); };
  visit(sf);
}

const isProcessEnv = (n: ts.Node): boolean =>
  ts.isPropertyAccessExpression(n) && n.name.text === 'env' && ts.isIdentifier(n.expression) && n.expression.text === 'process';

function sqlIn(sf: ts.SourceFile): string[] {
  const found: string[] = [];
  const knexHandle = (e: ts.Expression) => (ts.isIdentifier(e) && e.text === 'knex') || (ts.isPropertyAccessExpression(e) && e.name.text === 'knex');
  walk(sf, (n) => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) {
      if (SQL_TEXT.test(n.text)) found.push(n.text.trim().split(/\s+/)[0]!);
      else if (SQL_INSIDE.test(n.text)) found.push('PRAGMA');
    }
    if (!ts.isCallExpression(n)) return;
    const callee = n.expression;
    // knex('table')…, db.knex('table')…, db.knex.raw(…), knex.schema…: the query builder.
    if (knexHandle(callee) || (ts.isPropertyAccessExpression(callee) && knexHandle(callee.expression))) found.push('knex');
    if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'pragma') found.push('.pragma(');
  });
  return found;
}

function exitsIn(sf: ts.SourceFile): string[] {
  const found: string[] = [];
  walk(sf, (n) => {
    if (ts.isPropertyAccessExpression(n) && ['exit', 'exitCode'].includes(n.name.text) && ts.isIdentifier(n.expression) && n.expression.text === 'process') {
      found.push(`process.${n.name.text}`);
    }
    // A mapping to exit codes declared here (doctorExitCode, runExitCode…); the ExitCode table itself is shared.
    const name = (ts.isFunctionDeclaration(n) || ts.isVariableDeclaration(n)) && n.name && ts.isIdentifier(n.name) ? n.name.text : null;
    if (name && /^\w+ExitCode$/.test(name)) found.push(name);
  });
  return found;
}

/** Environment variables read: `process.env.X`, `process.env[…]`, and `env.NAME` / `env[…]` on a variable named env. */
function envReadsIn(sf: ts.SourceFile): Array<string | null> {
  const found: Array<string | null> = [];
  walk(sf, (n) => {
    const envObject = (e: ts.Expression) => isProcessEnv(e) || (ts.isIdentifier(e) && e.text === 'env');
    if (ts.isPropertyAccessExpression(n) && envObject(n.expression) && /^[A-Z][A-Z0-9_]*$/.test(n.name.text)) found.push(n.name.text);
    if (ts.isElementAccessExpression(n) && envObject(n.expression)) {
      found.push(ts.isStringLiteralLike(n.argumentExpression) ? n.argumentExpression.text : null);
    }
  });
  return found;
}

/** Strongly connected components of more than one file (or a file importing itself). */
function cycles(files: SrcFile[]): string[] {
  const graph = new Map(files.map((f) => [f.rel, [...new Set(f.imports.map((i) => i.target).filter((t): t is string => !!t))]]));
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[] = [];
  const strong = (v: string): void => {
    index.set(v, counter); low.set(v, counter); counter++;
    stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) { strong(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort().join(' + '));
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) strong(v);
  return out.sort();
}

const files = readSrc();
const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
const under = (f: SrcFile, ...dirs: string[]) => dirs.some((d) => f.rel.startsWith(`src/${d}/`));

describe('layering of src/', () => {
  it('reads the source tree', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.find((f) => f.rel === 'src/cli/main.ts')?.imports.length).toBeGreaterThan(0);
  });

  it('hl7/ and pam/ import no file system, network or database module', () => {
    const found = files.filter((f) => under(f, 'hl7', 'pam'))
      .flatMap((f) => f.imports.filter((i) => IO_MODULES.test(i.spec)).map((i) => `${f.rel} -> ${i.spec}`));
    expect(sorted(found)).toEqual(sorted(IO_IN_PURE_ALLOWED));
  });

  it('identity/ imports only hl7/, pam/, shared/ and itself (no database, no file system)', () => {
    const found = files.filter((f) => under(f, 'identity')).flatMap((f) => f.imports
      .filter((i) => (i.target ? !/^src\/(identity|hl7|pam|shared)\//.test(i.target) : true)).map((i) => `${f.rel} -> ${i.target ?? i.spec}`));
    expect(found).toEqual([]);
  });

  it('no SQL outside store/', () => {
    const found = files.filter((f) => !under(f, 'store') && sqlIn(f.sf).length > 0).map((f) => f.rel);
    expect(sorted(found)).toEqual(sorted(SQL_OUTSIDE_STORE_ALLOWED));
  });

  it('no process.exit, process.exitCode or exit-code mapping outside cli/', () => {
    const found = files.filter((f) => !under(f, 'cli')).flatMap((f) => exitsIn(f.sf).map((w) => `${f.rel}: ${w}`));
    expect(sorted(found)).toEqual(sorted(EXIT_OUTSIDE_CLI_ALLOWED));
  });

  it('intake/ imports nothing from pipeline/, ops/, observe/, cli/', () => {
    const found = files.filter((f) => under(f, 'intake')).flatMap((f) => f.imports
      .filter((i) => i.target && /^src\/(pipeline|ops|observe|cli)\//.test(i.target)).map((i) => `${f.rel} -> ${i.target}`));
    expect(sorted(found)).toEqual(sorted(INTAKE_UP_ALLOWED));
  });

  it('no import cycle (type-only imports aside)', () => {
    expect(cycles(files)).toEqual(sorted(CYCLES_ALLOWED));
  });

  it(`no file over ${MAX_LINES} lines`, () => {
    const found = files.filter((f) => f.lines > MAX_LINES).map((f) => f.rel);
    expect(sorted(found)).toEqual(sorted(LONG_FILES_ALLOWED));
  });

  it('no environment variable read except the documented ones', () => {
    const found = files.flatMap((f) => envReadsIn(f.sf)
      .filter((name) => (name === null ? !ENV_BY_CONFIGURED_NAME.has(f.rel) : !ENV_ALLOWED.has(name)))
      .map((name) => `${f.rel}: ${name ?? '[computed name]'}`));
    expect(sorted(found)).toEqual(sorted(ENV_ALLOWED_VIOLATIONS));
  });
});
