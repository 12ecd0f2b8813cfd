// Alerts (docs/alerts.md) against local receivers, one node:http server per format, each
// checking what its vendor checks: DingTalk's signed URL, Feishu's signed body, the json
// schema and its signature. Real chat traffic crosses the deployment budget's thresholds; a
// deactivated key is disabled; one receiver fails twice (an HTTP 500, then a 200 whose
// errcode says no) before it takes the alert; a restart on the same persisted state sends
// nothing twice; an upstream that fails every request raises the error-rate alert.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { ADMIN_TOKEN, admin, chat, keyId, mintToken, poll, startStack } from './harness.mjs';

const DINGTALK_SECRET = 'SECdingtalk-test-secret';
const FEISHU_SECRET = 'feishu-test-secret';
const JSON_SECRET = 'json-test-secret';
const FLAKY_SECRET = 'SECflaky-test-secret';
const WECOM_KEY = 'wecom-key-in-the-url';
const DINGTALK_TOKEN = 'dingtalk-token-in-the-url';

/** A receiver: records every request; `answer(request, index)` decides the reply. */
async function receiver(name, answer) {
  const received = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://receiver');
      const request = { url, headers: req.headers, text: body, body: JSON.parse(body) };
      const index = received.length;
      received.push(request);
      const [status, reply] = answer(request, index);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof reply === 'string' ? reply : JSON.stringify(reply));
    });
  });
  server.on('connection', (socket) => socket.setNoDelay(true));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { name, received, port, url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

const ok = {
  dingtalk: [200, { errcode: 0, errmsg: 'ok' }],
  wecom: [200, { errcode: 0, errmsg: 'ok' }],
  feishu: [200, { code: 0, msg: 'success', data: {} }],
  slack: [200, 'ok'],
  json: [204, ''],
};

const dingtalkSign = (secret, timestamp) =>
  createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
const feishuSign = (secret, timestamp) =>
  createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');

// What each vendor would refuse, refused here too: a receiver that finds a bad signature
// answers like the vendor does (an error code in a 200), so the alert would not count as sent.
const checks = {
  dingtalk: ({ url, body }) => {
    const sign = url.searchParams.get('sign');
    const timestamp = url.searchParams.get('timestamp');
    const fresh = Math.abs(Date.now() - Number(timestamp)) < 3_600_000;
    return url.searchParams.get('access_token') === DINGTALK_TOKEN && fresh &&
      sign === dingtalkSign(DINGTALK_SECRET, timestamp) && body.msgtype === 'text' &&
      typeof body.text?.content === 'string';
  },
  wecom: ({ url, body }) => url.searchParams.get('key') === WECOM_KEY && body.msgtype === 'text' &&
    typeof body.text?.content === 'string',
  feishu: ({ body }) => body.msg_type === 'text' && typeof body.content?.text === 'string' &&
    /^\d{10}$/.test(body.timestamp) && body.sign === feishuSign(FEISHU_SECRET, body.timestamp),
  slack: ({ body }) => typeof body.text === 'string' && Object.keys(body).length === 1,
  json: ({ headers, text, body }) => {
    const timestamp = headers['x-oachat-timestamp'];
    const expected = `v1=${createHmac('sha256', JSON_SECRET).update(`${timestamp}.${text}`).digest('hex')}`;
    return headers['x-oachat-signature'] === expected && body.schema === 'oachat.alert.v1' &&
      typeof body.id === 'string' && typeof body.text_zh === 'string';
  },
};

const refused = {
  dingtalk: [200, { errcode: 310000, errmsg: 'sign not match' }],
  wecom: [200, { errcode: 93000, errmsg: 'invalid webhook url' }],
  feishu: [200, { code: 19021, msg: 'sign match fail' }],
  slack: [403, 'invalid_token'],
  json: [401, { error: 'bad signature' }],
};

/** The message text a request carries, whatever the format. */
function messageText(format, body) {
  switch (format) {
    case 'dingtalk': case 'wecom': return body.text.content;
    case 'feishu': return body.content.text;
    case 'slack': return body.text;
    default: return `${body.text_zh}\n${body.text_en}`;
  }
}

const FORMATS = ['dingtalk', 'wecom', 'feishu', 'slack', 'json'];
const receivers = {};
let flaky;
let stack;
let errorStack;
let errorReceiver;

const webhooks = () => [
  { url: `${receivers.dingtalk.url}/robot/send?access_token=${DINGTALK_TOKEN}`, format: 'dingtalk', secret: DINGTALK_SECRET },
  { url: `${receivers.wecom.url}/cgi-bin/webhook/send?key=${WECOM_KEY}`, format: 'wecom' },
  { url: `${receivers.feishu.url}/open-apis/bot/v2/hook/test`, format: 'feishu', secret: FEISHU_SECRET },
  { url: `${receivers.slack.url}/services/T0/B0/x`, format: 'slack' },
  { url: `${receivers.json.url}/alerts`, format: 'json', secret: JSON_SECRET },
  { url: `${flaky.url}/robot/send?access_token=flaky`, format: 'dingtalk', secret: FLAKY_SECRET },
];

// 3000 micro-USD, leased in slices of 500: one gpt-4o-mini request reserves about 1230, so a
// few requests take the day's leases to the cap, then the deployment refuses. The month's cap
// (5000) sees the same leases: the day's 3000 are 60% of it, past its 50% threshold only.
const BUDGET = { daily_usd: 0.003, monthly_usd: 0.005, lease_slice_usd: 0.0005 };
const config = () => ({
  key_strategy: 'round_robin',
  tiers: { staff: { rpm: 100000, daily_usd: 'unlimited' } },
  budget: BUDGET,
  alerts: { thresholds: [0.5, 0.8, 1.0], webhooks: webhooks(), retry_base_s: 1 },
});

before(async () => {
  for (const format of FORMATS) {
    receivers[format] = await receiver(format, (request) => (checks[format](request) ? ok[format] : refused[format]));
  }
  // Fails twice (a 500, then DingTalk's "errcode" in a 200), then takes every alert.
  flaky = await receiver('flaky', (request, index) => {
    if (index === 0) return [500, { errcode: -1, errmsg: 'system busy' }];
    if (index === 1) return [200, { errcode: 310000, errmsg: 'sign not match' }];
    const signed = request.url.searchParams.get('sign') ===
      dingtalkSign(FLAKY_SECRET, request.url.searchParams.get('timestamp'));
    return signed ? ok.dingtalk : refused.dingtalk;
  });
  errorReceiver = await receiver('errors', () => ok.json);
  [stack, errorStack] = await Promise.all([
    startStack({ name: 'alerts', keys: 'sk-mock-ok,sk-mock-deactivated', config: config() }),
    startStack({
      name: 'alerts-error-rate',
      keys: 'sk-mock-500',
      config: {
        ...{ tiers: { staff: { rpm: 100000, daily_usd: 'unlimited' } }, budget: { daily_usd: 'unlimited' } },
        max_attempts: 1,
        alerts: { error_rate: 0.2, webhooks: [{ url: `${errorReceiver.url}/alerts`, format: 'json' }] },
      },
    }),
  ]);
});

after(async () => {
  await Promise.all([stack?.stop(), errorStack?.stop()]);
  for (const r of [...Object.values(receivers), flaky, errorReceiver]) r?.close();
});

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

/** Alerts a receiver took, by the dedup id the json receiver saw or the text otherwise. */
const texts = (format) => receivers[format].received
  .filter((request) => checks[format](request))
  .map((request) => messageText(format, request.body));

const alertLog = async (url) => {
  const response = await admin(url, '/admin/alerts?limit=200');
  assert.equal(response.status, 200);
  return response.json();
};

test('real traffic crosses 50%, 80% and 100% of the daily budget: each sent once to every format, signed', async () => {
  const token = mintToken({ sub: 'alerts-alice' });
  let refusal;
  for (let i = 0; i < 30 && !refusal; i++) {
    const response = await chat(stack.url, token, ask(`spend ${i}`));
    if (response.status === 200) await response.json();
    else refusal = await response.json();
  }
  assert.equal(refusal?.error?.code, 'budget_exceeded', 'the deployment budget ran out');

  const budgetLines = (format) => texts(format).filter((text) => text.includes('预算提醒') && text.includes('本日'));
  const monthLines = (format) => texts(format).filter((text) => text.includes('预算提醒') && text.includes('本月'));
  for (const format of FORMATS) {
    const lines = await poll(`${format} has the three budget alerts`, () => {
      const lines = budgetLines(format);
      return lines.length >= 3 ? lines : null;
    }, 30_000);
    const percents = lines.map((text) => text.match(/本日部署预算已用 (\d+)%/)?.[1]).sort();
    assert.deepEqual(percents, ['100', '50', '80'], `${format}: ${lines.join(' | ')}`);
    for (const text of lines) {
      // Chinese first, then English, with the amounts against the cap.
      assert.match(text, /^oachat 预算提醒：本日部署预算已用 \d+%（0\.\d{4} \/ 0\.0030 USD）\noachat budget alert: \d+% of today's deployment budget is used \(0\.\d{4} \/ 0\.0030 USD\)$/);
    }
    // The month's cap crossed 50% (and only that) on the same leases: one alert, once.
    const month = await poll(`${format} has the month's alert`, () => {
      const found = monthLines(format);
      return found.length >= 1 ? found : null;
    }, 30_000);
    assert.equal(month.length, 1, `${format}: ${month.join(' | ')}`);
    assert.match(month[0], /^oachat 预算提醒：本月部署预算已用 \d+%（0\.\d{4} \/ 0\.0050 USD）\n/);
    // Every request this receiver got was well-formed and correctly signed.
    assert.equal(receivers[format].received.filter((r) => !checks[format](r)).length, 0, format);
  }
  const monthly = receivers.json.received.map((r) => r.body).filter((b) => b.kind === 'budget' && b.period === 'month');
  assert.deepEqual(monthly.map((b) => [b.threshold, b.limit_micro_usd]), [[0.5, 5000]]);
  const json = receivers.json.received.map((r) => r.body).filter((b) => b.kind === 'budget' && b.period === 'day');
  assert.deepEqual(json.map((b) => b.threshold).sort(), [0.5, 0.8, 1]);
  for (const body of json) {
    assert.equal(body.subject.type, 'deployment');
    assert.equal(body.period, 'day');
    assert.equal(body.limit_micro_usd, 3000);
    assert.ok(body.used_micro_usd >= body.threshold * 3000, JSON.stringify(body));
  }
});

test('a deactivated key is disabled and alerted, naming its id and never the key', async () => {
  const id = keyId('sk-mock-deactivated');
  const body = await poll('the key-disabled alert', () =>
    receivers.json.received.map((r) => r.body).find((b) => b.kind === 'key_disabled'), 30_000);
  assert.equal(body.key_id, id);
  assert.equal(body.upstream, 'openai');
  assert.match(body.text_zh, new RegExp(`上游 openai 的密钥 ${id} 已停用`));
  for (const format of FORMATS) {
    await poll(`${format} has the key alert`, () => texts(format).some((t) => t.includes(id)), 30_000);
    for (const request of receivers[format].received) {
      assert.ok(!request.text.includes('sk-mock'), `${format} got a key`);
    }
  }
  // One key of two: the upstream is not down.
  assert.ok(!receivers.json.received.some((r) => r.body.kind === 'upstream_down'));
});

test('a receiver that fails twice (HTTP 500, then errcode in a 200) gets each alert once, and the log shows the retries', async () => {
  const expected = 5; // three daily budget thresholds, the month's 50% and the disabled key
  const log = await poll('every flaky delivery sent', async () => {
    const log = await alertLog(stack.url);
    const sent = log.deliveries.filter((d) => d.host === `127.0.0.1:${flaky.port}` && d.outcome === 'sent');
    return sent.length >= expected ? log : null;
  }, 60_000);
  const flakyEntries = log.deliveries.filter((d) => d.host === `127.0.0.1:${flaky.port}`);
  const retrying = flakyEntries.filter((d) => d.outcome === 'retrying');
  assert.deepEqual(retrying.map((d) => d.error).sort(), ['HTTP 200, errcode 310000', 'HTTP 500']);
  assert.ok(flakyEntries.some((d) => d.outcome === 'sent' && d.attempt >= 2), 'a retry succeeded');
  for (const entry of flakyEntries) {
    assert.equal(entry.format, 'dingtalk');
    assert.ok(['budget', 'key_disabled'].includes(entry.kind));
  }
  // Taken once each: the receiver's accepted messages are all different.
  const accepted = flaky.received.slice(2).map((r) => r.body.text.content);
  assert.equal(accepted.length, expected);
  assert.equal(new Set(accepted).size, expected);
  // The admin view shows the webhooks without their URLs' tokens or secrets.
  const shown = JSON.stringify(log);
  for (const secret of [DINGTALK_SECRET, FEISHU_SECRET, JSON_SECRET, FLAKY_SECRET, WECOM_KEY, DINGTALK_TOKEN, ADMIN_TOKEN]) {
    assert.ok(!shown.includes(secret), 'a secret in /admin/alerts');
  }
  assert.deepEqual(log.config.webhooks[0], { host: `127.0.0.1:${receivers.dingtalk.port}`, format: 'dingtalk', secret: 'set' });
  assert.equal(log.config.webhooks[1].secret, 'unset');
  assert.equal(log.pending, 0);
});

test('/admin/alerts needs the admin token', async () => {
  const response = await fetch(`${stack.url}/admin/alerts`);
  assert.equal(response.status, 401);
  const body = await response.json();
  assert.ok(body.error?.message && 'type' in body.error && 'code' in body.error);
  const wrong = await fetch(`${stack.url}/admin/alerts`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.status, 401);
});

test('after a restart on the same state, the same crossings raise nothing new', async () => {
  const before = Object.fromEntries(FORMATS.map((f) => [f, receivers[f].received.length]));
  const flakyBefore = flaky.received.length;
  const repeatedBefore = (await alertLog(stack.url)).repeated;
  const { persist } = stack;
  await stack.stop();
  stack = await startStack({ name: 'alerts-restarted', keys: 'sk-mock-ok,sk-mock-deactivated', config: config(), persistTo: persist });
  // A new user spends until the deployment refuses: its last grant takes the day's leases to
  // the cap again, so the fresh isolate raises all three thresholds again, and the object
  // (its SQLite, persisted) knows them.
  const token = mintToken({ sub: 'alerts-bob' });
  let refusal;
  for (let i = 0; i < 30 && !refusal; i++) {
    const response = await chat(stack.url, token, ask(`more ${i}`));
    if (response.status === 200) await response.json();
    else refusal = await response.json();
  }
  assert.equal(refusal?.error?.code, 'budget_exceeded');
  const log = await poll('the repeated raises counted', async () => {
    const log = await alertLog(stack.url);
    return log.repeated >= repeatedBefore + 3 ? log : null;
  }, 30_000);
  assert.equal(log.pending, 0, 'nothing queued to send');
  for (const format of FORMATS) {
    assert.equal(receivers[format].received.length, before[format], `${format} got a duplicate`);
  }
  assert.equal(flaky.received.length, flakyBefore);
});

test('an upstream failing every request raises the error-rate alert once', async () => {
  const token = mintToken({ sub: 'alerts-errors' });
  const alerted = () => errorReceiver.received.map((r) => r.body).find((b) => b.kind === 'error_rate');
  // The counts ride on the isolate's key health exchanges (after a key failure, or at most
  // every 2 s): once the lone key cools down no failure is reported, so requests are paced to
  // let exchanges fall due, and sent until the alert arrives.
  let sent = 0;
  for (; sent < 80 && !alerted(); sent++) {
    const response = await chat(errorStack.url, token, ask(`fail ${sent}`));
    assert.notEqual(response.status, 200, `request ${sent}`);
    await response.text();
    if (sent >= 10) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(sent >= 10, `alerted after ${sent} requests: 10 are needed to judge`);
  const body = await poll('the error-rate alert', alerted, 30_000);
  assert.equal(body.threshold, 0.2);
  assert.equal(body.window_s, 300);
  assert.ok(body.total >= 10 && body.failed === body.total, JSON.stringify(body));
  assert.match(body.text_zh, /^oachat 错误率提醒：最近 5 分钟错误率 100%/);
  // More failures in the same hour: no second alert.
  for (let i = 0; i < 3; i++) await (await chat(errorStack.url, token, ask(`again ${i}`))).text();
  const log = await alertLog(errorStack.url);
  assert.equal(errorReceiver.received.filter((r) => r.body.kind === 'error_rate').length, 1);
  assert.ok(log.deliveries.some((d) => d.kind === 'error_rate' && d.outcome === 'sent'));
});
