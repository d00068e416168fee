// Regenerates docs/evidence-scenarios.png, the README's picture of an evidence bundle: runs `pamdrop scenarios run`
// (built CLI, pinned clock so the page is the same every time) into a temporary folder, opens its index.html in
// headless Chromium (playwright-core, as the browser tests do) and screenshots the top of the page.
// Usage: npm run build && node scripts/evidence-screenshot.mjs   (PAMDROP_CHROMIUM=<path> for another Chromium)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

process.env.PAMDROP_FIXED_TIME = '2026-06-01T08:00:00.000Z';
const { main } = await import('../dist/src/cli/main.js');
const root = mkdtempSync(join(tmpdir(), 'pamdrop-evidence-shot-'));
const target = fileURLToPath(new URL('../docs/evidence-scenarios.png', import.meta.url));
try {
  const out = join(root, 'bundle');
  const code = await main(['scenarios', 'run', '--out', out, '--log-level', 'silent'], () => {}, (t) => process.stderr.write(t));
  if (code !== 0) throw new Error(`scenarios run exited ${code}`);
  const browser = await chromium.launchPersistentContext(join(root, 'profile'), {
    executablePath: process.env.PAMDROP_CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'], viewport: { width: 1100, height: 640 },
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    await page.goto(pathToFileURL(join(out, 'index.html')).href);
    await page.screenshot({ path: target });
  } finally {
    await browser.close();
  }
  console.log(`wrote ${target}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
