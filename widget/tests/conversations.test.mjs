// Server-side conversations: GET /v1/oachat/conversations, GET/DELETE
// /v1/oachat/conversations/:id, and POST /v1/oachat/chat {conversation_id?, message} answering
// SSE with x-oachat-conversation. The first test serves them from the page's network layer to
// script every case; the others use the real worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startStack } from '../../worker/tests/harness.mjs';
import { hostPage, launch } from './browser.mjs';

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'widget-conversations' });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const page_ = (attributes) => `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
  <script src="/v1/widget.js" data-token-url="/demo/token" data-locale="en" ${attributes}></script></body></html>`;

const sse = (text) => text.split(' ').map((word, i) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: (i ? ' ' : '') + word } }] })}\n\n`).join('') + 'data: [DONE]\n\n';

test('with data-history="auto" and a worker that keeps conversations: list, continue, load, delete', async () => {
  const { page, context, consoleErrors } = await hostPage(browser, `${stack.url}/test/history`, page_('data-history="auto"'));
  let list = [{ id: 'c-1', title: 'Leave policy' }, { id: 'c-2', title: 'Meeting notice' }];
  const chats = [];
  const deleted = [];
  await context.route('**/v1/oachat/conversations', (route) => route.fulfill({ json: { conversations: list } }));
  await context.route('**/v1/oachat/conversations/*', (route) => {
    const id = decodeURIComponent(route.request().url().split('/').pop());
    if (route.request().method() === 'DELETE') {
      deleted.push(id);
      list = list.filter((c) => c.id !== id);
      return route.fulfill({ status: 204, body: '' });
    }
    return route.fulfill({ json: { id, messages: [
      { role: 'user', content: 'How many leave days?' },
      { role: 'assistant', content: '**15 days** a year.' },
    ] } });
  });
  await context.route('**/v1/oachat/chat', (route) => {
    chats.push(JSON.parse(route.request().postData()));
    return route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream', 'x-oachat-conversation': 'c-new' }, body: sse('Stored on the server.') });
  });

  await page.evaluate(() => OAChat.open());
  const widget = page.locator('oachat-widget');
  const historyButton = widget.locator('[data-action="history"]');
  await historyButton.waitFor({ state: 'visible' });
  assert.equal(await historyButton.getAttribute('aria-label'), 'History');

  // Chatting goes through /v1/oachat/chat; the second message continues the same conversation.
  for (const text of ['first question', 'second question']) {
    await page.evaluate((t) => new Promise((resolve) => { OAChat.on('stream:end', resolve); OAChat.send(t); }), text);
  }
  assert.deepEqual(chats, [{ message: 'first question' }, { message: 'second question', conversation_id: 'c-new' }]);
  assert.match(await widget.locator('.oc-msg[data-role="assistant"]').last().innerText(), /Stored on the server\./);

  // The list, an old conversation loaded into the log, and deleting one.
  await historyButton.click();
  await widget.locator('.oc-history-item').first().waitFor();
  assert.deepEqual(await widget.locator('.oc-history-open').allInnerTexts(), ['Leave policy', 'Meeting notice']);
  await widget.locator('.oc-history-open', { hasText: 'Leave policy' }).click();
  await widget.locator('.oc-msg[data-role="assistant"] strong').waitFor();
  assert.equal(await widget.locator('.oc-history').isHidden(), true);
  assert.deepEqual(await widget.locator('.oc-msg').evaluateAll((rows) => rows.map((r) => r.dataset.role)), ['user', 'assistant']);
  assert.equal(await widget.locator('.oc-msg[data-role="assistant"] strong').innerText(), '15 days');
  await page.evaluate(() => new Promise((resolve) => { OAChat.on('stream:end', resolve); OAChat.send('and sick leave?'); }));
  assert.deepEqual(chats[2], { message: 'and sick leave?', conversation_id: 'c-1' });

  await historyButton.click();
  await widget.locator('.oc-history-item').first().waitFor();
  await widget.locator('.oc-history-item[data-conversation="c-2"] .oc-history-delete').click();
  await widget.locator('.oc-history-item[data-conversation="c-2"]').waitFor({ state: 'detached' });
  assert.deepEqual(deleted, ['c-2']);
  assert.deepEqual(consoleErrors, []);
});

test('by default the real worker keeps the conversation: the first and next messages share it, and it is listed', async () => {
  const { page, context, consoleErrors } = await hostPage(browser, `${stack.url}/test/real-history`, page_(''));
  const chats = [];
  page.on('request', (request) => { if (/\/v1\/oachat\/chat$/.test(request.url())) chats.push(JSON.parse(request.postData())); });
  await page.evaluate(() => OAChat.open());
  // Sent at once: the message waits for the history probe instead of racing it.
  await page.evaluate(() => new Promise((resolve) => { OAChat.on('stream:end', resolve); OAChat.send('first turn'); }));
  await page.evaluate(() => new Promise((resolve) => { OAChat.on('stream:end', resolve); OAChat.send('second turn'); }));
  assert.equal(chats.length, 2, 'both messages went to /v1/oachat/chat');
  assert.equal(chats[0].message, 'first turn');
  assert.equal(chats[0].conversation_id, undefined);
  assert.match(chats[1].conversation_id, /\S+/, 'the second message continues the conversation');
  const widget = page.locator('oachat-widget');
  assert.equal(await widget.locator('[data-action="history"]').isHidden(), false);
  await widget.locator('[data-action="history"]').click();
  await widget.locator('.oc-history-item').first().waitFor();
  assert.match(await widget.locator('.oc-history-item').first().innerText(), /first turn/);
  assert.deepEqual(consoleErrors, []);
  await context.close();
});

test('data-history="off" keeps everything in the page: no probe, no button, the classic endpoint', async () => {
  const { page, context } = await hostPage(browser, `${stack.url}/test/no-history`, page_('data-history="off"'));
  const probes = [];
  // The quota read (/v1/oachat/me) belongs to the quota menu, not to history: it stays.
  page.on('request', (request) => {
    if (/\/v1\/oachat\/(?!me$)/.test(request.url())) probes.push(request.url());
  });
  await page.evaluate(() => OAChat.open());
  await page.evaluate(() => new Promise((resolve) => { OAChat.on('stream:end', resolve); OAChat.send('classic path'); }));
  assert.deepEqual(probes, []);
  assert.equal(await page.locator('oachat-widget').locator('[data-action="history"]').isHidden(), true);
  assert.match(await page.locator('oachat-widget').locator('.oc-msg[data-role="assistant"]').last().innerText(), /classic path/);
  await context.close();
});
