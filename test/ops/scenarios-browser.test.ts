/**
 * Test program — the scenarios bundle in a real browser: headless Chromium (Debian `chromium`, driven by playwright-core
 * as test/observe/browser.test.ts does) opens index.html and one step page of a `pamdrop scenarios run` bundle from
 * the file system; the key values are visible (every step PASS; on the step page its checks, the control id, the ACK
 * code, the identity before and after), the pages load with their CSP and no console error, and screenshots are
 * saved to test-output/ (paths printed) for a human look.
 *
 * Without Chromium the suite is skipped with a visible message, unless PAMDROP_TEST_REQUIRE_CHROMIUM=1: then it fails.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { main } from '../../src/cli/main.js';

const CHROMIUM = process.env.PAMDROP_CHROMIUM ?? '/usr/bin/chromium';
const REQUIRED = process.env.PAMDROP_TEST_REQUIRE_CHROMIUM === '1';
const available = existsSync(CHROMIUM);
if (!available && !REQUIRED) {
  console.warn(`\n*** scenarios bundle browser test SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium). Set PAMDROP_TEST_REQUIRE_CHROMIUM=1 to make this fail. ***\n`);
}
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const root = mkdtempSync(join(tmpdir(), 'pamdrop-scenarios-browser-'));
let browser: BrowserContext | null = null;
afterAll(async () => {
  await browser?.close().catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!available && !REQUIRED)('scenarios bundle in headless Chromium', () => {
  it('index.html shows every step PASS; a step page shows its checks, control id, ACK and identity before/after', async () => {
    if (!available) throw new Error(`PAMDROP_TEST_REQUIRE_CHROMIUM=1 but there is no Chromium at ${CHROMIUM} (apt-get install chromium)`);
    const out = join(root, 'bundle');
    let stdout = '';
    const code = await main(['scenarios', 'run', '--out', out, '--log-level', 'silent'], (t) => { stdout += t; }, () => {});
    expect(code, stdout).toBe(0);

    browser = await chromium.launchPersistentContext(join(root, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
    const page = browser.pages()[0] ?? await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) problems.push(`request ${r.url()}`); });
    mkdirSync(resolve('test-output'), { recursive: true });

    await page.goto(pathToFileURL(join(out, 'index.html')).href);
    expect(await page.title()).toBe('PAM FR §4.4 consumer scenarios');
    expect(await page.locator('#verdict').innerText()).toContain('11 of 11 steps passed.');
    const steps = await page.locator('#steps tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
    expect(steps).toHaveLength(11);
    expect(steps.map((s) => [s[0], s[4], s[5]])).toContainEqual(['04-ins-deletion', 'AA', 'PASS']);
    expect(steps.every((s) => s[5] === 'PASS')).toBe(true);
    // The header is laid out by the page's own inline style: dark, not the default white.
    expect(await page.locator('header').evaluate((h: any) => h.ownerDocument.defaultView.getComputedStyle(h).backgroundColor)).toBe('rgb(22, 50, 79)');
    const indexShot = resolve('test-output', 'scenarios-index.png');
    await page.screenshot({ path: indexShot, fullPage: true });
    expect(statSync(indexShot).size).toBeGreaterThan(10_000);

    // Follow the link of the NIA → NIR step.
    await Promise.all([page.waitForURL(/step-08-nia-to-nir\.html$/), page.click('text=08-nia-to-nir')]);
    const checks = await page.locator('#checks tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
    expect(checks.every((c) => c[3] === 'PASS')).toBe(true);
    expect(checks.map((c) => c[0])).toContain('INS stored');
    const summary = await page.locator('#summary').innerText();
    expect(summary).toMatch(/Control id \(MSH-10\)\s+SC\d+008/);
    expect(summary).toMatch(/ACK code \(MSA-1\)\s+AA/);
    const identity = await page.locator('#identity-1 tbody tr').evaluateAll((trs) => Object.fromEntries(trs.map((tr) => [
      (tr.querySelector('th')?.textContent ?? '').trim(), [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())])));
    expect(identity['INS'][0]).toMatch(/^\d{15} \(NIA, 1\.2\.250\.1\.213\.1\.4\.9\)$/);
    expect(identity['INS'][1]).toMatch(/^\d{15} \(NIR, 1\.2\.250\.1\.213\.1\.4\.8\); \d{15} \(NIA, 1\.2\.250\.1\.213\.1\.4\.9\)$/);
    expect(identity['Qualified identity']).toEqual(['yes', 'yes']);
    expect(await page.locator('#ack-check').innerText()).toContain('well formed');
    const stepShot = resolve('test-output', 'scenarios-step.png');
    await page.screenshot({ path: stepShot, fullPage: true });
    expect(statSync(stepShot).size).toBeGreaterThan(10_000);
    console.info(`scenarios bundle screenshots: ${indexShot}, ${stepShot}`);

    expect(problems).toEqual([]);
  }, 90_000);
});
