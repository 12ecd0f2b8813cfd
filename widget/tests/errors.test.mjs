// Errors users understand, in zh-CN and en, provoked through the real worker: a tier with
// rpm 1 (429 + Retry-After: countdown), a spent budget, a round limit, an expired token
// (fetched again silently), a dropped network (retry button) and a provider outage (503).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { mintToken, startStack } from '../../worker/tests/harness.mjs';
import { apiSendAndWait, coreReady, hostPage, launch } from './browser.mjs';

let stack;
let down;
let cut;
let browser;
before(async () => {
  stack = await startStack({
    name: 'widget-errors',
    config: {
      tiers: {
        staff: { rpm: 1000 },
        slow: { rpm: 1 },
        broke: { daily_tokens: 1 },
        short: { max_rounds: 1, rpm: 1000 },
      },
    },
  });
  // Every upstream key answers 500: the worker reports the provider as unavailable.
  down = await startStack({ name: 'widget-errors-down', keys: 'sk-mock-500' });
  // Every upstream answer breaks off mid-stream: the worker ends the stream with an error event.
  cut = await startStack({ name: 'widget-errors-cut', keys: 'sk-mock-cut' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  await down?.stop();
  await cut?.stop();
});

/** A host page whose getToken hands out the given tokens in turn (the last one repeats). */
function tokenPage(tokens, locale) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>errors</p>
  <script src="/v1/widget.js"></script>
  <script>
    window.tokenCalls = [];
    var tokens = ${JSON.stringify(tokens)};
    OAChat.init({ locale: ${JSON.stringify(locale)}, getToken: function (options) {
      window.tokenCalls.push(!!(options && options.refresh));
      return Promise.resolve(tokens[Math.min(window.tokenCalls.length - 1, tokens.length - 1)]);
    } });
    window.errors = [];
    OAChat.on('error', function (detail) { window.errors.push(detail.code); });
  </script></body></html>`;
}

const notice = (page) => page.locator('oachat-widget').locator('.oc-msg[data-role="error"] .oc-bubble').last();

for (const [locale, pattern] of [['en', /Too many requests\. Try again in (\d+) s\./], ['zh-CN', /请求太频繁，请 (\d+) 秒后再试。/]]) {
  test(`rate limited (${locale}): a countdown that counts down`, async () => {
    const { page } = await hostPage(browser, `${stack.url}/test/rate-${locale}`,
      tokenPage([mintToken({ sub: `slow-${locale}`, tier: 'slow' })], locale));
    await coreReady(page);
    await apiSendAndWait(page, 'first is fine');
    await apiSendAndWait(page, 'second is too soon');
    assert.deepEqual(await page.evaluate(() => window.errors), ['rate_limit_exceeded']);
    const first = (await notice(page).innerText()).match(pattern);
    assert.ok(first, await notice(page).innerText());
    await page.waitForTimeout(2200);
    const later = (await notice(page).innerText()).match(pattern);
    assert.ok(Number(later[1]) < Number(first[1]), `${later[1]} < ${first[1]}`);
  });
}

test('budget spent and round limit: messages that say what to do (en and zh-CN)', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/budget`,
    tokenPage([mintToken({ sub: 'broke', tier: 'broke' })], 'en'));
  await coreReady(page);
  await apiSendAndWait(page, 'spend it');
  if (!(await page.evaluate(() => window.errors.length))) await apiSendAndWait(page, 'spend more');
  assert.deepEqual(await page.evaluate(() => window.errors), ['budget_exceeded']);
  assert.match(await notice(page).innerText(), /budget is spent/);

  const zh = await hostPage(browser, `${stack.url}/test/rounds`,
    tokenPage([mintToken({ sub: 'short', tier: 'short' })], 'zh-CN'));
  await coreReady(zh.page);
  await apiSendAndWait(zh.page, '第一轮');
  await apiSendAndWait(zh.page, '第二轮');
  assert.deepEqual(await zh.page.evaluate(() => window.errors), ['max_rounds_exceeded']);
  assert.match(await notice(zh.page).innerText(), /轮数已达上限/);
});

test('an expired token is replaced silently through getToken', async () => {
  const expired = mintToken({ sub: 'carol', exp: Math.floor(Date.now() / 1000) - 60 });
  const fresh = mintToken({ sub: 'carol' });
  const { page, consoleErrors } = await hostPage(browser, `${stack.url}/test/expired`, tokenPage([expired, fresh], 'en'));
  await coreReady(page);
  await apiSendAndWait(page, 'with an old token');
  assert.deepEqual(await page.evaluate(() => window.tokenCalls), [false, true], 'asked again with refresh');
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  const widget = page.locator('oachat-widget');
  assert.equal(await widget.locator('.oc-msg[data-role="error"]').count(), 0);
  assert.match(await widget.locator('.oc-msg[data-role="assistant"]').last().innerText(), /with an old token/);
  assert.deepEqual(consoleErrors.filter((e) => !/status of 401|Failed to load resource/.test(e)), []);
});

test('a dropped network offers a retry button that works', async () => {
  const { page, context } = await hostPage(browser, `${stack.url}/test/network`,
    tokenPage([mintToken({ sub: 'dave' })], 'zh-CN'));
  await coreReady(page);
  // Whichever endpoint the widget chats through (server-side history or not).
  const chatEndpoint = /\/v1\/(chat\/completions|oachat\/chat)$/;
  await context.route(chatEndpoint, (route) => route.abort('internetdisconnected'));
  await apiSendAndWait(page, '断网了');
  assert.deepEqual(await page.evaluate(() => window.errors), ['network']);
  assert.match(await notice(page).innerText(), /网络/);
  const widget = page.locator('oachat-widget');
  const retry = widget.locator('.oc-retry');
  assert.equal(await retry.innerText(), '重试');
  await context.unroute(chatEndpoint);
  await retry.click();
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').last().waitFor({ timeout: 20_000 });
  assert.match(await widget.locator('.oc-msg[data-role="assistant"]').last().innerText(), /断网了/);
  assert.equal(await widget.locator('.oc-msg[data-role="error"]').count(), 0, 'the notice goes on retry');
});

test('the model provider down (503): a message saying so, in English and Chinese', async () => {
  for (const [locale, pattern] of [['en', /unavailable|down/i], ['zh-CN', /服务|不可用|繁忙/]]) {
    const { page } = await hostPage(browser, `${down.url}/test/down-${locale}`, tokenPage([down.token()], locale));
    await coreReady(page);
    await apiSendAndWait(page, 'is anyone there?');
    assert.deepEqual(await page.evaluate(() => window.errors), ['upstream_unavailable']);
    assert.match(await notice(page).innerText(), pattern);
    assert.equal(await page.locator('oachat-widget').locator('.oc-retry').count(), 1);
  }
});

test('an answer the provider broke off keeps its text, with the worker\'s notice after it', async () => {
  const { page } = await hostPage(browser, `${cut.url}/test/cut`, tokenPage([cut.token()], 'en'));
  await coreReady(page);
  await apiSendAndWait(page, 'a long answer please');
  const widget = page.locator('oachat-widget');
  const answer = await widget.locator('.oc-msg[data-role="assistant"] .oc-bubble').last().innerText();
  assert.ok(answer.length > 0, 'the partial answer stays');
  assert.match(await notice(page).innerText(), /broke off/, 'and the notice says it is not whole');
  assert.deepEqual(await page.evaluate(() => window.errors), ['error']);
});
