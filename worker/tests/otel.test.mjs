// OpenTelemetry traces (`[otel]`) through the real worker, into local OTLP/HTTP receivers
// (node:http servers that keep what they are sent): one span per chat request, exported as
// OTLP JSON after the response, with the GenAI conventions' attributes and oachat's own, the
// numbers the ledger row has, the caller's traceparent honoured, content only when captured,
// and the configured headers sent. A collector that answers 500, hangs or is down changes
// nothing a client sees; the worker logs one line without the collector's path or headers.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import {
  GENEROUS_TIERS, chat, ledgerRow, mintToken, poll, readSse, startStack, streamedText,
} from './harness.mjs';

const AUTHORIZATION = `Basic ${Buffer.from('pk-lf-otel-test:sk-lf-otel-secret-7f3a').toString('base64')}`;
const B_TOKEN = 'collector-token-b-91c2';
const PATH_TOKEN = 'path-token-5d8e';
const WAIT_MS = 20_000;

/**
 * An OTLP/HTTP receiver. `mode` decides the answer: 'ok' (200 `{}`), 'fail' (500), 'hang'
 * (never answers). Every request is kept, whatever the answer.
 */
async function receiver(mode = 'ok') {
  const received = [];
  const hanging = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      let parsed = null;
      try { parsed = JSON.parse(body); } catch {}
      received.push({ path: req.url, method: req.method, headers: req.headers, body: parsed });
      if (state.mode === 'hang') {
        hanging.push(res);
        return;
      }
      const status = state.mode === 'fail' ? 500 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{}' : JSON.stringify({ code: 13, message: 'collector is broken' }));
    });
  });
  const sockets = new Set();
  server.on('connection', (socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const state = {
    mode,
    received,
    url: `http://127.0.0.1:${server.address().port}`,
    /** Every span received so far, each with its resource's attributes. */
    spans() {
      return received.flatMap(({ body }) => (body?.resourceSpans ?? []).flatMap((resourceSpans) =>
        (resourceSpans.scopeSpans ?? []).flatMap((scopeSpans) =>
          (scopeSpans.spans ?? []).map((span) => ({ ...span, resource: attributes(resourceSpans.resource), scope: scopeSpans.scope })))));
    },
    /** The spans of one request (by `oachat.request_id`). */
    spansOf(requestId) {
      return state.spans().filter((span) => attributes(span)['oachat.request_id'] === requestId);
    },
    /** Waits for the span of `requestId` and returns it. */
    span(requestId) {
      return poll(`the span of ${requestId}`, () => state.spansOf(requestId)[0], WAIT_MS);
    },
    /** Stops answering and refuses connections: a collector that is down. */
    async close() {
      for (const res of hanging) res.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return state;
}

/** A span's (or resource's) attributes as { key: value }, ints as numbers. */
function attributes(holder) {
  const out = {};
  for (const { key, value } of holder?.attributes ?? []) {
    if ('stringValue' in value) out[key] = value.stringValue;
    else if ('intValue' in value) out[key] = Number(value.intValue);
    else if ('boolValue' in value) out[key] = value.boolValue;
    else if ('doubleValue' in value) out[key] = value.doubleValue;
    else if ('arrayValue' in value) out[key] = (value.arrayValue.values ?? []).map((v) => v.stringValue);
  }
  return out;
}

const FREE = { input_per_mtok: 0, output_per_mtok: 0 };
const baseConfig = {
  ...GENEROUS_TIERS,
  max_attempts: 2,
  upstreams: [
    { name: 'openai' },
    // Every request to broken-model fails upstream (mock-openai's 500 key).
    { name: 'broken', keys_secret: 'BROKEN_KEYS', models: ['broken-model'] },
  ],
  prices: { 'broken-model': FREE },
};

let collectorA;
let collectorB;
let stackA;
let stackB;

before(async () => {
  collectorA = await receiver('ok');
  collectorB = await receiver('fail');
  [stackA, stackB] = await Promise.all([
    startStack({
      name: 'otel',
      vars: { BROKEN_KEYS: 'sk-mock-500' },
      config: {
        ...baseConfig,
        otel: { endpoint: collectorA.url, headers: { Authorization: AUTHORIZATION }, service_name: 'oachat-test' },
      },
    }),
    startStack({
      name: 'otel-capture',
      vars: { BROKEN_KEYS: 'sk-mock-500' },
      config: {
        ...baseConfig,
        otel: {
          endpoint: `${collectorB.url}/${PATH_TOKEN}`,
          headers: { 'x-collector-token': B_TOKEN },
          capture_content: true,
        },
      },
    }),
  ]);
});

after(async () => {
  await Promise.all([stackA?.stop(), stackB?.stop()]);
  await collectorA?.close().catch(() => {});
  await collectorB?.close().catch(() => {});
});

const ask = (stack, body, headers = {}, sub = 'otel-alice') =>
  chat(stack.url, mintToken({ sub }), { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello traces' }], ...body }, headers);

/** Sends a streamed request, reads it whole; returns its id and text. */
async function streamed(stack, content, headers = {}, extra = {}) {
  const response = await ask(stack, { stream: true, messages: [{ role: 'user', content }], ...extra }, headers);
  assert.equal(response.status, 200);
  const { events } = await readSse(response);
  assert.equal(events.at(-1), '[DONE]');
  return { id: response.headers.get('x-request-id'), text: streamedText(events), response };
}

test('a streamed and a non-streamed request each become one chat span with the ledger\'s numbers', async () => {
  const stream = await streamed(stackA, 'streamed request for the trace');
  const sentUser = (await stackA.mock.lastRequest()).user;
  const whole = await ask(stackA, { messages: [{ role: 'user', content: 'whole request for the trace' }] });
  assert.equal(whole.status, 200);
  const wholeId = whole.headers.get('x-request-id');
  await whole.json();

  for (const [id, isStream] of [[stream.id, true], [wholeId, false]]) {
    const span = await collectorA.span(id);
    const row = await ledgerRow(stackA.url, id, WAIT_MS);
    const attrs = attributes(span);
    assert.equal(span.name, 'chat gpt-4o-mini');
    assert.equal(span.kind, 3, 'CLIENT');
    assert.match(span.traceId, /^[0-9a-f]{32}$/);
    assert.match(span.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(span.traceId, '0'.repeat(32));
    assert.equal(span.parentSpanId ?? '', '');
    assert.match(span.startTimeUnixNano, /^\d+$/);
    assert.match(span.endTimeUnixNano, /^\d+$/);
    assert.equal(BigInt(span.startTimeUnixNano), BigInt(row.ts_ms) * 1_000_000n);
    assert.equal(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano), BigInt(row.total_ms) * 1_000_000n);
    assert.equal(span.status?.code ?? 0, 0, 'unset: not an error');
    assert.equal(span.resource['service.name'], 'oachat-test');
    assert.equal(span.scope.name, 'oachat');
    const raw = span.attributes.find((a) => a.key === 'gen_ai.usage.input_tokens').value;
    assert.equal(typeof raw.intValue, 'string', 'OTLP JSON carries 64-bit ints as strings');

    assert.equal(attrs['gen_ai.operation.name'], 'chat');
    assert.equal(attrs['gen_ai.provider.name'], 'openai');
    assert.equal(attrs['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(attrs['gen_ai.response.model'], 'gpt-4o-mini');
    assert.equal(attrs['gen_ai.usage.input_tokens'], row.prompt_tokens);
    assert.equal(attrs['gen_ai.usage.output_tokens'], row.completion_tokens);
    assert.ok(row.completion_tokens > 0);
    assert.deepEqual(attrs['gen_ai.response.finish_reasons'], ['stop']);
    assert.equal(attrs['gen_ai.conversation.id'], undefined, 'no conversation');
    assert.equal(attrs['oachat.request_id'], id);
    assert.equal(attrs['oachat.route'], row.route);
    assert.equal(attrs['oachat.route_reason'], row.route_reason);
    assert.equal(attrs['oachat.tier'], 'staff');
    assert.equal(attrs['oachat.attempts'], row.attempts);
    assert.equal(attrs['oachat.cache'], 'miss');
    assert.equal(attrs['oachat.ending'], 'completed');
    assert.equal(attrs['oachat.stream'], isStream);
    assert.equal(attrs['oachat.cost_usd'], row.cost_micro_usd / 1e6);
    assert.ok(attrs['oachat.cost_usd'] > 0);
    // The user is the opaque id the upstream got, never the identity.
    assert.match(attrs['oachat.user'], /^oa_[0-9a-f]{24}$/);
    assert.equal(attrs['oachat.user'], sentUser);
    assert.ok(!JSON.stringify(span).includes('otel-alice'));
    assert.equal(attrs['error.type'], undefined);
    // Content is opt-in.
    assert.equal(attrs['gen_ai.input.messages'], undefined);
    assert.equal(attrs['gen_ai.output.messages'], undefined);
    assert.equal(collectorA.spansOf(id).length, 1, 'one span per request');
  }
});

test('exports go to /v1/traces as JSON with the configured headers, a burst in one POST', async () => {
  const ids = await Promise.all([1, 2, 3, 4].map(async (n) => (await streamed(stackA, `burst ${n}`)).id));
  const spans = await Promise.all(ids.map((id) => collectorA.span(id)));
  assert.equal(spans.length, 4);
  const posts = collectorA.received.filter(({ body }) =>
    body?.resourceSpans?.[0]?.scopeSpans?.[0]?.spans?.some((span) => ids.includes(attributes(span)['oachat.request_id'])));
  assert.ok(posts.length < ids.length, `4 spans came in ${posts.length} POSTs`);
  for (const post of collectorA.received) {
    assert.equal(post.method, 'POST');
    assert.equal(post.path, '/v1/traces');
    assert.match(post.headers['content-type'], /^application\/json/);
    assert.equal(post.headers.authorization, AUTHORIZATION);
  }
  assert.ok(!stackA.log().includes('sk-lf-otel-secret') && !stackA.log().includes(AUTHORIZATION));
});

test('a failed request is an ERROR span', async () => {
  const response = await ask(stackA, { model: 'broken-model' });
  assert.ok(response.status >= 500, `status ${response.status}`);
  const id = response.headers.get('x-request-id');
  assert.ok(id);
  await response.text();
  const span = await collectorA.span(id);
  const row = await ledgerRow(stackA.url, id, WAIT_MS);
  const attrs = attributes(span);
  assert.equal(span.name, 'chat broken-model');
  assert.equal(span.status.code, 2);
  assert.match(span.status.message, /failed/);
  assert.equal(attrs['error.type'], String(row.status));
  assert.equal(attrs['oachat.ending'], 'failed');
  assert.equal(attrs['oachat.attempts'], row.attempts);
  assert.equal(attrs['gen_ai.usage.output_tokens'], 0);
  assert.equal(attrs['gen_ai.response.model'], undefined, 'no answer, no responding model');
});

test('a valid traceparent makes the span a child of the caller\'s trace; an invalid one is ignored', async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentId = '00f067aa0ba902b7';
  const child = await streamed(stackA, 'child span', { traceparent: `00-${traceId}-${parentId}-01` });
  const span = await collectorA.span(child.id);
  assert.equal(span.traceId, traceId);
  assert.equal(span.parentSpanId, parentId);
  assert.notEqual(span.spanId, parentId);

  const orphan = await streamed(stackA, 'orphan span', { traceparent: `00-${traceId.toUpperCase()}-${parentId}-01` });
  const own = await collectorA.span(orphan.id);
  assert.notEqual(own.traceId, traceId);
  assert.equal(own.parentSpanId ?? '', '');

  // A page whose own tracing propagates to oachat passes the preflight.
  const preflight = await fetch(`${stackA.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin: stackA.url, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, traceparent' },
  });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-headers'), /traceparent/);
});

test('routing, the cache, a widget conversation and /v1/responses are recorded too', async () => {
  const translate = { model: 'auto', messages: [{ role: 'user', content: 'Translate into Chinese: the otel test passes' }] };
  const first = await ask(stackA, translate);
  assert.equal(first.headers.get('x-oachat-cache'), 'miss');
  await first.json();
  const firstSpan = await collectorA.span(first.headers.get('x-request-id'));
  const firstRow = await ledgerRow(stackA.url, first.headers.get('x-request-id'), WAIT_MS);
  assert.equal(attributes(firstSpan)['oachat.route'], 'translate');
  assert.equal(attributes(firstSpan)['oachat.route_reason'], firstRow.route_reason);
  // The cache is filled after the response: ask again until it answers.
  const hit = await poll('a cache hit', async () => {
    const again = await ask(stackA, translate);
    await again.json();
    return again.headers.get('x-oachat-cache') === 'hit' ? again : null;
  }, WAIT_MS);
  const hitAttrs = attributes(await collectorA.span(hit.headers.get('x-request-id')));
  assert.equal(hitAttrs['oachat.cache'], 'hit');
  assert.equal(hitAttrs['oachat.ending'], 'cached');
  assert.equal(hitAttrs['oachat.cost_usd'], 0);

  const turn = await fetch(`${stackA.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${mintToken({ sub: 'otel-widget' })}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', message: 'a widget turn' }),
  });
  assert.equal(turn.status, 200);
  const conversation = turn.headers.get('x-oachat-conversation');
  await readSse(turn);
  const turnAttrs = attributes(await collectorA.span(turn.headers.get('x-request-id')));
  assert.equal(turnAttrs['gen_ai.conversation.id'], conversation);

  const responses = await fetch(`${stackA.url}/v1/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${mintToken({ sub: 'otel-responses' })}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', input: 'a responses request' }),
  });
  assert.equal(responses.status, 200);
  const { id: responseId } = await responses.json();
  const responsesId = `req_${responseId.slice('resp_'.length)}`;
  const responsesRow = await ledgerRow(stackA.url, responsesId, WAIT_MS);
  const responsesAttrs = attributes(await collectorA.span(responsesId));
  assert.equal(responsesAttrs['gen_ai.usage.output_tokens'], responsesRow.completion_tokens);
});

test('with capture_content, prompts and answers are recorded, even when the collector answers 500', async () => {
  const prompt = 'capture this prompt 内容';
  const streamedAnswer = await streamed(stackB, prompt);
  const span = await collectorB.span(streamedAnswer.id);
  const attrs = attributes(span);
  const input = JSON.parse(attrs['gen_ai.input.messages']);
  assert.deepEqual(input.at(-1), { role: 'user', parts: [{ type: 'text', content: prompt }] });
  const output = JSON.parse(attrs['gen_ai.output.messages']);
  assert.equal(output.length, 1);
  assert.equal(output[0].role, 'assistant');
  assert.equal(output[0].finish_reason, 'stop');
  assert.deepEqual(output[0].parts, [{ type: 'text', content: streamedAnswer.text }]);

  const whole = await ask(stackB, { messages: [{ role: 'user', content: 'a whole answer to capture' }] }, {}, 'otel-bob');
  const completion = await whole.json();
  const wholeAttrs = attributes(await collectorB.span(whole.headers.get('x-request-id')));
  const wholeOutput = JSON.parse(wholeAttrs['gen_ai.output.messages']);
  assert.equal(wholeOutput[0].parts[0].content, completion.choices[0].message.content);

  const post = collectorB.received[0];
  assert.equal(post.path, `/${PATH_TOKEN}/v1/traces`);
  assert.equal(post.headers['x-collector-token'], B_TOKEN);
});

test('a collector that answers 500, hangs or is down changes nothing for the client', async () => {
  const expected = (await streamed(stackA, 'same answer either way')).text;
  const logLine = (pattern) => poll(`a log line matching ${pattern}`, () =>
    stackB.log().split('\n').find((line) => line.includes('otel export') && pattern.test(line)), WAIT_MS);

  // 500: the answer is the same as with a healthy collector, and the failure is one line.
  const failing = await streamed(stackB, 'same answer either way');
  assert.equal(failing.text, expected);
  assert.equal(failing.response.headers.get('x-oachat-cache'), 'miss');
  await collectorB.span(failing.id);
  const line = await logLine(/HTTP 500/);
  assert.match(line, new RegExp(`to 127\\.0\\.0\\.1:\\d+: HTTP 500`));
  assert.ok(!line.includes(PATH_TOKEN) && !line.includes(B_TOKEN), line);

  // Hanging: the export is given up after its time box; requests meanwhile are unaffected.
  collectorB.mode = 'hang';
  const before = collectorB.received.length;
  const slow = await streamed(stackB, 'while the collector hangs');
  await poll('the hanging export', () => collectorB.received.length > before, WAIT_MS);
  const started = Date.now();
  const during = await ask(stackB, { messages: [{ role: 'user', content: 'during the hang' }] });
  assert.equal(during.status, 200);
  assert.match((await during.json()).choices[0].message.content, /during the hang/);
  assert.ok(Date.now() - started < 5_000, 'not held up by the hanging export');
  assert.match(slow.text, /while the collector hangs/);
  await logLine(/no answer in 5000 ms/);

  // Down: connections refused.
  await collectorB.close();
  const down = await streamed(stackB, 'same answer either way');
  assert.equal(down.text, expected);
  await logLine(/network error/);
  const log = stackB.log();
  assert.ok(!log.includes(B_TOKEN) && !log.includes(PATH_TOKEN));
  const row = await ledgerRow(stackB.url, down.id, WAIT_MS);
  assert.equal(row.ending, 'completed');
});
