// The webhook receivers in examples/tools/ (PHP, Node, Python, Java) each verify oachat's
// server-tool deliveries: every runtime present on the machine runs its receiver, and a reference
// signer written here (the contract, not the worker's code) checks what they accept and refuse.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { ROOT, freePort, poll } from './harness.mjs';

const EXAMPLES = join(ROOT, 'examples/tools');
const SECRET = 'test-tools-secret-3f9a61c2';
const RECEIVERS = [
  { runtime: 'php', args: (port) => ['-S', `127.0.0.1:${port}`, 'receiver.php'] },
  { runtime: 'node', args: () => ['receiver.mjs'] },
  { runtime: 'python3', args: () => ['receiver.py'] },
  { runtime: 'java', args: () => ['Receiver.java'] },
];

const available = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const nowSeconds = () => Math.floor(Date.now() / 1000);
let deliveries = 0;

// What the worker sends (webhooks-spec: "The webhook request").
function payload(overrides = {}) {
  deliveries += 1;
  return {
    tool: 'leave_balance',
    call_id: `call_${deliveries}`,
    arguments: { year: 2024 },
    user: { sub: 'zhangsan', name: '张三', tier: 'staff', dept: 'HR' },
    conversation_id: 'c_test',
    request_id: `req_${process.pid}_${deliveries}`,
    ...overrides,
  };
}

function sign(secret, timestamp, body) {
  return 'v1=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

// Signs `signedBody` and sends `sentBody` (the same unless a test tampers with it).
async function deliver(url, body, { secret = SECRET, timestamp = nowSeconds(), sentBody, headers = {} } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const delivery = typeof body === 'string' ? 'req_x:call_x' : `${body.request_id}:${body.call_id}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'oachat-webhook/1',
      'x-oachat-timestamp': String(timestamp),
      'x-oachat-delivery': delivery,
      'x-oachat-signature': sign(secret, timestamp, text),
      ...headers,
    },
    body: sentBody ?? text,
  });
  const answer = await response.text();
  return { status: response.status, text: answer };
}

async function startReceiver(runtime, args) {
  const port = await freePort();
  const child = spawn(runtime, args(port), {
    cwd: EXAMPLES,
    env: { ...process.env, OACHAT_TOOLS_SECRET: SECRET, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (data) => { output += data; });
  child.stderr.on('data', (data) => { output += data; });
  const url = `http://127.0.0.1:${port}/`;
  // Java compiles the file first: allow it a while. Any HTTP answer means it is listening.
  await poll(`${runtime} receiver to listen`, async () => {
    if (child.exitCode !== null) throw new Error(`${runtime} exited ${child.exitCode}:\n${output}`);
    return fetch(url).then(() => true, () => false);
  }, 30_000);
  return { url, stop: () => child.kill('SIGTERM'), output: () => output };
}

for (const { runtime, args } of RECEIVERS) {
  const skip = !available(runtime) && `${runtime} is not installed`;
  describe(`examples/tools receiver (${runtime})`, { skip }, () => {
    let receiver;
    const url = async () => {
      receiver ??= await startReceiver(runtime, args);
      return receiver.url;
    };
    after(() => receiver?.stop());

    test('a signed delivery runs the tool for the user and answers its JSON', async () => {
      const { status, text } = await deliver(await url(), payload());
      assert.equal(status, 200, text);
      assert.deepEqual(JSON.parse(text), { user: 'zhangsan', days: 5, year: 2024 });

      const noYear = await deliver(await url(), payload({ arguments: {}, user: { sub: 'lisi', tier: 'staff' } }));
      assert.equal(noYear.status, 200, noYear.text);
      assert.deepEqual(JSON.parse(noYear.text), { user: 'lisi', days: 5, year: new Date().getFullYear() });
    });

    test('a wrong or missing signature is refused with 401', async () => {
      const forged = await deliver(await url(), payload(), { secret: 'another-secret' });
      assert.equal(forged.status, 401, forged.text);
      const unsigned = await deliver(await url(), payload(), { headers: { 'x-oachat-signature': '' } });
      assert.equal(unsigned.status, 401, unsigned.text);
      const timestamp = nowSeconds();
      const body = JSON.stringify(payload());
      const upper = await deliver(await url(), body, {
        timestamp,
        headers: { 'x-oachat-signature': sign(SECRET, timestamp, body).replace('v1=', 'v2=') },
      });
      assert.equal(upper.status, 401, upper.text);
    });

    test('a tampered body is refused with 401', async () => {
      const signed = payload();
      const tampered = JSON.stringify({ ...signed, user: { sub: 'boss', tier: 'staff' } });
      const { status, text } = await deliver(await url(), signed, { sentBody: tampered });
      assert.equal(status, 401, text);
    });

    test('a correctly signed but stale (or future) timestamp is refused with 401', async () => {
      const stale = await deliver(await url(), payload(), { timestamp: nowSeconds() - 600 });
      assert.equal(stale.status, 401, stale.text);
      const future = await deliver(await url(), payload(), { timestamp: nowSeconds() + 600 });
      assert.equal(future.status, 401, future.text);
    });

    test('the same delivery twice is refused with 409, even under another delivery header', async () => {
      const body = payload();
      const first = await deliver(await url(), body);
      assert.equal(first.status, 200, first.text);
      const again = await deliver(await url(), body);
      assert.equal(again.status, 409, again.text);
      // The header is not signed: a replay that renames it is caught by the body's ids.
      const renamed = await deliver(await url(), body, { headers: { 'x-oachat-delivery': 'req_other:call_other' } });
      assert.equal(renamed.status, 401, renamed.text);
    });

    test('an unknown tool is 404, a signed non-JSON body 400, a body over 64 KiB 413', async () => {
      const unknown = await deliver(await url(), payload({ tool: 'delete_everything' }));
      assert.equal(unknown.status, 404, unknown.text);
      const notJson = await deliver(await url(), '{"tool": "leave_balance", ');
      assert.equal(notJson.status, 400, notJson.text);
      const large = await deliver(await url(), payload({ arguments: { note: 'x'.repeat(70 * 1024) } }));
      assert.equal(large.status, 413, large.text);
      // Still serving after all that.
      const fine = await deliver(await url(), payload());
      assert.equal(fine.status, 200, fine.text);
    });
  });
}
