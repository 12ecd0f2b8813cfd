// The admin console: sign-in, then one page per hash (#overview, #users, #keys, #ledger,
// #routing). Every call goes to this origin's /admin API with the session cookie; calls that
// change something also send the session's CSRF token in x-oachat-csrf. Data is written with
// textContent only: nothing from the API becomes HTML.
import { WORDS, initialLanguage } from './console-i18n.js?v=@VERSION@';

const $ = (id) => document.getElementById(id);
const state = { csrf: null, lang: initialLanguage(), chart: null };
const PAGES = ['overview', 'users', 'keys', 'ledger', 'routing'];

function t(word) {
  return WORDS[state.lang][word] || WORDS.en[word] || word;
}

function applyLanguage() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const element of document.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  // The switch names the other language in that language.
  $('lang').textContent = state.lang === 'zh' ? 'English' : '中文';
  $('lang').lang = state.lang === 'zh' ? 'en' : 'zh-CN';
}

function applyTheme() {
  const chosen = localStorage.getItem('oachat-console-theme');
  if (chosen) document.documentElement.dataset.theme = chosen;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['x-oachat-csrf'] = state.csrf || '';
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, json);
    // A 401 after signing in means the session ended: the server says session_expired, or
    // the browser already dropped the cookie at its Max-Age and sent none. Only the first of
    // several calls in flight switches to the sign-in form (the others must not clear its message).
    if (response.status === 401 && state.csrf) showSignIn(t('expired'));
    throw error;
  }
  return json;
}

function showSignIn(message) {
  state.csrf = null;
  $('nav').hidden = true;
  $('logout').hidden = true;
  for (const page of PAGES) $(`page-${page}`).hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message || '';
}

function signedIn(session) {
  state.csrf = session.csrf;
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  show();
}

async function show() {
  if (!state.csrf) return;
  const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'overview';
  for (const name of PAGES) $(`page-${name}`).hidden = name !== page;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#${page}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  $('page-error').textContent = '';
  try {
    await LOADERS[page]?.();
  } catch (error) {
    if (error.status !== 401) $('page-error').textContent = error.message;
  }
}

/** A table from rows: `columns` are [heading word, cell function]; cells are text or nodes. */
function fillTable(table, columns, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const [word] of columns) {
    const cell = document.createElement('th');
    cell.scope = 'col';
    cell.textContent = t(word);
    head.append(cell);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const [, cell] of columns) {
      const value = cell(row);
      const td = line.insertCell();
      if (value instanceof Node) td.append(value);
      else td.textContent = value ?? '';
    }
  }
}

const usd = (value) => Number(value || 0).toFixed(4);
const number = (value) => Number(value || 0).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en');

function button(word, onClick) {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = t(word);
  element.addEventListener('click', onClick);
  return element;
}

async function loadOverview() {
  const [days, models, overview] = await Promise.all([
    api('GET', '/admin/usage?group=day'),
    api('GET', '/admin/usage?group=model'),
    api('GET', '/admin/overview'),
  ]);
  showPeriods(overview);
  const rows = [...days.data].sort((a, b) => a.key.localeCompare(b.key));
  const totals = rows.reduce((sum, row) => ({
    requests: sum.requests + row.requests,
    tokens: sum.tokens + row.total_tokens,
    cached: sum.cached + row.cached_tokens,
    cost: sum.cost + row.cost_usd,
  }), { requests: 0, tokens: 0, cached: 0, cost: 0 });
  const stats = $('overview-stats');
  stats.replaceChildren();
  for (const [word, value] of [['requests', number(totals.requests)], ['tokens', number(totals.tokens)],
    ['cached', number(totals.cached)], ['cost', usd(totals.cost)]]) {
    const box = document.createElement('div');
    box.className = 'stat';
    const label = document.createElement('span');
    label.textContent = t(word);
    const figure = document.createElement('strong');
    figure.textContent = value;
    box.append(label, figure);
    stats.append(box);
  }
  drawSpend(rows);
  fillTable($('overview-models'), [
    ['model', (row) => row.key], ['requests', (row) => number(row.requests)],
    ['tokens', (row) => number(row.total_tokens)], ['cost', (row) => usd(row.cost_usd)],
  ], models.data);
}

/** Today and this month (`GET /admin/overview`, from the ledger's rollups): spend against the
 * deployment's cap as a gauge, the period's figures, and the heaviest users and departments. */
