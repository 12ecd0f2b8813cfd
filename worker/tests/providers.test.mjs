// Every provider preset through the real worker, against mock-openai playing that provider:
// its path and key header, its usage placement (metered exactly, priced right), its reasoning,
// its key-level failures (failed over), a queued key (failed over at the first-token timeout),
// and the budget held exactly for a thinking model under concurrency.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startStack, mintToken, chat, readSse, streamedText, ledgerRow, mockCounters, settledUsage, admin, poll,
} from './harness.mjs';

// $/Mtok prices that make every cost an integer number of micro-dollars per token.
const PRICE = { input_per_mtok: 2, output_per_mtok: 4, cached_input_per_mtok: 1 };
const FIRST_TOKEN_MS = 1500;

const PROVIDERS = {
  // name: [provider, model, keys var, key, path under the mock]
  deepseek: ['deepseek', 'deepseek-chat', 'DEEPSEEK_API_KEYS', 'sk-mock-ok-ds', '/_provider/deepseek'],
  qwen: ['qwen', 'qwen-plus', 'QWEN_API_KEYS', 'sk-mock-ok-qw', '/_provider/qwen/compatible-mode/v1'],
  moonshot: ['moonshot', 'kimi-k2-0905-preview', 'MOONSHOT_API_KEYS', 'sk-mock-ok-ms', '/_provider/moonshot/v1'],
  zhipu: ['zhipu', 'glm-4.5', 'ZHIPU_API_KEYS', 'sk-mock-ok-zp', '/_provider/zhipu/api/paas/v4'],
  doubao: ['doubao', 'ep-20250101-oachat', 'DOUBAO_API_KEYS', 'sk-mock-ok-db', '/_provider/doubao/api/v3'],
  azure: ['azure', 'gpt-4.1', 'AZURE_OPENAI_API_KEYS', 'sk-mock-ok-az', ''],
  compatible: ['openai-compatible', 'local-llama', 'OPENAI_COMPATIBLE_API_KEYS', 'sk-mock-ok-oc', '/v1'],
  openai: ['openai', 'gpt-4o-mini', 'OPENAI_API_KEYS', 'sk-mock-ok-oa', '/v1'],
};

let stack;

before(async () => {
  stack = await startStack({
    name: 'providers',
    keys: 'sk-mock-ok-oa',
    vars: {
      DEEPSEEK_API_KEYS: 'sk-mock-ok-ds',
      QWEN_API_KEYS: 'sk-mock-ok-qw',
      MOONSHOT_API_KEYS: 'sk-mock-ok-ms',
      ZHIPU_API_KEYS: 'sk-mock-ok-zp',
      DOUBAO_API_KEYS: 'sk-mock-ok-db',
      AZURE_OPENAI_API_KEYS: 'sk-mock-ok-az',
      OPENAI_COMPATIBLE_API_KEYS: 'sk-mock-ok-oc',
      // Pools with a key-level failure (or a stalled key) beside a good one.
      DS_FAULTY_KEYS: 'sk-mock-nobalance,sk-mock-ok-ds-2',
      DS_QUEUED_KEYS: 'sk-mock-queued,sk-mock-ok-ds-3',
      QW_FAULTY_KEYS: 'sk-mock-arrears,sk-mock-ok-qw-2',
    },
    config: (mock) => ({
      tiers: {
        staff: { rpm: 100000, max_rounds: 100000, daily_tokens: 1000000000, daily_usd: 'unlimited' },
        thinker: { rpm: 100000, max_rounds: 100000, daily_usd: 0.02, max_tokens: 200 },
      },
      budget: { daily_usd: 'unlimited' },
      upstreams: [
        ...Object.entries(PROVIDERS).map(([name, [provider, model, , , path]]) => ({
          name,
          provider,
          // Azure serves its deployments' models; OpenAI its default six (the routes use them).
          models: provider === 'azure' || provider === 'openai' ? undefined : (name === 'deepseek' ? [model, 'deepseek-reasoner'] : [model]),
          base_url: `${mock.url}${path}`,
          ...(provider === 'azure' ? { deployments: { [model]: 'prod-gpt41' }, api_version: '2024-10-21' } : {}),
        })).map((upstream) => Object.fromEntries(Object.entries(upstream).filter(([, v]) => v !== undefined))),
        { name: 'ds-faulty', provider: 'deepseek', keys_secret: 'DS_FAULTY_KEYS', models: ['ds-faulty'], base_url: `${mock.url}/_provider/deepseek` },
        { name: 'ds-queued', provider: 'deepseek', keys_secret: 'DS_QUEUED_KEYS', models: ['ds-queued'], base_url: `${mock.url}/_provider/deepseek`, first_token_timeout_ms: FIRST_TOKEN_MS },
        { name: 'qw-faulty', provider: 'qwen', keys_secret: 'QW_FAULTY_KEYS', models: ['qw-faulty'], base_url: `${mock.url}/_provider/qwen` },
      ],
      prices: {
        ...Object.fromEntries(Object.values(PROVIDERS).map(([, model]) => [model, PRICE])),
        'deepseek-reasoner': { ...PRICE, max_reasoning_tokens: 300 },
        'ds-faulty': PRICE,
        'ds-queued': PRICE,
        'qw-faulty': PRICE,
      },
    }),
  });
});

