// What the console's Chromium tests share (console.test.mjs, console-pages.test.mjs): opening
// the page, signing in through its form, and axe-core's audit.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ADMIN_TOKEN, ROOT } from './harness.mjs';

const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** A new browser context on `url`/admin, ready for sign-in; `errors` collects the page's own. */
export async function openConsole(browser, url, { viewport = { width: 1280, height: 800 }, locale = 'en-US', colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, locale, colorScheme });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    // Chromium asks for /favicon.ico by itself, and a 401 before sign-in is the page's own probe.
    const source = message.location()?.url || '';
    if (message.type() === 'error' && !/favicon/.test(source) && !/status of 401/.test(message.text())) {
      errors.push(`${message.text()} ${source}`);
    }
  });
  await page.goto(`${url}/admin`);
  await page.locator('body[data-ready="true"]').waitFor();
  return { context, page, errors };
}

/** Signs in through the page's form. */
export async function signInPage(page, token = ADMIN_TOKEN) {
  await page.locator('#admin-token').fill(token);
  await page.locator('#signin-form button[type="submit"]').click();
}

/** axe-core's serious and critical violations in `include` (a selector; the whole page by default). */
export async function audit(page, include = null) {
  // Evaluated through the DevTools protocol: the console's CSP refuses an injected inline
  // script, as it should.
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  const result = await page.evaluate(
    async (selector) => window.axe.run(selector ? { include: [[selector]] } : document, { resultTypes: ['violations'] }),
    include,
  );
  return result.violations
    .filter((violation) => ['serious', 'critical'].includes(violation.impact))
    .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
}
