// The admin console through the real worker and Chromium: the session sign-in (cookie
// attributes, wrong token, expiry, CSRF refusal, bearer unchanged, no CORS), and the pages
// (charts drawn from known ledger rows, virtual keys, tier override, CSV export, Chinese and
// English, phone width), with an axe-core audit of every page and screenshots for docs/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { launch, openWidget } from '../../widget/tests/browser.mjs';
import { audit, openConsole as sharedOpenConsole, signInPage } from './console-harness.mjs';
import { ADMIN_TOKEN, ROOT, admin, chat, mintToken, poll, startStack } from './harness.mjs';

const TIERS = {
  default_tier: 'staff',
  tiers: {
    staff: { models: ['gpt-4o-mini'], daily_tokens: 10_000_000, rpm: 1000 },
    vip: { models: ['gpt-4o-mini'], daily_tokens: 10_000_000, rpm: 1000 },
  },
};

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'console', config: TIERS });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const ask = (text) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

async function signIn(url, token = ADMIN_TOKEN) {
  return fetch(`${url}/admin/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
}

/** The cookie pair from a sign-in's Set-Cookie, for fetch calls outside the browser. */
function cookieOf(response) {
  return response.headers.get('set-cookie').split(';')[0];
}

const openConsole = (options) => sharedOpenConsole(browser, stack.url, options);

test('the console page is served with a strict CSP and no inline script', async () => {
  const response = await fetch(`${stack.url}/admin`);
  assert.equal(response.status, 200);
  const csp = response.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /frame-ancestors 'none'/);
  const html = await response.text();
  for (const script of html.match(/<script[^>]*>/g)) assert.match(script, /src="\/admin\//);
  assert.equal((await fetch(`${stack.url}/admin/uplot.js`)).status, 200);
  // No data without a session.
  assert.equal((await fetch(`${stack.url}/admin/keys`)).status, 401);
});

test('/admin never gets CORS headers, even for an allowed origin', async () => {
  const origin = stack.url; // on the stack's allowed_origins
  const health = await fetch(`${stack.url}/healthz`, { headers: { origin } });
  assert.equal(health.headers.get('access-control-allow-origin'), origin, 'the origin is allowed elsewhere');
  for (const path of ['/admin', '/admin/keys', '/admin/session']) {
    const preflight = await fetch(`${stack.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-oachat-csrf' },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null, path);
    assert.equal(preflight.headers.get('access-control-allow-headers'), null, path);
  }
  const listed = await admin(stack.url, '/admin/keys', { headers: { origin } });
  assert.equal(listed.status, 200);
  assert.equal(listed.headers.get('access-control-allow-origin'), null);
  const other = await admin(stack.url, '/admin/keys', { headers: { origin: 'https://evil.example' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
});

test('session sign-in: cookie attributes, wrong token, CSRF on every write, bearer unchanged', async () => {
  const wrong = await signIn(stack.url, `${ADMIN_TOKEN}x`);
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error.code, 'invalid_api_key');
  assert.equal(wrong.headers.get('set-cookie'), null);

  const tooBig = await signIn(stack.url, 'x'.repeat(17 * 1024));
  assert.equal(tooBig.status, 413);
  assert.equal((await tooBig.json()).error.code, 'body_too_large');

  const signedIn = await signIn(stack.url);
  assert.equal(signedIn.status, 200);
  const setCookie = signedIn.headers.get('set-cookie');
  for (const attribute of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/admin']) {
    assert.ok(setCookie.includes(attribute), `${attribute} in ${setCookie}`);
  }
  assert.ok(!setCookie.includes(ADMIN_TOKEN), 'the admin token is not the cookie');
  const { csrf, expires_ms } = await signedIn.json();
  assert.ok(csrf.length >= 40);
  assert.ok(expires_ms > Date.now());
  const cookie = cookieOf(signedIn);

  // Reads need only the cookie.
  const read = await fetch(`${stack.url}/admin/keys`, { headers: { cookie } });
  assert.equal(read.status, 200);
  const again = await (await fetch(`${stack.url}/admin/session`, { headers: { cookie } })).json();
  assert.equal(again.csrf, csrf, 'a reloaded page learns the same CSRF token');

  // Writes need the session's CSRF token too.
  const write = (headers) => fetch(`${stack.url}/admin/keys`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ name: 'csrf check' }),
  });
  for (const headers of [{}, { 'x-oachat-csrf': 'forged' }, { 'x-oachat-csrf': `${csrf}x` }]) {
    const refused = await write(headers);
    assert.equal(refused.status, 403);
    const body = await refused.json();
    assert.equal(body.error.code, 'csrf_refused');
    assert.equal(body.error.type, 'permission_error');
  }
  const other = await (await signIn(stack.url)).json();
  assert.equal((await write({ 'x-oachat-csrf': other.csrf })).status, 403, "another session's token");
  const { keys: before } = await (await admin(stack.url, '/admin/keys')).json();
  assert.ok(!before.some((key) => key.name === 'csrf check'), 'no refused write took effect');
  assert.equal((await write({ 'x-oachat-csrf': csrf })).status, 200);

  // The bearer API works as before, with no CSRF header.
  const bearer = await admin(stack.url, '/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'script' }) });
  assert.equal(bearer.status, 200);

  // A forged cookie is no session.
  const forged = await fetch(`${stack.url}/admin/keys`, { headers: { cookie: `${cookie.slice(0, -3)}abc` } });
  assert.equal(forged.status, 401);

  // Logout is a write (CSRF) and clears the cookie.
  assert.equal((await fetch(`${stack.url}/admin/session/logout`, { method: 'POST', headers: { cookie } })).status, 403);
  const out = await fetch(`${stack.url}/admin/session/logout`, { method: 'POST', headers: { cookie, 'x-oachat-csrf': csrf } });
  assert.equal(out.status, 200);
  assert.match(out.headers.get('set-cookie'), /Max-Age=0/);
});

