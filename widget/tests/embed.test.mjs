// Embedding: the three ways a host page adds the widget, and the promises made to host pages
// (hostile CSS stays out, a strict CSP works, two globals only, no `!important`, z-index).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { RESULTS, ROOT, startStack } from '../../worker/tests/harness.mjs';
import { coreReady, hostPage, launch, openPage, openWidget, sendAndWait } from './browser.mjs';

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'widget-embed' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const shadowQuery = (page, selector, fn) =>
  page.evaluate(([sel, body]) => {
    const root = document.querySelector('oachat-widget').shadowRoot;
    // eslint-disable-next-line no-new-func
    return new Function('el', 'root', body)(root.querySelector(sel), root);
  }, [selector, fn]);

test('script tag: data-* attributes set the title, welcome and starters', async () => {
  const { page, consoleErrors } = await openPage(browser, `${stack.url}/demo`);
  const widget = page.locator('oachat-widget');
  assert.equal(await widget.locator('.oc-launcher').getAttribute('aria-label'), 'OA 智能助手');
  await openWidget(page);
  assert.equal(await widget.locator('.oc-title').innerText(), 'OA 智能助手');
  assert.match(await widget.locator('.oc-log').innerText(), /我是 OA 智能助手/);
  assert.equal(await widget.locator('.oc-chip').count(), 3);
  await widget.locator('.oc-chip').first().click();
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').first().waitFor({ timeout: 20_000 });
  assert.match(await widget.locator('.oc-msg[data-role="user"]').innerText(), /帮我写一封会议通知/);
  assert.deepEqual(consoleErrors, []);
});

test('OAChatConfig: left side, green, English, custom title and welcome', async () => {
  const { page, consoleErrors } = await openPage(browser, `${stack.url}/demo/config`);
  const widget = page.locator('oachat-widget');
  const launcher = await widget.locator('.oc-launcher').boundingBox();
  assert.ok(launcher.x < 100, `launcher at x=${launcher.x}, expected on the left`);
  await openWidget(page);
  const panel = await widget.locator('.oc-panel').boundingBox();
  assert.ok(panel.x < 100, `panel at x=${panel.x}, expected on the left`);
  assert.equal(await widget.locator('.oc-title').innerText(), 'Config Assistant');
  assert.match(await widget.locator('.oc-log').innerText(), /Configured via OAChatConfig/);
  assert.match(await widget.locator('.oc-input').getAttribute('placeholder'), /Ask anything/);
  const headColor = await widget.locator('.oc-head').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(headColor, 'rgb(22, 163, 74)');
  await sendAndWait(page, 'hello from config');
  assert.deepEqual(consoleErrors, []);
});

test('OAChat.init after the script tag takes the same keys', async () => {
  const html = `<!DOCTYPE html><html><body><p>init page</p>
    <script src="/v1/widget.js"></script>
    <script>OAChat.init({ title: 'Init Title', welcome: 'Init welcome', locale: 'en', tokenUrl: '/demo/token' });</script>
    </body></html>`;
  const { page } = await hostPage(browser, `${stack.url}/test/init`, html);
  await openWidget(page);
  const widget = page.locator('oachat-widget');
  assert.equal(await widget.locator('.oc-title').innerText(), 'Init Title');
  assert.match(await widget.locator('.oc-log').innerText(), /Init welcome/);
});

test('ChatSDK facade: the panel renders inline inside root, with title, avatar, system message and quick replies', async () => {
  const { page, consoleErrors } = await openPage(browser, `${stack.url}/demo/chatsdk`);
  const widget = page.locator('oachat-widget');
  await widget.locator('.oc-panel:not([hidden]) .oc-input').waitFor();
  assert.equal(await page.evaluate(() => document.querySelector('oachat-widget').parentElement.id), 'root');
  const position = await widget.locator('.oc-panel').evaluate((el) => getComputedStyle(el).position);
  assert.equal(position, 'relative', 'inline, not floating');
  assert.equal(await widget.locator('.oc-launcher').isVisible(), false, 'no bubble when inline');
  const root = await page.locator('#root').boundingBox();
  const panel = await widget.locator('.oc-panel').boundingBox();
  assert.ok(panel.x >= root.x - 1 && panel.x + panel.width <= root.x + root.width + 1, 'panel inside root');
  assert.equal(await widget.locator('.oc-title').innerText(), 'ChatSDK 兼容助手');
  assert.equal(await widget.locator('.oc-avatar').isVisible(), true);
  assert.match(await widget.locator('.oc-log').innerText(), /这是通过 ChatSDK 接口创建的助手/);
  assert.equal(await widget.locator('.oc-chip').innerText(), '你好');
  await sendAndWait(page, 'ChatSDK message');
  await page.screenshot({ path: join(RESULTS, 'widget-chatsdk-inline.png') });
  assert.deepEqual(consoleErrors, []);
});

