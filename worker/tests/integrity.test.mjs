// Launch day, again: every break the integrity review found, through the real worker against
// mock-openai playing the upstream's failures. Each test would fail on the main before the fix:
// n and both output caps reserved, unpriced fields refused, reservations that live as long as
// their stream, streamed upstream calls for non-streamed answers (no failover after the
// upstream accepted, abandoned attempts charged), only complete answers cached, request-level
// upstream errors kept off the shared key pool, guests limited by network and by their pool,
// decoded path ids, body limits, exact key redaction, rounds without a conversation id, and
// token lifetime, issuer and audience.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';

import {
  SIGNING_SECRET, admin, chat, keyId, ledgerRow, mintToken, mockCounters, readSse, settledUsage,
  startStack, waitForHealth,
} from './harness.mjs';

const FREE = { input_per_mtok: 0, output_per_mtok: 0 };
const CHEAP = { input_per_mtok: 1, output_per_mtok: 1 };
const upstream = (name, keysSecret, ...models) => ({ name, keys_secret: keysSecret, models });

const KEYS = {
  PROJECT_KEYS: 'sk-mock-ok-p1,sk-mock-ok-p2,sk-mock-ok-p3',
  MIXED_KEYS: 'sk-mock-429,sk-mock-401,sk-mock-quota,sk-mock-500,sk-mock-ok-mixed',
  SLOWGEN_KEYS: 'sk-mock-slowgen,sk-mock-ok-slowgen',
  SLOW_KEYS: 'sk-mock-slow,sk-mock-ok-slow',
  ECHO_KEYS: 'sk-mock-echo400-a+b/c=',
  DEACTIVATED_KEYS: 'sk-mock-deactivated,sk-mock-ok-deact',
};

const MAIN = {
  keys: 'sk-mock-ok-main',
  vars: KEYS,
  config: {
    key_strategy: 'round_robin',
    max_attempts: 3,
    first_byte_timeout_ms: 2000,
    budget: { daily_usd: 'unlimited', reservation_ttl_s: 10 },
    tiers: {
      staff: { rpm: 100000, max_rounds: 100000, daily_tokens: 1000000000, daily_usd: 'unlimited' },
      capped: { rpm: 'unlimited', daily_tokens: 20000, max_tokens: 200 },
      many: { rpm: 'unlimited', daily_tokens: 3000, max_tokens: 200, max_n: 4 },
      rounds2: { rpm: 'unlimited', max_rounds: 2 },
      // Two streams of ~150 reserved tokens fit; a third must wait for one to settle.
      ttl: { rpm: 'unlimited', daily_tokens: 300, max_tokens: 120 },
      narrow: { rpm: 'unlimited', models: ['gpt-4.1'] },
    },
    upstreams: [
      { name: 'openai', models: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1', 'gpt-4.1-mini'] },
      upstream('project', 'PROJECT_KEYS', 'project-model', 'forbidden-model'),
      upstream('mixed', 'MIXED_KEYS', 'mixed-model'),
      upstream('slowgen', 'SLOWGEN_KEYS', 'slowgen-model'),
      upstream('slow', 'SLOW_KEYS', 'slow-model'),
      upstream('echo', 'ECHO_KEYS', 'echo-model'),
      upstream('deactivated', 'DEACTIVATED_KEYS', 'deactivated-model'),
    ],
    prices: {
      'project-model': FREE, 'forbidden-model': FREE, 'mixed-model': FREE, 'slowgen-model': CHEAP,
      'slow-model': CHEAP, 'echo-model': FREE, 'deactivated-model': FREE,
    },
  },
};

// Guests, the guest pool and a small deployment cap; tokens need an issuer and an audience.
// gpt-4o at $2.50/$10 per 1M: a guest request (512 output tokens) reserves about 0.0052 USD.
const GUESTS = {
  config: {
    guest_mode: true,
    token_issuer: 'https://oa.example.com',
    token_audience: 'oachat',
    budget: { daily_usd: 0.05, lease_slice_usd: 0.005 },
    guest_pool: { rpm: 12, daily_usd: 0.012 },
    tiers: {
      guest: { rpm: 5, max_rounds: 'unlimited', daily_tokens: 'unlimited', daily_usd: 'unlimited', max_tokens: 512, models: ['gpt-4o', 'gpt-4o-mini'] },
      staff: { rpm: 100000, daily_tokens: 'unlimited', daily_usd: 'unlimited', max_tokens: 512 },
    },
  },
};

let stack;
let guests;
before(async () => {
  [stack, guests] = await Promise.all([
    startStack({ name: 'integrity', ...MAIN }),
    startStack({ name: 'integrity-guests', ...GUESTS }),
  ]);
});
after(async () => {
  await Promise.all([stack?.stop(), guests?.stop()]);
});

const ask = (text, extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra });
const errorOf = async (response) => (await response.json()).error;

