// The official OpenAI SDKs as real clients of the real worker: npm `openai` in this process,
// Python `openai` (worker/tests/.venv) in a child process. Both with a user token and with a
// virtual key from the admin API, which then is revoked.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import OpenAI from 'openai';

import { GENEROUS_TIERS, ROOT, admin, findSecrets, mockCounters, startStack } from './harness.mjs';

const PYTHON = join(ROOT, 'worker/tests/.venv/bin/python');
const UPSTREAM_KEY = 'sk-mock-ok-sdk';
/** oachat's default request-field allow-list (`DEFAULT_ALLOWED_FIELDS` in worker/core/src/config/defaults.rs). */
const DEFAULT_FIELDS = ['stream_options', 'max_tokens', 'max_completion_tokens', 'n', 'temperature', 'top_p',
  'stop', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'seed',
  'response_format', 'tools', 'tool_choice', 'parallel_tool_calls', 'functions', 'function_call', 'reasoning_effort'];
const TOOLS = [
  { type: 'function', function: { name: 'lookup_policy', parameters: { type: 'object', properties: { query: { type: 'string', examples: ['年假'] } } } } },
  { type: 'function', function: { name: 'book_room', parameters: { type: 'object', properties: { query: { type: 'string', examples: ['年假'] } } } } },
];

let stack;
before(async () => {
  stack = await startStack({
    name: 'sdk',
    keys: UPSTREAM_KEY,
    vars: { CUT_KEYS: 'sk-mock-cut' },
    config: {
      ...GENEROUS_TIERS,
      tiers: {
        staff: {
          ...GENEROUS_TIERS.tiers.staff,
          // Two choices are reserved in full; the tier lets these vendor fields through.
          max_n: 2,
          allowed_fields: [...DEFAULT_FIELDS, 'x_vendor_option', 'metadata', 'x_unknown_field'],
        },
      },
      upstreams: [
        { name: 'openai', models: ['gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini'] },
        { name: 'cut', keys_secret: 'CUT_KEYS', models: ['cut-model'] },
      ],
      prices: { 'cut-model': { input_per_mtok: 0, output_per_mtok: 0 } },
    },
  });
});
after(async () => {
  await stack?.stop();
});

const client = (apiKey) => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });

async function python(credential) {
  assert.ok(existsSync(PYTHON), 'worker/tests/.venv is missing: run .ci/setup.sh');
  const { stdout } = await promisify(execFile)(PYTHON, [join(ROOT, 'worker/tests/sdk_client.py'), `${stack.url}/v1`, credential], { timeout: 60_000 });
  assert.deepEqual(findSecrets(stdout, stack.secrets), []);
  return JSON.parse(stdout);
}

/** What every successful Python run must show, whatever the credential. */
function checkPythonRun(results) {
  const user = 'python sdk 你好';
  assert.match(results.plain.content, /Mock answer/);
  assert.ok(results.plain.content.includes(user), 'the message survives the round trip');
  assert.equal(results.plain.finish_reason, 'stop');
  assert.ok(results.plain.usage.prompt_tokens > 0);

  assert.equal(results.streamed.content, results.plain.content);
  assert.ok(results.streamed.chunks > 3, `${results.streamed.chunks} chunks`);
  assert.deepEqual(results.streamed.usage, results.plain.usage);
  assert.equal(results.streamed.finish_reason, 'stop');

  assert.equal(results.streamed_without_usage.usage_seen, false);
  assert.equal(results.streamed_without_usage.content, results.plain.content);

  assert.equal(results.tools.finish_reason, 'tool_calls');
  assert.equal(results.tools.name, 'lookup_policy');
  assert.deepEqual(results.tools.arguments, { query: '年假' }, 'arguments from the schema\'s examples');

  assert.equal(results.tools_streamed.name, 'book_room');
  assert.deepEqual(results.tools_streamed.arguments, { query: '年假' });
  assert.equal(results.tools_streamed.finish_reason, 'tool_calls');

  // n, max_tokens and the fields the tier allows all reached the upstream.
  assert.deepEqual(results.two_choices.choices.map((c) => [c.index, c.finish_reason]), [[0, 'length'], [1, 'length']]);
  assert.equal(results.two_choices.completion_tokens, 10);

  assert.ok(results.models.includes('gpt-4o-mini') && results.models.includes('auto'), JSON.stringify(results.models));

  // A stream broken off upstream raises in the SDK instead of passing for a whole answer.
  assert.equal(results.cut_stream.error?.class, 'APIError', JSON.stringify(results.cut_stream));
  assert.match(results.cut_stream.error.message, /broke off/);
}

