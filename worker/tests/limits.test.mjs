// Who may chat and how much, through the real worker: exact rate limits under concurrency,
// budgets that settle within their cap, exact conversation rounds (refunded on failure),
// refused credentials and origins, CORS preflight, and the admin's per-user tier override.
// The deployment-wide budget has its own stack in deployment-budget.test.mjs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { admin, chat, mintToken, poll, readSse, settledUsage as settled, startStack } from './harness.mjs';

// `broken` serves one model whose only key always answers 500, to fail requests on purpose.
const CONFIG = {
  tiers: {
    rpm10: { rpm: 10, max_rounds: 'unlimited' },
    small: { rpm: 'unlimited', daily_tokens: 3000, max_tokens: 500 },
    rounds3: { rpm: 'unlimited', max_rounds: 3 },
    vip: { rpm: 40 },
    narrow: { models: ['auto', 'gpt-4o-mini'], max_tokens: 50 },
  },
  upstreams: [
    { name: 'openai', models: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1', 'gpt-4.1-mini', 'o4-mini'] },
    { name: 'broken', keys_secret: 'BROKEN_KEYS', models: ['gpt-4.1-nano'] },
  ],
};

let stack;
before(async () => {
  stack = await startStack({ name: 'limits', config: CONFIG, vars: { BROKEN_KEYS: 'sk-mock-500' } });
});
after(async () => {
  await stack?.stop();
});

const ask = (text, extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra });

async function errorCode(response) {
  const body = await response.json();
  return body.error?.code;
}

/** The user's budget usage once every reservation has settled (settling runs after the response). */
const settledUsage = (user) => settled(stack.url, user);

test('50 concurrent requests against rpm = 10 let exactly 10 through', async () => {
  const token = mintToken({ sub: 'rate-50', tier: 'rpm10' });
  const responses = await Promise.all(
    Array.from({ length: 50 }, (_, i) => chat(stack.url, token, ask(`rate ${i}`))),
  );
  const ok = responses.filter((r) => r.status === 200);
  const refused = responses.filter((r) => r.status === 429);
  assert.equal(ok.length, 10, `statuses: ${responses.map((r) => r.status).join(',')}`);
  assert.equal(refused.length, 40);
  for (const response of refused) {
    const retryAfter = Number(response.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(await errorCode(response), 'rate_limit_exceeded');
  }
  await Promise.all(ok.map((r) => r.arrayBuffer()));
  // The window stays full: one more is refused too.
  assert.equal((await chat(stack.url, token, ask('one more'))).status, 429);
});

test('concurrent streams against a small daily_tokens budget settle within it', async () => {
  const token = mintToken({ sub: 'budget-streams', tier: 'small' });
  // Each stream reserves its prompt estimate plus max_tokens (500): at most 5 fit in 3000.
  const responses = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      chat(stack.url, token, ask(`budget stream ${i}`, { stream: true }), { 'x-mock-chunks': '10' })),
  );
  const ok = responses.filter((r) => r.status === 200);
  const refused = responses.filter((r) => r.status === 429);
  assert.ok(ok.length >= 1 && ok.length <= 5, `${ok.length} streams admitted`);
  assert.equal(ok.length + refused.length, 12);
  for (const response of refused) assert.equal(await errorCode(response), 'budget_exceeded');
  for (const response of ok) {
    const { events } = await readSse(response);
    assert.equal(events.at(-1), '[DONE]');
  }
  let usage = await settledUsage('u:budget-streams');
  assert.ok(usage.spent_tokens > 0, 'streams were metered');
  assert.ok(usage.spent_tokens <= 3000, `spent ${usage.spent_tokens} of 3000`);

  // Keep spending until refused: the total never passes the budget.
  let refusedBody;
  for (let i = 0; i < 30 && !refusedBody; i++) {
    const response = await chat(stack.url, token, ask(`more ${i}`, { stream: true }), { 'x-mock-chunks': '5' });
    if (response.status === 429) refusedBody = await response.json();
    else await readSse(response);
  }
  assert.equal(refusedBody?.error?.code, 'budget_exceeded');
  assert.match(refusedBody.error.message, /daily token budget/);
  usage = await settledUsage('u:budget-streams');
  assert.ok(usage.spent_tokens <= 3000, `spent ${usage.spent_tokens} of 3000`);

  // A prompt that alone is larger than the budget can never fit.
  const huge = await chat(stack.url, mintToken({ sub: 'budget-huge', tier: 'small' }), ask('x'.repeat(12_000)));
  assert.equal(huge.status, 429);
  assert.equal(await errorCode(huge), 'budget_exceeded');
});

