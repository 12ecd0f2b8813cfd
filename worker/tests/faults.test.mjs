// Upstream failures through the real worker: each fault key of mock-openai sits in its own
// upstream's key pool, so one stack covers them all. Keys are picked round-robin from the
// first, which makes every request's first attempt land on the fault key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  GENEROUS_TIERS, chat, keyId, ledgerRow, mockCounters, readSse, startStack, streamedText, waitForHealth,
} from './harness.mjs';

const KEYS = {
  POOL_KEYS: 'sk-mock-429,sk-mock-401,sk-mock-quota,sk-mock-ok-pool',
  FLAKY_KEYS: 'sk-mock-500,sk-mock-ok-flaky',
  SLOW_KEYS: 'sk-mock-slow,sk-mock-ok-slow',
  SLOW_ALONE_KEYS: 'sk-mock-slow',
  CUT_KEYS: 'sk-mock-cut,sk-mock-ok-cut',
  RESET_KEYS: 'sk-mock-reset,sk-mock-ok-reset',
  DEAD_KEYS: 'sk-mock-429,sk-mock-401',
};
const upstream = (name, keysSecret, ...models) => ({ name, keys_secret: keysSecret, models });
const FREE = { input_per_mtok: 0, output_per_mtok: 0 };

const STACK = {
  keys: 'sk-mock-unused',
  vars: KEYS,
  config: {
    ...GENEROUS_TIERS,
    key_strategy: 'round_robin',
    max_attempts: 5,
    // sk-mock-slow holds its response head for 3 s.
    first_byte_timeout_ms: 800,
    upstreams: [
      upstream('pool', 'POOL_KEYS', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini'),
      upstream('flaky', 'FLAKY_KEYS', 'flaky-model'),
      upstream('slow', 'SLOW_KEYS', 'slow-model'),
      upstream('slow-alone', 'SLOW_ALONE_KEYS', 'slow-alone-model'),
      upstream('cut', 'CUT_KEYS', 'cut-model'),
      upstream('reset', 'RESET_KEYS', 'reset-model'),
      // The same keys in a pool of its own, so its round-robin turn is its own.
      upstream('cut-json', 'CUT_KEYS', 'cut-json-model'),
      upstream('dead', 'DEAD_KEYS', 'dead-model'),
    ],
    prices: Object.fromEntries(['flaky-model', 'slow-model', 'slow-alone-model', 'cut-model', 'reset-model', 'cut-json-model', 'dead-model'].map((m) => [m, FREE])),
  },
};

let stack;
/** The first request's id: its ledger row must survive the restart at the end. */
let firstRequestId;
before(async () => {
  stack = await startStack({ name: 'faults', ...STACK });
});
after(async () => {
  await stack?.stop();
});

const ask = (model, extra = {}, headers = {}) =>
  chat(stack.url, stack.token({ sub: 'faults' }), {
    model, messages: [{ role: 'user', content: `hello ${model}` }], ...extra,
  }, headers);

async function delta(secrets, action) {
  const before = await Promise.all(secrets.map((s) => mockCounters(stack, s)));
  const result = await action();
  const afterwards = await Promise.all(secrets.map((s) => mockCounters(stack, s)));
  const requests = Object.fromEntries(secrets.map((s, i) => [s, afterwards[i].requests - before[i].requests]));
  return { result, requests };
}

test('429 fails over and cools the key down; 401 and insufficient_quota disable theirs', async () => {
  const secrets = ['sk-mock-429', 'sk-mock-401', 'sk-mock-quota', 'sk-mock-ok-pool'];
  const first = await delta(secrets, async () => {
    const response = await ask('gpt-4o-mini');
    return { status: response.status, id: response.headers.get('x-request-id'), body: await response.json() };
  });
  assert.equal(first.result.status, 200, JSON.stringify(first.result.body));
  firstRequestId = first.result.id;
  assert.equal(first.result.body.object, 'chat.completion');
  assert.deepEqual(first.requests, { 'sk-mock-429': 1, 'sk-mock-401': 1, 'sk-mock-quota': 1, 'sk-mock-ok-pool': 1 });

  // At once (the mock's Retry-After is 1 s): the cooled and disabled keys are skipped.
  const second = await delta(secrets, async () => (await ask('gpt-4o-mini')).status);
  assert.equal(second.result, 200);
  assert.deepEqual(second.requests, { 'sk-mock-429': 0, 'sk-mock-401': 0, 'sk-mock-quota': 0, 'sk-mock-ok-pool': 1 });

  const row = await ledgerRow(stack.url, first.result.id);
  assert.equal(row.attempts, 4);
  assert.equal(row.key_id, keyId('sk-mock-ok-pool'));
  assert.equal(row.upstream, 'pool');
  assert.equal(row.ending, 'completed');

  const [rateLimited, unauthorized, quota, ok] = secrets.map(keyId);
  const health = await waitForHealth(stack.url, (h) => h.pool?.[quota]?.health.state === 'disabled');
  const pool = health.pool;
  assert.equal(pool[rateLimited].health.state, 'cooling_down');
  assert.equal(pool[rateLimited].last_error, '429 rate_limited');
  assert.equal(pool[unauthorized].health.state, 'disabled');
  assert.equal(pool[unauthorized].last_error, '401 unauthorized');
  assert.equal(pool[quota].health.state, 'disabled');
  assert.equal(pool[quota].last_error, 'insufficient_quota');
  assert.equal(pool[ok].health.state, 'healthy');
  // Health is per key: one key's failure never touches another upstream's view of it.
  assert.equal(health.dead[rateLimited].health.state, 'healthy');
});

test('a 500 is retried on another key after a backoff, and the key stays in the pool', async () => {
  const secrets = ['sk-mock-500', 'sk-mock-ok-flaky'];
  const { result, requests } = await delta(secrets, async () => {
    const response = await ask('flaky-model', { stream: true });
    return { status: response.status, id: response.headers.get('x-request-id'), sse: await readSse(response) };
  });
  assert.equal(result.status, 200);
  assert.equal(result.sse.events.at(-1), '[DONE]');
  assert.match(streamedText(result.sse.events), /hello flaky-model/);
  assert.deepEqual(requests, { 'sk-mock-500': 1, 'sk-mock-ok-flaky': 1 });
  const row = await ledgerRow(stack.url, result.id);
  assert.equal(row.attempts, 2);
  assert.equal(row.key_id, keyId('sk-mock-ok-flaky'));
  const health = await waitForHealth(stack.url, (h) => h.flaky?.[keyId('sk-mock-500')]?.last_error);
  const flaky = health.flaky[keyId('sk-mock-500')];
  assert.equal(flaky.last_error, '500 server_error');
  // One 5xx is not enough to bench a key (three in a row are).
  assert.equal(flaky.health.state, 'healthy');
  assert.equal(flaky.transient_streak, 1);
});

test('a key that does not answer in time is abandoned for the next one', async () => {
  const secrets = ['sk-mock-slow', 'sk-mock-ok-slow'];
  const { result, requests } = await delta(secrets, async () => {
    const response = await ask('slow-model');
    return { status: response.status, id: response.headers.get('x-request-id'), body: await response.json() };
  });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  assert.match(result.body.choices[0].message.content, /hello slow-model/);
  assert.deepEqual(requests, { 'sk-mock-slow': 1, 'sk-mock-ok-slow': 1 });
  const row = await ledgerRow(stack.url, result.id);
  assert.equal(row.attempts, 2);
  assert.equal(row.key_id, keyId('sk-mock-ok-slow'));
  const health = await waitForHealth(stack.url, (h) => h.slow?.[keyId('sk-mock-slow')]?.last_error);
  assert.equal(health.slow[keyId('sk-mock-slow')].last_error, 'timeout');
});

test('a lone slow key ends in 504 upstream_timeout', async () => {
  const response = await ask('slow-alone-model');
  assert.equal(response.status, 504);
  const body = await response.json();
  assert.equal(body.error.code, 'upstream_timeout');
  assert.match(body.error.message, /did not answer in time/);
  // Failures carry their request id too: it names the ledger row.
  const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
  assert.equal(row.status, 504);
  assert.equal(row.ending, 'failed');
  assert.equal(row.attempts, 1);
});

test('all keys failing gives 503 upstream_unavailable that says so, with Retry-After', async () => {
  const secrets = ['sk-mock-429', 'sk-mock-401'];
  const { result, requests } = await delta(secrets, async () => {
    const response = await ask('dead-model');
    return { status: response.status, id: response.headers.get('x-request-id'), retryAfter: response.headers.get('retry-after'), body: await response.json() };
  });
  assert.equal(result.status, 503);
  const row = await ledgerRow(stack.url, result.id);
  assert.deepEqual([row.status, row.ending, row.attempts, row.key_id], [503, 'failed', 2, '']);
  assert.equal(result.body.error.code, 'upstream_unavailable');
  assert.equal(result.body.error.type, 'upstream_error');
  assert.match(result.body.error.message, /All upstream API keys are rate-limited or unavailable/);
  assert.ok(Number(result.retryAfter) >= 1, `retry-after ${result.retryAfter}`);
  assert.deepEqual(requests, { 'sk-mock-429': 1, 'sk-mock-401': 1 });
  // Nothing of the upstream's own error text (which names its key) reaches the client.
  assert.doesNotMatch(JSON.stringify(result.body), /sk-mock|mock-openai/);

  // With every key benched, the next request is refused without bothering the upstream.
  const again = await delta(secrets, async () => (await ask('dead-model')).status);
  assert.equal(again.result, 503);
  assert.deepEqual(again.requests, { 'sk-mock-429': 0, 'sk-mock-401': 0 });
});

test('a connection dropped before any byte is retried on another key', async () => {
  const secrets = ['sk-mock-reset', 'sk-mock-ok-reset'];
  const { result, requests } = await delta(secrets, async () => {
    const response = await ask('reset-model');
    return { status: response.status, body: await response.json() };
  });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  assert.match(result.body.choices[0].message.content, /hello reset-model/);
  assert.deepEqual(requests, { 'sk-mock-reset': 1, 'sk-mock-ok-reset': 1 });
  // The dropped connection counts as a 502 against the key, in the shared view too.
  const reset = keyId('sk-mock-reset');
  const health = await waitForHealth(stack.url, (h) => h.reset?.[reset]?.transient_streak === 1);
  assert.equal(health.reset[reset].transient_streak, 1);
  assert.equal(health.reset[reset].last_error, '502 server_error');
});

test('a non-streamed answer cut after the upstream accepted it is never retried: 502, metered', async () => {
  const secrets = ['sk-mock-cut', 'sk-mock-ok-cut'];
  const { result, requests } = await delta(secrets, async () => {
    const response = await ask('cut-json-model');
    return { status: response.status, id: response.headers.get('x-request-id'), body: await response.json() };
  });
  assert.equal(result.status, 502, JSON.stringify(result.body));
  assert.equal(result.body.error.code, 'upstream_broken');
  // The upstream had accepted (its head came) and may have been generating: no second key.
  assert.deepEqual(requests, { 'sk-mock-cut': 1, 'sk-mock-ok-cut': 0 });
  const row = await ledgerRow(stack.url, result.id);
  assert.equal(row.ending, 'upstream_cut');
  assert.equal(row.estimated, 1);
  assert.ok(row.completion_tokens > 0, 'what was generated before the cut is charged');
});

// With `include_usage` the stream is passed through natively (worker/src/relay_native.rs):
// the cut must end the same way on both paths.
for (const [path, extra] of [['pumped', {}], ['passed through natively', { stream_options: { include_usage: true } }]]) test(`a stream cut mid-way ends early, is never retried, and is metered as estimated (${path})`, async () => {
  const secrets = ['sk-mock-cut', 'sk-mock-ok-cut'];
  const cutStream = () => delta(secrets, async () => {
    const response = await ask('cut-model', { stream: true, ...extra });
    return { status: response.status, id: response.headers.get('x-request-id'), sse: await readSse(response) };
  });
  // The pool takes its keys in turn: when the good key's turn came first, the next is the cut one.
  let { result, requests } = await cutStream();
  if (requests['sk-mock-cut'] === 0) ({ result, requests } = await cutStream());
  assert.equal(result.status, 200);
  // It ends with OpenAI's mid-stream error shape (SDKs raise on it), never with [DONE].
  assert.ok(!result.sse.events.includes('[DONE]'));
  const last = JSON.parse(result.sse.events.at(-1));
  assert.equal(last.error.code, 'upstream_broken');
  assert.equal(last.error.type, 'upstream_error');
  const text = streamedText(result.sse.events.slice(0, -1));
  assert.ok(text.length > 0, 'some content arrived before the cut');
  // Bytes had reached the client: the good key must not have been tried.
  assert.deepEqual(requests, { 'sk-mock-cut': 1, 'sk-mock-ok-cut': 0 });
  const row = await ledgerRow(stack.url, result.id);
  assert.equal(row.ending, 'upstream_cut');
  assert.equal(row.estimated, 1);
  assert.ok(row.completion_tokens > 0, `completion_tokens ${row.completion_tokens}`);
  assert.ok(row.prompt_tokens > 0);
  assert.equal(row.key_id, keyId('sk-mock-cut'));

  // A cut after a 200 head is not the key's failure: its health stays clean.
  const cut = keyId('sk-mock-cut');
  const health = await waitForHealth(stack.url, (h) => h.cut?.[cut] !== undefined);
  assert.equal(health.cut[cut].transient_streak, 0);
  assert.equal(health.cut[cut].health.state, 'healthy');
});

// Last: it restarts the worker. Key health lives in the KeyHealthDo, not in an isolate's
// memory, so a fresh isolate (here: a fresh process on the same storage) skips the keys that
// were disabled before, from its very first request.
test('disabled keys stay benched across a restart: a fresh isolate reads the shared health first', async () => {
  const persist = stack.persist;
  await stack.stop();
  stack = undefined;
  stack = await startStack({ name: 'faults-restart', persistTo: persist, ...STACK });
  const [unauthorized, quota] = ['sk-mock-401', 'sk-mock-quota'].map(keyId);
  const health = (await waitForHealth(stack.url, () => true)).pool;
  assert.equal(health[unauthorized].health.state, 'disabled');
  assert.equal(health[quota].health.state, 'disabled');

  const response = await ask('gpt-4o-mini');
  assert.equal(response.status, 200);
  await response.json();
  const stats = await stack.mock.stats();
  assert.equal(stats.keys['sk-mock-401'], undefined, 'the disabled 401 key was tried again');
  assert.equal(stats.keys['sk-mock-quota'], undefined, 'the disabled quota key was tried again');
  assert.equal(stats.keys['sk-mock-ok-pool'].requests, 1);
  // The ledger (D1) survived the restart too.
  assert.equal((await ledgerRow(stack.url, firstRequestId)).key_id, keyId('sk-mock-ok-pool'));
});
