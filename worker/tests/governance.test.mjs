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

// A month with room for five requests: each reserves its prompt estimate (a few tokens) plus
// the clamped max_tokens (1000), so 5500 tokens hold five in flight and not six.
const MONTHLY = {
  tiers: {
    staff: {
      rpm: 100000, max_rounds: 100000, daily_tokens: 'unlimited', daily_usd: 'unlimited',
      monthly_tokens: 5500, max_tokens: 1000, models: ['*'],
    },
  },
  budget: { daily_usd: 'unlimited' },
};

// The deployment's month: 1500 micro-USD, and no daily cap.
const DEPLOYMENT_MONTH_MICRO_USD = 1500;
const DEPLOYMENT_MONTH = { budget: { daily_usd: 'unlimited', monthly_usd: DEPLOYMENT_MONTH_MICRO_USD / 1e6, timezone: 'Asia/Tokyo' } };

// Departments: finance and sales each have room for five requests a day (one reserves about
// 603 micro-USD: 1000 output tokens at $0.60/M plus the prompt), ops has a common rpm of 3. The
// deployment is capped too, so departments lease from it.
const DEPARTMENTS = {
  tiers: {
    staff: {
      rpm: 100000, max_rounds: 100000, daily_tokens: 'unlimited', daily_usd: 'unlimited',
      max_tokens: 1000, models: ['*'],
    },
  },
  budget: { daily_usd: 10 },
  departments: {
    finance: { daily_usd: 0.0033 },
    sales: { daily_usd: 0.0033, monthly_usd: 1 },
    ops: { rpm: 3 },
  },
};

let stack;
let monthly;
let deploymentMonth;
let departments;
before(async () => {
  [stack, monthly, deploymentMonth, departments] = await Promise.all([
    startStack({ name: 'governance', config: TIERS }),
    startStack({ name: 'governance-monthly', config: MONTHLY }),
    startStack({ name: 'governance-deployment-month', config: DEPLOYMENT_MONTH }),
    startStack({ name: 'governance-departments', config: DEPARTMENTS }),
  ]);
});
after(async () => {
  await Promise.all([stack?.stop(), monthly?.stop(), deploymentMonth?.stop(), departments?.stop()]);
});

const DAY_MS = 86_400_000;
/** The next local midnight of a zone `offsetHours` east of UTC. */
const nextMidnight = (now, offsetHours) => {
  const offset = offsetHours * 3_600_000;
  return (Math.floor((now + offset) / DAY_MS) + 1) * DAY_MS - offset;
};

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
  assert.equal(body.timezone, 'Asia/Shanghai', 'the default zone');
  assert.match(body.day.period, /^\d{4}-\d{2}-\d{2}$/);
  assert.match(body.month.period, /^\d{4}-\d{2}$/);
  assert.ok(body.day.resets_at_ms > Date.now());
  // Days roll over at midnight in Shanghai (16:00 UTC).
  const resets = new Set([nextMidnight(Date.now() - 5_000, 8), nextMidnight(Date.now(), 8)]);
  assert.ok(resets.has(body.day.resets_at_ms), `${body.day.resets_at_ms} is not Shanghai's midnight`);
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

const slow = (text) => ({
  model: 'gpt-4o-mini',
  stream: true,
  messages: [{ role: 'user', content: `${text} [mock chunks=20 delay_ms=60]` }],
});

test('20 concurrent requests against a monthly budget with room for 5: exactly 5 are admitted', async () => {
  const token = mintToken({ sub: 'month-alice' });
  const url = monthly.url;
  const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => chat(url, token, slow(`m${i}`))));
  const statuses = responses.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 5, JSON.stringify(statuses));
  const refusals = await Promise.all(responses.filter((r) => r.status !== 200).map((r) => r.json()));
  for (const refusal of refusals) {
    assert.equal(refusal.error.code, 'monthly_budget_exceeded');
    assert.equal(refusal.error.budget, 'monthly_tokens');
    assert.match(refusal.error.message, /monthly token budget/);
  }
  // Refused until the 1st of next month (local), not until tomorrow.
  const retryAfter = Number(responses.find((r) => r.status === 429).headers.get('retry-after'));
  assert.ok(retryAfter * 1000 > nextMidnight(Date.now(), 8) - Date.now(), `retry-after ${retryAfter}`);
  await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.text()));
  const usage = await settledUsage(url, 'u:month-alice');
  assert.ok(usage.month_spent_tokens > 0 && usage.month_spent_tokens <= 5500, `spent ${usage.month_spent_tokens}`);
  assert.equal(usage.monthly_limit_tokens, 5500);
  const shown = await (await fetch(`${url}/v1/oachat/me`, { headers: { authorization: `Bearer ${token}` } })).json();
  assert.equal(shown.month.tokens.used, usage.month_spent_tokens);
  assert.equal(shown.month.tokens.limit, 5500);
  assert.equal(shown.month.tokens.remaining, 5500 - usage.month_spent_tokens);
  assert.equal(shown.day.tokens.limit, null);
  // Another user's month is their own.
  const bob = await chat(url, mintToken({ sub: 'month-bob' }), slow('bob'));
  assert.equal(bob.status, 200);
  await bob.text();
});

