// Server tools (webhooks) through the real worker and mock-openai, with a node:http receiver
// standing in for the OA backend: the worker offers the configured tools beside the page's,
// the model's call reaches the page flagged `server: true`, the page's continuation says
// `status: "server"`, and the worker calls the signed webhook and gives its answer to the
// model and to the stored conversation. Also: failures become error results, the page cannot
// answer a server call itself, routes offer only their tools, and bad config is refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { verifyDelivery } from '../../examples/tools/receiver.mjs';
import { mintToken, readSse, startStack, streamedText } from './harness.mjs';

const SECRET = 'whsec-test-5b1e0c';
const MAX_RESULT_BYTES = 1024;

/** What the receiver saw: each request's path, headers, body and verdicts. */
const received = [];
let receiver;
let receiverUrl;
let stack;

function verify(headers, body) {
  const timestamp = headers['x-oachat-timestamp'];
  const expected = `v1=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`;
  const given = String(headers['x-oachat-signature'] ?? '');
  const signed = given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
  const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
  const delivery = headers['x-oachat-delivery'];
  const replay = received.some((r) => r.headers['x-oachat-delivery'] === delivery);
  return { signed, fresh, replay };
}

before(async () => {
  receiver = createServer((req, res) => {
    req.setEncoding('utf8');
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const verdict = verify(req.headers, body);
      received.push({ path: req.url, headers: req.headers, body, ...verdict });
      const json = body ? JSON.parse(body) : {};
      switch (req.url) {
        case '/balance':
          if (!verdict.signed || !verdict.fresh || verdict.replay) {
            res.writeHead(401).end('refused');
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ days: 5, year: json.arguments.year, who: json.user.sub, answer: 'BAL-5D' }));
          return;
        case '/broken':
          res.writeHead(500).end('RAW-OA-STACKTRACE');
          return;
        case '/slow':
          setTimeout(() => res.writeHead(200).end('too late'), 3000);
          return;
        case '/moved':
          res.writeHead(302, { location: `${receiverUrl}/target` }).end();
          return;
        case '/big':
          res.writeHead(200).end('大'.repeat(4000));
          return;
        default:
          res.writeHead(200).end('target reached');
      }
    });
  });
  receiver.on('connection', (socket) => socket.setNoDelay(true));
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}`;
  const tool = (path, description, extra = {}) => ({
    url: `${receiverUrl}${path}`,
    description,
    parameters: { type: 'object', properties: { year: { type: 'integer', examples: [2024] } } },
    ...extra,
  });
  stack = await startStack({
    name: 'webhooks',
    vars: { OACHAT_TOOLS_SECRET: SECRET },
    config: {
      tools: {
        max_result_bytes: MAX_RESULT_BYTES,
        // The least there is (clamped to 500..=10000): the slow receiver waits 3 s.
        webhook_timeout_ms: 500,
        webhook_max_bytes: 65536,
        server: {
          leave_balance: tool('/balance', '查询年假余额：返回剩余天数'),
          oa_broken: tool('/broken', '故障接口'),
          oa_slow: tool('/slow', '缓慢接口'),
          oa_moved: tool('/moved', '搬家接口'),
          oa_big: tool('/big', '超大接口'),
          oa_approve: tool('/balance', '审批接口', { confirm: true }),
        },
      },
      tiers: { staff: { rpm: 100000, max_rounds: 100000, daily_tokens: 1000000000, daily_usd: 'unlimited' } },
      budget: { daily_usd: 'unlimited' },
      routes: { hr: { keywords: ['HRROUTE'], priority: 10, tools: ['leave_balance'] } },
    },
  });
});
after(async () => {
  await stack?.stop();
  receiver?.close();
});

const LEAVE = {
  name: 'submit_leave',
  description: '提交请假申请：按日期',
  parameters: { type: 'object', properties: { from: { type: 'string', examples: ['2024-06-24'] } } },
};

function turn(token, body) {
  return fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', ...body }),
  });
}

function toolCalls(text) {
  return text
    .split(/\n\n/)
    .filter((block) => block.startsWith('event: oachat.tool_call\n'))
    .map((block) => JSON.parse(block.split('\n').find((l) => l.startsWith('data:')).slice(5)));
}

async function send(token, body) {
  const response = await turn(token, body);
  assert.equal(response.status, 200, await response.clone().text());
  const { events, text } = await readSse(response);
  return {
    id: response.headers.get('x-oachat-conversation'),
    requestId: response.headers.get('x-request-id'),
    text,
    calls: toolCalls(text),
    answer: streamedText(events.filter((e) => !e.startsWith('{"id":"call_'))),
  };
}

async function stored(token, id, count) {
  for (let i = 0; i < 100; i++) {
    const response = await fetch(`${stack.url}/v1/oachat/conversations/${id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.status === 200) {
      const conversation = await response.json();
      if (conversation.messages.length >= count) return conversation;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`conversation ${id} never reached ${count} messages`);
}

