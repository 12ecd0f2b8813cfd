// The console's Users, Ledger, Quality and Config pages and the XLSX export, through the real
// worker and Chromium: user search (wildcards escaped), blocking a user (403 user_blocked at
// admission, the widget's message, reversible), ledger filters and paging, ratings by route
// and model with the rated answers' kept turns, the config with no secret in it, the XLSX
// workbook's cells; every new endpoint's sign-in, CSRF, body limit and clamped parameters;
// Chinese and English, dark, phone width, and an axe-core audit of each page.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { apiSendAndWait, coreReady, hostPage, launch } from '../../widget/tests/browser.mjs';
import { audit, openConsole as sharedOpenConsole, signInPage } from './console-harness.mjs';
import { ADMIN_TOKEN, ROOT, SIGNING_SECRET, admin, chat, mintToken, poll, startStack } from './harness.mjs';

const TOOL_SECRETS = ['tok-secret-path', 'tok-secret-query'];
const WEBHOOK_SECRETS = ['ding-secret-token', 'SECding-signing'];
const TOOLS_SECRET = 'tools-secret-value-4c1d';
const CONFIG = {
  default_tier: 'staff',
  tiers: {
    // The widget asks for `auto`.
    staff: { models: ['auto', 'gpt-4o-mini'], daily_tokens: 10_000_000, rpm: 1000, max_rounds: 1000 },
    vip: { models: ['gpt-4o-mini'], daily_tokens: 10_000_000, rpm: 1000, max_rounds: 1000 },
  },
  // Secrets in URLs, where operators put them: none may reach an answer or the page.
  tools: { server: { intranet_search: {
    url: `http://127.0.0.1:9/hook/${TOOL_SECRETS[0]}?sig=${TOOL_SECRETS[1]}`,
    description: 'Search the intranet',
  } } },
  alerts: { webhooks: [{
    url: `https://oapi.dingtalk.com/robot/send?access_token=${WEBHOOK_SECRETS[0]}`,
    format: 'dingtalk', secret: WEBHOOK_SECRETS[1],
  }] },
};

