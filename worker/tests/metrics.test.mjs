// GET /metrics through the real worker: guarded by OACHAT_METRICS_TOKEN, Prometheus text that a
// strict parser accepts, and figures that match what happened (the ledger's tokens and cost,
// the requests and refusals sent, the keys' health), with no per-user series and no key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { admin, chat, findSecrets, keyId, ledgerRow, mintToken, poll, readSse, startStack } from './harness.mjs';

const METRICS_TOKEN = 'test-metrics-token-41d9';
const KEYS = 'sk-mock-401,sk-mock-ok-metrics';
const DAILY_CAP_USD = 5;

let stack;
let dark;
before(async () => {
  [stack, dark] = await Promise.all([
    startStack({
      name: 'metrics',
      keys: KEYS,
      vars: { OACHAT_METRICS_TOKEN: METRICS_TOKEN },
      config: {
        tiers: {
          staff: { rpm: 1000, max_rounds: 1000, daily_tokens: 'unlimited', daily_usd: 'unlimited', models: ['*'] },
          // Three requests a minute: the fourth and fifth are refused.
          intern: { rpm: 3, max_rounds: 1000, daily_tokens: 'unlimited', daily_usd: 'unlimited', models: ['*'] },
        },
        budget: { daily_usd: DAILY_CAP_USD },
      },
    }),
    // No OACHAT_METRICS_TOKEN: no endpoint, and nothing counted.
    startStack({ name: 'metrics-off' }),
  ]);
});
after(async () => {
  await Promise.all([stack?.stop(), dark?.stop()]);
});

const scrape = (url = stack.url, token = METRICS_TOKEN, init = {}) =>
  fetch(`${url}/metrics`, { ...init, headers: token ? { authorization: `Bearer ${token}` } : {} });

const ask = (text, extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra });

// ---------------------------------------------------------------------------------------------
// A Prometheus text-format (0.0.4) parser, strict enough to refuse what a scraper would.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Parses an exposition into { families: { name: { type, help, samples: [{ name, labels, value }] } } }. */
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'an exposition ends with a line feed');
  const families = {};
  let current = null;
  const familyOf = (sample) => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = sample.endsWith(suffix) ? sample.slice(0, -suffix.length) : null;
      if (base && families[base]?.type === 'histogram') return base;
    }
    return sample;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [, name, help] = /^# HELP (\S+) (.*)$/.exec(line) ?? [];
      assert.match(name ?? '', NAME, `bad HELP line: ${line}`);
      assert.equal(families[name], undefined, `${name} declared twice`);
      families[name] = { help, type: 'untyped', samples: [] };
      current = name;
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? [];
      assert.equal(name, current, `TYPE of ${name} away from its HELP`);
      assert.ok(TYPES.has(type), `unknown type ${type}`);
      assert.equal(families[name].samples.length, 0, `TYPE of ${name} after its samples`);
      families[name].type = type;
      continue;
    }
    assert.ok(!line.startsWith('#') && line.trim() !== '', `unexpected line: ${JSON.stringify(line)}`);
    const sample = parseSample(line);
    const family = familyOf(sample.name);
    assert.ok(families[family], `sample ${sample.name} before (or without) its family's TYPE`);
    assert.equal(family, current, `sample ${sample.name} away from its family`);
    families[family].samples.push(sample);
  }
  return families;
}

function parseSample(line) {
  const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
  assert.ok(match, `bad sample line: ${line}`);
  const [, name, , body = '', raw] = match;
  const labels = {};
  let rest = body;
  while (rest.length) {
    const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
    assert.ok(label, `bad labels in: ${line}`);
    assert.equal(labels[label[1]], undefined, `label ${label[1]} twice in: ${line}`);
    labels[label[1]] = label[2].replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
    rest = rest.slice(label[0].length);
  }
  const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
  assert.ok(!Number.isNaN(value) || raw === 'NaN', `bad value in: ${line}`);
  return { name, labels, value };
}

/** The value of the sample of `name` whose labels include `labels` (0 when there is none). */
function value(families, name, labels = {}) {
  const family = families[name] ?? Object.values(families).find((f) => f.samples.some((s) => s.name === name));
  const sample = family?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return sample?.value ?? 0;
}

