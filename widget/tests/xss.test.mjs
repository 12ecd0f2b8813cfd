// XSS: a corpus of hostile messages goes through the whole system. mock-openai quotes each
// message verbatim inside its markdown answer, so every payload reaches the widget's renderer
// as model output. Nothing may run, open a dialog, or leave a script URL or handler behind.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startStack } from '../../worker/tests/harness.mjs';
import { apiSendAndWait, coreReady, hostPage, launch, openPage } from './browser.mjs';
import { PAYLOADS, X } from './xss-payloads.mjs';

export { PAYLOADS };

let stack;
let browser;
before(async () => {
  // One long conversation of hostile messages: lift the staff tier's per-minute and per-chat
  // limits so only the renderer is under test.
  stack = await startStack({
    name: 'widget-xss',
    config: { tiers: { staff: { rpm: 10000, max_rounds: 10000 } } },
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** Everything in the shadow root and the page that could run script. */
function scan() {
  const found = [];
  const bad = /^\s*(javascript|data|vbscript):/i;
  const roots = [document, document.querySelector('oachat-widget').shadowRoot];
  for (const root of roots) {
    for (const element of root.querySelectorAll('*')) {
      if (element.closest && element.closest('script[src]') === element) continue;
      for (const attribute of element.attributes) {
        const name = attribute.name.toLowerCase();
        if (name.startsWith('on') && root !== document) found.push(`${element.tagName} ${name}`);
        if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'srcdoc'].includes(name) && bad.test(attribute.value)) {
          found.push(`${element.tagName} ${name}=${attribute.value}`);
        }
        if (name === 'srcdoc') found.push(`${element.tagName} srcdoc`);
      }
    }
    const dangerous = root.querySelectorAll('iframe, object, embed, base, meta[http-equiv], form, link[rel=import]');
    if (root !== document && dangerous.length) found.push(`${dangerous.length} dangerous elements`);
    if (root !== document && root.querySelectorAll('script').length) found.push('script element in the shadow root');
  }
  return { found, xss: window.__xss ?? null, location: location.href };
}

test(`${PAYLOADS.length} XSS payloads sent as messages run nothing and leave no script URL or handler`, async () => {
  assert.ok(PAYLOADS.length >= 50);
  const { page, dialogs, consoleErrors } = await openPage(browser, `${stack.url}/demo`);
  const url = page.url();
  await coreReady(page);
  let answers = 0;
  for (let index = 0; index < PAYLOADS.length; index++) {
    const detail = await apiSendAndWait(page, PAYLOADS[index]);
    assert.equal(detail?.code, undefined, `payload ${index} failed: ${JSON.stringify(detail)}`);
    answers++;
    // Check often, and start a fresh chat now and then so requests stay small.
    if (index % 10 === 9 || index === PAYLOADS.length - 1) {
      // Give delayed handlers (onerror of a failed image, a meta refresh) time to fire.
      await page.waitForTimeout(300);
      const result = await page.evaluate(scan);
      assert.deepEqual(result.found, [], `after payload ${index}`);
      assert.equal(result.xss, null, `a script ran (by payload ${index} or before)`);
      assert.equal(result.location, url, 'the page navigated');
      await page.evaluate(() => OAChat.reset());
    }
  }
  assert.equal(answers, PAYLOADS.length);
  assert.deepEqual(dialogs, []);
  // A blocked image (src=x) logs nothing; CSP-free page, so any error is the widget's.
  assert.deepEqual(consoleErrors.filter((e) => !/ERR_|404|Failed to load resource/.test(e)), []);
});

test('the streamed answer shows the payload as text, not markup', async () => {
  const { page } = await openPage(browser, `${stack.url}/demo`);
  await coreReady(page);
  await apiSendAndWait(page, `<img src=x onerror="${X}"> and <b>bold?</b>`);
  const widget = page.locator('oachat-widget');
  const answer = widget.locator('.oc-msg[data-role="assistant"]').last();
  assert.match(await answer.innerText(), /<img src=x onerror="window.__xss=1"> and <b>bold\?<\/b>/);
  assert.equal(await answer.locator('img, b').count(), 0);
});

test('hostile reasoning, streamed or loaded from a stored conversation, runs nothing and shows as text', async () => {
  // The reasoning comes from the page's network layer: mock-openai's chain of thought is canned,
  // and the worker passes reasoning_content through untouched anyway.
  const html = `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
    <script src="/v1/widget.js" data-token-url="/demo/token" data-locale="en"></script></body></html>`;
  const { page, context, dialogs } = await hostPage(browser, `${stack.url}/test/xss-reasoning`, html);
  const url = page.url();
  const chunk = (delta) => `data: ${JSON.stringify({ choices: [{ index: 0, delta }] })}\n\n`;
  const stream = PAYLOADS.map((payload) => chunk({ reasoning_content: `${payload}\n\n` })).join('')
    + chunk({ content: 'ok' }) + 'data: [DONE]\n\n';
  const stored = { id: 'c-x', messages: [
    { role: 'user', content: 'q' },
    { role: 'assistant', content: 'a', reasoning: PAYLOADS.join('\n\n') },
  ] };
  await context.route('**/v1/oachat/conversations', (route) => route.fulfill({ json: { conversations: [{ id: 'c-x', title: 'hostile' }] } }));
  await context.route('**/v1/oachat/conversations/*', (route) => route.fulfill({ json: stored }));
  await context.route('**/v1/oachat/chat', (route) => route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: stream }));

  await page.evaluate(() => OAChat.open());
  const widget = page.locator('oachat-widget');
  await widget.locator('[data-action="history"]').waitFor({ state: 'visible' });
  const check = async (when) => {
    const body = widget.locator('.oc-msg[data-role="assistant"]').last().locator('.oc-think-body');
    await widget.locator('.oc-msg[data-role="assistant"]').last().locator('.oc-think-toggle').click();
    assert.equal(await body.isVisible(), true, when);
    assert.match(await body.innerText(), /<script>window.__xss=1<\/script>/, when);
    assert.equal(await body.locator('script, img, svg, iframe, object, embed, form, style, video, audio').count(), 0, when);
    await page.waitForTimeout(300);
    const result = await page.evaluate(scan);
    assert.deepEqual(result.found, [], when);
    assert.equal(result.xss, null, `a script ran (${when})`);
    assert.equal(result.location, url, `the page navigated (${when})`);
  };
  await page.evaluate(() => new Promise((resolve) => { OAChat.on('stream:end', resolve); OAChat.send('think hostile'); }));
  await check('streamed');
  await widget.locator('[data-action="history"]').click();
  await widget.locator('.oc-history-open', { hasText: 'hostile' }).click();
  await widget.locator('.oc-msg[data-role="assistant"] .oc-think').waitFor();
  await check('stored');
  assert.deepEqual(dialogs, []);
  await context.close();
});
