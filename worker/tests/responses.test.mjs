// POST /v1/responses through the real worker against mock-openai: the SDKs users run (npm
// `openai`, Python `openai`, the Vercel AI SDK, LangChain), metering and the ledger, budgets,
// failover, routing, unsupported input, stored conversations and a tool loop.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';

import { GENEROUS_TIERS, ROOT, findSecrets, ledgerRow, mintToken, mockCounters, startStack } from './harness.mjs';

const PYTHON = join(ROOT, 'worker/tests/.venv/bin/python');
const OK_KEY = 'sk-mock-ok-responses';
const POOL_KEYS = 'sk-mock-429,sk-mock-ok-pool';
const TOOLS = [{ type: 'function', name: 'get_weather', description: 'Weather in a city.',
  parameters: { type: 'object', properties: { query: { type: 'string', examples: ['Paris'] } } } }];

let stack;
before(async () => {
  stack = await startStack({
    name: 'responses',
    keys: OK_KEY,
    vars: { POOL_KEYS, CUT_KEYS: 'sk-mock-cut' },
    config: {
      ...GENEROUS_TIERS,
      tiers: { ...GENEROUS_TIERS.tiers, tiny: { rpm: 'unlimited', daily_tokens: 20 } },
      // The 429 key is first in its pool: the pool's first request lands on it.
      key_strategy: 'round_robin',
      upstreams: [
        { name: 'openai', models: ['gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4o'] },
        { name: 'pool', keys_secret: 'POOL_KEYS', models: ['pool-model'] },
        { name: 'cut', keys_secret: 'CUT_KEYS', models: ['cut-model'] },
      ],
      prices: { 'pool-model': { input_per_mtok: 0, output_per_mtok: 0 }, 'cut-model': { input_per_mtok: 0, output_per_mtok: 0 } },
    },
  });
});
after(async () => {
  await stack?.stop();
});

const client = (token = stack.token({ sub: 'npm-resp' })) =>
  new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: token, maxRetries: 0, timeout: 30_000 });
const requestIdOf = (responseId) => `req_${responseId.slice('resp_'.length)}`;
const post = (token, body, method = 'POST') => fetch(`${stack.url}/v1/responses`, {
  method,
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: method === 'POST' ? JSON.stringify(body) : undefined,
});

/** The ledger row of a response agrees exactly with the usage it reported and the mock's count. */
async function checkLedger(responseId, usage, delta) {
  const row = await ledgerRow(stack.url, requestIdOf(responseId));
  assert.equal(row.prompt_tokens, usage.input_tokens);
  assert.equal(row.completion_tokens, usage.output_tokens);
  assert.equal(row.estimated, 0, 'reported, not estimated');
  assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  if (delta) assert.deepEqual(delta, { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens });
}

async function countersDelta(run) {
  const before = await mockCounters(stack, OK_KEY);
  const result = await run();
  const after = await mockCounters(stack, OK_KEY);
  return [result, { prompt_tokens: after.prompt_tokens - before.prompt_tokens, completion_tokens: after.completion_tokens - before.completion_tokens }];
}