after(async () => {
  await stack?.stop();
});

const ask = (model, content, extra = {}) => ({ model, messages: [{ role: 'user', content }], ...extra });

/** The cost the ledger should show for its own token counts, at PRICE. */
function expectedCost(row, price = PRICE) {
  const uncached = row.prompt_tokens - row.cached_tokens;
  return uncached * price.input_per_mtok + row.cached_tokens * price.cached_input_per_mtok
    + row.completion_tokens * price.output_per_mtok;
}

for (const [name, [provider, model, , key]] of Object.entries(PROVIDERS)) {
  for (const stream of [true, false]) {
    test(`${name}: ${stream ? 'streamed' : 'whole'} answers are metered exactly and priced`, async () => {
      await stack.mock.reset();
      const token = mintToken({ sub: `p-${name}-${stream}` });
      const response = await chat(stack.url, token, ask(model, `Hello from ${name}`, stream ? { stream: true } : {}));
      assert.equal(response.status, 200, await response.clone().text());
      let text;
      if (stream) {
        const { events } = await readSse(response);
        assert.equal(events.at(-1), '[DONE]');
        text = streamedText(events);
      } else {
        const body = await response.json();
        assert.equal(body.object, 'chat.completion');
        text = body.choices[0].message.content;
        assert.ok(body.usage.total_tokens > 0);
      }
      assert.match(text, new RegExp(`Hello from ${name}`));
      const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
      const counters = await mockCounters(stack, key);
      assert.equal(counters.requests, 1, `${key} answered`);
      assert.equal(row.estimated, 0, 'usage came from the provider, wherever it put it');
      assert.equal(row.prompt_tokens, counters.prompt_tokens);
      assert.equal(row.completion_tokens, counters.completion_tokens);
      assert.equal(row.cost_micro_usd, expectedCost(row));
      assert.equal(row.upstream, name);
      assert.equal(row.ending, 'completed');

      const sent = await stack.mock.lastRequestDetail();
      assert.equal(sent.provider, provider === 'openai-compatible' ? 'openai' : provider);
      if (provider === 'azure') {
        assert.equal(sent.path, '/openai/deployments/prod-gpt41/chat/completions');
        assert.match(sent.query, /api-version=2024-10-21/);
        assert.equal(sent.headers['api-key'], key);
        assert.equal(sent.headers.authorization, undefined, 'Azure gets its key in api-key only');
      } else {
        assert.equal(sent.headers.authorization, `Bearer ${key}`);
      }
      if (provider === 'zhipu') assert.equal(sent.body.stream_options, undefined, 'Zhipu reports usage unasked');
    });
  }
}

test('deepseek: cache hits are priced as cached input', async () => {
  await stack.mock.reset();
  const token = mintToken({ sub: 'p-ds-cache' });
  const messages = [
    { role: 'user', content: 'What is our leave policy? '.repeat(20) },
    { role: 'assistant', content: 'Twenty days a year. '.repeat(20) },
    { role: 'user', content: 'And for part-time staff?' },
  ];
  const response = await chat(stack.url, token, { model: 'deepseek-chat', messages, stream: true });
  assert.equal(response.status, 200);
  await readSse(response);
  const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
  assert.ok(row.cached_tokens > 0 && row.cached_tokens < row.prompt_tokens, `cached ${row.cached_tokens} of ${row.prompt_tokens}`);
  assert.equal(row.cost_micro_usd, expectedCost(row));
});