test('max_rounds is exact per conversation, and a failed request gives its round back', async () => {
  const token = mintToken({ sub: 'rounds', tier: 'rounds3' });
  const inConversation = (id, text, extra) => ask(text, { oachat: { conversation_id: id }, ...extra });
  for (let round = 1; round <= 3; round++) {
    const response = await chat(stack.url, token, inConversation('conv-a', `round ${round}`));
    assert.equal(response.status, 200, `round ${round}`);
    await response.arrayBuffer();
  }
  const fourth = await chat(stack.url, token, inConversation('conv-a', 'round 4'));
  assert.equal(fourth.status, 429);
  assert.equal(await errorCode(fourth), 'max_rounds_exceeded');

  // Another conversation has its own count; concurrent rounds are counted exactly too.
  const burst = await Promise.all(
    Array.from({ length: 6 }, (_, i) => chat(stack.url, token, inConversation('conv-b', `burst ${i}`))),
  );
  assert.equal(burst.filter((r) => r.status === 200).length, 3);
  for (const response of burst.filter((r) => r.status === 429)) {
    assert.equal(await errorCode(response), 'max_rounds_exceeded');
  }
  await Promise.all(burst.map((r) => r.arrayBuffer().catch(() => {})));

  // Upstream 500 on every key: the round is refunded (after the response), so three real
  // rounds still fit in the conversation afterwards.
  const failed = await chat(stack.url, token, inConversation('conv-c', 'fails', { model: 'gpt-4.1-nano' }));
  assert.ok(failed.status >= 500, `status ${failed.status}`);
  await failed.arrayBuffer();
  // The ledger row is written right after the settle that refunds the round: wait for it.
  await poll('the failed request\'s ledger row', async () => {
    const { rows } = await (await admin(stack.url, '/admin/ledger?limit=1000')).json();
    return rows.some((row) => row.user === 'u:rounds' && row.status >= 500);
  }, 10_000);
  for (let round = 1; round <= 3; round++) {
    const response = await chat(stack.url, token, inConversation('conv-c', `after failure ${round}`));
    assert.equal(response.status, 200, `round ${round} after the failure`);
    await response.arrayBuffer();
  }
  assert.equal((await chat(stack.url, token, inConversation('conv-c', 'too many'))).status, 429);
});

test('forged, expired and wrong-origin requests are refused', async () => {
  const forged = await chat(stack.url, mintToken({ sub: 'mallory', secret: 'not-the-secret' }), ask('hi'));
  assert.equal(forged.status, 401);
  assert.equal(await errorCode(forged), 'invalid_api_key');

  const expired = await chat(stack.url, mintToken({ sub: 'late', exp: Math.floor(Date.now() / 1000) - 3600 }), ask('hi'));
  assert.equal(expired.status, 401);
  assert.equal(await errorCode(expired), 'token_expired');

  // A tampered payload (tier raised) under the original signature.
  const [header, , signature] = mintToken({ sub: 'eve' }).split('.');
  const payload = Buffer.from(JSON.stringify({ sub: 'eve', tier: 'vip', exp: 9_999_999_999 })).toString('base64url');
  const tampered = await chat(stack.url, `${header}.${payload}.${signature}`, ask('hi'));
  assert.equal(tampered.status, 401);

  const wrongOrigin = await chat(stack.url, stack.token(), ask('hi'), { origin: 'https://evil.example' });
  assert.equal(wrongOrigin.status, 403);
  assert.equal(await errorCode(wrongOrigin), 'origin_not_allowed');
  assert.equal(wrongOrigin.headers.get('access-control-allow-origin'), null);

  const rightOrigin = await chat(stack.url, stack.token(), ask('hi'), { origin: stack.url });
  assert.equal(rightOrigin.status, 200);
  assert.equal(rightOrigin.headers.get('access-control-allow-origin'), stack.url);
  await rightOrigin.arrayBuffer();
});