/** A message that makes the model call `tool`, then the page's `server` continuation. */
async function callAndContinue(token, tool, extraTools = []) {
  const first = await send(token, { message: `请 ${tool}`, tools: extraTools });
  assert.equal(first.calls.length, 1, first.text);
  const [call] = first.calls;
  assert.equal(call.name, tool);
  first.upstream = await stack.mock.lastRequest();
  await stored(token, first.id, 2);
  const second = await send(token, {
    conversation_id: first.id,
    tools: extraTools,
    tool_results: [{ id: call.id, status: 'server' }],
  });
  return { first, call, second };
}

test('a server tool call is flagged, answered by the signed webhook, quoted and stored', async () => {
  const token = mintToken({ sub: 'wh-zhangsan', name: '张三', dept: 'HR' });
  const before = received.length;
  const { first, call, second } = await callAndContinue(token, 'leave_balance', [LEAVE]);
  assert.equal(call.server, true);
  assert.equal(call.confirm, undefined);
  // The page's tool and every server tool were offered (no route limits this one).
  const offered = first.upstream.tools.map((t) => t.function.name);
  assert.ok(offered.includes('submit_leave') && offered.includes('leave_balance'), offered.join());

  const deliveries = received.slice(before);
  assert.equal(deliveries.length, 1);
  const [delivery] = deliveries;
  assert.equal(delivery.path, '/balance');
  assert.ok(delivery.signed && delivery.fresh && !delivery.replay);
  // The example receiver (examples/tools/) accepts it too, and refuses it tampered.
  assert.equal(verifyDelivery(SECRET, delivery.headers, Buffer.from(delivery.body)).call_id, call.id);
  assert.throws(() => verifyDelivery(SECRET, delivery.headers, Buffer.from(delivery.body.replace('2024', '2025'))));
  assert.equal(delivery.headers['user-agent'], 'oachat-webhook/1');
  assert.equal(delivery.headers['content-type'], 'application/json');
  assert.equal(delivery.headers['x-oachat-delivery'], `${second.requestId}:${call.id}`);
  const body = JSON.parse(delivery.body);
  assert.deepEqual(body, {
    tool: 'leave_balance',
    call_id: call.id,
    arguments: { year: 2024 },
    user: { sub: 'wh-zhangsan', name: '张三', tier: 'staff', dept: 'HR' },
    conversation_id: first.id,
    request_id: second.requestId,
  });

  assert.match(second.answer, /BAL-5D/);
  const upstream = await stack.mock.lastRequest();
  const tool = upstream.messages.find((m) => m.role === 'tool');
  assert.equal(tool.tool_call_id, call.id);
  assert.match(tool.content, /BAL-5D/);
  const conversation = await stored(token, first.id, 4);
  const result = conversation.messages[2];
  assert.equal(result.status, 'server');
  assert.match(result.content, /"who":"wh-zhangsan"/);
  // Read back from storage, the result goes upstream in later turns as the webhook's answer.
  await send(token, { conversation_id: first.id, message: '谢谢' });
  const later = (await stack.mock.lastRequest()).messages.find((m) => m.role === 'tool');
  assert.ok(later.content.startsWith('{"days":5'), later.content);
  // No URL, secret or body in the log; one line per call with tool, status and request id.
  const log = stack.log();
  assert.ok(!log.includes(SECRET));
  assert.ok(!log.includes(receiverUrl));
  assert.match(log, new RegExp(`webhook tool=leave_balance status=2xx duration_ms=\\d+ request_id=${second.requestId}`));
});

test('a confirm tool says so in its event', async () => {
  const token = mintToken({ sub: 'wh-confirm' });
  const first = await send(token, { message: '请 oa_approve' });
  assert.deepEqual(
    [first.calls[0].name, first.calls[0].server, first.calls[0].confirm],
    ['oa_approve', true, true],
  );
});

