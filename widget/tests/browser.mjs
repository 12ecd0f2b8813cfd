// Headless Debian Chromium driven by playwright-core, with the flags this machine needs
// (no sandbox as root, no background networking: the network here is closed).
// playwright gives every launch a fresh, empty profile directory of its own.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** A new page that records console errors and dialogs (XSS tests assert there are none). */
export async function openPage(browser, url, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  return watchedPage(context, url);
}

async function watchedPage(context, url) {
  const page = await context.newPage();
  const consoleErrors = [];
  const dialogs = [];
  page.on('console', (message) => {
    // Chromium asks for /favicon.ico by itself; that 404 is not the widget's.
    if (message.type() === 'error' && !/favicon/.test(message.location()?.url || '')) {
      consoleErrors.push(message.text());
    }
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  await page.goto(url);
  return { page, context, consoleErrors, dialogs };
}

/** Clicks the bubble and waits until the panel's input is usable. */
export async function openWidget(page) {
  await page.locator('oachat-widget').locator('.oc-launcher').click();
  await page.locator('oachat-widget').locator('.oc-panel:not([hidden]) .oc-input').waitFor();
}

/** Types a message, sends it and waits for the streamed answer to finish. */
export async function sendAndWait(page, text) {
  const widget = page.locator('oachat-widget');
  const answersBefore = await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').count();
  await widget.locator('.oc-input').fill(text);
  await widget.locator('.oc-input').press('Enter');
  await widget
    .locator('.oc-msg[data-role="assistant"] .oc-actions')
    .nth(answersBefore)
    .waitFor({ timeout: 20_000 });
  return widget.locator('.oc-msg[data-role="assistant"]').last();
}

/**
 * Serves `html` at `url` (on the worker's origin) from the test itself, so a test can build the
 * host page it needs while the widget's script and API still come from the real worker.
 */
export async function hostPage(browser, url, html, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  await context.route(url, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  return watchedPage(context, url);
}

/** Resolves once the wasm core is mounted (`OAChat.loaded()` starts loading it). */
export async function coreReady(page) {
  await page.evaluate(() => window.OAChat.loaded().then(() => true));
}

/** Sends through the JS API and waits for the answer's stream to end. */
export async function apiSendAndWait(page, text) {
  return page.evaluate((message) => new Promise((resolve) => {
    const done = (event) => { window.removeEventListener('oachat:stream:end', done); resolve(event.detail); };
    window.addEventListener('oachat:stream:end', done);
    window.OAChat.send(message);
  }), text);
}
