// The launch-day guard: `budget.daily_usd` caps the whole deployment. Once its lease is used
// up, every user is refused with a message that says the deployment's budget is spent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { admin, chat, mintToken, settledUsage as settled, startStack } from './harness.mjs';

// 1500 micro-USD: one gpt-4o-mini request reserves about 1230 (2048 output tokens at
// $0.60/M plus the prompt) and settles to far less, so a few requests fit, then none.
const CAP_MICRO_USD = 1500;

// A second deployment whose cap is exactly five lease slices, for the lease tests. One
// request reserves about 0.00123 USD, so an idle user keeps about 0.005 USD of lease.
const SLICED = { daily_usd: 0.05, lease_slice_usd: 0.01 };

let stack;
let sliced;
before(async () => {
  [stack, sliced] = await Promise.all([
    startStack({ name: 'deployment-budget', config: { budget: { daily_usd: CAP_MICRO_USD / 1e6 } } }),
    startStack({ name: 'deployment-lease', config: { budget: SLICED } }),
  ]);
});
after(async () => {
  await Promise.all([stack?.stop(), sliced?.stop()]);
});

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

const settledUsage = (user) => settled(stack.url, user);

test('the deployment budget stops everyone once spent, and says so', async () => {
  const alice = mintToken({ sub: 'dep-alice' });
  let admitted = 0;
  let refusal;
  for (let i = 0; i < 20 && !refusal; i++) {
    const response = await chat(stack.url, alice, ask(`spend ${i}`));
    if (response.status === 200) {
      admitted += 1;
      await response.json();
      await settledUsage('u:dep-alice');
    } else {
      assert.equal(response.status, 429);
      assert.ok(Number(response.headers.get('retry-after')) >= 1);
      refusal = await response.json();
    }
  }
  assert.ok(admitted >= 1, 'the budget admits requests until it is spent');
  assert.equal(refusal?.error?.code, 'budget_exceeded');
  assert.match(refusal.error.message, /daily budget for everyone is spent/);

  const spent = (await settledUsage('u:dep-alice')).spent_micro_usd;
  assert.ok(spent > 0 && spent <= CAP_MICRO_USD, `spent ${spent} of ${CAP_MICRO_USD}`);

  // Two other users, with their own untouched personal budgets, are refused the same way.
  for (const sub of ['dep-bob', 'dep-carol']) {
    const response = await chat(stack.url, mintToken({ sub }), ask('me too'));
    assert.equal(response.status, 429, sub);
    const body = await response.json();
    assert.equal(body.error.code, 'budget_exceeded');
    assert.match(body.error.message, /daily budget for everyone is spent/);
  }
});

test('concurrent first requests of one user take one lease slice at a time, not one each', async () => {
  // Regression: five concurrent requests of a user with no lease each asked the deployment
  // for a slice, so while they ran one user held the whole cap (5 slices) using a fraction
  // of it, and everyone else was told the deployment's budget was spent.
  const alice = mintToken({ sub: 'lease-alice' });
  const slow = { 'x-mock-chunks': '10', 'x-mock-delay-ms': '150' };
  const burst = await Promise.all(
    Array.from({ length: 5 }, (_, i) => chat(sliced.url, alice, { ...ask(`burst ${i}`), stream: true }, slow)),
  );
  assert.deepEqual(burst.map((r) => r.status), [200, 200, 200, 200, 200]);
  // Alice's streams are still running.
  const bob = await chat(sliced.url, mintToken({ sub: 'lease-bob' }), ask('is there budget left?'));
  assert.equal(bob.status, 200, JSON.stringify(await bob.clone().json()));
  await bob.json();
  await Promise.all(burst.map((r) => r.text()));
});

test('leases held by idle users do not lock others out of an unspent deployment budget', async () => {
  // Regression: each user kept a whole lease slice (0.01 USD here) after their request
  // settled, so once five users had chatted the cap (0.05 USD) was all handed out and the
  // sixth was told the deployment's budget was spent, with over 90% of it unused.
  for (let user = 1; user <= 6; user++) {
    const sub = `idle-${user}`;
    const response = await chat(sliced.url, mintToken({ sub }), ask(`hello from user ${user}`));
    assert.equal(response.status, 200, `user ${user}: ${await response.clone().text()}`);
    await response.json();
    await settled(sliced.url, `u:${sub}`);
  }
});
