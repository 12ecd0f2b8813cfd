// The ledger's rollups through the real worker and D1: GET /admin/overview and the usage report
// read daily and hourly rollups kept by triggers, and what they say equals what the ledger's own
// rows add up to (requests, tokens, cost, ratings, the heaviest users and departments).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { admin, chat, ledgerRow, mintToken, poll, readSse, startStack } from './harness.mjs';

let stack;
before(async () => {
  stack = await startStack({
    name: 'rollups',
    config: {
      tiers: {
        staff: { rpm: 1000, max_rounds: 1000, daily_tokens: 'unlimited', daily_usd: 'unlimited', models: ['*'] },
        lead: { rpm: 1000, max_rounds: 1000, daily_tokens: 'unlimited', daily_usd: 'unlimited', models: ['*'] },
      },
      budget: { daily_usd: 20, monthly_usd: 300 },
    },
  });
});
after(async () => {
  await stack?.stop();
});

const feedback = (token, requestId, rating) =>
  fetch(`${stack.url}/v1/oachat/feedback`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ request_id: requestId, rating }),
  });

/** Sums of ledger rows the way the overview counts them. */
function sums(rows) {
  const own = rows.filter((row) => row.ending !== 'abandoned');
  return {
    requests: own.length,
    prompt_tokens: rows.reduce((t, r) => t + r.prompt_tokens, 0),
    completion_tokens: rows.reduce((t, r) => t + r.completion_tokens, 0),
    cost_micro_usd: rows.reduce((t, r) => t + r.cost_micro_usd, 0),
  };
}

test('the overview and the reports say what the ledger rows add up to', async () => {
  // Users of two departments and two tiers; heavier users send longer prompts.
  const people = [
    { sub: 'ada', dept: 'finance', tier: 'lead', asks: 3, words: 40 },
    { sub: 'bo', dept: 'finance', tier: 'staff', asks: 2, words: 5 },
    { sub: 'cy', dept: 'sales', tier: 'staff', asks: 1, words: 2 },
  ];
  const sent = [];
  for (const person of people) {
    const token = mintToken(person);
    for (let i = 0; i < person.asks; i++) {
      const stream = i % 2 === 1;
      const content = `${'budget '.repeat(person.words)} question ${i}`;
      const response = await chat(stack.url, token, { model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content }] });
      assert.equal(response.status, 200);
      sent.push({ token, id: response.headers.get('x-request-id') });
      if (stream) await readSse(response); else await response.json();
    }
  }
  const rows = await Promise.all(sent.map(({ id }) => ledgerRow(stack.url, id, 15_000)));
  assert.deepEqual(rows.map((row) => row.dept), ['finance', 'finance', 'finance', 'finance', 'finance', 'sales']);
  assert.deepEqual(rows.map((row) => row.tier), ['lead', 'lead', 'lead', 'staff', 'staff', 'staff']);
  // Two ratings down and one up, then one changed mind: the rollup follows the row.
  assert.equal((await feedback(sent[0].token, sent[0].id, -1)).status, 200);
  assert.equal((await feedback(sent[3].token, sent[3].id, -1)).status, 200);
  assert.equal((await feedback(sent[5].token, sent[5].id, 1)).status, 200);
  assert.equal((await feedback(sent[3].token, sent[3].id, 1)).status, 200);

  const { rows: ledger } = await (await admin(stack.url, '/admin/ledger?limit=1000')).json();
  const today = rows[0].day;
  const todays = ledger.filter((row) => row.day === today);
  const expected = sums(todays);

  const overview = await poll('the overview with every row', async () => {
    const answer = await (await admin(stack.url, '/admin/overview')).json();
    return answer.periods?.today?.requests >= expected.requests ? answer : null;
  }, 10_000);
  assert.equal(overview.today, today, 'the overview\'s day is the ledger\'s (budget.timezone)');
  assert.equal(overview.timezone, 'Asia/Shanghai');
  const period = overview.periods.today;
  assert.equal(period.requests, expected.requests);
  assert.equal(period.prompt_tokens, expected.prompt_tokens);
  assert.equal(period.completion_tokens, expected.completion_tokens);
  assert.ok(Math.abs(period.cost_usd - expected.cost_micro_usd / 1e6) < 1e-9);
  assert.deepEqual(period.feedback, { up: 2, down: 1 });
  assert.equal(typeof period.ttft_p50_ms, 'number');
  assert.ok(period.ttft_p95_ms >= period.ttft_p50_ms);
  assert.ok(overview.periods.month.requests >= period.requests);
  assert.equal(overview.spend_by_day.at(-1).day, today);
  assert.equal(overview.budget.daily_usd, 20);
  assert.equal(overview.budget.monthly_usd, 300);

  // The heaviest users and departments, as the ledger ranks them.
  const rank = (key) => {
    const totals = new Map();
    for (const row of todays) {
      if (!row[key]) continue;
      totals.set(row[key], (totals.get(row[key]) ?? 0) + row.cost_micro_usd);
    }
    return [...totals].sort((a, b) => b[1] - a[1]).map(([name]) => name);
  };
  assert.deepEqual(overview.top_users.today.map((u) => u.key).slice(0, 3), rank('user').slice(0, 3));
  assert.deepEqual(overview.top_departments.today.map((d) => d.key), rank('dept'));
  assert.equal(overview.top_users.today[0].key, 'u:ada');

  // The usage report groups by department and tier from the same rollup.
  const byDept = await (await admin(stack.url, `/admin/usage?group=dept&from=${today}&to=${today}`)).json();
  const finance = byDept.data.find((row) => row.key === 'finance');
  assert.equal(finance.requests, 5);
  assert.equal(finance.prompt_tokens, sums(todays.filter((r) => r.dept === 'finance')).prompt_tokens);
  const byTier = await (await admin(stack.url, `/admin/usage?group=tier&from=${today}&to=${today}`)).json();
  assert.equal(byTier.data.find((row) => row.key === 'lead').requests, 3);
});

test('the overview is behind the admin token', async () => {
  const anonymous = await fetch(`${stack.url}/admin/overview`);
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).error.code, 'missing_credential');
});