test('npm SDK: create (whole and streamed), the stream helper, usage exact in the ledger', async () => {
  const openai = client();
  const [whole, wholeDelta] = await countersDelta(() =>
    openai.responses.create({ model: 'gpt-4o-mini', input: 'npm responses 👋', instructions: 'be brief', metadata: { k: 'v' } }));
  assert.equal(whole.object, 'response');
  assert.equal(whole.status, 'completed');
  assert.match(whole.output_text, /npm responses 👋/);
  assert.equal(whole.output[0].type, 'message');
  assert.deepEqual(whole.metadata, { k: 'v' });
  assert.equal(whole.instructions, 'be brief');
  await checkLedger(whole.id, whole.usage, wholeDelta);

  const [streamed, streamedDelta] = await countersDelta(async () => {
    const events = [];
    for await (const event of await openai.responses.create({ model: 'gpt-4o-mini', input: 'npm responses 👋', stream: true })) events.push(event);
    return events;
  });
  const types = streamed.map((event) => event.type);
  assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
  assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  assert.deepEqual(streamed.map((event) => event.sequence_number), streamed.map((_, index) => index));
  const text = streamed.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  assert.equal(text, whole.output_text);
  const completed = streamed.at(-1).response;
  // The whole call also carried instructions: same answer, a larger prompt.
  assert.equal(completed.usage.output_tokens, whole.usage.output_tokens);
  assert.ok(completed.usage.input_tokens < whole.usage.input_tokens);
  assert.equal(typeof completed.usage.input_tokens_details.cached_tokens, 'number');
  assert.equal(typeof completed.usage.output_tokens_details.reasoning_tokens, 'number');
  await checkLedger(completed.id, completed.usage, streamedDelta);

  const final = await openai.responses.stream({ model: 'gpt-4o-mini', input: 'helper' }).finalResponse();
  // The helper assembles the events itself (it adds no `output_text` with plain params).
  assert.equal(final.status, 'completed');
  assert.match(final.output[0].content[0].text, /helper/);

  // Cut by the output cap: incomplete, with the reason, streamed and whole.
  const cut = await openai.responses.create({ model: 'gpt-4o-mini', input: 'long', max_output_tokens: 3 });
  assert.equal(cut.status, 'incomplete');
  assert.equal(cut.incomplete_details.reason, 'max_output_tokens');
  assert.equal(cut.usage.output_tokens, 3);

  // A stream broken off upstream raises in the SDK.
  let partial = '';
  await assert.rejects(async () => {
    for await (const event of await openai.responses.create({ model: 'cut-model', input: 'x', stream: true })) {
      if (event.type === 'response.output_text.delta') partial += event.delta;
    }
  }, (error) => error instanceof OpenAI.APIError && /broke off/.test(error.message));
  assert.ok(partial.length > 0, 'what came before the cut was delivered');
});

test('Vercel AI SDK: generateText and streamText over Responses (default) and chat', async () => {
  const provider = createOpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.token({ sub: 'ai-sdk' }) });
  for (const model of [provider('gpt-4o-mini'), provider.responses('gpt-4o-mini'), provider.chat('gpt-4o-mini')]) {
    const generated = await generateText({ model, prompt: 'ai sdk 🚀', maxRetries: 0 });
    assert.match(generated.text, /ai sdk 🚀/);
    assert.equal(generated.finishReason, 'stop');
    assert.ok(generated.usage.inputTokens > 0 && generated.usage.outputTokens > 0, JSON.stringify(generated.usage));

    const streamed = streamText({ model, prompt: 'ai sdk 🚀', maxRetries: 0, onError: ({ error }) => { throw error; } });
    let text = '';
    for await (const piece of streamed.textStream) text += piece;
    assert.equal(text, generated.text);
    assert.equal(await streamed.finishReason, 'stop');
    assert.deepEqual((await streamed.usage).outputTokens, generated.usage.outputTokens);
  }
  // A tool call comes back as the SDK's own tool call.
  const withTool = await generateText({
    model: provider('gpt-4o-mini'), prompt: 'get_weather for Paris?', maxRetries: 0,
    tools: { get_weather: { description: 'Weather', inputSchema: (await import('ai')).jsonSchema({ type: 'object', properties: { query: { type: 'string', examples: ['Paris'] } } }) } },
  });
  assert.equal(withTool.toolCalls[0]?.toolName, 'get_weather');
  assert.deepEqual(withTool.toolCalls[0].input, { query: 'Paris' });
});

test('LangChain ChatOpenAI with and without the Responses API', async () => {
  for (const useResponsesApi of [true, false]) {
    const model = new ChatOpenAI({
      model: 'gpt-4o-mini', apiKey: stack.token({ sub: 'langchain' }), useResponsesApi, maxRetries: 0,
      configuration: { baseURL: `${stack.url}/v1` },
    });
    const answer = await model.invoke('langchain 🦜');
    assert.match(String(answer.text ?? answer.content), /langchain 🦜/, `useResponsesApi ${useResponsesApi}`);
    let streamed = '';
    for await (const chunk of await model.stream('langchain 🦜')) streamed += chunk.text ?? '';
    assert.match(streamed, /langchain 🦜/);
  }
});