for (const [tool, expected] of [
  ['oa_broken', 'Error: the OA service answered 500.'],
  ['oa_slow', 'Error: the OA service did not answer in time.'],
  ['oa_moved', 'Error: the OA service answered 302.'],
]) {
  test(`a failing webhook (${tool}) becomes an error result for the model`, async () => {
    const token = mintToken({ sub: `wh-${tool}` });
    const targetHits = received.filter((r) => r.path === '/target').length;
    const { first, second } = await callAndContinue(token, tool);
    assert.ok(second.answer.includes(expected), second.answer);
    assert.ok(!second.answer.includes('RAW-OA-STACKTRACE'));
    const conversation = await stored(token, first.id, 4);
    assert.equal(conversation.messages[2].content, expected);
    // A redirect is never followed.
    assert.equal(received.filter((r) => r.path === '/target').length, targetHits);
    assert.match(stack.log(), new RegExp(`webhook tool=${tool} status=`));
  });
}

test('an oversized answer is cut to tools.max_result_bytes', async () => {
  const token = mintToken({ sub: 'wh-big' });
  const { first } = await callAndContinue(token, 'oa_big');
  const conversation = await stored(token, first.id, 4);
  const content = conversation.messages[2].content;
  assert.ok(Buffer.byteLength(content) <= MAX_RESULT_BYTES, String(Buffer.byteLength(content)));
  assert.ok(content.endsWith('…[truncated]'));
  assert.ok(content.startsWith('大大大'));
});

test("the page cannot answer a server call, nor take a server tool's name", async () => {
  const token = mintToken({ sub: 'wh-claims' });
  const before = received.length;
  const first = await send(token, { message: '请 leave_balance' });
  await stored(token, first.id, 2);
  for (const status of ['ok', 'error']) {
    const response = await turn(token, {
      conversation_id: first.id,
      tool_results: [{ id: first.calls[0].id, status, content: '{"days":999}' }],
    });
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error.param, 'tool_results[0].status');
  }
  assert.equal(received.length, before, 'no webhook for a refused continuation');
  const response = await turn(token, { message: 'hi', tools: [LEAVE, { name: 'leave_balance' }] });
  assert.equal(response.status, 400);
  assert.equal((await response.json()).error.param, 'tools[1].name');
});

test('a "server" status for a page tool becomes an error result, and no webhook', async () => {
  const token = mintToken({ sub: 'wh-not-server' });
  const before = received.length;
  const first = await send(token, { message: '请 submit_leave', tools: [LEAVE] });
  assert.equal(first.calls[0].server, undefined);
  await stored(token, first.id, 2);
  await send(token, {
    conversation_id: first.id,
    tools: [LEAVE],
    tool_results: [{ id: first.calls[0].id, status: 'server' }],
  });
  const conversation = await stored(token, first.id, 4);
  assert.equal(conversation.messages[2].status, 'error');
  assert.equal(conversation.messages[2].content, 'Not a server tool.');
  assert.equal(received.length, before);
});

test('a route that lists its tools offers only those', async () => {
  const token = mintToken({ sub: 'wh-route' });
  const response = await turn(token, { model: 'auto', message: 'HRROUTE 你好', tools: [LEAVE] });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-oachat-route'), 'hr');
  await readSse(response);
  const upstream = await stack.mock.lastRequest();
  assert.deepEqual(upstream.tools.map((t) => t.function.name), ['submit_leave', 'leave_balance']);
});

test('config: server tools need the secret, and https (or a local http) URL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oachat-webhooks-'));
  const check = (config, devVars) => {
    const wrangler = join(dir, 'wrangler.toml');
    writeFileSync(wrangler, `[vars]\nOACHAT_CONFIG = '''${config}'''\n`);
    const vars = join(dir, '.dev.vars');
    writeFileSync(vars, devVars);
    const env = { ...process.env };
    delete env.OACHAT_TOOLS_SECRET;
    return spawnSync('cargo', ['run', '--quiet', '--release', '-p', 'oachat-worker', '--bin',
      'oachat-check-config', '--', wrangler, vars], { encoding: 'utf8', env });
  };
  const local = '[tools.server.x]\nurl = "http://127.0.0.1:9/x"';
  const unsigned = check(local, '');
  assert.notEqual(unsigned.status, 0);
  assert.match(unsigned.stderr, /tools\.server: .*OACHAT_TOOLS_SECRET/);
  const signed = check(local, 'OACHAT_TOOLS_SECRET=abc\n');
  assert.equal(signed.status, 0, signed.stderr);
  const remote = check('[tools.server.x]\nurl = "http://oa.example.com/x"', 'OACHAT_TOOLS_SECRET=abc\n');
  assert.notEqual(remote.status, 0);
  assert.match(remote.stderr, /tools\.server\.x\.url/);
});