/** Every ledger row of a user (the request's own and its abandoned attempts). */
async function rowsOf(url, user) {
  const { rows } = await (await admin(url, `/admin/ledger?limit=1000&user=${encodeURIComponent(user)}`)).json();
  return rows;
}

async function drain(response) {
  if ((response.headers.get('content-type') ?? '').includes('event-stream')) return readSse(response);
  return response.json();
}

// ---------------------------------------------------------------------------------------------
// Budgets that cannot be escaped

test('n above the tier\'s max_n is refused with 400 naming n', async () => {
  const response = await chat(stack.url, mintToken({ sub: 'n-refused', tier: 'capped' }), ask('x', { n: 128 }));
  assert.equal(response.status, 400);
  const error = await errorOf(response);
  assert.equal(error.param, 'n');
  assert.equal(error.type, 'invalid_request_error');
});

test('n multiplies the reservation: ten concurrent n=4 requests settle within daily_tokens', async () => {
  const token = mintToken({ sub: 'n-many', tier: 'many' });
  // Each reserves its prompt plus 4 x 200: at most three fit in 3000.
  const responses = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    chat(stack.url, token, ask(`four answers ${i}`, { n: 4, stream: true }))));
  const admitted = responses.filter((r) => r.status === 200);
  assert.ok(admitted.length >= 1 && admitted.length <= 3, `${admitted.length} admitted`);
  for (const response of responses) await drain(response);
  const usage = await settledUsage(stack.url, 'u:n-many');
  assert.ok(usage.spent_tokens > 0 && usage.spent_tokens <= 3000, `spent ${usage.spent_tokens} of 3000`);
});

test('both output caps are clamped, and the larger one is reserved', async () => {
  const token = mintToken({ sub: 'caps', tier: 'capped' });
  const response = await chat(stack.url, token, ask('caps [mock chunks=20 delay_ms=100]', {
    max_tokens: 100000, max_completion_tokens: 5, stream: true,
  }));
  assert.equal(response.status, 200);
  // Mid-stream the reservation holds the larger cap (clamped to the tier's 200), not 5.
  const usage = await (await admin(stack.url, '/admin/users/u:caps/usage')).json();
  assert.ok(usage.reserved_tokens >= 200, `reserved ${usage.reserved_tokens}`);
  await readSse(response);
  const sent = await stack.mock.lastRequest();
  assert.equal(sent.max_tokens, 200);
  assert.equal(sent.max_completion_tokens, 5);
});

test('fields that change cost or privacy are refused by name; user becomes oachat\'s own id', async () => {
  const token = mintToken({ sub: 'fields' });
  for (const [field, value] of [
    ['service_tier', 'priority'], ['store', true], ['modalities', ['audio']],
    ['web_search_options', {}], ['prediction', { type: 'content', content: 'x' }],
  ]) {
    const response = await chat(stack.url, token, ask('x', { [field]: value }));
    assert.equal(response.status, 400, field);
    const error = await errorOf(response);
    assert.equal(error.param, field);
    assert.match(error.message, new RegExp(field));
  }
  const response = await chat(stack.url, token, ask('who am i', { user: 'alice@corp.example' }));
  assert.equal(response.status, 200);
  await response.json();
  const sent = await stack.mock.lastRequest();
  assert.match(sent.user, /^oa_[0-9a-f]{24}$/);
  assert.ok(!JSON.stringify(sent).includes('alice@corp'), 'the client\'s user text never reaches the upstream');
});