test('hostile global CSS changes nothing and the host button stays clickable, closed and open', async () => {
  const { page, consoleErrors } = await openPage(browser, `${stack.url}/demo/hostile`);
  const widget = page.locator('oachat-widget');
  const hostButtonOnTop = () => page.evaluate(() => {
    const button = document.getElementById('host-button');
    const box = button.getBoundingClientRect();
    return document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2) === button;
  });
  const launcher = await widget.locator('.oc-launcher').boundingBox();
  assert.deepEqual([launcher.width, launcher.height], [56, 56]);
  assert.equal(await hostButtonOnTop(), true, 'closed: nothing covers the host button');
  await page.locator('#host-button').click({ timeout: 2000 });
  assert.equal(await page.title(), 'host-clicked');

  await openWidget(page);
  // Layout size, not the bounding box: the opening animation scales the panel for 160 ms.
  const panel = await widget.locator('.oc-panel').evaluate((el) => ({ width: el.offsetWidth, height: el.offsetHeight }));
  assert.equal(panel.width, 400);
  assert.ok(panel.height > 300 && panel.height <= 620, `panel height ${panel.height}`);
  const fonts = await shadowQuery(page, '.oc-input', `
    const input = getComputedStyle(el);
    const title = getComputedStyle(root.querySelector('.oc-title'));
    const bubble = getComputedStyle(root.querySelector('.oc-bubble'));
    return { input: input.fontSize, family: bubble.fontFamily, title: title.fontSize, bubble: bubble.fontSize,
             color: bubble.color, spacing: bubble.letterSpacing };`);
  assert.equal(fonts.input, '14px');
  assert.equal(fonts.bubble, '14px');
  assert.equal(fonts.title, '15px');
  assert.doesNotMatch(fonts.family, /^serif/);
  assert.notEqual(fonts.color, 'rgb(255, 0, 0)');
  assert.equal(fonts.spacing, 'normal');

  await page.evaluate(() => { document.title = 'reset'; });
  assert.equal(await hostButtonOnTop(), true, 'open: nothing covers the host button');
  await page.locator('#host-button').click({ timeout: 2000 });
  assert.equal(await page.title(), 'host-clicked');
  await sendAndWait(page, 'hostile page works');
  await page.screenshot({ path: join(RESULTS, 'widget-hostile.png') });
  assert.deepEqual(consoleErrors, []);
});

test('strict CSP page: chat works with zero console errors', async () => {
  const { page, consoleErrors } = await openPage(browser, `${stack.url}/demo/csp`);
  const response = await page.request.get(`${stack.url}/demo/csp`);
  assert.match(response.headers()['content-security-policy'] || '', /script-src 'self' 'wasm-unsafe-eval'/);
  await openWidget(page);
  const answer = await sendAndWait(page, 'CSP test `code` | 表格');
  assert.match(await answer.innerText(), /CSP test/);
  assert.equal(await answer.locator('.oc-code .oc-k').count() > 0, true);
  assert.deepEqual(consoleErrors, []);
});

test('only OAChat and ChatSDK are added to window', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => { window.__keysBefore = Object.getOwnPropertyNames(window); });
  const page = await context.newPage();
  await page.goto(`${stack.url}/demo/csp`);
  await openWidget(page);
  await sendAndWait(page, 'globals');
  const added = await page.evaluate(() => {
    const before = new Set(window.__keysBefore);
    return Object.getOwnPropertyNames(window).filter((k) => !before.has(k) && k !== '__keysBefore');
  });
  assert.deepEqual(added.sort(), ['ChatSDK', 'OAChat']);
  await context.close();
});

test('no !important in the panel CSS, the loader or the built loader', () => {
  for (const file of ['widget/src/panel.css', 'widget/js/loader.js', 'widget/dist/v1/widget.js']) {
    assert.doesNotMatch(readFileSync(join(ROOT, file), 'utf8'), /!\s*important/i, file);
  }
});

test('data-z-index sets the z-index of the bubble and the panel', async () => {
  const html = `<!DOCTYPE html><html><body>
    <script src="/v1/widget.js" data-z-index="4321" data-token-url="/demo/token"></script></body></html>`;
  const { page } = await hostPage(browser, `${stack.url}/test/z`, html);
  const widget = page.locator('oachat-widget');
  assert.equal(await widget.locator('.oc-launcher').evaluate((el) => getComputedStyle(el).zIndex), '4321');
  await openWidget(page);
  assert.equal(await widget.locator('.oc-panel').evaluate((el) => getComputedStyle(el).zIndex), '4321');
  await page.evaluate(() => OAChat.setConfig({ zIndex: 77 }));
  assert.equal(await widget.locator('.oc-panel').evaluate((el) => getComputedStyle(el).zIndex), '77');
  await coreReady(page);
});