test('deepseek-reasoner: reasoning deltas pass through, and reasoning tokens are metered as output', async () => {
  const token = mintToken({ sub: 'p-reasoner' });
  const response = await chat(stack.url, token, ask('deepseek-reasoner', 'Think first [mock think=6]', { stream: true }));
  assert.equal(response.status, 200);
  const { events } = await readSse(response);
  const chunks = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
  const reasoning = chunks.map((c) => c.choices?.[0]?.delta?.reasoning_content ?? '').join('');
  assert.ok(reasoning.length > 0, 'reasoning_content reached the client unchanged');
  const firstContent = chunks.findIndex((c) => c.choices?.[0]?.delta?.content);
  const lastReasoning = chunks.findLastIndex((c) => c.choices?.[0]?.delta?.reasoning_content);
  assert.ok(lastReasoning < firstContent, 'the chain of thought comes before the answer');
  const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
  assert.equal(row.estimated, 0);
  assert.ok(row.reasoning_tokens > 0 && row.reasoning_tokens < row.completion_tokens,
    `reasoning ${row.reasoning_tokens} within completion ${row.completion_tokens}`);
  assert.equal(row.cost_micro_usd, expectedCost(row), 'reasoning is billed as output');
  // The usage report totals it, for the administrator who asks where output tokens went.
  const report = await (await admin(stack.url, '/admin/usage?user=u%3Ap-reasoner&group=user')).json();
  assert.equal(report.data[0].reasoning_tokens, row.reasoning_tokens);
  // The cap sent upstream bounds the chain of thought too: widened by max_reasoning_tokens.
  const sent = await stack.mock.lastRequest();
  const cap = sent.max_tokens ?? sent.max_completion_tokens;
  assert.ok(cap >= 300, `cap ${cap} leaves room for the reasoning budget`);
});

test('zhipu: a sensitive ending reaches the client as a clear error, and is recorded as filtered', async () => {
  const token = mintToken({ sub: 'p-zhipu-sensitive' });
  const response = await chat(stack.url, token, ask('glm-4.5', 'Something touchy [mock finish=sensitive]', { stream: true }));
  assert.equal(response.status, 200);
  const { events } = await readSse(response);
  const parsed = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
  const finish = parsed.map((c) => c.choices?.[0]?.finish_reason).filter(Boolean);
  assert.deepEqual(finish, ['sensitive'], 'the chunk itself passes unchanged');
  const errors = parsed.filter((c) => c.error);
  assert.equal(errors.length, 1, 'then one OpenAI-shaped error event');
  assert.equal(errors[0].error.code, 'content_filter');
  assert.ok(events.indexOf('[DONE]') > events.findIndex((e) => e.includes('"error"')), 'before [DONE]');
  const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
  assert.equal(row.ending, 'filtered');
  assert.ok(row.completion_tokens > 0, 'what was generated before the stop is charged');

  // The official SDK raises on it instead of handing over half an answer as complete.
  const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: token, maxRetries: 0 });
  const stream = await client.chat.completions.create(ask('glm-4.5', 'Touchy again [mock finish=sensitive]', { stream: true }));
  await assert.rejects(async () => { for await (const _ of stream); }, (err) => {
    assert.match(err.message, /content filter/);
    return true;
  });
});

test('zhipu: network_error unstreamed is a 502 the client can read, charged as metered', async () => {
  const token = mintToken({ sub: 'p-zhipu-network' });
  const response = await chat(stack.url, token, ask('glm-4.5', 'Half an answer [mock finish=network_error]'));
  assert.equal(response.status, 502);
  const body = await response.json();
  assert.equal(body.error.code, 'upstream_model_error');
  assert.equal(body.error.type, 'upstream_error');
  const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
  assert.equal(row.ending, 'upstream_error');
  assert.equal(row.status, 502);
  assert.equal(row.estimated, 0, 'the usage Zhipu reported is what is charged');
  assert.ok(row.completion_tokens > 0 && row.cost_micro_usd === expectedCost(row));
});

/** Sends until `key` has answered once; every request must succeed on the pool's good key. */
async function untilTried(model, key, sub) {
  const token = mintToken({ sub });
  for (let i = 0; i < 12; i++) {
    const response = await chat(stack.url, token, ask(model, `attempt ${i}`));
    assert.equal(response.status, 200, `request ${i}: ${await response.clone().text()}`);
    await response.json();
    if ((await mockCounters(stack, key)).requests > 0) return response;
  }
  throw new Error(`${key} was never tried`);
}

test('deepseek: 402 (balance empty) is the key\'s failure: failed over, and the key is benched', async () => {
  await stack.mock.reset();
  const response = await untilTried('ds-faulty', 'sk-mock-nobalance', 'p-ds-402');
  const row = await ledgerRow(stack.url, response.headers.get('x-request-id'));
  assert.equal(row.attempts, 2, 'the good key answered after the empty one');
  for (let i = 0; i < 5; i++) {
    const again = await chat(stack.url, mintToken({ sub: 'p-ds-402' }), ask('ds-faulty', `after ${i}`));
    assert.equal(again.status, 200);
    await again.json();
  }
  assert.equal((await mockCounters(stack, 'sk-mock-nobalance')).requests, 1, 'an empty balance is not tried again');
});

