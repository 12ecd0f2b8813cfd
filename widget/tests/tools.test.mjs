// OA actions in the browser: tools the host page registers (OAChat.registerTool), the calls the
// model makes (`event: oachat.tool_call`), the confirmation card, handler results, errors and
// timeouts, the continuation with `tool_results`, and the page context.
//
// The first part routes `/v1/oachat/chat` to scripted SSE answers (the widget's half of the
// contract on its own); the second runs the whole loop through the real worker and mock-openai.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { GENEROUS_TIERS, RESULTS, startStack } from '../../worker/tests/harness.mjs';
import { coreReady, hostPage, launch, openPage } from './browser.mjs';
import { PAYLOADS } from './xss-payloads.mjs';

let stack;
let browser;
before(async () => {
  // Many round trips, each continuation reserving its model's worst case: lift the limits
  // and budgets so only the tools are under test.
  stack = await startStack({ name: 'widget-tools', config: GENEROUS_TIERS });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const TOOLS = `
  window.ran = [];
  window.OAChatConfig = { toolTimeoutMs: 300, tools: [{
    name: 'leave_balance', description: '查询年假余额：返回剩余天数',
    parameters: { type: 'object', additionalProperties: false, properties: { year: { type: 'integer', examples: [2024] } } },
    handler: function (args) { window.ran.push('leave_balance'); return { remaining: 7, year: args.year || 2024 }; }
  }] };
`;

function page_(extra = '', attributes = '') {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p id="form" data-x="1">请假单：张三 年假 3 天</p>
    <script>${TOOLS}</script>
    <script src="/v1/widget.js" data-token-url="/demo/token" data-locale="zh-CN" ${attributes}></script>
    <script>
      OAChat.registerTool({
        name: 'submit_leave', description: '提交请假申请：提交后进入审批', confirm: true,
        parameters: { type: 'object', required: ['from', 'to', 'type'], additionalProperties: false, properties: {
          from: { type: 'string', examples: ['2024-06-24'] }, to: { type: 'string', examples: ['2024-06-26'] },
          type: { type: 'string', enum: ['年假', '病假'], examples: ['年假'] } } },
        handler: function (args) { window.ran.push('submit_leave'); return { id: 'AP-1', status: '待审批' }; }
      });
      OAChat.registerTool({ name: 'slow_tool', description: '很慢的工具', parameters: { type: 'object' },
        handler: function () { window.ran.push('slow_tool'); return new Promise(function () {}); } });
      OAChat.registerTool({ name: 'broken_tool', description: '会出错的工具', parameters: { type: 'object' },
        handler: function () { window.ran.push('broken_tool'); throw new Error('OA 系统维护中'); } });
      OAChat.registerTool({ name: 'echo_tool', description: '回显', parameters: { type: 'object' },
        handler: function (args) { window.ran.push('echo_tool'); return args; } });
      ${extra}
    </script></body></html>`;
}

function sse(events) {
  return events.map(([event, data]) => (event ? `event: ${event}\n` : '') + `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`).join('') + 'data: [DONE]\n\n';
}
const text = (t) => [null, { choices: [{ index: 0, delta: { content: t } }] }];
const call = (id, name, args) => ['oachat.tool_call', { id, name, arguments: typeof args === 'string' ? args : JSON.stringify(args) }];

/**
 * Routes `/v1/oachat/chat`: the first request (a message) answers with `calls`; a continuation
 * (tool_results) answers quoting the results. Every request body is kept in `bodies`.
 */
async function scripted(context, calls) {
  const bodies = [];
  await context.route('**/v1/oachat/chat', async (route) => {
    const body = JSON.parse(route.request().postData());
    bodies.push(body);
    const events = body.tool_results
      ? [text('结果：' + body.tool_results.map((r) => `${r.status} ${r.content}`).join('；'))]
      : [text(''), ...calls];
    await route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream', 'x-oachat-conversation': 'c_test1' }, body: sse(events) });
  });
  return bodies;
}

async function open(route, calls, extra, attributes) {
  const opened = await hostPage(browser, `${stack.url}/test/${route}`, page_(extra, attributes));
  const bodies = await scripted(opened.context, calls);
  await coreReady(opened.page);
  await opened.page.evaluate(() => OAChat.open());
  return { ...opened, bodies, widget: opened.page.locator('oachat-widget') };
}

async function send(page, message) {
  await page.evaluate((m) => OAChat.send(m), message);
}

async function lastAnswer(widget, count = 0) {
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').nth(count).waitFor({ timeout: 20_000 });
  return widget.locator('.oc-msg[data-role="assistant"]').last().innerText();
}

test('registerTool validates names; tools go with each message, without handler or confirm', async () => {
  const { page, widget, bodies, consoleErrors } = await open('names', []);
  const errors = await page.evaluate(() => ['bad name', '', 'x'.repeat(65), 'ok/no'].map((name) => {
    try { OAChat.registerTool({ name, handler() {} }); return 'accepted'; } catch (error) { return error.message; }
  }));
  for (const message of errors) assert.match(message, /name must match/);
  const noHandler = await page.evaluate(() => { try { OAChat.registerTool({ name: 'x' }); return 'accepted'; } catch (e) { return e.message; } });
  assert.match(noHandler, /handler/);
  await page.evaluate(() => OAChat.unregisterTool('echo_tool'));
  await send(page, '你好');
  await lastAnswer(widget);
  const names = bodies[0].tools.map((t) => t.name);
  assert.deepEqual(names, ['leave_balance', 'submit_leave', 'slow_tool', 'broken_tool']);
  assert.ok(bodies[0].tools.every((t) => !('handler' in t) && !('confirm' in t)));
  assert.equal(bodies[0].tools[0].parameters.properties.year.type, 'integer');
  assert.deepEqual(consoleErrors, []);
});

test('a call without confirmation runs, its card shows done, and the continuation carries the result', async () => {
  const { page, widget, bodies } = await open('run', [call('call_1', 'leave_balance', { year: 2024 })], 'OAChat.setContext({ form: "leave" });');
  await send(page, '查询年假余额');
  const answer = await lastAnswer(widget, 0);
  assert.match(answer, /结果：ok \{"remaining":7,"year":2024\}/);
  assert.equal(bodies.length, 2);
  assert.deepEqual(bodies[1].tool_results, [{ id: 'call_1', status: 'ok', content: '{"remaining":7,"year":2024}' }]);
  assert.equal(bodies[1].conversation_id, 'c_test1');
  assert.equal(bodies[1].message, undefined);
  assert.deepEqual(bodies[0].context, { form: 'leave' });
  assert.equal(bodies[1].context, undefined, 'the context went with the message, not with the results');
  assert.equal(bodies[1].tools.length, 5);
  const card = widget.locator('.oc-msg[data-role="tool"] .oc-tool');
  assert.equal(await card.getAttribute('data-phase'), 'done');
  assert.match(await card.innerText(), /查询年假余额：year 2024/);
  assert.match(await card.innerText(), /已完成/);
  assert.deepEqual(await page.evaluate(() => window.ran), ['leave_balance']);
});

test('confirm: the card says what will happen; Enter confirms, the handler runs; cancel declines', async () => {
  const args = { from: '2024-06-24', to: '2024-06-26', type: '年假' };
  const { page, widget, bodies } = await open('confirm', [call('call_a', 'submit_leave', args)]);
  await send(page, '提交请假申请');
  const card = widget.locator('.oc-tool[data-phase="confirm"]');
  await card.waitFor();
  assert.match(await card.innerText(), /提交请假申请：from 2024-06-24, to 2024-06-26, type 年假/);
  assert.equal(await card.locator('button').nth(0).innerText(), '确认');
  assert.equal(await card.locator('button').nth(1).innerText(), '取消');
  assert.deepEqual(await page.evaluate(() => window.ran), [], 'nothing runs before the user says yes');
  await page.waitForTimeout(200);
  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-tool-confirm.png') });
  // The confirm button has the focus: the keyboard confirms.
  await page.keyboard.press('Enter');
  await lastAnswer(widget, 0);
  assert.deepEqual(await page.evaluate(() => window.ran), ['submit_leave']);
  assert.deepEqual(bodies[1].tool_results, [{ id: 'call_a', status: 'ok', content: '{"id":"AP-1","status":"待审批"}' }]);
  assert.equal(await widget.locator('.oc-tool').getAttribute('data-phase'), 'done');
  await page.waitForTimeout(200);
  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-tool-result.png') });

  // The same call again, cancelled (Tab to 取消, then Enter).
  await send(page, '再提交一次');
  await widget.locator('.oc-tool[data-phase="confirm"]').waitFor();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await lastAnswer(widget, 1);
  assert.deepEqual(bodies[3].tool_results, [{ id: 'call_a', status: 'declined', content: 'The user declined.' }]);
  assert.equal(await widget.locator('.oc-tool').last().getAttribute('data-phase'), 'declined');
  assert.deepEqual(await page.evaluate(() => window.ran), ['submit_leave']);
});

test('a server tool call: no page handler, the confirmation first, then {id, status: "server"} and done', async () => {
  const serverCall = ['oachat.tool_call', { id: 'call_s', name: 'oa_balance', arguments: '{"year":2024}', server: true, confirm: true }];
  const { page, widget, bodies } = await open('server', [serverCall]);
  await send(page, '查询 OA 余额');
  // Not a page tool, yet not refused: the worker runs it, after the user confirms.
  const card = widget.locator('.oc-tool[data-phase="confirm"]');
  await card.waitFor();
  assert.match(await card.innerText(), /oa_balance：year 2024/);
  assert.equal(bodies.length, 1, 'nothing is sent before the user says yes');
  await page.keyboard.press('Enter');
  await lastAnswer(widget, 0);
  assert.deepEqual(bodies[1].tool_results, [{ id: 'call_s', status: 'server' }]);
  const done = widget.locator('.oc-tool').first();
  assert.equal(await done.getAttribute('data-phase'), 'done');
  assert.equal(await done.locator('.oc-tool-result').count(), 0, 'no empty result on the card');
  assert.deepEqual(await page.evaluate(() => window.ran), [], 'no page handler ran');

  // Without confirm the card asks the OA at once and the continuation follows by itself.
  const asked = ['oachat.tool_call', { id: 'call_t', name: 'oa_balance', arguments: '{}', server: true }];
  const second = await open('server-now', [asked]);
  await send(second.page, '查询 OA 余额');
  await lastAnswer(second.widget, 0);
  assert.deepEqual(second.bodies[1].tool_results, [{ id: 'call_t', status: 'server' }]);
  assert.equal(await second.widget.locator('.oc-tool').first().getAttribute('data-phase'), 'done');
});

test('confirm as a function decides per call: small requests run at once, large ones ask', async () => {
  const extra = `OAChat.registerTool({ name: 'order', description: '下单：采购办公用品',
    parameters: { type: 'object', properties: { qty: { type: 'integer' } } },
    confirm: function (args) { return args.qty > 10; },
    handler: function (args) { window.ran.push('order ' + args.qty); return { ok: true }; } });`;
  const { page, widget, bodies } = await open('confirm-fn', [call('c1', 'order', { qty: 2 }), call('c2', 'order', { qty: 50 })], extra);
  await send(page, '下单');
  await widget.locator('.oc-tool[data-phase="confirm"]').waitFor();
  assert.deepEqual(await page.evaluate(() => window.ran), ['order 2']);
  assert.match(await widget.locator('.oc-tool[data-phase="confirm"]').innerText(), /下单：qty 50/);
  await widget.locator('.oc-tool[data-phase="confirm"] button', { hasText: '确认' }).click();
  await lastAnswer(widget, 0);
  assert.deepEqual(await page.evaluate(() => window.ran), ['order 2', 'order 50']);
  assert.deepEqual(bodies[1].tool_results.map((r) => r.status), ['ok', 'ok']);
});

test('unknown tools, invalid JSON and off-schema arguments are answered without running anything', async () => {
  const { page, widget, bodies } = await open('invalid', [
    call('c1', 'drop_tables', {}),
    call('c2', 'submit_leave', '{"from": "2024-06-24", '),
    call('c3', 'submit_leave', { from: '2024-06-24', to: '2024-06-26', type: '婚假' }),
    call('c4', 'leave_balance', { year: '2024' }),
  ]);
  await send(page, '乱来');
  await lastAnswer(widget, 0);
  assert.deepEqual(bodies[1].tool_results, [
    { id: 'c1', status: 'error', content: 'Tool drop_tables is not available on this page.' },
    { id: 'c2', status: 'error', content: 'Invalid arguments: $: not valid JSON' },
    { id: 'c3', status: 'error', content: 'Invalid arguments: $.type: must be one of "年假", "病假"' },
    { id: 'c4', status: 'error', content: 'Invalid arguments: $.year: expected integer, got string' },
  ]);
  assert.equal(await widget.locator('.oc-tool[data-phase="failed"]').count(), 4);
  assert.deepEqual(await page.evaluate(() => window.ran), []);
});

test('a handler that throws, one that never answers (timeout) and several calls in one answer', async () => {
  const { page, widget, bodies } = await open('errors', [
    call('c1', 'broken_tool', {}), call('c2', 'slow_tool', {}), call('c3', 'leave_balance', {}),
  ]);
  await send(page, '三个一起');
  await lastAnswer(widget, 0);
  assert.deepEqual(bodies[1].tool_results, [
    { id: 'c1', status: 'error', content: 'OA 系统维护中' },
    { id: 'c2', status: 'error', content: 'The tool did not answer within 300 ms.' },
    { id: 'c3', status: 'ok', content: '{"remaining":7,"year":2024}' },
  ]);
  assert.equal(await widget.locator('.oc-tool').count(), 3);
});

test('stop while a confirmation waits: the call is declined and nothing more is sent', async () => {
  const { page, widget, bodies } = await open('stop', [call('c1', 'submit_leave', { from: 'a', to: 'b', type: '年假' })]);
  await send(page, '提交请假申请');
  await widget.locator('.oc-tool[data-phase="confirm"]').waitFor();
  assert.equal(await widget.locator('.oc-send').getAttribute('data-action'), 'stop');
  await widget.locator('.oc-send').click();
  await widget.locator('.oc-tool[data-phase="declined"]').waitFor();
  assert.equal(await widget.locator('.oc-send').getAttribute('data-action'), 'send');
  await page.waitForTimeout(300);
  assert.equal(bodies.length, 1);
  assert.equal(await widget.locator('.oc-tool button').count(), 0);
});

test('hostile arguments and results stay text on the card', async () => {
  const hostile = PAYLOADS.slice(0, 30);
  const { page, widget, bodies, dialogs } = await open('xss', hostile.map((p, i) => call(`c${i}`, 'echo_tool', { note: p })));
  await send(page, 'xss');
  await lastAnswer(widget, 0);
  assert.equal(await widget.locator('.oc-tool[data-phase="done"]').count(), 16, 'one answer runs at most 16 calls');
  const scan = await page.evaluate(() => {
    const root = document.querySelector('oachat-widget').shadowRoot;
    const found = [];
    for (const element of root.querySelectorAll('.oc-tool *')) {
      if (!['P', 'B', 'SPAN', 'DIV', 'PRE', 'BUTTON'].includes(element.tagName)) found.push(element.tagName);
      for (const attribute of element.attributes) if (attribute.name.startsWith('on')) found.push(attribute.name);
    }
    return { found, xss: window.__xss ?? null };
  });
  assert.deepEqual(scan, { found: [], xss: null });
  assert.match(await widget.locator('.oc-tool-args').first().innerText(), /<script>/);
  assert.equal(bodies[1].tool_results.length, 16);
  assert.deepEqual(dialogs, []);
});

test('page context: setContext and data-context-selector go with each message; the chip removes it', async () => {
  const { page, widget, bodies } = await open('context', [], '', 'data-context-selector="#form"');
  const chip = widget.locator('.oc-context');
  await chip.waitFor();
  assert.equal(await chip.locator('.oc-context-label').innerText(), '正在参考：当前页面');
  await send(page, '一');
  await lastAnswer(widget, 0);
  assert.equal(bodies[0].context, '请假单：张三 年假 3 天');
  await page.evaluate(() => OAChat.setContext({ form: 'leave', days: 3 }));
  await send(page, '二');
  await lastAnswer(widget, 1);
  assert.deepEqual(bodies[1].context, { form: 'leave', days: 3 });
  // A huge context is cut to 4 KB.
  await page.evaluate(() => OAChat.setContext('长'.repeat(5000)));
  await send(page, '三');
  await lastAnswer(widget, 2);
  assert.ok(new TextEncoder().encode(JSON.stringify(bodies[2].context)).length <= 4096);
  await chip.locator('button').click();
  assert.equal(await chip.isHidden(), true);
  await send(page, '四');
  await lastAnswer(widget, 3);
  assert.equal('context' in bodies[3], false);
});

test('a selection on the page is offered as a quote when the widget opens', async () => {
  const opened = await hostPage(browser, `${stack.url}/test/quote`, page_());
  const { page } = opened;
  const widget = page.locator('oachat-widget');
  await coreReady(page);
  await page.evaluate(() => {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById('form'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  });
  await widget.locator('.oc-launcher').click();
  const offer = widget.locator('.oc-quote');
  await offer.waitFor();
  assert.equal(await offer.innerText(), '引用所选内容');
  await offer.click();
  assert.equal(await widget.locator('.oc-input').inputValue(), '> 请假单：张三 年假 3 天\n\n');
  assert.equal(await offer.isHidden(), true);
});

// ---- The whole loop: the real worker and mock-openai (which calls a tool when the message
// names it or its description up to the first punctuation, and quotes the result after it). ----

async function live(route, extra = '', attributes = '') {
  const opened = await hostPage(browser, `${stack.url}/test/live-${route}`, page_(extra, attributes));
  await coreReady(opened.page);
  await opened.page.evaluate(() => OAChat.open());
  return { ...opened, widget: opened.page.locator('oachat-widget') };
}

/** Sends `message` and waits until the widget is idle again (every round trip done). */
async function ask(page, widget, message) {
  const before = await widget.locator('.oc-msg[data-role="assistant"] .oc-actions, .oc-msg[data-role="error"]').count();
  await send(page, message);
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions, .oc-msg[data-role="error"]').nth(before).waitFor({ timeout: 30_000 });
  await widget.locator('.oc-send[data-action="send"]').waitFor({ timeout: 30_000 });
  return widget.locator('.oc-msg[data-role="assistant"], .oc-msg[data-role="error"]').last().innerText();
}

const b64 = (text) => Buffer.from(text).toString('base64url');

test('live: on the demo page, 确认 submits the leave request; it shows in the page and the answer quotes it', async () => {
  // The demo page follows the browser's language: a Chinese desk.
  const { page, consoleErrors } = await openPage(browser, `${stack.url}/demo`, { locale: 'zh-CN' });
  const widget = page.locator('oachat-widget');
  await coreReady(page);
  await page.evaluate(() => OAChat.open());
  const rowsBefore = await page.locator('#approvals tr').count();
  await send(page, '帮我提交请假申请，6 月 24 日到 26 日年假');
  const card = widget.locator('.oc-tool[data-phase="confirm"]');
  await card.waitFor({ timeout: 20_000 });
  // mock-openai builds the arguments from the schema's examples, keys in alphabetical order.
  assert.match(await card.innerText(), /提交请假申请：from 2024-06-24, reason 家中有事, to 2024-06-26, type 年假/);
  assert.equal(await page.locator('#approvals tr').count(), rowsBefore, 'nothing happens before 确认');
  await page.waitForTimeout(200);
  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-tool-confirm.png') });
  await card.locator('button', { hasText: '确认' }).click();
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').nth(0).waitFor({ timeout: 30_000 });
  const answer = await widget.locator('.oc-msg[data-role="assistant"]').last().innerText();
  assert.match(answer, /submit_leave/);
  assert.match(answer, /AP-240618-041/);
  assert.equal(await page.locator('#approvals tr').count(), rowsBefore + 1);
  assert.match(await page.locator('#approvals tr').first().innerText(), /AP-240618-041.*年假（2024-06-24–2024-06-26）/s);
  assert.equal(await widget.locator('.oc-tool').getAttribute('data-phase'), 'done');
  await page.waitForTimeout(200);
  await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, 'widget-tool-result.png') });
  // The demo sets a page context: its chip shows above the input.
  assert.equal(await widget.locator('.oc-context .oc-context-label').innerText(), '正在参考：当前页面');
  assert.deepEqual(consoleErrors, []);
});

test('live: 取消 declines, and the model reads that the user said no', async () => {
  const { page, widget } = await live('cancel');
  await send(page, '提交请假申请');
  const card = widget.locator('.oc-tool[data-phase="confirm"]');
  await card.waitFor({ timeout: 20_000 });
  await card.locator('button', { hasText: '取消' }).click();
  await widget.locator('.oc-send[data-action="send"]').waitFor({ timeout: 30_000 });
  const answer = await widget.locator('.oc-msg[data-role="assistant"]').last().innerText();
  assert.match(answer, /declined/);
  assert.deepEqual(await page.evaluate(() => window.ran), []);
});

test('live: a handler that throws and one that times out are reported to the model', async () => {
  const { page, widget } = await live('errors');
  assert.match(await ask(page, widget, '会出错的工具'), /OA 系统维护中/);
  assert.match(await ask(page, widget, '很慢的工具'), /did not answer within 300 ms/);
  assert.deepEqual(await page.evaluate(() => window.ran), ['broken_tool', 'slow_tool']);
});

test('live: invalid arguments from the model and a tool the page never registered', async () => {
  const { page, widget } = await live('invalid');
  const invalid = await ask(page, widget, `[mock tool=submit_leave args=${b64('{"from":"2024-06-24","to":7,"type":"年假"}')}]`);
  assert.match(invalid, /Invalid arguments: \$\.to: expected string, got number/);
  assert.equal(await widget.locator('.oc-tool[data-phase="failed"]').count(), 1);
  // A tool the page never sent is never offered, and the worker does not pass a call to it
  // on: no card, nothing run, nothing sent back (the widget would refuse it too: see the
  // test with a scripted stream above).
  await ask(page, widget, '[mock tool=drop_tables]');
  assert.equal(await widget.locator('.oc-tool').count(), 1, 'no card for drop_tables');
  assert.deepEqual(await page.evaluate(() => window.ran), []);
});

test('live: a model that keeps calling stops at max_tool_rounds', async () => {
  const { page, widget } = await live('loop');
  await ask(page, widget, '查询年假余额 [mock tool_loop=1]');
  const ran = await page.evaluate(() => window.ran.length);
  // One call with the answer, then one per continuation until the worker's bound (5): the
  // continuation that reaches it goes upstream without tools. mock-openai's tool_loop calls
  // again all the same, but a call to a tool that was not offered never reaches the page.
  assert.equal(ran, 5, `the handler ran ${ran} times`);
  const rows = await widget.locator('.oc-msg').evaluateAll((all) => all.map((row) => row.dataset.role));
  assert.equal(rows.filter((role) => role === 'tool').length, 5);
  assert.equal(rows.filter((role) => role === 'error').length, 0, 'the loop ends without a refusal');
  assert.equal(await widget.locator('.oc-send').getAttribute('data-action'), 'send');
});

test('live: the XSS corpus as tool arguments and results runs nothing', async () => {
  const { page, widget, dialogs } = await live('xss');
  for (const payload of PAYLOADS.slice(0, 20)) {
    await ask(page, widget, `[mock tool=echo_tool args=${b64(JSON.stringify({ note: payload }))}]`);
  }
  assert.equal(await widget.locator('.oc-tool[data-phase="done"]').count(), 20);
  const scan = await page.evaluate(() => {
    const root = document.querySelector('oachat-widget').shadowRoot;
    const found = [];
    for (const element of root.querySelectorAll('*')) {
      for (const attribute of element.attributes) {
        if (attribute.name.startsWith('on')) found.push(`${element.tagName} ${attribute.name}`);
        if (/^\s*(javascript|vbscript|data):/i.test(attribute.value) && ['href', 'src', 'action', 'formaction'].includes(attribute.name)) found.push(`${element.tagName} ${attribute.name}`);
      }
    }
    if (root.querySelectorAll('script, iframe, object, embed').length) found.push('dangerous element');
    return { found, xss: window.__xss ?? null };
  });
  assert.deepEqual(scan, { found: [], xss: null });
  assert.deepEqual(dialogs, []);
});

test('live: the page context reaches the upstream as data; removed, it does not', async () => {
  const { page, widget } = await live('context', 'OAChat.setContext({ form: "leave", days: 3 });');
  await ask(page, widget, '这张表单填对了吗');
  let upstream = await stack.mock.lastRequest();
  const context = upstream.messages.filter((m) => m.role === 'system' && /Context from the page/.test(m.content));
  assert.equal(context.length, 1);
  assert.match(context[0].content, /"form":"leave"/);
  assert.equal(upstream.messages.at(-1).content, '这张表单填对了吗');
  await widget.locator('.oc-context button').click();
  await ask(page, widget, '再问一次');
  upstream = await stack.mock.lastRequest();
  assert.equal(upstream.messages.filter((m) => /Context from the page/.test(m.content ?? '')).length, 0);
});

test('live: a conversation loaded from the history shows what its tools did', async () => {
  const { page, widget } = await live('history');
  await ask(page, widget, '查询年假余额');
  assert.equal(await widget.locator('.oc-tool[data-phase="done"]').count(), 1);
  // The turn is stored with its settle, just after the stream: wait until the newest listed
  // conversation is this one, with its call, its result and the answer, before opening it.
  await page.waitForFunction(async () => {
    const { token } = await (await fetch('/demo/token')).json();
    const get = (path) => fetch(path, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json());
    const newest = (await get('/v1/oachat/conversations')).data?.[0];
    if (!newest) return false;
    const messages = (await get(`/v1/oachat/conversations/${newest.id}`)).messages ?? [];
    return messages.some((m) => m.role === 'tool') && messages.at(-1)?.role === 'assistant';
  }, null, { timeout: 20_000, polling: 200 });
  await page.evaluate(() => OAChat.reset());
  await widget.locator('[data-action="history"]').click();
  await widget.locator('.oc-history-open').first().click();
  const card = widget.locator('.oc-msg[data-role="tool"] .oc-tool');
  await card.waitFor();
  assert.equal(await card.getAttribute('data-phase'), 'done');
  assert.match(await card.innerText(), /查询年假余额：year 2024/);
  // Question, card, answer: no empty bubble for the answer that only called the tool.
  const rows = await widget.locator('.oc-msg').evaluateAll((all) => all.map((row) => row.dataset.role));
  assert.deepEqual(rows, ['user', 'tool', 'assistant']);
  assert.deepEqual(await page.evaluate(() => window.ran), ['leave_balance'], 'nothing runs again');
});
