// No upstream key ever leaves the worker: every response body and header of a run through
// every success and error path, the admin views, and every line of the wrangler log are
// searched for the keys (and for their distinctive marker) and must not contain them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  ADMIN_TOKEN, GENEROUS_TIERS, admin, chat, findSecrets, keyId, ledgerRow, readSse, startStack,
} from './harness.mjs';

// mock-openai picks its failure by exact key, so fault keys are its own names; every key that
// can carry a marker does (sk-live-* and sk-proj-* are refused by the mock with its 401).
const MARKER = 'LEAKCHECK';
const KEYS = {
  OPENAI_API_KEYS: 'sk-mock-429,sk-mock-quota,sk-live-LEAKCHECK2b8c0d9e1f,sk-mock-ok-LEAKCHECK7f3a9',
  FLAKY_KEYS: 'sk-mock-500,sk-mock-ok-LEAKCHECK5e6f',
  DEAD_KEYS: 'sk-mock-401,sk-proj-LEAKCHECKaa11bb22cc33dd44',
  SLOW_KEYS: 'sk-mock-slow',
  CUT_KEYS: 'sk-mock-cut',
  RESET_KEYS: 'sk-mock-reset',
};
const SECRETS = Object.values(KEYS).flatMap((keys) => keys.split(','));
const FREE = { input_per_mtok: 0, output_per_mtok: 0 };

let stack;
const seen = [];
before(async () => {
  stack = await startStack({
    name: 'leak',
    keys: KEYS.OPENAI_API_KEYS,
    vars: { FLAKY_KEYS: KEYS.FLAKY_KEYS, DEAD_KEYS: KEYS.DEAD_KEYS, SLOW_KEYS: KEYS.SLOW_KEYS, CUT_KEYS: KEYS.CUT_KEYS, RESET_KEYS: KEYS.RESET_KEYS },
    config: {
      ...GENEROUS_TIERS,
      key_strategy: 'round_robin',
      max_attempts: 5,
      first_byte_timeout_ms: 800,
      upstreams: [
        { name: 'openai', models: ['gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini'] },
        { name: 'flaky', keys_secret: 'FLAKY_KEYS', models: ['flaky-model'] },
        { name: 'dead', keys_secret: 'DEAD_KEYS', models: ['dead-model'] },
        { name: 'slow', keys_secret: 'SLOW_KEYS', models: ['slow-model'] },
        { name: 'cut', keys_secret: 'CUT_KEYS', models: ['cut-model'] },
        { name: 'reset', keys_secret: 'RESET_KEYS', models: ['reset-model'] },
      ],
      prices: { 'flaky-model': FREE, 'dead-model': FREE, 'slow-model': FREE, 'cut-model': FREE, 'reset-model': FREE },
    },
  });
});
after(async () => {
  await stack?.stop();
});

