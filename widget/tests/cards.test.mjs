// Cards: built-ins, host templates with escaped {{field}} slots, host render callbacks, card
// actions that send a message or open a link, and cards arriving in the chat stream as
// `event: oachat.card` SSE events.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { RESULTS, startStack } from '../../worker/tests/harness.mjs';
import { apiSendAndWait, coreReady, hostPage, launch } from './browser.mjs';

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'widget-cards' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const HTML = `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>cards</p>
  <script src="/v1/widget.js" data-token-url="/demo/token" data-locale="zh-CN" data-title="审批助手"></script>
  <script>
    OAChat.registerCard('leave', {
      template: '<div class="leave"><b class="who">{{name}}</b> <span class="days">{{days}}</span>'
        + '<button type="button" data-oc-send="批准 {{name}} 的请假">批准</button></div>'
    });
    OAChat.registerCard('custom', {
      render: function (data, el) {
        var p = document.createElement('p');
        p.className = 'rendered';
        p.textContent = 'render: ' + data.text;
        el.appendChild(p);
      }
    });
    window.messages = [];
    OAChat.on('message', function (d) { window.messages.push(d.role + ':' + (d.card || d.text)); });
  </script></body></html>`;

test('built-in cards: a card with a markdown body and actions, a link, a key-value summary, quick replies', async () => {
  const { page, consoleErrors } = await hostPage(browser, `${stack.url}/test/cards`, HTML);
  await page.evaluate(() => {
    OAChat.addCard('card', {
      title: '请假申请 #1024', body: '**张三** 申请 *3 天* 年假\n\n- 开始：6 月 3 日\n- 结束：6 月 5 日',
      actions: [{ label: '查看详情', send: '查看请假申请 1024 的详情' }, { label: '打开 OA', url: 'https://oa.example/leave/1024' },
        { label: 'evil', url: 'javascript:alert(1)' }],
    });
    OAChat.addCard('link', { title: '员工手册', url: 'https://oa.example/handbook', description: '制度、流程与福利' });
    OAChat.addCard('kv', { title: '本月考勤', items: [{ key: '出勤', value: '21 天' }, ['请假', '1 天'], ['加班', '6 小时']] });
    OAChat.addCard('quick-replies', { replies: ['本月请假人数', { label: '写会议通知', send: '帮我写一封会议通知' }] });
  });
  const widget = page.locator('oachat-widget');
  await widget.locator('.oc-card[data-card="quick-replies"]').waitFor();
  const card = widget.locator('.oc-card[data-card="card"]');
  assert.equal(await card.locator('.oc-card-title').innerText(), '请假申请 #1024');
  assert.equal(await card.locator('.oc-card-body strong').innerText(), '张三');
  assert.equal(await card.locator('.oc-card-body li').count(), 2);
  const link = card.locator('a.oc-card-btn');
  assert.equal(await link.getAttribute('href'), 'https://oa.example/leave/1024');
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await card.locator('text=evil').count(), 0, 'an unsafe link is dropped');
  assert.equal(await widget.locator('.oc-card[data-card="link"] a').getAttribute('href'), 'https://oa.example/handbook');
  assert.equal(await widget.locator('.oc-card[data-card="kv"] dt').count(), 3);
  assert.equal(await widget.locator('.oc-card[data-card="kv"] dd').nth(2).innerText(), '6 小时');
  await page.waitForTimeout(250);
  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-cards.png') });

  // A card action sends its message.
  await widget.locator('.oc-card[data-card="quick-replies"] button', { hasText: '写会议通知' }).click();
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').first().waitFor({ timeout: 20_000 });
  assert.match(await widget.locator('.oc-msg[data-role="user"]').last().innerText(), /帮我写一封会议通知/);
  const messages = await page.evaluate(() => window.messages);
  assert.deepEqual(messages.slice(0, 4), ['card:card', 'card:link', 'card:kv', 'card:quick-replies']);
  assert.deepEqual(consoleErrors, []);
});

test('host templates fill {{field}} escaped; render callbacks draw their own card', async () => {
  const { page, dialogs } = await hostPage(browser, `${stack.url}/test/templates`, HTML);
  await page.evaluate(() => {
    OAChat.addCard('leave', { name: '<img src=x onerror="window.__xss=1">李四', days: 2 });
    OAChat.addCard('custom', { text: 'hello <b>not bold</b>' });
  });
  const widget = page.locator('oachat-widget');
  const leave = widget.locator('.oc-card[data-card="leave"]');
  await leave.waitFor();
  assert.equal(await leave.locator('.who').innerText(), '<img src=x onerror="window.__xss=1">李四');
  assert.equal(await leave.locator('img').count(), 0);
  assert.equal(await leave.locator('.days').innerText(), '2');
  assert.equal(await widget.locator('.oc-card[data-card="custom"] p.rendered').innerText(), 'render: hello <b>not bold</b>');
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => window.__xss ?? null), null);
  assert.deepEqual(dialogs, []);
  // data-oc-send in a template sends its (escaped-then-decoded) text.
  await leave.locator('button').click();
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').first().waitFor({ timeout: 20_000 });
  assert.match(await widget.locator('.oc-msg[data-role="user"]').last().innerText(), /^批准 <img src=x onerror="window.__xss=1">李四 的请假$/);
});

test('a card in the stream (event: oachat.card) renders inside the answer', async () => {
  const { page, context } = await hostPage(browser, `${stack.url}/test/stream-card`, HTML);
  await coreReady(page);
  const chunk = (content) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
  const card = { card: 'kv', data: { title: '出差审批', items: { 城市: '上海', 天数: 3 } } };
  // The worker side of cards is another branch's work: the stream is served here in the
  // wire format the widget reads (split mid-event, to exercise the SSE buffering).
  const body = chunk('这是审批摘要：') + `event: oachat.card\ndata: ${JSON.stringify(card)}\n\n` + chunk('\n\n请确认。') + 'data: [DONE]\n\n';
  await context.route(/\/v1\/(chat\/completions|oachat\/chat)$/, (route) => route.fulfill({
    status: 200, headers: { 'content-type': 'text/event-stream', 'x-request-id': 'req-card' }, body,
  }));
  await apiSendAndWait(page, '出差摘要');
  const widget = page.locator('oachat-widget');
  const answer = widget.locator('.oc-msg[data-role="assistant"]').last();
  assert.match(await answer.locator('.oc-bubble').innerText(), /这是审批摘要：\s*请确认。/);
  const kv = answer.locator('.oc-card[data-card="kv"]');
  assert.equal(await kv.locator('.oc-card-title').innerText(), '出差审批');
  assert.equal(await kv.locator('dd').first().innerText(), '上海');
  assert.ok((await page.evaluate(() => window.messages)).includes('card:kv'));
});
