// The user's own quota in the widget: the menu under the header says what is left today in
// words ("今日剩余约 N tokens"), read from GET /v1/oachat/me when the panel opens and again
// after every answer; the note above the input warns once a tenth or less is left, and a
// refused question says the budget is spent. Real worker, mock-openai, headless Chromium.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { RESULTS, poll, startStack } from '../../worker/tests/harness.mjs';
import { hostPage, launch } from './browser.mjs';

const DAILY_TOKENS = 1000;

let stack;
let browser;
before(async () => {
  stack = await startStack({
    name: 'widget-quota',
    config: {
      budget: { daily_usd: 'unlimited' },
      tiers: {
        staff: { rpm: 1000, max_rounds: 1000, daily_tokens: DAILY_TOKENS, daily_usd: 'unlimited', max_tokens: 20 },
      },
    },
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const page_ = `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
  <script src="/v1/widget.js" data-token-url="/demo/token" data-locale="zh-CN"></script></body></html>`;

/** The demo employee's quota as the worker reports it (the widget's user). */
async function me() {
  const { token } = await (await fetch(`${stack.url}/demo/token`)).json();
  const response = await fetch(`${stack.url}/v1/oachat/me`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  return response.json();
}

/** "About" a number as the widget says it: 12,345 reads 12,000 and 1,234 reads 1,200. */
function about(n) {
  const step = n < 1000 ? 1 : n < 10000 ? 100 : 1000;
  return (Math.floor(n / step) * step).toLocaleString('en-US');
}

test('the quota menu says what is left today, and the note warns before the limit and when it is reached', async () => {
  const { page, consoleErrors } = await hostPage(browser, `${stack.url}/test/quota`, page_);
  await page.evaluate(() => OAChat.open());
  const widget = page.locator('oachat-widget');
  const button = widget.locator('[data-action="quota"]');
  const menu = widget.locator('.oc-quota');
  const note = widget.locator('.oc-quota-note');

  // Read when the panel opens: nothing used yet, the whole day's tokens are left.
  await button.waitFor({ state: 'visible' });
  assert.equal(await button.getAttribute('aria-label'), '我的额度');
  assert.equal(await menu.isHidden(), true);
  await button.click();
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  assert.equal((await menu.locator('.oc-quota-line').first().innerText()).trim(), `今日剩余约 ${about(DAILY_TOKENS)} tokens`);
  assert.equal(await note.isHidden(), true);

  // Answers use the day's tokens (20 at most each, a new chat each time so the prompt stays
  // small: every step is smaller than the tenth the note warns at); after each one the open
  // menu follows the worker's figure.
  const ask = async (text) => {
    await widget.locator('[data-action="new-chat"]').click();
    await widget.locator('.oc-input').fill(`${text} [mock chunks=100 delay_ms=1]`);
    await widget.locator('.oc-input').press('Enter');
    await widget.locator('.oc-msg[data-role="assistant"] .oc-actions')
      .or(widget.locator('.oc-msg[data-role="error"]'))
      .first().waitFor({ timeout: 30_000 });
    return (await widget.locator('.oc-msg[data-role="error"]').count()) === 0;
  };
  let quota = await me();
  let answers = 0;
  while (quota.day.tokens.remaining > DAILY_TOKENS / 10) {
    answers += 1;
    assert.ok(answers <= 40, `the day's tokens should run low within 40 answers (left: ${quota.day.tokens.remaining})`);
    assert.ok(await ask(`第 ${answers} 个问题`), `answer ${answers} was refused with ${quota.day.tokens.remaining} tokens left`);
    quota = await poll('the answer settled', async () => {
      const now = await me();
      return now.day.tokens.reserved === 0 ? now : undefined;
    });
    const expected = `今日剩余约 ${about(quota.day.tokens.remaining)} tokens`;
    // The widget reads the quota again after the answer; reopening the menu reads it once more.
    await poll(`the menu reads "${expected}"`, async () => {
      if ((await menu.locator('.oc-quota-line').first().innerText()).trim() === expected) return true;
      await button.click();
      await button.click();
      return false;
    }, 10_000);
  }

  // A tenth or less left: the note warns before the next question fails half-way.
  if (quota.day.tokens.remaining > 0) {
    await note.waitFor({ state: 'visible' });
    assert.equal(await note.innerText(), '今日额度快用完了，较长的问题可能无法完整回答。');
  }
  await page.mouse.move(0, 0);
  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-quota.png') });

  // Asking on: the worker refuses what no longer fits, and the widget says the budget is spent.
  let refused = false;
  for (let i = 0; i < 6 && !refused; i += 1) refused = !(await ask('再问一个'));
  assert.ok(refused, 'a question beyond the day\'s tokens is refused');
  assert.match(await widget.locator('.oc-msg[data-role="error"]').last().innerText(), /额度已用完/);
  await note.waitFor({ state: 'visible' });
  assert.deepEqual(consoleErrors.filter((e) => !/429/.test(e)), []);
});

test('a worker without a quota for the user shows no quota button', async () => {
  // A guest-free stack whose token URL fails: /v1/oachat/me answers 401, so no quota is known.
  const { page } = await hostPage(browser, `${stack.url}/test/quota-none`, `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
    <script src="/v1/widget.js" data-token-url="/no-such-token" data-locale="zh-CN"></script></body></html>`);
  const asked = page.waitForResponse((r) => r.url().endsWith('/v1/oachat/me'));
  await page.evaluate(() => OAChat.open());
  const widget = page.locator('oachat-widget');
  // The widget asks when the panel opens, and is refused.
  assert.notEqual((await asked).status(), 200);
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)));
  assert.equal(await widget.locator('[data-action="quota"]').isHidden(), true);
  assert.equal(await widget.locator('.oc-quota-note').isHidden(), true);
});