test('qwen: an arrears 429 is a billing state of the key, not a rate limit', async () => {
  await stack.mock.reset();
  await untilTried('qw-faulty', 'sk-mock-arrears', 'p-qw-arrears');
  for (let i = 0; i < 5; i++) {
    const again = await chat(stack.url, mintToken({ sub: 'p-qw-arrears' }), ask('qw-faulty', `after ${i}`));
    assert.equal(again.status, 200);
    await again.json();
  }
  assert.equal((await mockCounters(stack, 'sk-mock-arrears')).requests, 1, 'a key in arrears is benched, not retried soon');
});

test('deepseek: a queued key (head, then only keep-alives) fails over within first_token_timeout_ms', async () => {
  await stack.mock.reset();
  const token = mintToken({ sub: 'p-ds-queued' });
  for (let i = 0; i < 12; i++) {
    const started = Date.now();
    const response = await chat(stack.url, token, ask('ds-queued', `queued ${i}`, { stream: true }));
    assert.equal(response.status, 200);
    const { events } = await readSse(response);
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(!events.some((e) => e.includes('keep-alive')), 'keep-alives are never relayed as content');
    if ((await mockCounters(stack, 'sk-mock-queued')).requests === 0) continue;
    // This request met the queued key first: it waited the first-token timeout, not the queue.
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 30_000, `answered after ${elapsed} ms, not after the 60 s queue`);
    const id = response.headers.get('x-request-id');
    const row = await ledgerRow(stack.url, id);
    assert.equal(row.attempts, 2);
    assert.equal(row.estimated, 0);
    // The abandoned attempt has its own row, charged at its estimate (the upstream may bill it).
    const rows = (await (await admin(stack.url, '/admin/ledger?user=u%3Ap-ds-queued&limit=50')).json()).rows;
    const abandoned = rows.find((r) => r.id === `${id}:a1`);
    assert.ok(abandoned, 'the queued attempt is in the ledger');
    assert.equal(abandoned.estimated, 1);
    return;
  }
  assert.fail('the queued key was never tried');
});

test('a thinking model under concurrency: the budget holds exactly, reasoning included', async () => {
  const token = mintToken({ sub: 'p-thinker', tier: 'thinker' });
  const body = (i) => ask('deepseek-reasoner', `budget ${i} [mock think=20 chunks=20]`, { stream: true });
  const responses = await Promise.all(Array.from({ length: 16 }, (_, i) => chat(stack.url, token, body(i))));
  for (const response of responses) {
    if (response.status === 200) await readSse(response);
    else assert.equal((await response.json()).error.code, 'budget_exceeded');
  }
  // Keep spending until refused.
  let refused = false;
  for (let i = 0; i < 40 && !refused; i++) {
    const response = await chat(stack.url, token, body(`more ${i}`));
    if (response.status === 429) refused = true;
    else await readSse(response);
  }
  assert.ok(refused, 'the budget ran out');
  const usage = await settledUsage(stack.url, 'u:p-thinker');
  assert.ok(usage.spent_micro_usd <= 20_000, `spent ${usage.spent_micro_usd} of 20000 micro-USD`);
  const rows = await poll('the thinker\'s ledger', async () => {
    const got = (await (await admin(stack.url, '/admin/ledger?user=u%3Ap-thinker&limit=200')).json()).rows;
    const sum = got.reduce((s, r) => s + r.cost_micro_usd, 0);
    return sum === usage.spent_micro_usd ? got : null;
  }, 15_000);
  assert.ok(rows.some((r) => r.reasoning_tokens > 0), 'the chains of thought were metered');
});

test('conversations keep an answer\'s reasoning for display, and never send it back upstream', async () => {
  const token = mintToken({ sub: 'p-conv-reasoning' });
  const first = await fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'Why is the sky blue? [mock think=4]', model: 'deepseek-reasoner' }),
  });
  assert.equal(first.status, 200);
  await readSse(first);
  const id = first.headers.get('x-oachat-conversation');
  const transcript = await poll('the stored turn', async () => {
    const got = await (await fetch(`${stack.url}/v1/oachat/conversations/${id}`, { headers: { authorization: `Bearer ${token}` } })).json();
    return got.messages?.length === 2 ? got : null;
  });
  assert.ok(transcript.messages[1].reasoning?.length > 0, 'the reasoning is stored with the answer');
  assert.equal(transcript.messages[0].reasoning, undefined);

  const second = await fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'And at sunset?', conversation_id: id, model: 'deepseek-reasoner' }),
  });
  assert.equal(second.status, 200);
  await readSse(second);
  const sent = await stack.mock.lastRequest();
  assert.equal(sent.messages.length, 3, 'the history went upstream');
  assert.ok(sent.messages.every((m) => m.reasoning_content === undefined), 'without its chain of thought');
});
