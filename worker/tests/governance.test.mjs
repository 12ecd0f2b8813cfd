// Governance: what a user may see of their own quota (`GET /v1/oachat/me`), monthly budgets in
// the deployment's time zone, and departments.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { admin, chat, mintToken, settledUsage, startStack } from './harness.mjs';

const TIERS = {
  tiers: {
    staff: { rpm: 7, max_rounds: 1000, daily_tokens: 100000, daily_usd: 1, models: ['*'] },
    lead: { rpm: 9, max_rounds: 1000, daily_tokens: 'unlimited', daily_usd: 'unlimited', models: ['*'] },
  },
  guest_mode: true,
};

let stack;
before(async () => {
  stack = await startStack({ name: 'governance', config: TIERS });
});
after(async () => {
  await stack?.stop();
});

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });
const me = (token, init = {}) =>
  fetch(`${stack.url}/v1/oachat/me`, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers || {}) },
  });

test('GET /v1/oachat/me shows a new user their untouched limits', async () => {
  const response = await me(mintToken({ sub: 'me-new', dept: 'finance' }));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  const body = await response.json();
  assert.equal(body.object, 'oachat.me');
  assert.equal(body.user, 'u:me-new');
  assert.equal(body.tier, 'staff');
  assert.equal(body.dept, 'finance');
  assert.equal(typeof body.timezone, 'string');
  assert.match(body.day.period, /^\d{4}-\d{2}-\d{2}$/);
  assert.match(body.month.period, /^\d{4}-\d{2}$/);
  assert.ok(body.day.resets_at_ms > Date.now());
  assert.ok(body.month.resets_at_ms >= body.day.resets_at_ms);
  assert.deepEqual(body.day.tokens, { used: 0, reserved: 0, limit: 100000, remaining: 100000 });
  assert.equal(body.day.usd.limit_micro, 1000000);
  assert.equal(body.day.usd.remaining_micro, 1000000);
  assert.equal(body.day.usd.limit, 1);
  assert.deepEqual(body.rate, { rpm: 7, remaining: 7 });
  assert.equal(body.department, null);
});

test('after a chat, /me shows what it used today and this month; reading takes nothing', async () => {
  const token = mintToken({ sub: 'me-used' });
  const response = await chat(stack.url, token, ask('hello'));
  assert.equal(response.status, 200);
  await response.json();
  const usage = await settledUsage(stack.url, 'u:me-used');
  assert.ok(usage.spent_tokens > 0);
  // Read it more often than the rpm allows: /me takes no rate slot.
  let body;
  for (let i = 0; i < 10; i++) {
    const read = await me(token);
    assert.equal(read.status, 200);
    body = await read.json();
  }
  assert.equal(body.day.tokens.used, usage.spent_tokens);
  assert.equal(body.day.tokens.remaining, 100000 - usage.spent_tokens);
  assert.equal(body.day.usd.used_micro, usage.spent_micro_usd);
  assert.equal(body.month.tokens.used, usage.spent_tokens);
  assert.equal(body.month.usd.used_micro, usage.spent_micro_usd);
  assert.equal(body.month.tokens.limit, null);
  assert.equal(body.month.tokens.remaining, null);
  assert.deepEqual(body.rate, { rpm: 7, remaining: 6 });
  // The rate still has its six slots: /me took none.
  const burst = await Promise.all(Array.from({ length: 7 }, (_, i) => chat(stack.url, token, ask(`b${i}`))));
  assert.deepEqual(burst.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 429]);
  await Promise.all(burst.map((r) => r.text()));
});

test('/me follows the admin tier override and shows unlimited as null', async () => {
  const put = await admin(stack.url, '/admin/users/u:me-lead/tier', { method: 'PUT', body: JSON.stringify({ tier: 'lead' }) });
  assert.equal(put.status, 200, await put.clone().text());
  const body = await (await me(mintToken({ sub: 'me-lead' }))).json();
  assert.equal(body.tier, 'lead');
  assert.deepEqual(body.day.tokens, { used: 0, reserved: 0, limit: null, remaining: null });
  assert.equal(body.day.usd.limit_micro, null);
  assert.deepEqual(body.rate, { rpm: 9, remaining: 9 });
});

test('/me answers virtual keys and guests too', async () => {
  const created = await admin(stack.url, '/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'me-bot' }) });
  assert.equal(created.status, 200, await created.clone().text());
  const { key, id } = await created.json();
  const keyed = await (await me(key)).json();
  assert.equal(keyed.user, `k:${id}`);
  const guest = await me(undefined, { headers: { 'x-oachat-device': 'me-device-1234567890' } });
  assert.equal(guest.status, 200, await guest.clone().text());
  assert.equal((await guest.json()).tier, 'guest');
});

test('/me refuses other methods, bodies and bad credentials with OpenAI-shaped errors', async () => {
  const token = mintToken({ sub: 'me-errors' });
  const post = await me(token, { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  assert.equal((await post.json()).error.code, 'method_not_allowed');
  // fetch will not send a GET with a body: node's http will.
  const withBody = await new Promise((resolve, reject) => {
    const request = http.request(`${stack.url}/v1/oachat/me`, {
      method: 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '2' },
    }, (response) => {
      let text = '';
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, text }));
    });
    request.on('error', reject);
    request.end('{}');
  });
  assert.equal(withBody.status, 413, withBody.text);
  assert.equal(JSON.parse(withBody.text).error.code, 'body_too_large');
  const forged = await me(mintToken({ sub: 'me-errors', secret: 'not-the-secret' }));
  assert.equal(forged.status, 401);
  const error = (await forged.json()).error;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(error.code, 'invalid_api_key');
});
