/**
 * The repository carries its own documentation: every Markdown link in the README, BENCHMARKS.md and docs/
 * points at a file inside the repository that exists, and the README stays short enough to read first.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f));
  return [join(ROOT, 'README.md'), join(ROOT, 'BENCHMARKS.md'), ...docs];
}

/** Link targets of `[text](target)`, anchors stripped; code spans removed first. */
function linkTargets(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!.split('#')[0]!).filter((t) => t !== '');
}

describe('documentation', () => {
  it('keeps the README under 12 KB', () => {
    expect(statSync(join(ROOT, 'README.md')).size).toBeLessThanOrEqual(12 * 1024);
  });

  it.each(docFiles().map((f) => [relative(ROOT, f), f]))('%s links only to files inside the repository', (_name, file) => {
    const targets = linkTargets(readFileSync(file, 'utf8'));
    for (const target of targets) {
      expect(target, `${target} is a web link`).not.toMatch(/^[a-z]+:/i);
      const abs = resolve(dirname(file), target);
      expect(relative(ROOT, abs).startsWith('..'), `${target} leaves the repository`).toBe(false);
      expect(existsSync(abs), `${target} does not exist`).toBe(true);
    }
  });

  it('names no internal tracker item in the README or docs', () => {
    for (const file of docFiles()) {
      expect(readFileSync(file, 'utf8'), relative(ROOT, file)).not.toMatch(/\bissue \d+/i);
    }
  });
});
