// The JS API host pages program against: methods, events (callbacks and window CustomEvents),
// the queue for calls made before the wasm core is ready, live locale switch and destroy().
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startStack } from '../../worker/tests/harness.mjs';
import { apiSendAndWait, coreReady, hostPage, launch } from './browser.mjs';

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'widget-api' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const EVENTS = ['ready', 'open', 'close', 'message', 'stream:start', 'stream:end', 'error'];

/** A page that records every event twice: through `OAChat.on` and as a window CustomEvent. */
function recordingPage(extra = '', attributes = 'data-token-url="/demo/token"') {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>API page</p>
  <script src="/v1/widget.js" ${attributes}></script>
  <script>
    window.seen = []; window.seenWindow = [];
    ${JSON.stringify(EVENTS)}.forEach(function (name) {
      OAChat.on(name, function (detail) { seen.push(name + (detail && detail.role ? ':' + detail.role : '') + (detail && detail.code ? ':' + detail.code : '')); });
      window.addEventListener('oachat:' + name, function () { seenWindow.push(name); });
    });
    ${extra}
  </script></body></html>`;
}

test('calls made before the core is ready are queued, and every event fires on both channels', async () => {
  // open() and send() run right after the script tag, long before the wasm has loaded.
  const { page, consoleErrors } = await hostPage(browser, `${stack.url}/test/queue`,
    recordingPage(`OAChat.open(); OAChat.send('queued hello'); window.openRightAway = OAChat.isOpen();`));
  await page.waitForFunction(() => window.seen.includes('stream:end'), null, { timeout: 20_000 });
  const seen = await page.evaluate(() => window.seen);
  assert.equal(await page.evaluate(() => window.openRightAway), false, 'not open before the core runs');
  // Order: the queued calls replay before `ready` is announced.
  assert.deepEqual(seen.slice(0, 3), ['open', 'message:user', 'stream:start']);
  assert.ok(seen.includes('ready'));
  assert.ok(seen.indexOf('message:assistant') < seen.indexOf('stream:end'));
  const windowSeen = await page.evaluate(() => window.seenWindow);
  for (const name of ['ready', 'open', 'message', 'stream:start', 'stream:end']) {
    assert.ok(windowSeen.includes(name), `oachat:${name} on window`);
  }
  const widget = page.locator('oachat-widget');
  assert.match(await widget.locator('.oc-msg[data-role="assistant"]').last().innerText(), /queued hello/);
  assert.deepEqual(consoleErrors, []);
});

test('open, close, toggle and isOpen; close and open events; off() removes a handler', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/open`, recordingPage());
  await coreReady(page);
  const state = await page.evaluate(() => {
    const out = [];
    window.seen.length = 0;
    OAChat.open(); out.push(OAChat.isOpen());
    OAChat.close(); out.push(OAChat.isOpen());
    OAChat.toggle(); out.push(OAChat.isOpen());
    OAChat.toggle(); out.push(OAChat.isOpen());
    let calls = 0;
    const handler = () => { calls++; };
    OAChat.on('open', handler);
    OAChat.open(); OAChat.close();
    OAChat.off('open', handler);
    OAChat.open(); OAChat.close();
    out.push(calls);
    return { out, seen: window.seen.slice() };
  });
  assert.deepEqual(state.out, [true, false, true, false, 1]);
  assert.deepEqual(state.seen.slice(0, 4), ['open', 'close', 'open', 'close']);
  assert.equal(await page.locator('oachat-widget').locator('.oc-panel').isHidden(), true);
});

