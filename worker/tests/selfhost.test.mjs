// The self-hosted build (`make selfhost` -> build/selfhost/run) as an operator runs it: it
// refuses a bad environment, serves the widget's assets with their cache headers, keeps limits,
// budgets, conversations and the ledger across a restart and a kill -9, and backs up while
// serving and restores while stopped.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ADMIN_TOKEN, SIGNING_SECRET, admin, chat, freePort, ledgerRow, mintToken, poll, settledUsage, startMock } from './harness.mjs';
import { requireBuild, runOnce, startSelfhost } from './selfhost-harness.mjs';

// 1500 micro-USD a day per user: one gpt-4o-mini request reserves about 1230 (2048 output
// tokens at $0.60/M) and settles to far less, so a few requests fit, then the budget refuses.
const USER_DAILY_USD = 0.0015;

let mock;
let port;
const scratch = mkdtempSync(join(tmpdir(), 'oachat-selfhost-'));

before(async () => {
  requireBuild();
  mock = await startMock();
  port = await freePort();
});
after(() => mock?.stop());

/** The environment an operator sets: the five values of a Cloudflare deployment plus two. */
function environment(data, overrides = {}) {
  return {
    OPENAI_BASE_URL: `${mock.url}/v1`,
    OPENAI_API_KEYS: 'sk-mock-selfhost-1,sk-mock-selfhost-2',
    OACHAT_SIGNING_SECRET: SIGNING_SECRET,
    OACHAT_ADMIN_TOKEN: ADMIN_TOKEN,
    OACHAT_CONFIG: JSON.stringify({
      allowed_origins: [`http://127.0.0.1:${port}`],
      tiers: { staff: { rpm: 100000, max_rounds: 100000, daily_tokens: 1000000000, daily_usd: USER_DAILY_USD } },
      budget: { daily_usd: 'unlimited' },
      // A second upstream whose keys live in a variable of the operator's naming: `run` must
      // hand it to the worker as well.
      upstreams: [
        { name: 'openai', base_url: `${mock.url}/v1`, keys_secret: 'OPENAI_API_KEYS', models: ['gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini'] },
        { name: 'company', base_url: `${mock.url}/v1`, keys_secret: 'COMPANY_GPT_KEYS', models: ['company-model'] },
      ],
      prices: { 'company-model': { input_per_mtok: 0, output_per_mtok: 0 } },
    }),
    COMPANY_GPT_KEYS: 'sk-mock-company',
    OACHAT_LISTEN: `127.0.0.1:${port}`,
    OACHAT_DATA: data,
    ...overrides,
  };
}

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

test('run refuses to start, and says why, when a secret is missing or the config is invalid', async () => {
  const data = join(scratch, 'refusals');
  const cases = [
    [{ OACHAT_SIGNING_SECRET: '' }, /OACHAT_SIGNING_SECRET is not set/],
    [{ OACHAT_ADMIN_TOKEN: undefined }, /OACHAT_ADMIN_TOKEN is not set/],
    [{ OPENAI_API_KEYS: '' }, /OPENAI_API_KEYS is not set or empty \(the keys of upstream `openai`\)/],
    [{ OACHAT_CONFIG: '{"tiers": 5}' }, /invalid OACHAT_CONFIG: tiers/],
    [{ COMPANY_GPT_KEYS: ' , ' }, /COMPANY_GPT_KEYS is not set or empty \(the keys of upstream `company`\)/],
  ];
  for (const [overrides, message] of cases) {
    const env = environment(data, overrides);
    for (const [name, value] of Object.entries(overrides)) if (value === undefined) delete env[name];
    const { code, output } = await runOnce([], env);
    assert.notEqual(code, 0, `started with ${JSON.stringify(overrides)}`);
    assert.match(output, message);
    assert.match(output, /oachat: /);
    assert.doesNotMatch(output, /sk-mock-selfhost/, 'no key in the refusal');
  }
  // Nothing listened meanwhile.
  assert.equal(await fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'served', () => 'refused'), 'refused');
});