test('Python SDK: create, streamed, stream helper, tool loop, previous_response_id, a refused image', async () => {
  assert.ok(existsSync(PYTHON), 'worker/tests/.venv is missing: run .ci/setup.sh');
  const { stdout } = await promisify(execFile)(PYTHON, [join(ROOT, 'worker/tests/responses_client.py'), `${stack.url}/v1`, stack.token({ sub: 'py-resp' })], { timeout: 90_000 });
  assert.deepEqual(findSecrets(stdout, stack.secrets), []);
  const results = JSON.parse(stdout);
  assert.equal(results.plain.status, 'completed', JSON.stringify(results.plain));
  assert.match(results.plain.text, /python responses 你好/);
  assert.equal(results.streamed.text, results.plain.text);
  assert.equal(results.streamed.output_text, results.plain.text);
  assert.deepEqual(results.streamed.usage.output_tokens, results.plain.usage.output_tokens);
  assert.ok(results.streamed.types.includes('response.completed'));
  assert.equal(results.helper.text, results.plain.text);
  assert.equal(results.tools.type, 'function_call', JSON.stringify(results.tools));
  assert.deepEqual(results.tools.arguments, { query: 'Paris' });
  assert.match(results.tools.then, /get_weather[\s\S]*sunny/, 'the answer quotes the tool result');
  assert.match(results.chained.text, /what was it\?/);
  assert.equal(results.unsupported.error.class, 'BadRequestError');
  await checkLedger(results.plain.id, { input_tokens: results.plain.usage.input_tokens, output_tokens: results.plain.usage.output_tokens, total_tokens: results.plain.usage.total_tokens });
});

test('previous_response_id continues the conversation; another user\'s id or an unstored one is 404', async () => {
  const alice = client(stack.token({ sub: 'alice-resp' }));
  const first = await alice.responses.create({ model: 'gpt-4o-mini', input: 'my name is Zed', instructions: 'first rules' });
  const second = await alice.responses.create({ model: 'gpt-4o-mini', input: 'what is my name?', instructions: 'second rules', previous_response_id: first.id });
  assert.equal(second.previous_response_id, first.id);
  const sent = await stack.mock.lastRequest();
  assert.deepEqual(sent.messages.map((m) => [m.role, m.content]), [
    ['system', 'second rules'],
    ['user', 'my name is Zed'],
    ['assistant', first.output_text],
    ['user', 'what is my name?'],
  ], 'instructions are not carried over; the earlier turn and its answer are');
  // Streamed answers are kept too, and chains go on.
  const events = [];
  for await (const event of await alice.responses.create({ model: 'gpt-4o-mini', input: 'third', previous_response_id: second.id, stream: true })) events.push(event);
  const third = events.at(-1).response;
  await alice.responses.create({ model: 'gpt-4o-mini', input: 'fourth', previous_response_id: third.id });
  assert.equal((await stack.mock.lastRequest()).messages.length, 7);

  const bob = client(stack.token({ sub: 'bob-resp' }));
  const before = await mockCounters(stack, OK_KEY);
  await assert.rejects(
    bob.responses.create({ model: 'gpt-4o-mini', input: 'steal', previous_response_id: first.id }),
    (error) => error instanceof OpenAI.NotFoundError && error.code === 'previous_response_not_found' && error.param === 'previous_response_id',
  );
  const unstored = await alice.responses.create({ model: 'gpt-4o-mini', input: 'forget me', store: false });
  await assert.rejects(
    alice.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: unstored.id }),
    (error) => error instanceof OpenAI.NotFoundError && error.code === 'previous_response_not_found',
  );
  const after = await mockCounters(stack, OK_KEY);
  assert.equal(after.requests - before.requests, 1, 'only the store:false call went upstream');
});