/** Keeps the whole response (status line, headers, body) for the search; returns the body. */
async function record(label, responsePromise) {
  const response = await responsePromise;
  const headers = [...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
  const body = response.headers.get('content-type')?.includes('event-stream')
    ? (await readSse(response)).text
    : await response.text();
  seen.push({ label, status: response.status, text: `${headers}\n\n${body}` });
  return { status: response.status, headers: response.headers, body };
}

const ask = (model, extra = {}, headers = {}) =>
  chat(stack.url, stack.token({ sub: 'leak' }), { model, messages: [{ role: 'user', content: `leak ${model}` }], ...extra }, headers);

test('every path answers as expected (the responses are kept for the search)', async () => {
  const expectations = [
    // Success after 429, quota and 401 from the first keys, streamed and not.
    ['429+quota+401 then ok', ask('gpt-4o-mini'), 200],
    ['ok streamed', ask('gpt-4o-mini', { stream: true, stream_options: { include_usage: true } }), 200],
    ['500 then ok', ask('flaky-model', { stream: true }), 200],
    ['all keys refuse', ask('dead-model'), 503],
    ['all keys benched', ask('dead-model', { stream: true }), 503],
    ['timeout', ask('slow-model'), 504],
    ['cut mid-stream', ask('cut-model', { stream: true }), 200],
    // Every call goes upstream as a stream: a non-streamed answer cut after its head is a 502.
    ['cut after the head', ask('cut-model'), 502],
    ['cut before a byte', ask('reset-model'), 503],
    ['upstream 400 passed through', ask('gpt-4o-mini', { n: 0 }), 400],
    ['upstream 400 for n out of range', ask('gpt-4o-mini', { n: 500 }), 400],
    ['no credential', chat(stack.url, null, { messages: [{ role: 'user', content: 'x' }] }), 401],
    ['forged token', chat(stack.url, 'a.b.c', { messages: [{ role: 'user', content: 'x' }] }), 401],
    ['upstream key as credential', chat(stack.url, 'sk-mock-ok-LEAKCHECK7f3a9', { messages: [{ role: 'user', content: 'x' }] }), 401],
    ['bad json', chat(stack.url, stack.token(), '{oops'), 400],
    ['unknown model', ask('gpt-9'), 404],
    ['too large', chat(stack.url, stack.token(), { messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }] }), 413],
    ['wrong method', fetch(`${stack.url}/v1/chat/completions`), 405],
    ['no such path', fetch(`${stack.url}/v1/nope`), 404],
    ['foreign origin', fetch(`${stack.url}/v1/models`, { headers: { origin: 'https://evil.example' } }), 403],
    ['preflight', fetch(`${stack.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: stack.url } }), 204],
    ['models', fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${stack.token()}` } }), 200],
    ['admin without token', fetch(`${stack.url}/admin/keys/health`), 401],
  ];
  for (const [label, promise, status] of expectations) {
    const { status: got, body } = await record(label, promise);
    assert.equal(got, status, `${label}: ${body.slice(0, 300)}`);
  }
});

test('the admin views show key ids only', async () => {
  // Let the after-response work (health reports, ledger rows) land first.
  const { rows } = await (await admin(stack.url, '/admin/ledger?limit=100')).json();
  await Promise.all(rows.filter((r) => r.id).map((r) => ledgerRow(stack.url, r.id)));
  await new Promise((r) => setTimeout(r, 500));
  for (const path of ['/admin/keys/health', '/admin/ledger?limit=1000', '/admin/usage?group=model', '/admin/usage?group=user&format=csv', '/admin/keys']) {
    const { status } = await record(path, admin(stack.url, path));
    assert.equal(status, 200, path);
  }
  const health = JSON.parse(seen.find((s) => s.label === '/admin/keys/health').text.split('\n\n').slice(1).join('\n\n'));
  const ids = health.upstreams.flatMap(([, snapshot]) => Object.keys(snapshot.keys));
  assert.ok(ids.includes(keyId('sk-live-LEAKCHECK2b8c0d9e1f')), 'health lists the key by id');
  assert.ok(ids.every((id) => /^key_[0-9a-f]{8}$/.test(id)), ids.join(','));
});

test('no response body or header contains an upstream key', () => {
  assert.ok(seen.length >= 25, `${seen.length} responses`);
  for (const { label, text } of seen) {
    assert.deepEqual(findSecrets(text, SECRETS), [], `${label} leaks a key`);
    assert.ok(!text.includes(MARKER), `${label} leaks part of a key`);
    // The mock's error texts name their key (as OpenAI's quote part of it); none may pass.
    assert.ok(!/sk-(mock|live|proj)-/.test(text), `${label} shows something key-like`);
  }
});

test('no line of the wrangler log contains an upstream key', () => {
  const log = stack.log();
  assert.ok(log.split('\n').length > 20, 'the log has the requests in it');
  assert.ok(!log.includes(ADMIN_TOKEN), 'the admin token is not logged either');
  for (const line of log.split('\n')) {
    assert.deepEqual(findSecrets(line, SECRETS), [], 'a log line leaks a key');
    assert.ok(!line.includes(MARKER), 'a log line leaks part of a key');
  }
});
