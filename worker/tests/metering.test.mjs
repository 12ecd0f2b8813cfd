// Metering through the real worker: the ledger agrees with what the upstream billed, token for
// token, and a client that walks away stops the upstream and is billed for what it received.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  GENEROUS_TIERS, admin, chat, keyId, ledgerRow, mockCounters, readSse, startStack,
} from './harness.mjs';

const OK_KEY = 'sk-mock-ok-metering';
let stack;
before(async () => {
  // Streams of 60 chunks 40 ms apart (2.4 s): long enough for a client to walk away mid-way.
  const config = { ...GENEROUS_TIERS, tiers: { staff: { ...GENEROUS_TIERS.tiers.staff, max_n: 3 } } };
  stack = await startStack({ name: 'metering', keys: OK_KEY, config, mockArgs: ['--chunks', '60', '--delay-ms', '40'] });
});
after(async () => {
  await stack?.stop();
});

test('ledger totals equal the upstream usage exactly for completed streams and non-streams', async () => {
  await stack.mock.reset();
  const token = stack.token({ sub: 'meter-totals' });
  const ids = [];
  const bodies = [
    { stream: true, messages: [{ role: 'user', content: 'count me in' }] },
    { stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: '你好，世界 📋 tokens' }] },
    { stream: true, n: 2, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'two answers' }] },
    { stream: true, max_tokens: 7, messages: [{ role: 'user', content: 'truncated answer' }] },
    { stream: true, tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }], messages: [{ role: 'user', content: 'please call lookup' }] },
    { messages: [{ role: 'user', content: 'not streamed' }] },
    { n: 3, messages: [{ role: 'user', content: 'three, not streamed' }] },
  ];
  // All at once: metering must not mix up concurrent streams.
  await Promise.all(bodies.map(async (body, index) => {
    const response = await chat(stack.url, token, { model: 'gpt-4o-mini', ...body });
    assert.equal(response.status, 200);
    ids[index] = response.headers.get('x-request-id');
    if (body.stream) {
      const { events } = await readSse(response);
      assert.equal(events.at(-1), '[DONE]');
    } else {
      await response.json();
    }
  }));
  const rows = await Promise.all(ids.map((id) => ledgerRow(stack.url, id)));
  for (const row of rows) {
    assert.equal(row.ending, 'completed', JSON.stringify(row));
    assert.equal(row.estimated, 0, `${row.id} estimated`);
    assert.equal(row.key_id, keyId(OK_KEY));
  }
  const sum = (field) => rows.reduce((total, row) => total + row[field], 0);
  const billed = await mockCounters(stack, OK_KEY);
  assert.equal(billed.requests, bodies.length);
  // Every call goes upstream as a stream, the non-streamed ones too (assembled by the proxy).
  assert.equal(billed.streams_finished, bodies.length);
  assert.ok(billed.completion_tokens > 0);
  assert.equal(sum('prompt_tokens'), billed.prompt_tokens);
  assert.equal(sum('completion_tokens'), billed.completion_tokens);

  // The usage report agrees with the rows.
  const usage = await (await admin(stack.url, '/admin/usage?group=user')).json();
  const mine = usage.data.find((row) => row.key === 'u:meter-totals');
  assert.ok(mine, JSON.stringify(usage));
  assert.equal(mine.requests, bodies.length);
  assert.equal(mine.prompt_tokens, billed.prompt_tokens);
  assert.equal(mine.completion_tokens, billed.completion_tokens);
});

// A client that asked for usage itself gets the upstream's stream unchanged, so the worker
// passes it through natively (worker/src/relay_native.rs) and meters it after the fact: the
// same disconnect must stop the upstream and be billed the same way on both paths.
for (const [path, extra] of [['pumped', {}], ['passed through natively', { stream_options: { include_usage: true } }]]) test(`a client disconnect aborts the upstream stream and bills what was delivered (${path})`, async () => {
  const before = await mockCounters(stack, OK_KEY);
  const controller = new AbortController();
  const response = await chat(stack.url, stack.token({ sub: 'meter-abort' }), {
    model: 'gpt-4o-mini',
    stream: true,
    ...extra,
    messages: [{ role: 'user', content: 'a long answer please' }],
  }, {}, controller.signal);
  assert.equal(response.status, 200);
  const id = response.headers.get('x-request-id');
  const reader = response.body.getReader();
  let received = '';
  while (!received.includes('"content"') || received.split('\n\n').length < 5) {
    const { value, done } = await reader.read();
    assert.ok(!done, 'the stream ended before the client walked away');
    received += new TextDecoder().decode(value);
  }
  controller.abort();
  await reader.cancel().catch(() => {});

  // The whole stream would take 2.4 s; the abort must reach mock-openai before its end.
  let now = before;
  for (let i = 0; i < 40 && now.streams_aborted === before.streams_aborted; i++) {
    await new Promise((r) => setTimeout(r, 100));
    now = await mockCounters(stack, OK_KEY);
  }
  assert.equal(now.streams_aborted, before.streams_aborted + 1, 'upstream stream not aborted');
  assert.equal(now.streams_finished, before.streams_finished);

  const row = await ledgerRow(stack.url, id);
  assert.equal(row.ending, 'client_aborted');
  assert.equal(row.estimated, 1);
  assert.ok(row.completion_tokens > 0, `completion_tokens ${row.completion_tokens}`);
  assert.ok(row.prompt_tokens > 0);
  assert.equal(row.status, 200);
});

test('the final usage chunk reaches clients that asked for it, with usage:null before it', async () => {
  const response = await chat(stack.url, stack.token({ sub: 'meter-usage' }), {
    model: 'gpt-4o-mini',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'usage please' }],
  });
  const id = response.headers.get('x-request-id');
  const { events } = await readSse(response);
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0);
  // OpenAI's shape with include_usage: every earlier chunk says `"usage": null`.
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null), 'earlier chunks carry usage:null');
  assert.equal(chunks.filter((c) => c.usage).length, 1);
  const row = await ledgerRow(stack.url, id);
  assert.equal(row.prompt_tokens, last.usage.prompt_tokens);
  assert.equal(row.completion_tokens, last.usage.completion_tokens);
});

test('clients that did not ask for usage get no usage fields at all', async () => {
  const response = await chat(stack.url, stack.token({ sub: 'meter-usage' }), {
    model: 'gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: 'no usage please' }],
  });
  const id = response.headers.get('x-request-id');
  const { events } = await readSse(response);
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.ok(chunks.every((c) => !('usage' in c)), 'a usage field leaked to a client that did not ask');
  assert.ok(chunks.every((c) => c.choices.length > 0), 'an empty usage-only chunk leaked');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  const row = await ledgerRow(stack.url, id);
  assert.equal(row.estimated, 0);
  assert.ok(row.completion_tokens > 0);
});