/** Checks a histogram: cumulative buckets, ascending bounds, +Inf last and equal to _count. */
function checkHistogram(families, name) {
  const family = families[name];
  assert.equal(family?.type, 'histogram', `${name} is a histogram`);
  const buckets = family.samples.filter((s) => s.name === `${name}_bucket`);
  assert.ok(buckets.length >= 2, `${name} has buckets`);
  let previous = { bound: -Infinity, count: 0 };
  for (const bucket of buckets) {
    const bound = bucket.labels.le === '+Inf' ? Infinity : Number(bucket.labels.le);
    assert.ok(bound > previous.bound, `${name}: bounds ascend`);
    assert.ok(bucket.value >= previous.count, `${name}: buckets are cumulative`);
    previous = { bound, count: bucket.value };
  }
  assert.equal(buckets.at(-1).labels.le, '+Inf');
  assert.equal(buckets.at(-1).value, value(families, `${name}_count`), `${name}: +Inf is the count`);
  return value(families, `${name}_count`);
}

async function read() {
  const response = await scrape();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

// ---------------------------------------------------------------------------------------------

test('GET /metrics answers only its token, and only when one is set', async () => {
  const missing = await scrape(stack.url, null);
  assert.equal(missing.status, 401);
  assert.equal((await missing.json()).error.code, 'missing_credential');
  const wrong = await scrape(stack.url, 'not-the-token');
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error.code, 'invalid_api_key');
  const admins = await scrape(stack.url, 'test-admin-token-8c3e1a');
  assert.equal(admins.status, 401, 'the admin token is not the metrics token');
  const post = await fetch(`${stack.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(post.status, 405);
  const off = await scrape(dark.url, METRICS_TOKEN);
  assert.equal(off.status, 404);
  assert.equal((await off.json()).error.type, 'invalid_request_error');
});

test('every family is there, in a form a scraper accepts, before any traffic', async () => {
  const families = await read();
  for (const [name, type] of [
    ['oachat_requests_total', 'counter'],
    ['oachat_upstream_attempts_total', 'counter'],
    ['oachat_tokens_total', 'counter'],
    ['oachat_spend_usd_total', 'counter'],
    ['oachat_time_to_first_token_seconds', 'histogram'],
    ['oachat_request_duration_seconds', 'histogram'],
    ['oachat_budget_remaining_usd', 'gauge'],
    ['oachat_upstream_key_state', 'gauge'],
    ['oachat_cache_hits_total', 'counter'],
    ['oachat_rate_limited_total', 'counter'],
  ]) {
    assert.equal(families[name]?.type, type, name);
  }
  assert.deepEqual(
    families.oachat_tokens_total.samples.map((s) => s.labels.type).sort(),
    ['cached', 'input', 'output', 'reasoning'],
  );
  assert.equal(value(families, 'oachat_budget_remaining_usd', { scope: 'deployment', period: 'day' }) <= DAILY_CAP_USD, true);
  assert.ok(families.oachat_budget_remaining_usd.samples.some((s) => s.labels.period === 'day'), 'the daily cap is shown');
});

test('requests, tokens, spend and latencies add up to what was sent and what the ledger booked', async () => {
  const before = await read();
  const token = mintToken({ sub: 'metrics-user' });
  const ids = [];
  for (const stream of [false, false, true]) {
    const response = await chat(stack.url, token, ask(`count me ${ids.length}`, { stream }));
    assert.equal(response.status, 200);
    ids.push(response.headers.get('x-request-id'));
    if (stream) await readSse(response); else await response.json();
  }
  const rows = await Promise.all(ids.map((id) => ledgerRow(stack.url, id, 15_000)));
  const sum = (field) => rows.reduce((total, row) => total + row[field], 0);
  const delta = (families, name, labels) => value(families, name, labels) - value(before, name, labels);
  const served = { route: rows[0].route, model: rows[0].model_used, status: '200' };

  // Counts reach the deployment's object after the response, and each settle after its stream.
  const after = await poll('the three requests counted', async () => {
    const families = await read();
    const settled = delta(families, 'oachat_request_duration_seconds_count') >= 3;
    return delta(families, 'oachat_requests_total', served) >= 3 && settled ? families : null;
  }, 15_000);
  assert.equal(delta(after, 'oachat_requests_total', served), 3);
  assert.equal(delta(after, 'oachat_tokens_total', { type: 'input' }), sum('prompt_tokens'));
  assert.equal(delta(after, 'oachat_tokens_total', { type: 'output' }), sum('completion_tokens'));
  assert.equal(delta(after, 'oachat_tokens_total', { type: 'cached' }), sum('cached_tokens'));
  const spent = delta(after, 'oachat_spend_usd_total', { model: served.model });
  assert.ok(Math.abs(spent - sum('cost_micro_usd') / 1e6) < 1e-9, `spend ${spent} against the ledger's ${sum('cost_micro_usd')} µUSD`);
  assert.ok(sum('cost_micro_usd') > 0, 'the model is priced');
  assert.equal(checkHistogram(after, 'oachat_request_duration_seconds') - value(before, 'oachat_request_duration_seconds_count'), 3);
  assert.equal(checkHistogram(after, 'oachat_time_to_first_token_seconds') - value(before, 'oachat_time_to_first_token_seconds_count'), 3);
  const remaining = value(after, 'oachat_budget_remaining_usd', { scope: 'deployment', period: 'day' });
  assert.ok(remaining < DAILY_CAP_USD && remaining > 0, `the day's cap shows what was leased: ${remaining} left`);

  const text = await (await scrape()).text();
  assert.doesNotMatch(text, /metrics-user|user="/, 'no per-user series unless [metrics] per_user');
  assert.deepEqual(findSecrets(text, stack.secrets), [], 'no upstream key in the exposition');
});

test('a key the upstream refuses is counted as an attempt and shown disabled, by id', async () => {
  const token = mintToken({ sub: 'metrics-keys' });
  // Round-robin or weighted, a few requests reach the refused key at least once.
  for (let i = 0; i < 6; i++) {
    const response = await chat(stack.url, token, ask(`key ${i}`));
    assert.equal(response.status, 200, 'the refused key fails over to the good one');
    await response.json();
  }
  const families = await poll('the refused key disabled', async () => {
    const families = await read();
    return value(families, 'oachat_upstream_key_state', { key_id: keyId('sk-mock-401') }) === 2 ? families : null;
  }, 15_000);
  assert.equal(value(families, 'oachat_upstream_key_state', { upstream: 'openai', key_id: keyId('sk-mock-ok-metrics') }), 0);
  // The console's key health over time has the change, by id.
  const history = await (await admin(stack.url, '/admin/keys/history?days=1')).json();
  const disabled = history.changes.filter((change) => change.key_id === keyId('sk-mock-401'));
  assert.equal(disabled.at(-1)?.state, 'disabled');
  assert.ok(disabled.at(-1).at_ms >= history.since_ms && disabled.at(-1).at_ms <= history.now_ms);
  assert.ok(!history.changes.some((change) => change.key_id === keyId('sk-mock-ok-metrics')), 'a key that never failed never changed');
  assert.deepEqual(findSecrets(JSON.stringify(history), stack.secrets), []);
  assert.equal((await admin(stack.url, '/admin/keys/history?days=31')).status, 400);
  assert.ok(value(families, 'oachat_upstream_attempts_total', { upstream: 'openai', outcome: 'unauthorized' }) >= 1);
  assert.ok(value(families, 'oachat_upstream_attempts_total', { upstream: 'openai', outcome: 'success' }) >= 6);
});

test('refusals count as requests with their status, and 429s by reason', async () => {
  const before = await read();
  const token = mintToken({ sub: 'metrics-intern', tier: 'intern' });
  const statuses = [];
  for (let i = 0; i < 5; i++) {
    const response = await chat(stack.url, token, ask(`rate ${i}`));
    statuses.push(response.status);
    await response.text();
  }
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  const bad = await chat(stack.url, token, { model: 'gpt-4o-mini', messages: 'not a list' });
  assert.equal(bad.status, 400);
  await bad.text();
  const delta = (families, name, labels) => value(families, name, labels) - value(before, name, labels);
  const after = await poll('the refusals counted', async () => {
    const families = await read();
    return delta(families, 'oachat_rate_limited_total', { reason: 'rate_limit_exceeded' }) >= 2 ? families : null;
  }, 10_000);
  assert.equal(delta(after, 'oachat_rate_limited_total', { reason: 'rate_limit_exceeded' }), 2);
  assert.equal(delta(after, 'oachat_requests_total', { route: '', model: '', status: '429' }), 2);
  assert.equal(delta(after, 'oachat_requests_total', { route: '', model: '', status: '400' }), 1);
});

test('an answer from the cache is a cache hit', async () => {
  const before = await read();
  const body = { model: 'auto', messages: [{ role: 'user', content: 'Translate into Chinese: the metrics meeting moves to Friday' }] };
  let hits = 0;
  for (let i = 0; i < 40 && hits === 0; i++) {
    const response = await chat(stack.url, mintToken({ sub: 'metrics-cache' }), body);
    assert.equal(response.status, 200);
    if (response.headers.get('x-oachat-cache') === 'hit') hits += 1;
    await response.json();
    if (!hits) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(hits, 1, 'the route caches its answers');
  const after = await poll('the hit counted', async () => {
    const families = await read();
    return value(families, 'oachat_cache_hits_total') > value(before, 'oachat_cache_hits_total') ? families : null;
  }, 10_000);
  assert.equal(value(after, 'oachat_cache_hits_total') - value(before, 'oachat_cache_hits_total'), 1);
});