function showPeriods(overview) {
  const caps = { today: overview.budget?.daily_usd, month: overview.budget?.monthly_usd };
  const ms = (value) => (value === null || value === undefined ? '–' : `${number(value)} ms`);
  for (const name of ['today', 'month']) {
    const period = overview.periods[name];
    const box = document.querySelector(`.period[data-period="${name}"]`);
    const meter = box.querySelector('meter');
    const cap = caps[name];
    meter.value = cap ? Math.min(period.cost_usd / cap, 1) : 0;
    meter.hidden = !cap;
    box.querySelector('output').textContent = cap
      ? `${usd(period.cost_usd)} / ${usd(cap)} (${Math.round((period.cost_usd / cap) * 100)}%)`
      : `${usd(period.cost_usd)} (${t('no_cap')})`;
    const errors = Object.entries(period.endings || {}).map(([ending, n]) => `${ending} ${number(n)}`).join(', ');
    const figures = [
      ['requests', number(period.requests)],
      ['tokens', number(period.prompt_tokens + period.completion_tokens)],
      ['cached', number(period.cached_tokens)],
      ['cache_hits', number(period.cache_hits)],
      ['failed', errors || '0'],
      ['feedback', `${t('rated_up')} ${number(period.feedback.up)} · ${t('rated_down')} ${number(period.feedback.down)}`],
      ['ttft', `p50 ${ms(period.ttft_p50_ms)} · p95 ${ms(period.ttft_p95_ms)}`],
    ];
    const list = box.querySelector('dl');
    list.replaceChildren();
    for (const [word, value] of figures) {
      const term = document.createElement('dt');
      term.textContent = t(word);
      const figure = document.createElement('dd');
      figure.dataset.figure = word;
      figure.textContent = value;
      list.append(term, figure);
    }
  }
  const columns = [['name', (row) => row.key], ['requests', (row) => number(row.requests)],
    ['tokens', (row) => number(row.tokens)], ['cost', (row) => usd(row.cost_usd)]];
  for (const [id, rows, word] of [
    ['top-users-today', overview.top_users.today, 'users_today'],
    ['top-users-month', overview.top_users.month, 'users_month'],
    ['top-depts-today', overview.top_departments.today, 'depts_today'],
    ['top-depts-month', overview.top_departments.month, 'depts_month'],
  ]) {
    const table = $(id);
    fillTable(table, columns, rows);
    table.createCaption().textContent = t(word);
  }
}

/** The spend line; the points given to uPlot are also on the element (data-points), so a test
 * can check what was drawn. */
function drawSpend(rows) {
  const element = $('overview-chart');
  const xs = rows.map((row) => Date.parse(`${row.key}T00:00:00Z`) / 1000);
  const ys = rows.map((row) => row.cost_usd);
  element.dataset.points = JSON.stringify(rows.map((row) => [row.key, row.cost_usd]));
  state.chart?.destroy();
  element.replaceChildren();
  if (!window.uPlot) return;
  // clientWidth includes the box's padding (8 px each side).
  const width = Math.max(240, Math.min((element.clientWidth || 800) - 16, 1100));
  const styles = getComputedStyle(document.documentElement);
  const stroke = styles.getPropertyValue('--accent').trim() || '#1d4ed8';
  // A canvas does not resolve currentColor: the axes take the theme's text colour by value.
  const ink = styles.getPropertyValue('--fg').trim() || '#1a1d23';
  const day = 86400;
  state.chart = new window.uPlot({
    width, height: 220,
    scales: {
      // One day alone would be stretched over years: show at least a week around it.
      x: { time: true },
      y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] },
    },
    series: [{}, { label: t('cost'), stroke, width: 2, points: { show: true } }],
    axes: [
      { stroke: ink },
      { stroke: ink, size: 64, values: (u, ticks) => ticks.map((v) => v.toFixed(v > 0 && v < 0.1 ? 4 : 2)) },
    ],
  }, [xs, ys], element);
  if (xs.length) {
    // One day alone would be stretched over years: show at least a week around the data.
    const first = xs[0];
    const last = xs[xs.length - 1];
    const pad = last - first < 6 * day ? 3 * day : day / 2;
    state.chart.setScale('x', { min: first - pad, max: last + pad });
  }
}

// The chart follows its box (a scroll bar appearing, a phone turned sideways).
const chartResize = new ResizeObserver(() => {
  const element = $('overview-chart');
  if (state.chart && element.clientWidth > 0) {
    state.chart.setSize({ width: Math.max(240, Math.min(element.clientWidth - 16, 1100)), height: 220 });
  }
});

async function loadUsers() {}

async function lookUpUser(event) {
  event.preventDefault();
  const user = $('user-id').value.trim();
  const detail = await api('GET', `/admin/users/${encodeURIComponent(user)}`);
  $('user-usage').textContent = JSON.stringify(detail.usage, null, 2);
  $('tier-name').value = detail.tier_override || '';
  $('user-detail').hidden = false;
  $('user-status').textContent = '';
}

async function saveTier(event) {
  event.preventDefault();
  const user = $('user-id').value.trim();
  const tier = $('tier-name').value.trim() || null;
  try {
    await api('PUT', `/admin/users/${encodeURIComponent(user)}/tier`, { tier });
    $('user-status').textContent = t('saved');
  } catch (error) {
    $('user-status').textContent = error.message;
  }
}

