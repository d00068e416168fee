/**
 * Writes an evidence bundle into its folder, and prints its pages to PDF with headless Chromium when asked. Nothing is
 * written outside that folder: Chromium gets a throw-away profile inside it (removed afterwards) and the page as a
 * file URL; the pages need no network (no external resource).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where a headless Chromium is looked for, in order. */
export const CHROMIUM_PATHS: readonly string[] = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The first Chromium found, or null. */
export function findChromium(paths: readonly string[] = CHROMIUM_PATHS): string | null {
  return paths.find((p) => existsSync(p)) ?? null;
}

/** Writes each page as `<dir>/<name>`; names are made by the caller from safe characters only. */
export function writePages(dir: string, pages: ReadonlyArray<{ name: string; html: string }>): string[] {
  mkdirSync(dir, { recursive: true });
  return pages.map((p) => {
    if (!/^[A-Za-z0-9._-]+$/.test(p.name) || p.name.startsWith('.')) throw new Error(`unsafe page name ${JSON.stringify(p.name)}`);
    const path = join(dir, p.name);
    writeFileSync(path, p.html, 'utf8');
    return path;
  });
}

/** Prints each HTML file to a PDF beside it (`x.html` → `x.pdf`); resolves to the PDF paths. Throws when Chromium fails. */
export function printPdfs(chromium: string, dir: string, htmlPaths: readonly string[]): string[] {
  const profile = join(resolve(dir), '.chromium-profile');
  mkdirSync(profile, { recursive: true });
  try {
    return htmlPaths.map((html) => {
      const pdf = html.replace(/\.html$/, '.pdf');
      const r = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-extensions', `--user-data-dir=${profile}`, `--crash-dumps-dir=${profile}`,
        '--no-pdf-header-footer', `--print-to-pdf=${pdf}`, pathToFileURL(html).href], { timeout: 90_000, encoding: 'utf8', env: { ...process.env, HOME: profile } });
      if (r.error || !existsSync(pdf)) {
        throw new Error(`Chromium could not print ${html}: ${r.error?.message ?? `exit ${r.status}`}`);
      }
      return pdf;
    });
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
