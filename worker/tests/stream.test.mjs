// The skeleton path: a streamed answer goes through the real worker chunk by chunk, the
// widget and demo page are served, and errors are OpenAI-shaped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { chat, readSse, startStack, streamedText } from './harness.mjs';

let stack;
before(async () => {
  // 20 chunks 80 ms apart. (x-mock-* request headers never reach the mock: the worker does
  // not forward client headers upstream, so the stream's shape is set here.)
  stack = await startStack({ name: 'stream', mockArgs: ['--chunks', '20', '--delay-ms', '80'] });
});
after(async () => {
  await stack?.stop();
});

test('a streamed answer arrives chunk by chunk, spread over time, not all at once', async () => {
  const response = await chat(stack.url, stack.token(), {
    model: 'gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: 'stream please' }],
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /text\/event-stream/);
  const { events, arrivals } = await readSse(response);
  assert.equal(events.at(-1), '[DONE]');
  // 20 chunks 80 ms apart (~1.6 s): a buffering proxy delivers them in one burst. The
  // bounds are loose on purpose (half the pacing), so a loaded CI machine does not flake.
  assert.ok(arrivals.length >= 8, `only ${arrivals.length} network chunks`);
  const spread = arrivals.at(-1) - arrivals[0];
  assert.ok(spread >= 800, `chunks arrived within ${spread.toFixed(0)} ms: buffered?`);
  assert.match(streamedText(events), /stream please/);
});

test('Chinese text and emoji survive the stream intact', async () => {
  const message = '你好，世界！请总结本周的审批 📋✅ 以及 👨‍👩‍👧 家庭日安排';
  const response = await chat(stack.url, stack.token(), {
    model: 'gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: message }],
  });
  const { events } = await readSse(response);
  assert.ok(streamedText(events).includes(message));
});

test('the usage chunk is stripped unless the client asked for it', async () => {
  const body = { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'usage?' }] };
  const without = await readSse(await chat(stack.url, stack.token(), body));
  const parsed = without.events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
  assert.ok(parsed.every((chunk) => !chunk.usage), 'usage leaked to a client that did not ask');

  const withUsage = await readSse(await chat(stack.url, stack.token(), { ...body, stream_options: { include_usage: true } }));
  const last = JSON.parse(withUsage.events.at(-2));
  assert.ok(last.usage.completion_tokens > 0);
  assert.deepEqual(last.choices, []);
});

test('non-streaming answers carry usage and the route headers', async () => {
  const response = await chat(stack.url, stack.token(), {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hello' }],
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-oachat-model'), 'gpt-4o-mini');
  assert.match(response.headers.get('x-request-id'), /^req_[0-9a-f]{20}$/);
  const body = await response.json();
  assert.equal(body.object, 'chat.completion');
  assert.ok(body.usage.total_tokens > 0);
});

test('the widget loader and the demo page are served with the right cache headers', async () => {
  const loader = await fetch(`${stack.url}/v1/widget.js`);
  assert.equal(loader.status, 200);
  assert.match(loader.headers.get('cache-control'), /max-age=300/);
  const source = await loader.text();
  const core = source.match(/v1\/oachat-core\.[0-9a-f]{12}\.js/);
  assert.ok(core, 'loader names a content-hashed core');
  const coreResponse = await fetch(`${stack.url}/${core[0]}`);
  assert.equal(coreResponse.status, 200);
  assert.match(coreResponse.headers.get('cache-control'), /immutable/);
  assert.equal(coreResponse.headers.get('access-control-allow-origin'), '*');
  assert.equal((await fetch(`${stack.url}/widget.js`)).status, 200);
  const demo = await fetch(`${stack.url}/demo`);
  assert.equal(demo.status, 200);
  assert.match(await demo.text(), /widget\.js/);
});

test('errors are OpenAI-shaped with the right status', async () => {
  const cases = [
    [await chat(stack.url, null, { messages: [{ role: 'user', content: 'x' }] }), 401, 'missing_credential'],
    [await chat(stack.url, 'not.a.token', { messages: [{ role: 'user', content: 'x' }] }), 401, 'invalid_api_key'],
    [await chat(stack.url, stack.token(), '{not json'), 400, 'invalid_request'],
    [await chat(stack.url, stack.token(), { model: 'gpt-4o-mini' }), 400, 'invalid_request'],
    [await chat(stack.url, stack.token(), { model: 'gpt-9-ultra', messages: [{ role: 'user', content: 'x' }] }), 404, 'model_not_found'],
    [await fetch(`${stack.url}/v1/chat/completions`), 405, 'method_not_allowed'],
    [await fetch(`${stack.url}/nope`), 404, 'not_found'],
  ];
  for (const [response, status, code] of cases) {
    assert.equal(response.status, status, `${code}`);
    const body = await response.json();
    assert.equal(body.error.code, code);
    assert.equal(typeof body.error.message, 'string');
    assert.equal(typeof body.error.type, 'string');
  }
  const missing = await (await chat(stack.url, stack.token(), { model: 'gpt-4o-mini' })).json();
  assert.equal(missing.error.param, 'messages');
});

test('a body over the limit is refused with 413', async () => {
  const big = 'x'.repeat(1024 * 1024 + 10);
  const response = await chat(stack.url, stack.token(), { messages: [{ role: 'user', content: big }] });
  assert.equal(response.status, 413);
  assert.equal((await response.json()).error.code, 'body_too_large');
});