test('stop() ends the stream and keeps the partial answer; reset() clears the chat', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/stop`, recordingPage());
  await coreReady(page);
  const widget = page.locator('oachat-widget');
  await page.evaluate(() => new Promise((resolve) => {
    // Stop as soon as some text arrived.
    OAChat.on('stream:end', resolve);
    const root = document.querySelector('oachat-widget').shadowRoot;
    const poll = () => {
      const answers = root.querySelectorAll('.oc-msg[data-role="assistant"] .oc-bubble');
      const last = answers[answers.length - 1];
      if (answers.length > 1 && last.textContent.length > 5) OAChat.stop();
      else requestAnimationFrame(poll);
    };
    OAChat.send('please stop me');
    requestAnimationFrame(poll);
  }));
  const answer = widget.locator('.oc-msg[data-role="assistant"]').last();
  const text = await answer.locator('.oc-bubble').innerText();
  assert.ok(text.length > 0, 'the partial answer stays');
  assert.doesNotMatch(text, /Hello from mock-openai/, 'the stream was cut before the end');
  await answer.locator('.oc-actions').waitFor();
  assert.equal(await widget.locator('.oc-send').getAttribute('data-action'), 'send');
  // The widget is usable again at once.
  await apiSendAndWait(page, 'after stop');
  assert.match(await widget.locator('.oc-msg[data-role="assistant"]').last().innerText(), /after stop/);

  await page.evaluate(() => OAChat.reset());
  assert.equal(await widget.locator('.oc-msg').count(), 1, 'only the welcome is left');
  assert.equal(await widget.locator('.oc-msg[data-role="user"]').count(), 0);
});

test('setToken: a bad token fails with an error event, a good one works', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/token`, recordingPage('', ''));
  await coreReady(page);
  await page.evaluate(() => OAChat.setToken('not-a-token'));
  const failed = await apiSendAndWait(page, 'with a bad token');
  assert.ok(await page.evaluate(() => window.seen.some((e) => e.startsWith('error:'))), 'error event');
  assert.equal(failed && failed.code, undefined);
  const widget = page.locator('oachat-widget');
  assert.equal(await widget.locator('.oc-msg[data-role="error"]').count(), 1);
  await page.evaluate((token) => OAChat.setToken(token), stack.token());
  await apiSendAndWait(page, 'with a good token');
  assert.match(await widget.locator('.oc-msg[data-role="assistant"]').last().innerText(), /with a good token/);
});

test('setConfig changes the title live; setLocale switches zh-CN and en strings live', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/locale`, recordingPage('', 'data-token-url="/demo/token" data-locale="zh-CN"'));
  await page.evaluate(() => OAChat.open());
  await coreReady(page);
  const widget = page.locator('oachat-widget');
  const words = async () => ({
    title: await widget.locator('.oc-title').innerText(),
    send: await widget.locator('.oc-send').innerText(),
    placeholder: await widget.locator('.oc-input').getAttribute('placeholder'),
    welcome: await widget.locator('.oc-log').innerText(),
    lang: await widget.locator('.oc-root').getAttribute('lang'),
    launcher: await widget.locator('.oc-launcher').getAttribute('aria-label'),
  });
  const zh = await words();
  assert.equal(zh.title, '智能助手');
  assert.equal(zh.send, '发送');
  assert.equal(zh.lang, 'zh-CN');
  assert.match(zh.welcome, /你好/);
  await page.evaluate(() => OAChat.setLocale('en'));
  const en = await words();
  assert.equal(en.title, 'Assistant');
  assert.equal(en.send, 'Send');
  assert.match(en.placeholder, /Ask anything/);
  assert.match(en.welcome, /How can I help/);
  assert.equal(en.lang, 'en');
  assert.equal(en.launcher, 'Open assistant');
  await apiSendAndWait(page, 'labels');
  assert.equal(await widget.locator('[data-action="copy-answer"]').last().getAttribute('aria-label'), 'Copy answer');
  await page.evaluate(() => OAChat.setLocale('zh-CN'));
  assert.equal(await widget.locator('[data-action="copy-answer"]').last().getAttribute('aria-label'), '复制回答');
  assert.equal(await widget.locator('.oc-send').innerText(), '发送');
  await page.evaluate(() => OAChat.setConfig({ title: 'Renamed' }));
  assert.equal(await widget.locator('.oc-title').innerText(), 'Renamed');
});

test('destroy() removes the widget, its listeners and its events; a later open() mounts again', async () => {
  const { page, consoleErrors } = await hostPage(browser, `${stack.url}/test/destroy`, recordingPage());
  await page.evaluate(() => OAChat.open());
  await coreReady(page);
  await apiSendAndWait(page, 'before destroy');
  await page.evaluate(() => OAChat.destroy());
  const after = await page.evaluate(() => {
    window.seen.length = 0;
    // Keys that used to reach the widget's listeners do nothing now.
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    window.dispatchEvent(new Event('resize'));
    return {
      widgets: document.querySelectorAll('oachat-widget').length,
      open: OAChat.isOpen(),
      seen: window.seen.slice(),
      globals: ['OAChat', 'ChatSDK'].map((k) => typeof window[k]),
    };
  });
  assert.deepEqual(after, { widgets: 0, open: false, seen: [], globals: ['object', 'function'] });
  await page.waitForTimeout(300);
  await page.evaluate(() => OAChat.open());
  await page.locator('oachat-widget').locator('.oc-panel:not([hidden]) .oc-input').waitFor();
  assert.equal(await page.evaluate(() => document.querySelectorAll('oachat-widget').length), 1);
  assert.deepEqual(consoleErrors, []);
});
