// Routing `auto` by meaning, scenario overrides, the decision in headers and the ledger, and
// the exact-match cache: all through the real worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { admin, chat, readSse, startStack, streamedText } from './harness.mjs';

let stack;
before(async () => {
  stack = await startStack({
    name: 'routing',
    config: {
      scenarios: { weekly_report: { route: 'writing', prompt: '为{{user.name}}写本周周报：{{input}}', title: '周报' } },
      routes: { general: { follow_ups: ['How many days of leave do I have?', '怎么申请加班？'] } },
    },
  });
});
after(async () => {
  await stack?.stop();
});

const ask = (content, extra = {}) => ({ model: 'auto', messages: [{ role: 'user', content }], ...extra });

const CLEAR = [
  ['code', '帮我写一个 Python 函数，把 Excel 里的考勤表按部门汇总'],
  ['code', 'Write a SQL query that counts leave requests per department this month'],
  ['translate', '把这段话翻译成英文：本周五下午三点在三楼会议室召开季度总结会'],
  ['translate', 'Translate this notice into Chinese: the office will be closed on Monday'],
  ['summarize', '提炼下面这段文字的要点：本季度销售额同比增长12%，华东区贡献最大，下季度重点拓展华南'],
  ['summarize', 'Summarize the key points of this report in three bullets: revenue grew 8%, costs fell, hiring paused'],
  ['writing', '帮我起草一份关于国庆节放假安排的通知，发给全体员工'],
  ['writing', 'Draft a polite email to the facilities team asking to book the large meeting room next Tuesday'],
  ['general', '公司的年假一般怎么计算？'],
  ['general', 'What is a good way to prepare for a performance review?'],
];

test('each route is chosen for a clear example, in Chinese and in English', async () => {
  for (const [route, text] of CLEAR) {
    const response = await chat(stack.url, stack.token(), ask(text));
    assert.equal(response.status, 200, text);
    assert.equal(response.headers.get('x-oachat-route'), route, text);
    assert.ok(response.headers.get('x-oachat-model'), 'the model is named');
    await response.json();
  }
});

test('an explicit scenario overrides the classifier, and the decision reaches the ledger', async () => {
  const text = 'Translate this notice into Chinese: the office will be closed on Monday';
  const response = await chat(stack.url, stack.token(), ask(text, { oachat: { scenario: 'weekly_report' } }));
  assert.equal(response.headers.get('x-oachat-route'), 'writing');
  const requestId = response.headers.get('x-request-id');
  await response.json();
  let row;
  for (let i = 0; i < 50 && !row; i++) {
    const { rows } = await (await admin(stack.url, '/admin/ledger?limit=50')).json();
    row = rows.find((r) => r.id === requestId);
    if (!row) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(row, 'ledger row written');
  assert.equal(row.route, 'writing');
  assert.match(row.route_reason, /^scenario:weekly_report/);
});

test('the admin explainer shows the decision without calling the upstream', async () => {
  await stack.mock.reset();
  const response = await admin(stack.url, `/admin/route?text=${encodeURIComponent('把这段话翻译成日语')}`);
  const decision = await response.json();
  assert.equal(decision.route, 'translate');
  assert.ok(decision.scores.length > 0);
  const stats = await stack.mock.stats();
  assert.equal(stats.total?.requests ?? 0, 0);
});

test('a cacheable route answers the same request from the cache: streamed, marked and metered as cached', async () => {
  await stack.mock.reset();
  const body = ask('Translate into Chinese: the cafeteria opens at 11:30 from next week', { stream: true });
  const first = await chat(stack.url, stack.token(), body);
  assert.equal(first.headers.get('x-oachat-route'), 'translate');
  assert.equal(first.headers.get('x-oachat-cache'), 'miss');
  const firstText = streamedText((await readSse(first)).events);

  // The answer is stored after the stream; wait until a repeat is a hit.
  let second;
  for (let i = 0; i < 40; i++) {
    second = await chat(stack.url, stack.token({ sub: 'someone-else' }), body);
    if (second.headers.get('x-oachat-cache') === 'hit') break;
    await readSse(second);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(second.headers.get('x-oachat-cache'), 'hit');
  const { events } = await readSse(second);
  assert.ok(events.length > 3, 'a hit streams in pieces, like a live answer');
  assert.equal(streamedText(events), firstText);
  const requestId = second.headers.get('x-request-id');

  const misses = (await stack.mock.stats()).total.requests;
  const again = await chat(stack.url, stack.token(), { ...body, stream: false });
  assert.equal(again.headers.get('x-oachat-cache'), 'hit');
  assert.equal((await again.json()).choices[0].message.content, firstText);
  assert.equal((await stack.mock.stats()).total.requests, misses, 'hits never reach the upstream');

  let row;
  for (let i = 0; i < 50 && !row; i++) {
    const { rows } = await (await admin(stack.url, '/admin/ledger?limit=100')).json();
    row = rows.find((r) => r.id === requestId);
    if (!row) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(row.ending, 'cached');
  assert.equal(row.cost_micro_usd, 0);
  assert.ok(row.completion_tokens > 0);
  assert.equal(row.cached_tokens, row.prompt_tokens);
});

test('routes that are not cacheable always go upstream', async () => {
  const body = ask('帮我写一个 Python 函数，把 Excel 里的考勤表按部门汇总');
  for (let i = 0; i < 2; i++) {
    const response = await chat(stack.url, stack.token(), body);
    assert.equal(response.headers.get('x-oachat-route'), 'code');
    assert.equal(response.headers.get('x-oachat-cache'), 'miss');
    await response.json();
  }
});

test("a route's follow-ups reach the widget as a quick-replies card, and never an OpenAI client", async () => {
  const question = 'What is a good way to prepare for a performance review?';
  const widget = await fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.token({ sub: 'cards' })}` },
    body: JSON.stringify({ message: question }),
  });
  assert.equal(widget.status, 200);
  assert.equal(widget.headers.get('x-oachat-route'), 'general');
  const { text } = await readSse(widget);
  const card = text.match(/event: oachat\.card\ndata: (.*)\n/);
  assert.ok(card, 'a card event before [DONE]');
  assert.deepEqual(JSON.parse(card[1]), {
    card: 'quick-replies',
    data: { replies: ['How many days of leave do I have?', '怎么申请加班？'] },
  });
  assert.ok(text.indexOf('oachat.card') < text.indexOf('[DONE]'));

  const openai = await chat(stack.url, stack.token(), ask(question, { stream: true }));
  assert.equal(openai.headers.get('x-oachat-route'), 'general');
  assert.doesNotMatch((await readSse(openai)).text, /oachat\.card/);
});