test('CORS preflight: allowed origin gets the headers, a disallowed one is refused', async () => {
  const preflight = (origin) => fetch(`${stack.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });
  const allowed = await preflight(stack.url);
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get('access-control-allow-origin'), stack.url);
  assert.match(allowed.headers.get('access-control-allow-methods'), /POST/);
  assert.match(allowed.headers.get('access-control-allow-headers'), /authorization/);
  assert.match(allowed.headers.get('access-control-allow-headers'), /content-type/);
  assert.match(allowed.headers.get('vary'), /Origin/);

  const refused = await preflight('https://evil.example');
  assert.equal(refused.status, 403);
  assert.equal(refused.headers.get('access-control-allow-origin'), null);
  assert.equal(refused.headers.get('access-control-allow-methods'), null);
});

test('an admin tier override changes the user\'s rpm', async () => {
  const token = mintToken({ sub: 'bob', tier: 'rpm10' });
  const burst = async (count, label) => {
    const responses = await Promise.all(
      Array.from({ length: count }, (_, i) => chat(stack.url, token, ask(`${label} ${i}`))),
    );
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    return responses.filter((r) => r.status === 200).length;
  };
  assert.equal(await burst(15, 'before'), 10, 'rpm10 admits 10');

  const put = await admin(stack.url, '/admin/users/u:bob/tier', { method: 'PUT', body: JSON.stringify({ tier: 'vip' }) });
  assert.equal(put.status, 200);
  assert.deepEqual(await put.json(), { user: 'u:bob', tier: 'vip' });
  // vip allows 40 a minute: the 10 already in the window count, so 30 more fit.
  assert.equal(await burst(35, 'after'), 30, 'vip admits up to 40 in the window');

  const unknown = await admin(stack.url, '/admin/users/u:bob/tier', { method: 'PUT', body: JSON.stringify({ tier: 'nope' }) });
  assert.equal(unknown.status, 400);
  const cleared = await admin(stack.url, '/admin/users/u:bob/tier', { method: 'PUT', body: JSON.stringify({ tier: null }) });
  assert.deepEqual(await cleared.json(), { user: 'u:bob', tier: null });
  assert.equal((await chat(stack.url, token, ask('back to rpm10'))).status, 429);
});

test('a tier override can be set for a user who never chatted', async () => {
  // Regression: the user's object had no docs table before its first request, so the
  // override failed with 500 (no such table).
  const put = await admin(stack.url, '/admin/users/u:newcomer/tier', { method: 'PUT', body: JSON.stringify({ tier: 'rpm10' }) });
  assert.equal(put.status, 200);
  assert.deepEqual(await put.json(), { user: 'u:newcomer', tier: 'rpm10' });
  const token = mintToken({ sub: 'newcomer' });
  const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => chat(stack.url, token, ask(`new ${i}`))));
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  assert.equal(responses.filter((r) => r.status === 200).length, 10, 'the override applies from the first request');
});

test('max_tokens is clamped to the tier\'s cap and models outside the tier are refused', async () => {
  const token = mintToken({ sub: 'narrow-user', tier: 'narrow' });
  const outside = await chat(stack.url, token, ask('hi', { model: 'gpt-4o' }));
  assert.equal(outside.status, 403);
  const body = await outside.json();
  assert.equal(body.error.code, 'model_not_allowed');
  assert.equal(body.error.param, 'model');

  const clamped = await chat(stack.url, token, ask('a long answer please', { max_tokens: 5000 }));
  assert.equal(clamped.status, 200);
  const answer = await clamped.json();
  assert.ok(answer.usage.completion_tokens <= 50, `${answer.usage.completion_tokens} tokens`);
  assert.equal(answer.choices[0].finish_reason, 'length');
});

test('an admin tier override also governs models and max_tokens, both ways', async () => {
  const carol = mintToken({ sub: 'carol', tier: 'narrow' });
  assert.equal((await chat(stack.url, carol, ask('hi', { model: 'gpt-4o' }))).status, 403);
  const up = await admin(stack.url, '/admin/users/u:carol/tier', { method: 'PUT', body: JSON.stringify({ tier: 'vip' }) });
  assert.equal(up.status, 200);
  const allowed = await chat(stack.url, carol, ask('hi', { model: 'gpt-4o' }));
  assert.equal(allowed.status, 200);
  assert.equal(allowed.headers.get('x-oachat-model'), 'gpt-4o');
  await allowed.json();
  const long = await (await chat(stack.url, carol, ask('a long answer please', { max_tokens: 5000 }))).json();
  assert.ok(long.usage.completion_tokens > 50, `vip's cap applies: ${long.usage.completion_tokens}`);
  assert.equal(long.choices[0].finish_reason, 'stop');

  // And down: a staff token under a `narrow` override is held to narrow's models and cap.
  const dave = mintToken({ sub: 'dave' });
  await admin(stack.url, '/admin/users/u:dave/tier', { method: 'PUT', body: JSON.stringify({ tier: 'narrow' }) });
  const refused = await chat(stack.url, dave, ask('hi', { model: 'gpt-4o' }));
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, 'model_not_allowed');
  const short = await (await chat(stack.url, dave, ask('a long answer please', { max_tokens: 5000 }))).json();
  assert.ok(short.usage.completion_tokens <= 50, `narrow's cap applies: ${short.usage.completion_tokens}`);
});
