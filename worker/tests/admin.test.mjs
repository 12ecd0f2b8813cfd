// The admin API as docs/API.md describes it, through the real worker: virtual keys (create,
// list, revoke), usage reports as JSON and CSV, key health, the route explainer, the ledger.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ADMIN_TOKEN, admin, chat, mintToken, startStack } from './harness.mjs';

let stack;
before(async () => {
  stack = await startStack({ name: 'admin' });
});
after(async () => {
  await stack?.stop();
});

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

async function ledgerRows(predicate, count) {
  for (let i = 0; i < 100; i++) {
    const { rows } = await (await admin(stack.url, '/admin/ledger?limit=1000')).json();
    const found = rows.filter(predicate);
    if (found.length >= count) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('ledger rows never appeared');
}

test('the admin API needs the admin token', async () => {
  assert.equal((await fetch(`${stack.url}/admin/keys`)).status, 401);
  const wrong = await fetch(`${stack.url}/admin/keys`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error.code, 'invalid_api_key');
  // A user token is not an admin token.
  assert.equal((await fetch(`${stack.url}/admin/keys`, { headers: { authorization: `Bearer ${mintToken()}` } })).status, 401);
});

test('virtual keys: created once, listed without the key, revoked for good', async () => {
  const created = await admin(stack.url, '/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'reporting job', tier: 'staff' }) });
  assert.equal(created.status, 200);
  const key = await created.json();
  assert.match(key.key, /^oak-[0-9a-f]{48}$/);
  assert.match(key.id, /^vk_[0-9a-f]{12}$/);
  assert.equal(key.name, 'reporting job');

  const answer = await chat(stack.url, key.key, ask('from a server'));
  assert.equal(answer.status, 200);
  await answer.json();

  const { keys } = await (await admin(stack.url, '/admin/keys')).json();
  const listed = keys.find((k) => k.id === key.id);
  assert.deepEqual(Object.keys(listed).sort(), ['created_ms', 'id', 'name', 'revoked', 'tier']);
  assert.equal(listed.revoked, false);
  assert.ok(!JSON.stringify(keys).includes(key.key), 'the key is never listed');

  const bad = await admin(stack.url, '/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'x', tier: 'nope' }) });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'tier');

  const revoked = await admin(stack.url, `/admin/keys/${key.id}`, { method: 'DELETE' });
  assert.deepEqual(await revoked.json(), { id: key.id, revoked: true });
  const refused = await chat(stack.url, key.key, ask('again'));
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.code, 'invalid_api_key');
  assert.equal((await admin(stack.url, '/admin/keys/vk_000000000000', { method: 'DELETE' })).status, 404);
});

test('usage reports group the ledger, as JSON and as CSV', async () => {
  for (const sub of ['usage-a', 'usage-b']) {
    const response = await chat(stack.url, mintToken({ sub }), ask(`usage for ${sub}`));
    assert.equal(response.status, 200);
    await response.json();
  }
  await ledgerRows((row) => row.user === 'u:usage-a' || row.user === 'u:usage-b', 2);

  const byUser = await (await admin(stack.url, '/admin/usage?group=user')).json();
  assert.equal(byUser.group, 'user');
  const a = byUser.data.find((row) => row.key === 'u:usage-a');
  assert.equal(a.requests, 1);
  assert.ok(a.prompt_tokens > 0 && a.completion_tokens > 0);
  assert.equal(a.total_tokens, a.prompt_tokens + a.completion_tokens);
  assert.ok(a.cost_usd > 0);

  // Ledger days are budget days: in budget.timezone, Asia/Shanghai (UTC+8) by default.
  const today = new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
  const filtered = await (await admin(stack.url, `/admin/usage?user=u:usage-b&from=${today}&to=${today}&group=model`)).json();
  assert.deepEqual(filtered.data.map((row) => [row.key, row.requests]), [['gpt-4o-mini', 1]]);

  const csv = await admin(stack.url, '/admin/usage?group=day&format=csv');
  assert.match(csv.headers.get('content-type'), /text\/csv/);
  const lines = (await csv.text()).trim().split('\r\n');
  assert.equal(lines[0], 'day,requests,prompt_tokens,completion_tokens,cached_tokens,reasoning_tokens,total_tokens,cost_usd');
  assert.ok(lines.some((line) => line.startsWith(`${today},`)));

  const bad = await admin(stack.url, '/admin/usage?from=yesterday');
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'from');
  assert.equal((await (await admin(stack.url, '/admin/usage?colour=red')).json()).error.param, 'colour');
});

test('ledger rows, key health and the route explainer', async () => {
  const response = await chat(stack.url, mintToken({ sub: 'ledger-user' }), ask('ledger me'));
  const requestId = response.headers.get('x-request-id');
  await response.json();
  const [row] = await ledgerRows((r) => r.id === requestId, 1);
  assert.equal(row.user, 'u:ledger-user');
  assert.equal(row.credential, 'jwt');
  assert.equal(row.ending, 'completed');
  assert.equal(row.status, 200);
  assert.equal(row.feedback, null);
  assert.match(row.key_id, /^key_/);

  const health = await (await admin(stack.url, '/admin/keys/health')).json();
  assert.ok(Array.isArray(health.upstreams));

  const route = await (await admin(stack.url, '/admin/route?text=' + encodeURIComponent('Translate this into English: 你好'))).json();
  assert.equal(route.route, 'translate');
  assert.equal(typeof route.model, 'string');
  assert.equal((await admin(stack.url, '/admin/route')).status, 400);
});
