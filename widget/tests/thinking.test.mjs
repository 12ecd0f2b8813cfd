// 深度思考: a reasoning model's `delta.reasoning_content` streams into a block above the answer,
// open with a live timer while the model thinks, collapsed to "Thought for N s" once the answer
// starts, reopened by its summary button (mouse or keyboard). The answer's copy button leaves the
// reasoning out, and a conversation loaded from the worker shows it collapsed. Real worker,
// mock-openai (`[mock think=N think_ms=M]` makes any model think), headless Chromium.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { RESULTS, startStack } from '../../worker/tests/harness.mjs';
import { hostPage, launch } from './browser.mjs';

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'widget-thinking' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const page_ = (locale) => `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
  <script src="/v1/widget.js" data-token-url="/demo/token" data-locale="${locale}"></script></body></html>`;

// Eight reasoning chunks 400 ms apart: the model thinks for at least 2.8 s, so the one-second
// timer must show "1 s" before the answer starts, on any machine.
const QUESTION = 'Why is the sky blue? [mock think=8 think_ms=400]';

test('reasoning streams into an open block with a live timer, collapses when the answer starts, reopens on click and keys, and is not copied', async () => {
  const { page, context, consoleErrors } = await hostPage(browser, `${stack.url}/test/thinking`, page_('en'));
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
  await page.evaluate(() => OAChat.open());
  const widget = page.locator('oachat-widget');
  await widget.locator('[data-action="history"]').waitFor({ state: 'visible' });
  await widget.locator('.oc-input').fill(QUESTION);
  await widget.locator('.oc-input').press('Enter');

  // While thinking: the block is open above the (still empty) answer, the timer counts.
  const answer = widget.locator('.oc-msg[data-role="assistant"]').last();
  const block = answer.locator('.oc-think');
  const toggle = block.locator('button.oc-think-toggle');
  const body = block.locator('.oc-think-body');
  await answer.locator('.oc-think[data-live]').waitFor();
  assert.match(await toggle.innerText(), /^Thinking… \d+ s$/);
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await body.getByText('The user wants an answer').waitFor();
  await toggle.getByText('Thinking… 1 s', { exact: true }).waitFor();
  assert.equal(await answer.locator('.oc-actions').count(), 0, 'the answer has not started yet');
  // The block sits above the answer, inside the bubble.
  assert.deepEqual(
    await answer.locator('.oc-bubble > *').evaluateAll((children) => children.map((c) => c.className)),
    ['oc-think', 'oc-md'],
  );

  // The answer starts: the block collapses to one line with the time it thought.
  await answer.locator('.oc-actions').waitFor({ timeout: 20_000 });
  assert.equal(await block.getAttribute('data-live'), null);
  assert.match(await toggle.innerText(), /^Thought for \d+ s$/);
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.equal(await body.isHidden(), true);
  assert.match(await answer.locator('.oc-bubble > .oc-md').innerText(), /Why is the sky blue\?/);

  // A click opens it: the reasoning, rendered as markdown (paragraphs, not raw text).
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  assert.equal(await body.isVisible(), true);
  assert.match(await body.locator('p').first().innerText(), /^The user wants an answer to their last message\./);
  assert.match(await body.innerText(), /Done thinking; writing the answer now\./);
  assert.equal(await toggle.getAttribute('aria-controls'), await body.getAttribute('id'));
  await page.mouse.move(0, 0);
  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-thinking.png') });

  // The keyboard works it too: it is a real button.
  await toggle.focus();
  await page.keyboard.press('Enter');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.equal(await body.isHidden(), true);
  await page.keyboard.press('Space');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await toggle.click();
  assert.equal(await body.isHidden(), true);

  // Copying the answer copies the answer only.
  await answer.locator('[data-action="copy-answer"]').click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, /Why is the sky blue\?/);
  assert.doesNotMatch(copied, /The user wants|Done thinking/);
  assert.deepEqual(consoleErrors, []);
  await context.close();
});

test('a conversation loaded from the worker shows its stored reasoning collapsed (已深度思考)', async () => {
  // Think first, in a page of its own, so the worker stores a turn with reasoning.
  const first = await hostPage(browser, `${stack.url}/test/thinking-store`, page_('en'));
  await first.page.evaluate(() => new Promise((resolve) => {
    OAChat.on('stream:end', resolve);
    OAChat.send('Stored thoughts, please [mock think=3 think_ms=50]');
  }));
  await first.context.close();

  // A fresh page (the same demo employee), in Chinese: open the conversation from the history.
  const { page, context, consoleErrors } = await hostPage(browser, `${stack.url}/test/thinking-reload`, page_('zh-CN'));
  await page.evaluate(() => OAChat.open());
  const widget = page.locator('oachat-widget');
  const history = widget.locator('[data-action="history"]');
  await history.waitFor({ state: 'visible' });
  await history.click();
  await widget.locator('.oc-history-open', { hasText: 'Stored thoughts' }).first().click();

  const answer = widget.locator('.oc-msg[data-role="assistant"]').last();
  const toggle = answer.locator('.oc-think-toggle');
  await toggle.waitFor();
  // The duration is not stored: the summary says that it thought, not for how long.
  assert.equal(await toggle.innerText(), '已深度思考');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.equal(await answer.locator('.oc-think-body').isHidden(), true);
  assert.equal(await answer.locator('.oc-think[data-live]').count(), 0);
  assert.match(await answer.locator('.oc-bubble > .oc-md').innerText(), /Stored thoughts, please/);

  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  assert.match(await answer.locator('.oc-think-body').innerText(), /The user wants an answer/);
  assert.equal(await answer.locator('.oc-think-body .oc-typing').count(), 0, 'no typing cursor in stored reasoning');
  assert.deepEqual(consoleErrors, []);
  await context.close();
});