test('the deployment monthly cap stops everyone once spent, and names the monthly budget', async () => {
  const url = deploymentMonth.url;
  const alice = mintToken({ sub: 'dm-alice' });
  let admitted = 0;
  let refusal;
  for (let i = 0; i < 20 && !refusal; i++) {
    const response = await chat(url, alice, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `spend ${i}` }] });
    if (response.status === 200) {
      admitted += 1;
      await response.json();
      await settledUsage(url, 'u:dm-alice');
    } else {
      assert.equal(response.status, 429);
      refusal = await response.json();
    }
  }
  assert.ok(admitted >= 1, 'the month admits requests until it is spent');
  assert.equal(refusal?.error?.code, 'monthly_budget_exceeded');
  assert.equal(refusal.error.budget, 'budget.monthly_usd');
  assert.match(refusal.error.message, /monthly budget for everyone is spent/);
  const spent = (await settledUsage(url, 'u:dm-alice')).month_spent_micro_usd;
  assert.ok(spent > 0 && spent <= DEPLOYMENT_MONTH_MICRO_USD, `spent ${spent} of ${DEPLOYMENT_MONTH_MICRO_USD}`);
  const bob = await chat(url, mintToken({ sub: 'dm-bob' }), { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'me too' }] });
  assert.equal(bob.status, 429);
  assert.equal((await bob.json()).error.code, 'monthly_budget_exceeded');
  // The zone is Tokyo's here: /me says so, and its day ends at 15:00 UTC.
  const shown = await (await fetch(`${url}/v1/oachat/me`, { headers: { authorization: `Bearer ${alice}` } })).json();
  assert.equal(shown.timezone, 'Asia/Tokyo');
  const resets = new Set([nextMidnight(Date.now() - 5_000, 9), nextMidnight(Date.now(), 9)]);
  assert.ok(resets.has(shown.day.resets_at_ms));
});

test('two members of a department share its budget: 20 concurrent against room for 5 admit 5', async () => {
  const url = departments.url;
  const alice = mintToken({ sub: 'fin-alice', dept: 'finance' });
  const bob = mintToken({ sub: 'fin-bob', dept: 'finance' });
  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, i) => chat(url, i % 2 ? bob : alice, slow(`f${i}`))),
  );
  const statuses = responses.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 5, JSON.stringify(statuses));
  for (const refused of responses.filter((r) => r.status !== 200)) {
    const body = await refused.json();
    assert.equal(refused.status, 429);
    assert.equal(body.error.code, 'department_budget_exceeded', JSON.stringify(body));
    assert.equal(body.error.budget, 'departments.daily_usd');
    assert.match(body.error.message, /department's daily budget/);
  }
  await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.text()));
  const spent = (await settledUsage(url, 'u:fin-alice')).spent_micro_usd + (await settledUsage(url, 'u:fin-bob')).spent_micro_usd;
  assert.ok(spent > 0 && spent <= 3300, `finance spent ${spent} of 3300`);
  // Both members see their department's budget in /me.
  const shown = await (await fetch(`${url}/v1/oachat/me`, { headers: { authorization: `Bearer ${bob}` } })).json();
  assert.equal(shown.department.name, 'finance');
  assert.equal(shown.department.day.usd.limit_micro, 3300);
  assert.ok(shown.department.day.usd.used_micro > 0);
  assert.equal(shown.department.month.usd.limit_micro, null);

  // Another department, a user without one, and a department nobody configured are unaffected.
  for (const [sub, dept] of [['sales-carol', 'sales'], ['no-dept-dave', undefined], ['hr-erin', 'hr']]) {
    const response = await chat(url, mintToken({ sub, dept }), slow(sub));
    assert.equal(response.status, 200, `${sub}: ${await response.clone().text()}`);
    await response.text();
  }
  const carol = await (await fetch(`${url}/v1/oachat/me`, { headers: { authorization: `Bearer ${mintToken({ sub: 'sales-carol', dept: 'sales' })}` } })).json();
  assert.equal(carol.department.name, 'sales');
  assert.equal(carol.department.month.usd.limit_micro, 1000000);
  const erin = await (await fetch(`${url}/v1/oachat/me`, { headers: { authorization: `Bearer ${mintToken({ sub: 'hr-erin', dept: 'hr' })}` } })).json();
  assert.equal(erin.dept, 'hr');
  assert.equal(erin.department, null, 'hr is not a configured department');
});

test("a department's rpm is shared by its members, exactly", async () => {
  const url = departments.url;
  const members = ['ops-frank', 'ops-grace'].map((sub) => mintToken({ sub, dept: 'ops' }));
  const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });
  const responses = await Promise.all(Array.from({ length: 8 }, (_, i) => chat(url, members[i % 2], ask(`o${i}`))));
  const statuses = responses.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 3, JSON.stringify(statuses));
  for (const refused of responses.filter((r) => r.status !== 200)) {
    assert.equal(refused.status, 429);
    assert.equal((await refused.json()).error.code, 'rate_limit_exceeded');
  }
  await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.text()));
  // Sales has no rpm of its own: its members are not held by ops' rate.
  const sales = await chat(url, mintToken({ sub: 'sales-heidi', dept: 'sales' }), ask('hi'));
  assert.equal(sales.status, 200);
  await sales.text();
});