let stack;
let browser;
before(async () => {
  stack = await startStack({
    name: 'console-pages', config: CONFIG, keys: 'sk-mock-ok,sk-mock-ok-second',
    vars: { OACHAT_TOOLS_SECRET: TOOLS_SECRET },
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

/** One chat as `sub`; returns its request id once the answer has been read. */
async function chatAs(sub, text = `hello from ${sub}`) {
  const response = await chat(stack.url, mintToken({ sub }), ask(text));
  assert.equal(response.status, 200, await response.clone().text());
  await response.json();
  return response.headers.get('x-request-id');
}

/** Waits until the ledger holds `count` rows of `user`. */
async function ledgerRows(user, count) {
  return poll(`${count} ledger rows of ${user}`, async () => {
    const { rows } = await (await admin(stack.url, `/admin/ledger?limit=1000&user=${encodeURIComponent(user)}`)).json();
    return rows.length >= count ? rows : null;
  }, 15_000);
}

async function signInCookie() {
  const response = await fetch(`${stack.url}/admin/session`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: ADMIN_TOKEN }),
  });
  return { cookie: response.headers.get('set-cookie').split(';')[0], csrf: (await response.json()).csrf };
}

/** The console in a new context, signed in, on its overview. */
async function openConsole(options) {
  const opened = await sharedOpenConsole(browser, stack.url, options);
  await signInPage(opened.page);
  await opened.page.locator('#overview-stats .stat').first().waitFor();
  return opened;
}

async function goTo(page, name) {
  await page.locator(`#nav a[href="#${name}"]`).click();
  await page.locator(`#page-${name}:not([hidden])`).waitFor();
}

/** The stored entries of a zip (what the XLSX writer makes), read by hand: name -> text. */
function unzipStored(buffer) {
  const end = buffer.length - 22;
  assert.equal(buffer.readUInt32LE(end), 0x06054b50, 'end of central directory');
  const count = buffer.readUInt16LE(end + 10);
  let at = buffer.readUInt32LE(end + 16);
  const files = {};
  for (let i = 0; i < count; i++) {
    assert.equal(buffer.readUInt32LE(at), 0x02014b50);
    const size = buffer.readUInt32LE(at + 20);
    const nameLength = buffer.readUInt16LE(at + 28);
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const data = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    files[name] = buffer.subarray(data, data + size).toString('utf8');
    at += 46 + nameLength;
  }
  return files;
}

/** sheet1.xml's cells: reference -> number or text. */
function cells(sheet) {
  const out = {};
  for (const [, ref, attributes, body] of sheet.matchAll(/<c r="([A-Z]+\d+)"([^>]*)>(.*?)<\/c>/g)) {
    if (/t="inlineStr"/.test(attributes)) {
      const text = body.match(/<t[^>]*>(.*?)<\/t>/)[1];
      out[ref] = text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
    } else {
      out[ref] = Number(body.match(/<v>(.*?)<\/v>/)[1]);
    }
  }
  return out;
}

test('new endpoints: sign-in required, CSRF on writes, body limit, hostile parameters refused or clamped', async () => {
  for (const path of ['/admin/config', '/admin/quality', '/admin/users?q=a', '/admin/ledger?model=x']) {
    const response = await fetch(`${stack.url}${path}`);
    assert.equal(response.status, 401, path);
    assert.equal((await response.json()).error.type, 'authentication_error', path);
  }
  const { cookie, csrf } = await signInCookie();
  const block = (headers, body = { blocked: true, reason: 'csrf check' }) => fetch(`${stack.url}/admin/users/u%3Acsrf-target/blocked`, {
    method: 'PUT', headers: { cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
  });
  const refused = await block({});
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, 'csrf_refused');
  const detail = await (await admin(stack.url, '/admin/users/u%3Acsrf-target')).json();
  assert.equal(detail.blocked, null, 'the refused write did nothing');
  const tooBig = await block({ 'x-oachat-csrf': csrf }, { blocked: true, reason: 'x'.repeat(17 * 1024) });
  assert.equal(tooBig.status, 413);
  assert.equal((await tooBig.json()).error.code, 'body_too_large');
  const longReason = await block({ 'x-oachat-csrf': csrf }, { blocked: true, reason: 'x'.repeat(501) });
  assert.equal(longReason.status, 400);
  assert.equal((await longReason.json()).error.param, 'reason');
  const badShape = await block({ 'x-oachat-csrf': csrf }, { blocked: 'yes' });
  assert.equal(badShape.status, 400);

  for (const [path, param] of [
    ['/admin/ledger?from=2026-13-01', 'from'], ['/admin/ledger?ending=exploded', 'ending'],
    ['/admin/ledger?from=2026-12-02&to=2026-12-01', 'from'], ['/admin/quality?to=yesterday', 'to'],
    [`/admin/users?q=${'x'.repeat(300)}`, 'q'], ['/admin/usage?format=pdf', 'format'],
  ]) {
    const response = await admin(stack.url, path);
    assert.equal(response.status, 400, path);
    const body = await response.json();
    assert.equal(body.error.param, param, path);
    assert.equal(body.error.type, 'invalid_request_error', path);
  }
  const clamped = await (await admin(stack.url, '/admin/ledger?limit=99999999999999999999&offset=-4')).json();
  assert.equal(clamped.limit, 1000);
  assert.equal(clamped.offset, 0);
  const quality = await admin(stack.url, '/admin/quality?limit=1000000');
  assert.equal(quality.status, 200);
});

test('config: the effective config with every secret as set/unset, key counts, validation', async () => {
  const response = await admin(stack.url, '/admin/config');
  assert.equal(response.status, 200);
  const text = await response.text();
  for (const secret of [...stack.secrets, ...TOOL_SECRETS, ...WEBHOOK_SECRETS, TOOLS_SECRET, SIGNING_SECRET, ADMIN_TOKEN]) {
    assert.ok(!text.includes(secret), 'a secret in /admin/config');
  }
  const shown = JSON.parse(text);
  assert.equal(shown.secrets.OACHAT_SIGNING_SECRET, 'set');
  assert.equal(shown.secrets.OACHAT_ADMIN_TOKEN, 'set');
  assert.equal(shown.secrets.OACHAT_TOOLS_SECRET, 'set');
  assert.equal(shown.secrets.OACHAT_METRICS_TOKEN, 'unset');
  assert.deepEqual(shown.secrets.upstream_keys, [{ upstream: 'openai', secret: 'OPENAI_API_KEYS', keys: 2 }]);
  assert.equal(shown.validation.valid, true);
  assert.deepEqual(shown.validation.warnings, []);
  assert.equal(shown.config.tools.server.intranet_search.url, '127.0.0.1:9');
  assert.deepEqual(shown.config.alerts.webhooks, [{ host: 'oapi.dingtalk.com', format: 'dingtalk', secret: 'set' }]);
  assert.equal(shown.config.tiers.staff.rpm, 1000);

  const { context, page, errors } = await openConsole();
  await goTo(page, 'config');
  await page.locator('#config-sections details[data-section="tiers"]').waitFor();
  assert.match(await page.locator('#config-validation').textContent(), /The config is valid/);
  assert.match(await page.locator('#config-secrets').textContent(), /OPENAI_API_KEYS \(openai\)2 keys/);
  const tiers = page.locator('#config-sections details[data-section="tiers"] tr', { hasText: 'staff.rpm' });
  assert.match(await tiers.textContent(), /1000/);
  const html = await page.content();
  for (const secret of [...stack.secrets, ...TOOL_SECRETS, ...WEBHOOK_SECRETS, TOOLS_SECRET]) {
    assert.ok(!html.includes(secret), 'a secret on the config page');
  }
  assert.deepEqual(await audit(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test('blocking a user: refused at admission with 403 user_blocked, shown in the widget, reversible', async () => {
  await chatAs('blocky', 'before the block');
  const blocked = await admin(stack.url, '/admin/users/u%3Ablocky/blocked', {
    method: 'PUT', body: JSON.stringify({ blocked: true, reason: 'left the company' }),
  });
  assert.equal(blocked.status, 200);
  const answer = await blocked.json();
  assert.equal(answer.blocked, true);
  assert.equal(answer.block.reason, 'left the company');

  const refused = await chat(stack.url, mintToken({ sub: 'blocky' }), ask('after the block'));
  assert.equal(refused.status, 403);
  const body = await refused.json();
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.code, 'user_blocked');
  assert.equal(body.error.type, 'permission_error');
  assert.match(body.error.message, /administrator has turned off the assistant/);
  assert.ok(!body.error.message.includes('left the company'), "the admin's note stays in the console");
  // The widget's own endpoint is refused the same way, and no conversation is left behind.
  const turn = await fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${mintToken({ sub: 'blocky' })}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', message: 'through the widget endpoint' }),
  });
  assert.equal(turn.status, 403);
  assert.equal((await turn.json()).error.code, 'user_blocked');
  const detail = await (await admin(stack.url, '/admin/users/u%3Ablocky')).json();
  assert.equal(detail.blocked.reason, 'left the company');
  assert.ok(detail.blocked.since_ms > 0);
  // Another user is not affected.
  await chatAs('not-blocky');

  // The widget says what happened, in the user's language.
  for (const [locale, pattern] of [['en', /administrator has turned off the assistant/], ['zh-CN', /管理员已为你的账号停用智能助手/]]) {
    const html = `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>blocked</p>
      <script src="/v1/widget.js"></script>
      <script>
        OAChat.init({ locale: ${JSON.stringify(locale)}, token: ${JSON.stringify(mintToken({ sub: 'blocky' }))} });
        window.errors = [];
        OAChat.on('error', function (detail) { window.errors.push(detail.code); });
      </script></body></html>`;
    const { page, context } = await hostPage(browser, `${stack.url}/test/blocked-${locale}`, html);
    await coreReady(page);
    await apiSendAndWait(page, 'am I blocked?');
    assert.deepEqual(await page.evaluate(() => window.errors), ['user_blocked']);
    const notice = page.locator('oachat-widget').locator('.oc-msg[data-role="error"] .oc-bubble').last();
    assert.match(await notice.innerText(), pattern);
    await context.close();
  }

  const lifted = await admin(stack.url, '/admin/users/u%3Ablocky/blocked', {
    method: 'PUT', body: JSON.stringify({ blocked: false }),
  });
  assert.deepEqual(await lifted.json(), { user: 'u:blocky', blocked: false, block: null });
  await chatAs('blocky', 'after unblocking');
});

test('users page: search by id substring (wildcards escaped), usage and what is left, tier, block and unblock', async () => {
  for (const sub of ['pages-50%_off', 'pages-50xxoff', 'pages-ann', 'pages-ann']) await chatAs(sub);
  await ledgerRows('u:pages-ann', 2);
  await ledgerRows('u:pages-50%_off', 1);
  await ledgerRows('u:pages-50xxoff', 1);
  const search = async (q) => (await (await admin(stack.url, `/admin/users?q=${encodeURIComponent(q)}`)).json()).users.map((u) => u.user);
  assert.deepEqual(await search('50%_'), ['u:pages-50%_off'], '% and _ match themselves only');
  assert.deepEqual((await search('pages-')).sort(), ['u:pages-50%_off', 'u:pages-50xxoff', 'u:pages-ann']);
  assert.deepEqual(await search('no-such-user'), []);
  const everyone = await (await admin(stack.url, '/admin/users?limit=100000')).json();
  assert.ok(everyone.users.length <= 50, 'at most 50');
  const ann = (await (await admin(stack.url, '/admin/users?q=pages-ann')).json()).users[0];
  assert.equal(ann.requests, 2);
  assert.ok(ann.today_tokens > 0 && ann.month_tokens >= ann.today_tokens);

  const { context, page, errors } = await openConsole();
  await goTo(page, 'users');
  await page.locator('#user-search').fill('pages-ann');
  await page.locator('#user-search-form button').click();
  await page.locator('#users-table[data-query="pages-ann"]').waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 1);
  await page.locator('#users-table tbody tr button').click();
  await page.locator('#user-detail:not([hidden])').waitFor();
  assert.equal(await page.locator('#user-name').textContent(), 'u:pages-ann');
  const stats = await page.locator('#user-stats').textContent();
  assert.match(stats, /Used today/);
  assert.match(stats, /Left today9,9\d\d,\d{3}/, 'what is left of 10,000,000 tokens');
  assert.deepEqual(await audit(page), []);

  await page.locator('#block-reason').fill('on leave');
  await page.locator('#block-button').click();
  await page.locator('#user-detail[data-blocked="true"]').waitFor();
  assert.equal(await page.locator('#user-blocked').isVisible(), true);
  assert.match(await page.locator('#user-block-reason').textContent(), /on leave/);
  const refused = await chat(stack.url, mintToken({ sub: 'pages-ann' }), ask('blocked now?'));
  assert.equal(refused.status, 403);
  await refused.json();
  assert.deepEqual(await audit(page), []);
  await page.locator('#unblock-button').click();
  await page.locator('#user-detail[data-blocked="false"]').waitFor();
  assert.equal(await page.locator('#user-blocked').isVisible(), false);
  await chatAs('pages-ann', 'unblocked again');
  assert.deepEqual(errors, []);
  await context.close();
});

test('ledger: filters by user, model, route, ending and dates; pages that do not overlap', async () => {
  const user = 'u:pager';
  const ids = [];
  for (let batch = 0; batch < 6; batch++) {
    ids.push(...await Promise.all(Array.from({ length: 10 }, (_, i) => chatAs('pager', `row ${batch}-${i}`))));
  }
  const rows = await ledgerRows(user, 60);
  const day = rows[0].day;

  const page1 = await (await admin(stack.url, `/admin/ledger?user=${encodeURIComponent(user)}&limit=25`)).json();
  assert.equal(page1.rows.length, 25);
  assert.equal(page1.next_offset, 25);
  const page3 = await (await admin(stack.url, `/admin/ledger?user=${encodeURIComponent(user)}&limit=25&offset=50`)).json();
  assert.equal(page3.rows.length, 10);
  assert.equal(page3.next_offset, null);
  const filtered = await (await admin(stack.url,
    `/admin/ledger?user=${encodeURIComponent(user)}&model=gpt-4o-mini&route=${encodeURIComponent(rows[0].route)}&ending=completed&from=${day}&to=${day}&limit=1000`)).json();
  assert.equal(filtered.rows.length, 60);
  const failedOnly = await (await admin(stack.url, `/admin/ledger?user=${encodeURIComponent(user)}&ending=failed`)).json();
  assert.equal(failedOnly.rows.length, 0);
  const otherDay = await (await admin(stack.url, `/admin/ledger?user=${encodeURIComponent(user)}&to=2000-01-01`)).json();
  assert.equal(otherDay.rows.length, 0);

  const { context, page, errors } = await openConsole();
  await goTo(page, 'ledger');
  await page.locator('#ledger-user').fill(user);
  await page.locator('#ledger-model').fill('gpt-4o-mini');
  await page.locator('#ledger-ending').selectOption('completed');
  await page.locator('#ledger-from').fill(day);
  await page.locator('#ledger-to').fill(day);
  await page.locator('#ledger-form button').click();
  await page.locator(`#ledger-table[data-user="${user}"][data-offset="0"]`).waitFor();
  assert.equal(await page.locator('#ledger-table tbody tr').count(), 50);
  const first = await page.locator('#ledger-table tbody').textContent();
  assert.equal(await page.locator('#ledger-prev').isDisabled(), true);
  await page.locator('#ledger-next').click();
  await page.locator('#ledger-table[data-offset="50"]').waitFor();
  assert.equal(await page.locator('#ledger-table tbody tr').count(), 10);
  assert.equal(await page.locator('#ledger-next').isDisabled(), true);
  assert.match(await page.locator('#ledger-range').textContent(), /Rows 51–60/);
  await page.locator('#ledger-prev').click();
  await page.locator('#ledger-table[data-offset="0"]').waitFor();
  assert.equal(await page.locator('#ledger-table tbody').textContent(), first);
  await page.locator('#ledger-ending').selectOption('failed');
  await page.locator('#ledger-form button').click();
  await page.locator('#ledger-table[data-query*="ending=failed"]').waitFor();
  assert.match(await page.locator('#ledger-table tbody').textContent(), /No rows/);
  assert.deepEqual(await audit(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test('quality: ratings by route and model; answers rated down with their kept turn, or "not kept"', async () => {
  const token = mintToken({ sub: 'rater' });
  const turn = await fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', message: 'How many days of annual leave do I have?' }),
  });
  assert.equal(turn.status, 200);
  await turn.text();
  const keptId = turn.headers.get('x-request-id');
  const plainId = await chatAs('rater', 'a question without a kept conversation');
  const likedId = await chatAs('rater-happy', 'a question answered well');
  const rate = async (bearer, requestId, rating) => {
    const response = await fetch(`${stack.url}/v1/oachat/feedback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: requestId, rating }),
    });
    assert.equal(response.status, 200, await response.clone().text());
  };
  await rate(token, keptId, -1);
  await rate(token, plainId, -1);
  await rate(mintToken({ sub: 'rater-happy' }), likedId, 1);

  const quality = await poll('the kept turn is stored', async () => {
    const answer = await (await admin(stack.url, '/admin/quality')).json();
    const kept = answer.rated_down.find((row) => row.id === keptId);
    return kept?.conversation ? answer : null;
  }, 10_000);
  assert.equal(quality.down, 2);
  assert.equal(quality.up, 1);
  const total = quality.by_route_model.reduce((sum, row) => ({ up: sum.up + row.up, down: sum.down + row.down }), { up: 0, down: 0 });
  assert.deepEqual(total, { up: 1, down: 2 });
  assert.ok(quality.by_route_model.every((row) => row.model === 'gpt-4o-mini'));
  const kept = quality.rated_down.find((row) => row.id === keptId);
  assert.equal(kept.conversation.question, 'How many days of annual leave do I have?');
  assert.ok(kept.conversation.answer.length > 0);
  assert.equal(quality.rated_down.find((row) => row.id === plainId).conversation, null);
  assert.ok(!quality.rated_down.some((row) => row.id === likedId), 'only answers rated down are listed');
  const today = kept.day;
  const outside = await (await admin(stack.url, '/admin/quality?from=2000-01-01&to=2000-01-31')).json();
  assert.deepEqual([outside.up, outside.down, outside.rated_down.length], [0, 0, 0]);

  const { context, page, errors } = await openConsole({ locale: 'zh-CN' });
  await goTo(page, 'quality');
  await page.locator('#quality-from').fill(today);
  await page.locator('#quality-to').fill(today);
  await page.locator('#quality-form button').click();
  await page.locator(`#quality-list[data-query="from=${today}&to=${today}"]`).waitFor();
  assert.equal(await page.locator('#quality-list').getAttribute('data-count'), '2');
  const keptCard = page.locator(`#quality-list article[data-id="${keptId}"]`);
  assert.equal(await keptCard.locator('.turn.question').textContent(), 'How many days of annual leave do I have?');
  assert.match(await page.locator(`#quality-list article[data-id="${plainId}"] .not-kept`).textContent(), /未保留对话/);
  assert.match(await page.locator('#quality-stats').textContent(), /点踩2/);
  assert.deepEqual(await audit(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test('usage export: a real XLSX workbook with the report as numbers and text', async () => {
  await chatAs('xlsx-user', 'a row for the workbook');
  await ledgerRows('u:xlsx-user', 1);
  // Rows of earlier tests may still be on their way to D1: compare a workbook with the JSON
  // report read just before and just after it, once both agree.
  const { json, response, buffer } = await poll('a stable usage report', async () => {
    const before = await (await admin(stack.url, '/admin/usage?group=user')).json();
    const answer = await admin(stack.url, '/admin/usage?group=user&format=xlsx');
    const bytes = Buffer.from(await answer.arrayBuffer());
    const after = await (await admin(stack.url, '/admin/usage?group=user')).json();
    return JSON.stringify(before) === JSON.stringify(after) ? { json: before, response: answer, buffer: bytes } : null;
  }, 10_000);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
  assert.match(response.headers.get('content-disposition'), /attachment; filename="oachat-usage\.xlsx"/);
  const files = unzipStored(buffer);
  assert.deepEqual(Object.keys(files), ['[Content_Types].xml', '_rels/.rels', 'xl/workbook.xml',
    'xl/_rels/workbook.xml.rels', 'xl/worksheets/sheet1.xml']);
  const sheet = cells(files['xl/worksheets/sheet1.xml']);
  assert.deepEqual(['A1', 'B1', 'H1'].map((ref) => sheet[ref]), ['user', 'requests', 'cost_usd']);
  json.data.forEach((row, index) => {
    const r = index + 2;
    assert.equal(sheet[`A${r}`], row.key);
    assert.equal(sheet[`B${r}`], row.requests);
    assert.equal(sheet[`G${r}`], row.total_tokens);
    assert.equal(sheet[`H${r}`], row.cost_usd);
  });
  assert.ok(json.data.some((row) => row.key === 'u:pages-50%_off'), 'a key with characters to escape is in the sheet');
  // An independent reader agrees: Python's zipfile checks every entry's CRC.
  const python = execFileSync('python3', ['-c', [
    'import sys, zipfile, io',
    'z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))',
    'print(z.testzip() is None, len(z.namelist()))',
  ].join('\n')], { input: buffer }).toString().trim();
  assert.equal(python, 'True 5');

  const { context, page, errors } = await openConsole();
  const fetched = await page.evaluate(async () => {
    const href = document.getElementById('xlsx-link').getAttribute('href');
    const answer = await fetch(href, { credentials: 'same-origin' });
    return { type: answer.headers.get('content-type'), size: (await answer.arrayBuffer()).byteLength };
  });
  assert.match(fetched.type, /spreadsheetml/);
  assert.ok(fetched.size > 500);
  assert.deepEqual(errors, []);
  await context.close();
});

test('new pages: Chinese and English, dark, no sideways scrolling at 375 px, axe in dark', async () => {
  const { context, page, errors } = await openConsole({ locale: 'zh-CN', colorScheme: 'dark', viewport: { width: 375, height: 740 } });
  assert.equal(await page.locator('#nav a[href="#quality"]').textContent(), '质量');
  assert.equal(await page.locator('#nav a[href="#config"]').textContent(), '配置');
  for (const name of ['users', 'ledger', 'quality', 'config']) {
    await page.evaluate((hash) => { location.hash = hash; }, `#${name}`);
    await page.locator(`#page-${name}:not([hidden])`).waitFor();
    // Wait for the page's data, then measure.
    const ready = { users: '#users-table tbody', ledger: '#ledger-table tbody', quality: '#quality-list[data-count]', config: '#config-sections details' }[name];
    await page.locator(ready).first().waitFor({ state: 'attached' });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `#${name} scrolls sideways by ${overflow}px at 375 px`);
    assert.deepEqual(await audit(page), [], `#${name} in dark`);
  }
  await page.screenshot({ path: join(ROOT, 'docs', 'console-config-phone.png'), fullPage: false });
  await page.locator('#lang').click();
  assert.equal(await page.locator('#nav a[href="#quality"]').textContent(), 'Quality');
  assert.deepEqual(errors, []);
  await context.close();
});