test('Python SDK with a user token: plain, streamed, tools, n=2 and unknown fields', async () => {
  const results = await python(stack.token({ sub: 'py-user' }));
  checkPythonRun(results);
});

test('npm SDK with a user token: plain, streamed with usage, tool-call deltas, n=2', async () => {
  const openai = client(stack.token({ sub: 'npm-user' }));
  const messages = [{ role: 'user', content: 'npm sdk 👋' }];

  const plain = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages });
  assert.match(plain.choices[0].message.content, /npm sdk 👋/);
  assert.ok(plain.usage.total_tokens > 0);

  const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, plain.choices[0].message.content);
  assert.deepEqual(usage, plain.usage);

  // The SDK's own stream helper assembles tool-call deltas.
  const runner = openai.chat.completions.stream({ model: 'gpt-4o-mini', messages, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'book_room' } } });
  const final = await runner.finalChatCompletion();
  const call = final.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'book_room');
  assert.deepEqual(JSON.parse(call.function.arguments), { query: '年假' });
  assert.equal(final.choices[0].finish_reason, 'tool_calls');

  const two = await openai.chat.completions.create({
    model: 'gpt-4o-mini', messages, n: 2, seed: 1, user: 'npm', x_unknown_field: [1, 2, 3],
  });
  assert.equal(two.choices.length, 2);
  assert.match(two.choices[1].message.content, /choice 2 of 2/);

  // A field no tier allows is refused by name, as the SDK's typed 400; so is n beyond max_n.
  await assert.rejects(
    openai.chat.completions.create({ model: 'gpt-4o-mini', messages, service_tier: 'priority' }),
    (error) => error instanceof OpenAI.BadRequestError && error.param === 'service_tier',
  );
  await assert.rejects(
    openai.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 3 }),
    (error) => error instanceof OpenAI.BadRequestError && error.param === 'n',
  );

  const models = await openai.models.list();
  assert.ok(models.data.some((m) => m.id === 'gpt-4o-mini'));

  const cut = await openai.chat.completions.create({ model: 'cut-model', messages, stream: true });
  let partial = '';
  await assert.rejects(async () => {
    for await (const chunk of cut) partial += chunk.choices[0]?.delta?.content ?? '';
  }, (error) => error instanceof OpenAI.APIError && /broke off/.test(error.message));
  assert.ok(partial.length > 0, 'the part before the cut was delivered');
});

test('npm SDK raises typed errors: unknown model, bad token', async () => {
  await assert.rejects(
    client(stack.token()).chat.completions.create({ model: 'gpt-9-ultra', messages: [{ role: 'user', content: 'x' }] }),
    (error) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found',
  );
  await assert.rejects(
    client('not-a-token').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    (error) => error instanceof OpenAI.AuthenticationError && error.status === 401,
  );
});

test('a virtual key works in both SDKs until it is revoked, then both get 401', async () => {
  const created = await admin(stack.url, '/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'sdk' }) });
  assert.equal(created.status, 200);
  const { id, key } = await created.json();
  assert.match(key, /^\S{20,}$/);
  // Shown once: listing shows the id and name, never the key.
  const listed = await (await admin(stack.url, '/admin/keys')).text();
  assert.ok(listed.includes(id) && !listed.includes(key));

  const before = await mockCounters(stack, UPSTREAM_KEY);
  checkPythonRun(await python(key));
  const afterPython = await mockCounters(stack, UPSTREAM_KEY);
  assert.equal(afterPython.requests - before.requests, 6, 'six chat calls reached the upstream');

  const npm = client(key);
  const answer = await npm.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'vkey' }] });
  assert.match(answer.choices[0].message.content, /vkey/);

  const revoked = await admin(stack.url, `/admin/keys/${id}`, { method: 'DELETE' });
  assert.equal(revoked.status, 200);

  await assert.rejects(
    npm.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'vkey' }] }),
    (error) => error instanceof OpenAI.AuthenticationError && error.code === 'invalid_api_key',
  );
  await assert.rejects(npm.models.list(), (error) => error instanceof OpenAI.AuthenticationError);
  const afterRevoke = await python(key);
  for (const name of ['plain', 'streamed', 'tools', 'two_choices', 'models']) {
    assert.deepEqual(afterRevoke[name].error, { class: 'AuthenticationError', status: 401, code: 'invalid_api_key' }, name);
  }
  const counters = await mockCounters(stack, UPSTREAM_KEY);
  assert.equal(counters.requests, afterPython.requests + 1, 'revoked calls never reach the upstream');
});