async function loadKeys() {
  const [health, keys] = await Promise.all([api('GET', '/admin/keys/health'), api('GET', '/admin/keys')]);
  // Key health lists key ids (hashes), never the keys themselves.
  const snapshots = (health.upstreams || []).flatMap(([upstream, snapshot]) =>
    Object.entries(snapshot.keys || {}).map(([id, key]) => ({ upstream, id, key })));
  const healthName = (value) => (typeof value === 'string' ? value : Object.keys(value || {})[0] || '');
  fillTable($('health-table'), [
    ['upstream', (row) => row.upstream], ['key', (row) => row.id],
    ['state', (row) => healthName(row.key.health)],
  ], snapshots);
  fillTable($('keys-table'), [
    ['name', (row) => row.name], ['tier', (row) => row.tier || ''],
    ['created', (row) => new Date(row.created_ms).toISOString().slice(0, 16).replace('T', ' ')],
    ['state', (row) => t(row.revoked ? 'revoked' : 'active')],
    ['revoke', (row) => (row.revoked ? '' : button('revoke', async () => {
      await api('DELETE', `/admin/keys/${encodeURIComponent(row.id)}`);
      await loadKeys();
    }))],
  ], keys.keys);
}

async function createKey(event) {
  event.preventDefault();
  const created = await api('POST', '/admin/keys', { name: $('key-name').value.trim() });
  const box = $('new-key');
  box.textContent = `${t('shown_once')} `;
  const code = document.createElement('code');
  code.textContent = created.key;
  box.append(code);
  box.hidden = false;
  $('key-name').value = '';
  await loadKeys();
}

async function loadLedger(event) {
  event?.preventDefault();
  const user = $('ledger-user').value.trim();
  const query = new URLSearchParams({ limit: '50' });
  if (user) query.set('user', user);
  const { rows } = await api('GET', `/admin/ledger?${query}`);
  fillTable($('ledger-table'), [
    ['time', (row) => new Date(row.ts_ms).toISOString().slice(5, 19).replace('T', ' ')],
    ['user', (row) => row.user], ['model', (row) => row.model_used], ['route', (row) => row.route],
    ['tokens', (row) => number(row.prompt_tokens + row.completion_tokens)],
    ['cost', (row) => usd(row.cost_micro_usd / 1e6)], ['ending', (row) => row.ending],
    ['details', (row) => button('details', () => {
      const detail = $('ledger-detail');
      detail.textContent = JSON.stringify(row, null, 2);
      detail.hidden = false;
    })],
  ], rows);
  // Which filter the table shows (the tests wait for it).
  $('ledger-table').dataset.user = user;
}

async function explainRoute(event) {
  event.preventDefault();
  const text = $('route-text').value;
  const decision = await api('GET', `/admin/route?${new URLSearchParams({ text })}`);
  $('route-result').textContent = JSON.stringify(decision, null, 2);
  $('route-result').hidden = false;
}

const LOADERS = { overview: loadOverview, users: loadUsers, keys: loadKeys, ledger: loadLedger };

function guarded(handler) {
  return (event) => handler(event).catch((error) => {
    if (error.status !== 401) $('page-error').textContent = error.message;
  });
}

async function start() {
  applyTheme();
  applyLanguage();
  $('lang').addEventListener('click', () => {
    state.lang = state.lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('oachat-console-lang', state.lang);
    applyLanguage();
    show();
  });
  $('theme').addEventListener('click', () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === 'dark'
      : matchMedia('(prefers-color-scheme: dark)').matches;
    localStorage.setItem('oachat-console-theme', dark ? 'light' : 'dark');
    applyTheme();
    show();
  });
  $('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const response = await fetch('/admin/session', {
      method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: $('admin-token').value }),
    });
    $('admin-token').value = '';
    if (!response.ok) {
      $('signin-error').textContent = t('wrong_token');
      return;
    }
    signedIn(await response.json());
  });
  $('logout').addEventListener('click', async () => {
    await api('POST', '/admin/session/logout').catch(() => {});
    showSignIn('');
  });
  $('user-form').addEventListener('submit', guarded(lookUpUser));
  $('tier-form').addEventListener('submit', guarded(saveTier));
  $('key-form').addEventListener('submit', guarded(createKey));
  $('ledger-form').addEventListener('submit', guarded(loadLedger));
  $('route-form').addEventListener('submit', guarded(explainRoute));
  addEventListener('hashchange', show);
  chartResize.observe($('overview-chart'));
  try {
    signedIn(await api('GET', '/admin/session'));
  } catch (error) {
    showSignIn(error.code === 'session_expired' ? t('expired') : '');
  }
  document.body.dataset.ready = 'true';
}

start();