test('a stream outliving reservation_ttl_s keeps its reservation: no one spends it twice', async () => {
  const token = mintToken({ sub: 'ttl-streams', tier: 'ttl' });
  // 25 s streams against a 10 s TTL: the worker renews the reservations while they run.
  const streams = await Promise.all([1, 2].map((i) =>
    chat(stack.url, token, ask(`long stream ${i} [mock chunks=25 delay_ms=1000]`, { stream: true }))));
  assert.deepEqual(streams.map((r) => r.status), [200, 200]);
  const reading = streams.map((r) => readSse(r));
  await new Promise((r) => setTimeout(r, 15_000));
  const late = await chat(stack.url, token, ask('a third one'));
  assert.equal(late.status, 429, 'the two live streams still hold the budget after the TTL');
  assert.equal((await errorOf(late)).code, 'budget_exceeded');
  const finished = await Promise.all(reading);
  for (const { events } of finished) assert.equal(events.at(-1), '[DONE]');
  const usage = await settledUsage(stack.url, 'u:ttl-streams');
  await Promise.all(streams.map((r) => ledgerRow(stack.url, r.headers.get('x-request-id'))));
  const rows = await rowsOf(stack.url, 'u:ttl-streams');
  const ledger = rows.reduce((sum, row) => sum + row.prompt_tokens + row.completion_tokens, 0);
  assert.equal(usage.spent_tokens, ledger, 'every settle reached the budget');
  assert.ok(usage.spent_tokens <= 300, `spent ${usage.spent_tokens} of 300`);
});

test('a slow non-streamed answer is streamed upstream: one key generates it, and it is charged', async () => {
  await stack.mock.reset();
  const token = mintToken({ sub: 'slowgen' });
  // 30 chunks 100 ms apart: 3 s of generation against a 2 s first-byte timeout.
  const response = await chat(stack.url, token, { model: 'slowgen-model', messages: [{ role: 'user', content: 'slow [mock chunks=30 delay_ms=100]' }], max_tokens: 3000 });
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.object, 'chat.completion');
  assert.match(body.choices[0].message.content, /slow/);
  const [slow, ok] = await Promise.all([mockCounters(stack, 'sk-mock-slowgen'), mockCounters(stack, 'sk-mock-ok-slowgen')]);
  assert.equal(slow.requests, 1);
  assert.equal(ok.requests, 0, 'no second key generated the same answer');
  const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
  assert.equal(row.completion_tokens, slow.completion_tokens, 'what the upstream generated is what is charged');
  assert.equal(row.estimated, 0);
});

test('an attempt abandoned at the first-byte timeout is charged at its estimate, marked estimated', async () => {
  const token = mintToken({ sub: 'abandoned' });
  const response = await chat(stack.url, token, { model: 'slow-model', messages: [{ role: 'user', content: 'anyone there?' }] });
  assert.equal(response.status, 200);
  await response.json();
  const id = response.headers.get('x-request-id');
  const abandoned = await ledgerRow(stack.url, `${id}:a1`);
  assert.equal(abandoned.ending, 'abandoned');
  assert.equal(abandoned.estimated, 1);
  assert.equal(abandoned.key_id, keyId('sk-mock-slow'));
  assert.ok(abandoned.prompt_tokens > 0 && abandoned.cost_micro_usd > 0);
  const main = await ledgerRow(stack.url, id);
  assert.equal(main.key_id, keyId('sk-mock-ok-slow'));
  const usage = await settledUsage(stack.url, 'u:abandoned');
  assert.equal(usage.spent_tokens, main.prompt_tokens + main.completion_tokens + abandoned.prompt_tokens);
  assert.equal(usage.spent_micro_usd, main.cost_micro_usd + abandoned.cost_micro_usd);
});

