// The widget end to end: the demo OA page in Chromium, through the real worker and
// mock-openai. A message goes out, the streamed answer comes back rendered as markdown.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { RESULTS, startStack } from '../../worker/tests/harness.mjs';
import { launch, openPage, openWidget, sendAndWait } from './browser.mjs';

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'widget-chat' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('a message sent from the bubble streams back as markdown with a table and highlighted code', async () => {
  const { page, consoleErrors } = await openPage(browser, `${stack.url}/demo`);
  await openWidget(page);
  const answer = await sendAndWait(page, 'Summarize the approvals | 汇总审批');
  const widget = page.locator('oachat-widget');

  // The mock quotes the message verbatim, so it went all the way through.
  assert.match(await answer.innerText(), /Summarize the approvals \| 汇总审批/);
  // Markdown, not raw text: a heading, a table in a scroll box, a highlighted code block.
  assert.equal(await answer.locator('h2').count(), 1);
  assert.equal(await answer.locator('.oc-table-wrap table tbody tr').count(), 2);
  assert.ok((await answer.locator('.oc-code .oc-k').count()) > 0, 'code is highlighted');
  assert.equal(await answer.locator('.oc-code .oc-copy').count(), 1);
  assert.doesNotMatch(await answer.innerText(), /\|\s*---/);

  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-answer.png') });
  await page.screenshot({ path: join(RESULTS, 'demo-page-open.png') });
  assert.deepEqual(consoleErrors, []);
});

test('the answer is rendered while it streams, not only at the end', async () => {
  const { page } = await openPage(browser, `${stack.url}/demo`);
  await openWidget(page);
  const widget = page.locator('oachat-widget');
  await widget.locator('.oc-input').fill('slow stream please');
  // Record the answer's text length every animation frame while it streams.
  const lengths = page.evaluate(() => new Promise((resolve) => {
    const seen = [];
    const root = document.querySelector('oachat-widget').shadowRoot;
    const tick = () => {
      const bubble = root.querySelectorAll('.oc-msg[data-role="assistant"] .oc-bubble');
      const last = bubble[bubble.length - 1];
      if (last && bubble.length > 1) seen.push(last.textContent.length);
      if (root.querySelectorAll('.oc-actions').length > 0) return resolve(seen);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }));
  await widget.locator('.oc-input').press('Enter');
  const seen = await lengths;
  const distinct = new Set(seen.filter((n) => n > 0));
  assert.ok(distinct.size >= 5, `the answer grew in only ${distinct.size} steps`);
});

test('the bubble appears without the wasm core, which loads on first use', async () => {
  const { page } = await openPage(browser, `${stack.url}/demo`);
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));
  await page.locator('oachat-widget').locator('.oc-launcher').waitFor();
  await page.waitForTimeout(300);
  assert.equal(requests.filter((u) => /oachat-core/.test(u)).length, 0, 'core fetched before use');
  await openWidget(page);
  assert.ok(requests.some((u) => /oachat-core\.[0-9a-f]+\.wasm/.test(u)), 'core fetched on open');
});