test('an env file given as the first argument configures run, and its values win over the environment', async () => {
  const data = join(scratch, 'env-file');
  const env = environment(data);
  const file = join(scratch, 'oachat.env');
  writeFileSync(file, [
    '# oachat, self-hosted',
    `OACHAT_SIGNING_SECRET=${env.OACHAT_SIGNING_SECRET}`,
    `OACHAT_ADMIN_TOKEN="${env.OACHAT_ADMIN_TOKEN}"`,
    `OACHAT_CONFIG='${env.OACHAT_CONFIG}'`,
    '',
  ].join('\n'));
  const server = await startSelfhost({ env: { ...env, OACHAT_SIGNING_SECRET: 'not-the-one', OACHAT_ADMIN_TOKEN: '' }, args: [file], name: 'selfhost-env-file', port });
  try {
    const response = await chat(server.url, mintToken({ sub: 'envfile-alice', tier: 'staff' }), ask('hello'));
    assert.equal(response.status, 200, await response.clone().text());
    await response.json();
    assert.equal((await admin(server.url, '/admin/ledger?limit=1')).status, 200);
    // The company upstream's keys came from COMPANY_GPT_KEYS, a name only the config knows.
    const company = await chat(server.url, mintToken({ sub: 'envfile-alice', tier: 'staff' }), { ...ask('hello'), model: 'company-model' });
    assert.equal(company.status, 200, await company.clone().text());
    await company.json();
    assert.equal((await mock.stats()).keys['sk-mock-company']?.requests, 1);
  } finally {
    await server.stop();
  }
});

test('the widget assets are served with the cache headers of _headers, and revalidate with a 304', async () => {
  const server = await startSelfhost({ env: environment(join(scratch, 'assets')), name: 'selfhost-assets', port });
  try {
    const loader = await fetch(`${server.url}/v1/widget.js`);
    assert.equal(loader.status, 200);
    assert.match(loader.headers.get('content-type'), /javascript/);
    assert.equal(loader.headers.get('cache-control'), 'public, max-age=300, must-revalidate');
    assert.equal(loader.headers.get('access-control-allow-origin'), '*');
    const script = await loader.text();
    const core = script.match(/oachat-core\.[0-9a-f]+\.js/)?.[0];
    assert.ok(core, 'the loader names the hashed core');
    const hashed = await fetch(`${server.url}/v1/${core}`);
    assert.equal(hashed.status, 200);
    assert.match(hashed.headers.get('cache-control'), /immutable/);
    await hashed.arrayBuffer();
    const again = await fetch(`${server.url}/v1/widget.js`, { headers: { 'if-none-match': loader.headers.get('etag') } });
    assert.equal(again.status, 304);
    // Not a file: the worker answers, as on Cloudflare.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const missing = await fetch(`${server.url}/v1/no-such-file.js`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.type, 'invalid_request_error');
  } finally {
    await server.stop();
  }
});

