/**
 * The code speaks for itself: no comment, test name or script cites a tracker item ("issue 4", "PR #12") or a
 * document that lives outside the repository. A reader of the repository has docs/ and the specifications (PAM FR,
 * DTFR, HL7 v2.5 sections), nothing else.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const DIRS = ['src', 'bench', 'test', 'scripts', '.ci', 'deploy'];
const SELF = resolve(__filename);

/** Text files under `dir`; the HL7 fixtures are data, not prose. */
function files(dir: string): string[] {
  const abs = join(ROOT, dir);
  let entries: string[];
  try {
    entries = readdirSync(abs);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(abs, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : files(relative(ROOT, path));
    return path.endsWith('.hl7') || path === SELF ? [] : [path];
  });
}

const FORBIDDEN: readonly [string, RegExp][] = [
  ['an issue number', /\bissues? ?#?\d+/i],
  ['a pull request number', /\b(?:PR|pull request) ?#\d+/i],
  ['a document outside the repository', /\b(?:pam-fr|decisions|performance|field-notes|style)\.md\b/i],
  ['a path outside the repository', /shared\/docs|\/work\//],
];

describe('comments and test names', () => {
  it.each(DIRS)('%s/ cites no tracker item and no document outside the repository', (dir) => {
    const found = files(dir).flatMap((file) =>
      readFileSync(file, 'utf8').split('\n').flatMap((line, i) =>
        FORBIDDEN.filter(([, re]) => re.test(line)).map(([what]) => `${relative(ROOT, file)}:${i + 1}: ${what}: ${line.trim()}`)));
    expect(found).toEqual([]);
  });
});
