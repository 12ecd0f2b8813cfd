// The launch-day guard: `budget.daily_usd` caps the whole deployment. Once its lease is used
// up, every user is refused with a message that says the deployment's budget is spent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { admin, chat, mintToken, startStack } from './harness.mjs';

// 1500 micro-USD: one gpt-4o-mini request reserves about 1230 (2048 output tokens at
// $0.60/M plus the prompt) and settles to far less, so a few requests fit, then none.
const CAP_MICRO_USD = 1500;

let stack;
before(async () => {
  stack = await startStack({ name: 'deployment-budget', config: { budget: { daily_usd: CAP_MICRO_USD / 1e6 } } });
});
after(async () => {
  await stack?.stop();
});

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

async function settledUsage(user) {
  for (let i = 0; i < 100; i++) {
    const usage = await (await admin(stack.url, `/admin/users/${user}/usage`)).json();
    if (!usage || usage.reserved_micro_usd === 0) return usage;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`reservations of ${user} never settled`);
}

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