/** One widget turn; returns its conversation id and request id once the turn is stored. */
async function widgetTurn(url, token, message) {
  const response = await fetch(`${url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', message }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  await response.text();
  return { conversation: response.headers.get('x-oachat-conversation'), requestId: response.headers.get('x-request-id') };
}

async function conversationMessages(url, token, id) {
  const response = await fetch(`${url}/v1/oachat/conversations/${id}`, { headers: { authorization: `Bearer ${token}` } });
  return response.status === 200 ? (await response.json()).messages : [];
}

/** Spends `sub`'s daily budget until it refuses; returns how many requests were admitted. */
async function spendUntilRefused(url, token, sub) {
  for (let i = 0; i < 20; i++) {
    const response = await chat(url, token, ask(`spend ${i}`));
    if (response.status === 429) {
      assert.equal((await response.json()).error.code, 'budget_exceeded');
      return i;
    }
    assert.equal(response.status, 200);
    await response.json();
    await settledUsage(url, `u:${sub}`);
  }
  assert.fail('the daily budget never refused');
}

test('limits, budgets, conversations and the ledger survive a restart and a kill -9', async () => {
  const data = join(scratch, 'durable');
  const env = environment(data);
  const token = mintToken({ sub: 'durable-alice', tier: 'staff' });
  let server = await startSelfhost({ env, name: 'selfhost-durable', port });
  let turn;
  let usageBefore;
  try {
    turn = await widgetTurn(server.url, token, 'Where is the leave policy?');
    await poll('the turn stored', async () => (await conversationMessages(server.url, token, turn.conversation)).length === 2, 10_000);
    await ledgerRow(server.url, turn.requestId, 10_000);
    usageBefore = await settledUsage(server.url, 'u:durable-alice');
    assert.ok(usageBefore.spent_micro_usd > 0);
  } finally {
    const { signal } = await server.stop('SIGKILL');
    assert.equal(signal, 'SIGKILL');
  }

  // Back after a kill -9: everything written before it is there.
  server = await startSelfhost({ env, name: 'selfhost-durable', port });
  try {
    assert.equal((await ledgerRow(server.url, turn.requestId)).id, turn.requestId);
    const messages = await conversationMessages(server.url, token, turn.conversation);
    assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant']);
    assert.equal(messages[0].content, 'Where is the leave policy?');
    const usage = await settledUsage(server.url, 'u:durable-alice');
    assert.equal(usage.spent_micro_usd, usageBefore.spent_micro_usd);
    assert.equal(usage.spent_tokens, usageBefore.spent_tokens);
    // Spend the rest of the day's budget: the budget refuses.
    await spendUntilRefused(server.url, token, 'durable-alice');
  } finally {
    await server.stop('SIGTERM');
  }

  // Back after a clean stop: still refused (the budget is not reset by a restart), and a
  // second user is unaffected.
  server = await startSelfhost({ env, name: 'selfhost-durable', port });
  try {
    const refused = await chat(server.url, token, ask('one more?'));
    assert.equal(refused.status, 429);
    assert.equal((await refused.json()).error.code, 'budget_exceeded');
    const bob = await chat(server.url, mintToken({ sub: 'durable-bob', tier: 'staff' }), ask('hello'));
    assert.equal(bob.status, 200);
    await bob.json();
  } finally {
    await server.stop();
  }
});

test('a second run on the same data is refused while the first serves', async () => {
  const data = join(scratch, 'lock');
  const server = await startSelfhost({ env: environment(data), name: 'selfhost-lock', port });
  try {
    const second = await runOnce([], environment(data, { OACHAT_LISTEN: `127.0.0.1:${await freePort()}` }));
    assert.notEqual(second.code, 0);
    assert.match(second.output, /already serving/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the first still serves');
  } finally {
    await server.stop();
  }
});

test('run backup copies the data while serving; run restore refuses while serving and brings it back when stopped', async () => {
  const data = join(scratch, 'backup-data');
  const backup = join(scratch, 'backup-copy');
  const env = environment(data);
  const token = mintToken({ sub: 'backup-alice', tier: 'staff' });
  let server = await startSelfhost({ env, name: 'selfhost-backup', port });
  let kept;
  let later;
  try {
    kept = await widgetTurn(server.url, token, 'Before the backup');
    await ledgerRow(server.url, kept.requestId, 10_000);
    await poll('the turn stored', async () => (await conversationMessages(server.url, token, kept.conversation)).length === 2, 10_000);
    // A stream is running while the backup pauses the server: it still completes.
    const streaming = chat(server.url, token, { ...ask('a long answer'), stream: true }).then((r) => r.text());
    const copied = await runOnce(['backup', backup], env);
    assert.equal(copied.code, 0, copied.output);
    assert.match(copied.output, /backed up .* \(serving paused \d+ ms\)/);
    assert.match(await streaming, /\[DONE\]/);
    assert.ok(readdirSync(backup).includes('BACKUP-INFO'));
    // Written after the backup: not in it.
    later = await widgetTurn(server.url, token, 'After the backup');
    await ledgerRow(server.url, later.requestId, 10_000);

    const refused = await runOnce(['restore', backup], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.output, /running .* stop it before restoring/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  } finally {
    await server.stop();
  }

  const restored = await runOnce(['restore', backup], env);
  assert.equal(restored.code, 0, restored.output);
  assert.match(restored.output, /the data it replaced is in/);
  server = await startSelfhost({ env, name: 'selfhost-backup', port });
  try {
    await ledgerRow(server.url, kept.requestId);
    const { rows } = await (await admin(server.url, '/admin/ledger?limit=1000')).json();
    assert.ok(!rows.some((row) => row.id === later.requestId), 'the row written after the backup is gone');
    assert.equal((await conversationMessages(server.url, token, kept.conversation)).length, 2);
    assert.deepEqual(await conversationMessages(server.url, token, later.conversation), []);
  } finally {
    await server.stop();
  }
});

test('no upstream key appears in the self-hosted server\'s log', async () => {
  const { readFileSync } = await import('node:fs');
  const { RESULTS } = await import('./harness.mjs');
  const logs = readdirSync(RESULTS).filter((f) => f.endsWith('.selfhost.log'));
  assert.ok(logs.length >= 4);
  for (const file of logs) {
    const text = readFileSync(join(RESULTS, file), 'utf8');
    for (const key of ['sk-mock-selfhost-1', 'sk-mock-selfhost-2', 'sk-mock-company']) assert.ok(!text.includes(key), `${key} in ${file}`);
  }
});