test('a truncated answer is never cached; a complete one is replayed with its own finish reason', async () => {
  const text = 'Translate into Chinese: the library closes early on Friday';
  const truncated = ask(text, { model: 'auto', max_tokens: 3 });
  // Streamed: the stream's answer is what used to be stored as `stop` whatever its ending.
  const first = await chat(stack.url, mintToken({ sub: 'cache-a' }), { ...truncated, stream: true });
  assert.equal(first.headers.get('x-oachat-route'), 'translate');
  const endings = (await readSse(first)).events.filter((e) => e !== '[DONE]')
    .map((e) => JSON.parse(e).choices?.[0]?.finish_reason).filter(Boolean);
  assert.deepEqual(endings, ['length']);
  await new Promise((r) => setTimeout(r, 1_000));
  const second = await chat(stack.url, mintToken({ sub: 'cache-b' }), truncated);
  assert.equal(second.headers.get('x-oachat-cache'), 'miss', 'a length-cut answer was cached');
  assert.equal((await second.json()).choices[0].finish_reason, 'length');

  const whole = ask(text, { model: 'auto', stream: true });
  await readSse(await chat(stack.url, mintToken({ sub: 'cache-a' }), whole));
  let hit;
  for (let i = 0; i < 40; i++) {
    hit = await chat(stack.url, mintToken({ sub: 'cache-b' }), { ...whole, stream: false });
    if (hit.headers.get('x-oachat-cache') === 'hit') break;
    await hit.json();
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(hit.headers.get('x-oachat-cache'), 'hit');
  assert.equal((await hit.json()).choices[0].finish_reason, 'stop');
});

test('max_rounds applies without a conversation id: the user turns in messages count', async () => {
  const token = mintToken({ sub: 'stateless-rounds', tier: 'rounds2' });
  const turns = (count) => Array.from({ length: count }, (_, i) => [
    { role: 'user', content: `turn ${i + 1}` }, { role: 'assistant', content: 'ok' },
  ]).flat().slice(0, -1);
  const second = await chat(stack.url, token, { model: 'gpt-4o-mini', messages: turns(2) });
  assert.equal(second.status, 200);
  await second.json();
  const third = await chat(stack.url, token, { model: 'gpt-4o-mini', messages: turns(3) });
  assert.equal(third.status, 429);
  assert.equal((await errorOf(third)).code, 'max_rounds_exceeded');
});

// ---------------------------------------------------------------------------------------------
// One user's bad request must not take the shared key pool down

test('a model the keys\' project may not use (403) goes back to its client and disables no key', async () => {
  const keys = KEYS.PROJECT_KEYS.split(',');
  const before = await Promise.all(keys.map((k) => mockCounters(stack, k)));
  const response = await chat(stack.url, mintToken({ sub: 'forbidden' }), { model: 'forbidden-model', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(response.status, 403);
  const body = await response.json();
  assert.match(body.error.message, /does not have access to model/);
  const afterwards = await Promise.all(keys.map((k) => mockCounters(stack, k)));
  const tried = afterwards.reduce((sum, c, i) => sum + c.requests - before[i].requests, 0);
  assert.equal(tried, 2, 'the same refusal on two keys stops the request');
  // Every key still serves everyone else, at once.
  for (let i = 0; i < 3; i++) {
    const ok = await chat(stack.url, mintToken({ sub: `project-${i}` }), { model: 'project-model', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(ok.status, 200);
    await ok.json();
  }
  const health = await waitForHealth(stack.url, () => true);
  for (const key of keys) assert.equal(health.project?.[keyId(key)]?.health.state ?? 'healthy', 'healthy', key);
});

test('a prompt too large for the organisation\'s TPM (429) cools no key', async () => {
  const keys = KEYS.PROJECT_KEYS.split(',');
  const response = await chat(stack.url, mintToken({ sub: 'too-large' }), { model: 'project-model', messages: [{ role: 'user', content: 'x'.repeat(300_000) }] });
  assert.equal(response.status, 429);
  assert.match((await response.json()).error.message, /Request too large/);
  const next = await chat(stack.url, mintToken({ sub: 'after-large' }), { model: 'project-model', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(next.status, 200, 'the pool still answers');
  await next.json();
  const health = await waitForHealth(stack.url, () => true);
  for (const key of keys) assert.equal(health.project?.[keyId(key)]?.health.state ?? 'healthy', 'healthy', key);
});

test('key-level failovers do not spend max_attempts: 30 of 30 succeed over 429, 401, quota, 500 and ok', async () => {
  let ok = 0;
  for (let i = 0; i < 30; i++) {
    const response = await chat(stack.url, mintToken({ sub: 'mixed' }), { model: 'mixed-model', messages: [{ role: 'user', content: `mixed ${i}` }] });
    if (response.status === 200) ok += 1;
    await response.json();
  }
  assert.equal(ok, 30);
});

test('a deactivated account (403 account_deactivated) is key-level: the key is disabled', async () => {
  const response = await chat(stack.url, mintToken({ sub: 'deact' }), { model: 'deactivated-model', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(response.status, 200);
  await response.json();
  const id = keyId('sk-mock-deactivated');
  const health = await waitForHealth(stack.url, (h) => h.deactivated?.[id]?.health.state === 'disabled');
  assert.equal(health.deactivated[id].health.state, 'disabled');
});

test('the exact upstream keys are removed from upstream error text in every encoding', async () => {
  const response = await chat(stack.url, mintToken({ sub: 'echo' }), { model: 'echo-model', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(response.status, 400);
  const text = await response.text();
  assert.match(text, /Invalid header value/);
  for (const form of ['sk-mock-echo400', 'a+b/c=', 'a%2Bb%2Fc%3D', 'echo400']) {
    assert.ok(!text.includes(form), `${form} leaked: ${text}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Smaller breaks

test('percent-encoded user ids (Chinese, spaces) name the user, not their encoding', async () => {
  for (const sub of ['张三', 'Ann Lee']) {
    const user = `u:${sub}`;
    const path = `/admin/users/${encodeURIComponent(user)}`;
    const first = await chat(stack.url, mintToken({ sub }), ask('hello'));
    assert.equal(first.status, 200);
    await first.json();
    const usage = await settledUsage(stack.url, user);
    assert.ok(usage.spent_tokens > 0, `${user}'s own usage is found`);
    const put = await admin(stack.url, `${path}/tier`, { method: 'PUT', body: JSON.stringify({ tier: 'narrow' }) });
    assert.equal(put.status, 200);
    assert.equal((await put.json()).user, user);
    // The override reached the user: their tier now refuses gpt-4o-mini.
    const refused = await chat(stack.url, mintToken({ sub }), ask('again'));
    assert.equal(refused.status, 403, sub);
    assert.equal((await errorOf(refused)).code, 'model_not_allowed');
  }
  const malformed = await admin(stack.url, '/admin/users/u:%E5%BC/usage');
  assert.equal(malformed.status, 400);
});

test('every small endpoint refuses an oversized body with 413, declared or chunked', async () => {
  const token = mintToken({ sub: 'bodies' });
  const big = 'x'.repeat(2 * 1024 * 1024);
  // Chunked: no Content-Length, so the worker must stop reading at the limit itself. Small
  // enough that the upload ends before the answer does (a client still sending when the 413
  // arrives sees its connection reset).
  const chunked = () => new ReadableStream({
    start(controller) {
      for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode('y'.repeat(8 * 1024)));
      controller.close();
    },
  });
  const calls = [
    ['feedback', `${stack.url}/v1/oachat/feedback`, 'POST', { authorization: `Bearer ${token}` }],
    ['rename', `${stack.url}/v1/oachat/conversations/c_0123456789abcdef01234567`, 'PATCH', { authorization: `Bearer ${token}` }],
    ['create key', `${stack.url}/admin/keys`, 'POST', { authorization: `Bearer ${(await import('./harness.mjs')).ADMIN_TOKEN}` }],
    ['tier', `${stack.url}/admin/users/u:bodies/tier`, 'PUT', { authorization: `Bearer ${(await import('./harness.mjs')).ADMIN_TOKEN}` }],
  ];
  for (const [label, url, method, headers] of calls) {
    for (const [kind, body] of [['declared', big], ['chunked', chunked()]]) {
      const response = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body, duplex: 'half' });
      assert.equal(response.status, 413, `${label} (${kind})`);
      const error = await errorOf(response);
      assert.equal(error.code, 'body_too_large', `${label} (${kind})`);
    }
  }
});

test('tokens living longer than max_token_lifetime_s are refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const response = await chat(stack.url, mintToken({ sub: 'forever', exp: now + 3 * 86_400 }), ask('x'));
  assert.equal(response.status, 401);
  assert.match((await errorOf(response)).message, /max_token_lifetime_s/);
});

// ---------------------------------------------------------------------------------------------
// Guests, the guest pool, issuer and audience (the second stack)

// gpt-4o-mini by default: a cheap request (about 0.0003 USD reserved), so the guests' USD share
// is not what limits these tests; the share test asks for gpt-4o.
const guestAsk = (device, ip, text = 'hello', extra = {}) => fetch(`${guests.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-oachat-device': device, ...(ip ? { 'cf-connecting-ip': ip } : {}) },
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra }),
});

/** A token with the issuer and audience the guests stack wants (or others). */
function scopedToken(sub, claims = {}) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const payload = { sub, exp: Math.floor(Date.now() / 1000) + 600, iss: 'https://oa.example.com', aud: 'oachat', ...claims };
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', SIGNING_SECRET).update(input).digest('base64url')}`;
}

// The three guest tests run in this order within one minute: they share the pool's rpm of 12.
let guestSlotsUsed = 0;

test('fresh device ids do not mint fresh guest budgets: sixty ids from one address meet rpm 5', async () => {
  const responses = await Promise.all(Array.from({ length: 60 }, (_, i) =>
    guestAsk(`device-fresh-${String(i).padStart(4, '0')}`, '203.0.113.77')));
  const admitted = responses.filter((r) => r.status === 200).length;
  guestSlotsUsed += admitted;
  for (const response of responses) await drain(response);
  assert.equal(admitted, 5, `${admitted} admitted`);
});

test('slow guest streams hold at most the guest pool\'s share: an employee still gets in', async () => {
  // Each guest stream reserves about 0.0052 USD; the guests' share is 0.012 of a 0.05 cap.
  const streams = await Promise.all(Array.from({ length: 4 }, (_, i) =>
    guestAsk(`device-slow-${String(i).padStart(4, '0')}`, `192.0.2.${i + 1}`, 'slow guest [mock chunks=30 delay_ms=200]', { stream: true, model: 'gpt-4o' })));
  const admitted = streams.filter((r) => r.status === 200).length;
  guestSlotsUsed += admitted;
  assert.ok(admitted >= 1 && admitted <= 2, `${admitted} guest streams admitted within a 0.012 USD share`);
  for (const refused of streams.filter((r) => r.status !== 200)) {
    assert.equal(refused.status, 429);
    const { error } = await refused.json();
    assert.equal(error.code, 'budget_exceeded');
    assert.match(error.message, /budget for guests is spent/);
  }
  // While they stream, an employee draws on the rest of the deployment budget.
  const employee = await chat(guests.url, scopedToken('employee'), { model: 'gpt-4o', messages: [{ role: 'user', content: 'employee' }] });
  assert.equal(employee.status, 200);
  await employee.json();
  for (const stream of streams.filter((r) => r.status === 200)) await drain(stream);
  // Settled guests keep no lease: the share is whole again for the next guests.
  await Promise.all(streams.map((_, i) => settledUsage(guests.url, `g:192.0.2.${i + 1}`).catch(() => null)));
  // Only guest requests that passed their own checks (rate, budget, share) took a slot of the
  // pool's rate: the refused ones cost the other guests nothing (counted above).
});

test('all guests together meet the guest pool\'s rpm', async () => {
  const responses = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    guestAsk(`device-pool-${String(i).padStart(4, '0')}`, `198.51.100.${i + 1}`)));
  const admitted = responses.filter((r) => r.status === 200).length;
  for (const response of responses.filter((r) => r.status !== 200)) {
    assert.equal((await response.json()).error.code, 'rate_limit_exceeded');
  }
  for (const response of responses.filter((r) => r.status === 200)) await drain(response);
  assert.equal(admitted, 12 - guestSlotsUsed, `${admitted} admitted after ${guestSlotsUsed} of 12 slots`);
});

test('issuer and audience are checked when configured', async () => {
  const ok = await chat(guests.url, scopedToken('scoped'), { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(ok.status, 200);
  await ok.json();
  for (const claims of [{ iss: 'https://evil.example.com' }, { aud: 'someone-else' }, { aud: undefined }]) {
    const refused = await chat(guests.url, scopedToken('scoped', claims), { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(refused.status, 401, JSON.stringify(claims));
  }
});