test('a tool loop: function_call out, function_call_output in, as chat tool messages upstream', async () => {
  const openai = client();
  const first = await openai.responses.create({ model: 'gpt-4o-mini', input: 'get_weather in Paris?', tools: TOOLS });
  const call = first.output[0];
  assert.equal(call.type, 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { query: 'Paris' }, 'the schema\'s example');
  assert.ok(call.call_id);
  const sentFirst = await stack.mock.lastRequest();
  assert.deepEqual(sentFirst.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city.', parameters: TOOLS[0].parameters } }]);

  const second = await openai.responses.create({
    model: 'gpt-4o-mini', tools: TOOLS, tool_choice: 'none',
    input: [{ role: 'user', content: 'get_weather in Paris?' }, call, { type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
  });
  assert.equal(second.output[0].type, 'message');
  const sent = await stack.mock.lastRequest();
  assert.deepEqual(sent.messages.slice(1), [
    { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: call.arguments } }] },
    { role: 'tool', tool_call_id: call.call_id, content: 'sunny' },
  ]);

  // Streamed: the call's arguments arrive as deltas and match the done event.
  const events = [];
  for await (const event of await openai.responses.create({ model: 'gpt-4o-mini', input: 'stream get_weather', tools: TOOLS, stream: true })) events.push(event);
  const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta).join('');
  const done = events.find((e) => e.type === 'response.function_call_arguments.done');
  assert.equal(deltas, done.arguments);
  assert.deepEqual(JSON.parse(done.arguments), { query: 'Paris' });
});

test('limits and routing are the chat path\'s: budget refused before upstream, 429 failover, auto routed', async () => {
  const before = await mockCounters(stack, OK_KEY);
  const refused = await post(mintToken({ sub: 'tiny-resp', tier: 'tiny' }), { model: 'gpt-4o-mini', input: 'too expensive' });
  assert.equal(refused.status, 429);
  const body = await refused.json();
  assert.equal(body.error.code, 'budget_exceeded');
  assert.equal(body.error.type, 'insufficient_quota');
  assert.equal((await mockCounters(stack, OK_KEY)).requests, before.requests, 'nothing went upstream');

  const failedOver = await client().responses.create({ model: 'pool-model', input: 'failover' });
  assert.equal(failedOver.status, 'completed');
  assert.equal((await mockCounters(stack, 'sk-mock-429')).requests, 1, 'the 429 key was tried first');
  assert.equal((await mockCounters(stack, 'sk-mock-ok-pool')).requests, 1);
  const row = await ledgerRow(stack.url, requestIdOf(failedOver.id));
  assert.equal(row.attempts, 2);

  const routed = await post(stack.token({ sub: 'auto-resp' }), { model: 'auto', input: 'Translate to French: good morning' });
  assert.equal(routed.status, 200);
  const answer = await routed.json();
  assert.ok(routed.headers.get('x-oachat-route'));
  assert.equal(answer.model, routed.headers.get('x-oachat-model'));
  assert.equal((await ledgerRow(stack.url, requestIdOf(answer.id))).route, routed.headers.get('x-oachat-route'));
});

test('unsupported input, tools and options are refused by name before any upstream call', async () => {
  const token = stack.token({ sub: 'refused-resp' });
  const before = await mockCounters(stack, OK_KEY);
  const cases = [
    [{ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/a.png' }] }] }, 'input[0].content[0].type', /input_image/],
    [{ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].content[0].type', /input_file/],
    [{ input: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'input[0].content[0].type', /input_audio/],
    [{ input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', /web_search/],
    [{ input: 'x', tools: [{ type: 'file_search', vector_store_ids: [] }] }, 'tools[0].type', /file_search/],
    [{ input: 'x', tools: [{ type: 'code_interpreter', container: { type: 'auto' } }] }, 'tools[0].type', /code_interpreter/],
    [{ input: 'x', tools: [{ type: 'computer_use_preview' }] }, 'tools[0].type', /computer_use_preview/],
    [{ input: 'x', background: true }, 'background', /background/],
    [{ input: 'x', conversation: 'conv_1' }, 'conversation', /conversation/],
  ];
  for (const [body, param, message] of cases) {
    const response = await post(token, { model: 'gpt-4o-mini', ...body });
    assert.equal(response.status, 400, param);
    const { error } = await response.json();
    assert.equal(error.param, param);
    assert.match(error.message, message);
    assert.equal(error.type, 'invalid_request_error');
  }
  const tooBig = await post(token, { model: 'gpt-4o-mini', input: 'x'.repeat(1_100_000) });
  assert.equal(tooBig.status, 413);
  const wrongMethod = await post(token, null, 'GET');
  assert.equal(wrongMethod.status, 405);
  const preflight = await fetch(`${stack.url}/v1/responses`, { method: 'OPTIONS', headers: { origin: stack.url, 'access-control-request-method': 'POST' } });
  assert.equal(preflight.status, 204);
  assert.equal((await mockCounters(stack, OK_KEY)).requests, before.requests);
});