test('a session ends after its configured lifetime', async () => {
  const short = await startStack({ name: 'console-expiry', config: TIERS, vars: { OACHAT_ADMIN_SESSION_TTL_S: '2' } });
  try {
    const signedIn = await signIn(short.url);
    assert.equal(signedIn.status, 200);
    assert.match(signedIn.headers.get('set-cookie'), /Max-Age=2;/);
    const cookie = cookieOf(signedIn);
    assert.equal((await fetch(`${short.url}/admin/keys`, { headers: { cookie } })).status, 200);
    // Waits for the server to say so; no assertion on how long that took.
    const ended = await poll('session expiry', async () => {
      const response = await fetch(`${short.url}/admin/keys`, { headers: { cookie } });
      return response.status === 401 ? response.json() : null;
    }, 15_000);
    assert.equal(ended.error.code, 'session_expired');

    // In the browser the page goes back to sign-in with a message.
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${short.url}/admin`);
    await page.locator('body[data-ready="true"]').waitFor();
    await signInPage(page);
    const expired = page.locator('#signin-error', { hasText: 'session has ended' });
    await poll('page sees expiry', async () => {
      await page.evaluate(() => { location.hash = location.hash === '#keys' ? '#ledger' : '#keys'; });
      return (await expired.count()) > 0;
    }, 15_000);
    assert.equal(await page.locator('#signin').isVisible(), true);
    await context.close();
  } finally {
    await short.stop();
  }
});

test('console in Chromium: wrong token, sign-in on http://127.0.0.1, charts from known ledger rows, CSV', async () => {
  // Known rows: two users chat on this stack; the chart must show the ledger's spend per day.
  for (const sub of ['console-a', 'console-b', 'console-a']) {
    const response = await chat(stack.url, mintToken({ sub }), ask(`hello from ${sub}`));
    assert.equal(response.status, 200);
    await response.json();
  }
  const rows = await poll('ledger rows', async () => {
    const { rows } = await (await admin(stack.url, '/admin/ledger?limit=1000')).json();
    return rows.filter((row) => row.user.startsWith('u:console-')).length >= 3 ? rows : null;
  }, 10_000);
  const expected = new Map();
  for (const row of rows) expected.set(row.day, (expected.get(row.day) || 0) + row.cost_micro_usd);

  const { context, page, errors } = await openConsole();
  await signInPage(page, 'not-the-token');
  await page.locator('#signin-error', { hasText: 'Wrong admin token' }).waitFor();

  await signInPage(page);
  await page.locator('#overview-stats .stat').first().waitFor();
  // The Secure cookie is kept by Chromium on http://127.0.0.1 (a secure context), and HttpOnly.
  const cookies = await context.cookies(stack.url + '/admin');
  const session = cookies.find((c) => c.name === 'oachat_admin');
  assert.ok(session, 'Chromium kept the Secure cookie on http://127.0.0.1');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie.includes('oachat_admin')), false);

  const points = JSON.parse(await page.locator('#overview-chart').getAttribute('data-points'));
  assert.deepEqual(
    points.map(([day, cost]) => [day, Math.round(cost * 1e6)]),
    [...expected.entries()].sort(([a], [b]) => a.localeCompare(b)),
  );
  assert.equal(await page.locator('#overview-chart canvas').count(), 1, 'uPlot drew the line');
  const requests = await page.locator('#overview-stats .stat').first().locator('strong').textContent();
  assert.equal(Number(requests.replace(/,/g, '')), rows.length);
  assert.ok(await page.locator('#overview-models td', { hasText: 'gpt-4o-mini' }).count() >= 1);

  // Today (GET /admin/overview, from the rollups): the day's requests, and the heaviest user.
  const today = rows.filter((row) => row.day === rows[0].day);
  const todayRequests = await page.locator('.period[data-period="today"] dd[data-figure="requests"]').textContent();
  assert.equal(Number(todayRequests.replace(/,/g, '')), today.filter((row) => row.ending !== 'abandoned').length);
  const heaviest = await page.locator('#top-users-today tbody tr').first().locator('td').first().textContent();
  assert.equal(heaviest, 'u:console-a', 'two requests outweigh one');
  // The page names its modules with the worker's version of them, never a fixed ?v=.
  const html = await (await fetch(`${stack.url}/admin`)).text();
  assert.match(html, /console\.js\?v=[0-9a-f]{12}"/);
  assert.doesNotMatch(html, /@VERSION@/);

  // CSV export with the page's own cookie.
  const csv = await page.evaluate(async () => {
    const href = document.getElementById('csv-link').getAttribute('href');
    const response = await fetch(href, { credentials: 'same-origin' });
    return { type: response.headers.get('content-type'), text: await response.text() };
  });
  assert.match(csv.type, /text\/csv/);
  const lines = csv.text.trim().split(/\r?\n/);
  assert.match(lines[0], /^day,requests,/);
  assert.equal(lines.length - 1, expected.size);

  // The Usage page: grouped by user, a bar and a table row per user, as the report says.
  await page.locator('#nav a[href="#usage"]').click();
  await page.locator('#usage-table tbody tr').first().waitFor();
  await page.locator('#usage-group').selectOption('user');
  await page.locator('#usage-form button').click();
  await page.locator('#usage-bars li').first().waitFor();
  const byUser = (await (await admin(stack.url, '/admin/usage?group=user')).json()).data;
  const bars = await page.locator('#usage-bars li').evaluateAll((items) => items.map((item) => item.dataset.key));
  assert.deepEqual(bars.sort(), byUser.map((row) => row.key).sort());
  assert.equal(await page.locator('#usage-table tbody tr').count(), byUser.length);
  assert.match(await page.locator('#usage-xlsx').getAttribute('href'), /group=user.*format=xlsx/);
  assert.deepEqual(await audit(page), []);
  await page.locator('#nav a[href="#overview"]').click();
  await page.locator('#overview-stats .stat').first().waitFor();

  assert.deepEqual(await audit(page), []);
  assert.deepEqual(errors, []);
  await context.close();
});

test('console: create and revoke a virtual key, override a tier, ledger detail, routing', async () => {
  const answer = await chat(stack.url, mintToken({ sub: 'console-c' }), ask('a row to find'));
  assert.equal(answer.status, 200);
  await answer.json();
  await poll('ledger row', async () => {
    const { rows } = await (await admin(stack.url, '/admin/ledger?user=u%3Aconsole-c')).json();
    return rows.length === 1;
  }, 10_000);
  const { context, page, errors } = await openConsole();
  await signInPage(page);
  await page.locator('#overview-stats .stat').first().waitFor();

  await page.locator('#nav a[href="#keys"]').click();
  await page.locator('#key-name').fill('console key');
  await page.locator('#key-form button').click();
  const shown = await page.locator('#new-key code').textContent();
  assert.match(shown, /^oak-[0-9a-f]{48}$/);
  const works = await chat(stack.url, shown, ask('with a console key'));
  assert.equal(works.status, 200);
  await works.json();
  const row = page.locator('#keys-table tr', { hasText: 'console key' });
  assert.ok(!(await page.locator('#keys-table').textContent()).includes(shown), 'the list never shows a key');
  // Key health over time: every upstream key has a bar, by id; this stack's keys never failed.
  const bars = page.locator('#health-history li');
  await bars.first().waitFor();
  for (const item of await bars.all()) {
    assert.match(await item.getAttribute('data-key'), /^\S+ key_[0-9a-f]{8}$/);
    assert.equal(await item.getAttribute('data-states'), 'ok');
  }
  assert.deepEqual(await audit(page), []);
  await row.locator('button').click();
  await row.locator('td', { hasText: 'revoked' }).waitFor();
  const refused = await chat(stack.url, shown, ask('after revoking'));
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.code, 'invalid_api_key');

  await page.locator('#nav a[href="#users"]').click();
  await page.locator('#user-id').fill('u:console-a');
  await page.locator('#user-form button').click();
  await page.locator('#user-detail:not([hidden])').waitFor();
  await page.locator('#tier-name').fill('vip');
  await page.locator('#tier-form button').click();
  await page.locator('#user-status', { hasText: 'Saved.' }).waitFor();
  const user = await (await admin(stack.url, '/admin/users/u%3Aconsole-a')).json();
  assert.equal(user.tier_override, 'vip');
  await page.locator('#tier-name').fill('no-such-tier');
  await page.locator('#tier-form button').click();
  await page.locator('#user-status', { hasText: 'Unknown tier' }).waitFor();
  // That refusal is the one console error this test provokes.
  errors.splice(0, errors.length, ...errors.filter((error) => !/status of 400 .*\/tier$/.test(error)));
  assert.deepEqual(await audit(page), []);

  await page.locator('#nav a[href="#ledger"]').click();
  await page.locator('#ledger-user').fill('u:console-c');
  await page.locator('#ledger-form button').click();
  // The unfiltered page is there first; wait for the filtered one to replace it.
  await page.locator('#ledger-table[data-user="u:console-c"]').waitFor();
  assert.equal(await page.locator('#ledger-table tbody tr').count(), 1);
  assert.equal(await page.locator('#ledger-table tbody tr td:nth-child(2)').textContent(), 'u:console-c');
  await page.locator('#ledger-table tbody tr button').click();
  assert.match(await page.locator('#ledger-detail').textContent(), /"user": "u:console-c"/);
  assert.deepEqual(await audit(page), []);

  await page.locator('#nav a[href="#routing"]').click();
  await page.locator('#route-text').fill('Translate this into English: 你好');
  await page.locator('#route-form button').click();
  await page.locator('#route-result:not([hidden])').waitFor();
  assert.match(await page.locator('#route-result').textContent(), /"route": "translate"/);
  assert.deepEqual(await audit(page), []);

  const html = await page.content();
  for (const secret of stack.secrets) assert.ok(!html.includes(secret), 'no upstream key on the page');
  assert.deepEqual(errors, []);
  await context.close();
});

test('console: Chinese and English, dark, phone width; screenshots', async () => {
  const { context, page } = await openConsole({ locale: 'zh-CN', colorScheme: 'dark' });
  assert.equal(await page.locator('#signin h2').textContent(), '登录');
  await signInPage(page);
  await page.locator('#overview-stats .stat').first().waitFor();
  assert.equal(await page.locator('#nav a[href="#overview"]').textContent(), '概览');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  assert.deepEqual(await audit(page), []);
  await page.screenshot({ path: join(ROOT, 'docs', 'console-overview-dark.png'), fullPage: true });
  await page.locator('#lang').click();
  assert.equal(await page.locator('#nav a[href="#overview"]').textContent(), 'Overview');
  // The choice is remembered over the browser's language.
  await page.reload();
  await page.locator('#overview-stats .stat').first().waitFor();
  assert.equal(await page.locator('#nav a[href="#overview"]').textContent(), 'Overview');
  await context.close();

  const light = await openConsole();
  await signInPage(light.page);
  await light.page.locator('#overview-chart canvas').waitFor();
  await light.page.screenshot({ path: join(ROOT, 'docs', 'console-overview.png'), fullPage: true });
  await light.context.close();

  const phone = await openConsole({ viewport: { width: 375, height: 740 } });
  await signInPage(phone.page);
  await phone.page.locator('#overview-chart canvas').waitFor();
  for (const hash of ['#overview', '#usage', '#users', '#keys', '#ledger', '#routing']) {
    await phone.page.evaluate((h) => { location.hash = h; }, hash);
    await phone.page.locator(`#page-${hash.slice(1)}:not([hidden])`).waitFor();
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${hash} scrolls sideways by ${overflow}px at 375 px`);
  }
  await phone.page.evaluate(() => { location.hash = '#overview'; });
  await phone.page.locator('#overview-chart canvas').waitFor();
  // The chart fits its box, scroll bar or not.
  const [chartRight, boxRight] = await phone.page.evaluate(() => [
    document.querySelector('#overview-chart .uplot').getBoundingClientRect().right,
    document.getElementById('overview-chart').getBoundingClientRect().right,
  ]);
  assert.ok(chartRight <= boxRight, `chart ${chartRight} inside its box ${boxRight}`);
  await phone.page.screenshot({ path: join(ROOT, 'docs', 'console-phone.png'), fullPage: true });
  await phone.context.close();
});

// Only the widget: the demo OA page around it is an example host page, not oachat's.
test('axe-core: the widget with its panel open has no serious or critical violations', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${stack.url}/demo`);
  await openWidget(page);
  assert.deepEqual(await audit(page, 'oachat-widget'), []);
  // The audit did reach into the widget's (open) shadow root: its panel's controls were checked.
  const checked = await page.evaluate(async () => {
    const result = await window.axe.run({ include: [['oachat-widget']] });
    return result.passes.flatMap((rule) => rule.nodes.map((node) => JSON.stringify(node.target)));
  });
  assert.ok(checked.some((target) => target.includes('oc-input')), 'axe checked the panel input');
  await context.close();
});
