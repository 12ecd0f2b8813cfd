// The admin console: sign-in, then one page per hash (#overview, #users, #keys, #ledger,
// #quality, #routing, #config). Every call goes to this origin's /admin API with the session cookie; calls that
// change something also send the session's CSRF token in x-oachat-csrf. Data is written with
// textContent only: nothing from the API becomes HTML.
import { WORDS, initialLanguage } from './console-i18n.js?v=@VERSION@';

const $ = (id) => document.getElementById(id);
const state = { csrf: null, lang: initialLanguage(), chart: null, ledgerOffset: 0, user: null };
const PAGES = ['overview', 'usage', 'users', 'keys', 'ledger', 'quality', 'routing', 'config'];
// The ledger's endings (oachat_core::ledger::Ending), for the filter's choices.
const ENDINGS = ['completed', 'client_aborted', 'upstream_cut', 'failed', 'cached', 'abandoned',
  'filtered', 'upstream_error'];

function t(word, fill = {}) {
  let text = WORDS[state.lang][word] || WORDS.en[word] || word;
  for (const [name, value] of Object.entries(fill)) text = text.replace(`{${name}}`, value);
  return text;
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

/** Stat boxes: a label word and a figure each. */
function fillStats(container, stats) {
  container.replaceChildren();
  for (const [word, value] of stats) {
    const box = document.createElement('div');
    box.className = 'stat';
    const label = document.createElement('span');
    label.textContent = t(word);
    const figure = document.createElement('strong');
    figure.textContent = value;
    box.append(label, figure);
    container.append(box);
  }
}

/** A row saying there is nothing, across the table. */
function emptyRow(table, word) {
  const cell = table.tBodies[0].insertRow().insertCell();
  cell.colSpan = table.tHead.rows[0].cells.length;
  cell.textContent = t(word);
}

const when = (ms) => (ms ? new Date(ms).toISOString().slice(0, 16).replace('T', ' ') : '');
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
  fillStats($('overview-stats'), [['requests', number(totals.requests)], ['tokens', number(totals.tokens)],
    ['cached', number(totals.cached)], ['cost', usd(totals.cost)]]);
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
function drawSpend(rows, id = 'overview-chart', slot = 'chart') {
  const element = $(id);
  const xs = rows.map((row) => Date.parse(`${row.key}T00:00:00Z`) / 1000);
  const ys = rows.map((row) => row.cost_usd);
  element.dataset.points = JSON.stringify(rows.map((row) => [row.key, row.cost_usd]));
  state[slot]?.destroy();
  element.replaceChildren();
  if (!window.uPlot) return;
  // clientWidth includes the box's padding (8 px each side).
  const width = Math.max(240, Math.min((element.clientWidth || 800) - 16, 1100));
  const styles = getComputedStyle(document.documentElement);
  const stroke = styles.getPropertyValue('--accent').trim() || '#1d4ed8';
  // A canvas does not resolve currentColor: the axes take the theme's text colour by value.
  const ink = styles.getPropertyValue('--fg').trim() || '#1a1d23';
  const day = 86400;
  state[slot] = new window.uPlot({
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
    state[slot].setScale('x', { min: first - pad, max: last + pad });
  }
}

// The chart follows its box (a scroll bar appearing, a phone turned sideways).
const chartResize = new ResizeObserver(() => {
  const element = $('overview-chart');
  if (state.chart && element.clientWidth > 0) {
    state.chart.setSize({ width: Math.max(240, Math.min(element.clientWidth - 16, 1100)), height: 220 });
  }
});

async function loadUsers() {
  await searchUsers();
}

async function searchUsers(event) {
  event?.preventDefault();
  const text = $('user-search').value.trim();
  const query = new URLSearchParams();
  if (text) query.set('q', text);
  const ticket = (state.usersTicket = (state.usersTicket || 0) + 1);
  const { users } = await api('GET', `/admin/users?${query}`);
  if (ticket !== state.usersTicket) return;
  const table = $('users-table');
  fillTable(table, [
    ['user', (row) => row.user], ['requests', (row) => number(row.requests)],
    ['today_tokens', (row) => number(row.today_tokens)],
    ['today_cost', (row) => usd(row.today_micro_usd / 1e6)],
    ['month_cost', (row) => usd(row.month_micro_usd / 1e6)],
    ['last_active', (row) => when(row.last_ms)],
    ['open', (row) => {
      const open = button('open', () => showUser(row.user).catch(pageError));
      open.setAttribute('aria-label', `${t('open')} ${row.user}`);
      return open;
    }],
  ], users);
  if (!users.length) emptyRow(table, 'users_none');
  // Which search the table shows (the tests wait for it).
  table.dataset.query = text;
}

async function lookUpUser(event) {
  event.preventDefault();
  await showUser($('user-id').value.trim());
}

/** Tokens and USD of one period: "1,234 · 0.0012 USD"; `null` limits read as unlimited. */
function amount(tokens, microUsd) {
  const part = (value, format) => (value === null || value === undefined ? t('unlimited') : format(value));
  return `${part(tokens, number)} · ${part(microUsd, (v) => usd(v / 1e6))} USD`;
}

async function showUser(user) {
  const detail = await api('GET', `/admin/users/${encodeURIComponent(user)}`);
  state.user = detail.user;
  $('user-id').value = detail.user;
  $('user-name').textContent = detail.user;
  const blocked = Boolean(detail.blocked);
  $('user-blocked').hidden = !blocked;
  $('user-block-reason').textContent = blocked
    ? t('blocked_since', { t: when(detail.blocked.since_ms), r: detail.blocked.reason || '—' }) : '';
  $('block-button').hidden = blocked;
  $('unblock-button').hidden = !blocked;
  $('user-detail').dataset.blocked = String(blocked);
  const usage = detail.usage;
  const left = detail.remaining;
  if (usage) {
    fillStats($('user-stats'), [
      ['used_today', amount(usage.spent_tokens + usage.reserved_tokens, usage.spent_micro_usd + usage.reserved_micro_usd)],
      ['left_today', amount(left.day_tokens, left.day_micro_usd)],
      ['used_month', amount(usage.month_spent_tokens, usage.month_spent_micro_usd)],
      ['left_month', amount(left.month_tokens, left.month_micro_usd)],
    ]);
  } else {
    fillStats($('user-stats'), [['used_today', t('no_usage')]]);
  }
  $('user-usage').textContent = JSON.stringify(detail, null, 2);
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

async function setBlocked(blocked) {
  const user = state.user;
  if (!user) return;
  try {
    await api('PUT', `/admin/users/${encodeURIComponent(user)}/blocked`,
      { blocked, reason: $('block-reason').value.trim() });
    await showUser(user);
    $('block-reason').value = '';
    $('user-status').textContent = t(blocked ? 'user_blocked' : 'user_unblocked');
  } catch (error) {
    $('user-status').textContent = error.message;
  }
}

async function loadKeys() {
  const [health, keys, history] = await Promise.all([
    api('GET', '/admin/keys/health'), api('GET', '/admin/keys'), api('GET', '/admin/keys/history?days=7'),
  ]);
  drawKeyHistory(history);
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

/** Each key's states over the window (`GET /admin/keys/history`) as a bar of coloured spans,
 * with the same story in words for screen readers and in data-states for the tests. */
function drawKeyHistory(history) {
  const list = $('health-history');
  list.replaceChildren();
  const span = Math.max(history.now_ms - history.since_ms, 1);
  const keys = new Map();
  for (const key of history.current) keys.set(`${key.upstream} ${key.key_id}`, []);
  for (const change of history.changes) {
    const name = `${change.upstream} ${change.key_id}`;
    if (!keys.has(name)) keys.set(name, []);
    keys.get(name).push(change);
  }
  for (const [name, changes] of keys) {
    // Before its first change in the window a key is taken to have been ok; a cooling period
    // ends at its `until` even without another change.
    const pieces = [];
    let state = 'ok';
    let from = history.since_ms;
    for (const change of changes) {
      pieces.push([state, from, change.at_ms]);
      state = change.state;
      from = change.at_ms;
      if (state === 'cooling' && change.until_ms) {
        const next = changes[changes.indexOf(change) + 1]?.at_ms ?? history.now_ms;
        if (change.until_ms < next) {
          pieces.push(['cooling', from, change.until_ms]);
          state = 'ok';
          from = change.until_ms;
        }
      }
    }
    pieces.push([state, from, history.now_ms]);
    const item = document.createElement('li');
    item.dataset.key = name;
    item.dataset.states = pieces.filter(([, a, b]) => b > a).map(([s]) => s).join(' ');
    const label = document.createElement('span');
    label.className = 'key-name';
    label.textContent = name;
    const bar = document.createElement('div');
    bar.className = 'timeline';
    bar.setAttribute('role', 'img');
    const words = [];
    for (const [piece, a, b] of pieces) {
      if (b <= a) continue;
      const segment = document.createElement('span');
      segment.className = `seg ${piece}`;
      // CSSOM, not a style attribute: the page's CSP allows no inline styles.
      segment.style.width = `${((b - a) / span) * 100}%`;
      bar.append(segment);
      words.push(`${t(`state_${piece}`)} ${new Date(a).toISOString().slice(5, 16).replace('T', ' ')}`);
    }
    bar.setAttribute('aria-label', `${name}: ${words.join(', ')}`);
    item.append(label, bar);
    list.append(item);
  }
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

/** The ledger's filters as query parameters (empty ones left out). */
function ledgerFilters() {
  const query = new URLSearchParams();
  for (const [name, id] of [['user', 'ledger-user'], ['model', 'ledger-model'], ['route', 'ledger-route'],
    ['ending', 'ledger-ending'], ['from', 'ledger-from'], ['to', 'ledger-to']]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  return query;
}

async function loadLedger(event) {
  // A new filter starts at the first page; coming back to the page keeps the one shown.
  if (event) {
    event.preventDefault();
    state.ledgerOffset = 0;
  }
  if (!$('ledger-ending').options.length) {
    $('ledger-ending').append(new Option(t('any'), ''), ...ENDINGS.map((ending) => new Option(ending, ending)));
  }
  $('ledger-ending').options[0].text = t('any');
  const filters = ledgerFilters();
  const query = new URLSearchParams(filters);
  query.set('limit', '50');
  query.set('offset', String(state.ledgerOffset));
  // Only the latest request draws: an earlier one answering late must not replace it.
  const ticket = (state.ledgerTicket = (state.ledgerTicket || 0) + 1);
  const { rows, next_offset: next, offset } = await api('GET', `/admin/ledger?${query}`);
  if (ticket !== state.ledgerTicket) return;
  const table = $('ledger-table');
  fillTable(table, [
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
  if (!rows.length) emptyRow(table, 'no_rows');
  $('ledger-range').textContent = rows.length ? t('rows_shown', { a: offset + 1, b: offset + rows.length }) : '';
  $('ledger-prev').disabled = offset === 0;
  $('ledger-next').disabled = next === null || next === undefined;
  state.ledgerNext = next;
  // Which filter and page the table shows (the tests wait for them).
  table.dataset.user = filters.get('user') || '';
  table.dataset.query = filters.toString();
  table.dataset.offset = String(offset);
}

async function pageLedger(forward) {
  if (forward && state.ledgerNext !== null && state.ledgerNext !== undefined) state.ledgerOffset = state.ledgerNext;
  if (!forward) state.ledgerOffset = Math.max(0, state.ledgerOffset - 50);
  await loadLedger();
}

async function loadQuality(event) {
  event?.preventDefault();
  const query = new URLSearchParams();
  for (const name of ['from', 'to']) {
    const value = $(`quality-${name}`).value;
    if (value) query.set(name, value);
  }
  const ticket = (state.qualityTicket = (state.qualityTicket || 0) + 1);
  const quality = await api('GET', `/admin/quality?${query}`);
  if (ticket !== state.qualityTicket) return;
  fillStats($('quality-stats'), [['up', number(quality.up)], ['down', number(quality.down)]]);
  const share = (row) => (row.up + row.down ? `${Math.round((100 * row.down) / (row.up + row.down))}%` : '');
  const table = $('quality-table');
  fillTable(table, [
    ['route', (row) => row.route], ['model', (row) => row.model], ['up', (row) => number(row.up)],
    ['down', (row) => number(row.down)], ['down_share', share],
  ], quality.by_route_model);
  if (!quality.by_route_model.length) emptyRow(table, 'no_rows');
  const list = $('quality-list');
  list.replaceChildren();
  for (const row of quality.rated_down) {
    const item = document.createElement('article');
    item.className = 'card rated';
    item.dataset.id = row.id;
    const head = document.createElement('h4');
    head.textContent = `${when(row.ts_ms)} · ${row.user} · ${row.route} · ${row.model_used}`;
    item.append(head);
    if (row.conversation) {
      for (const [word, text] of [['question', row.conversation.question], ['answer', row.conversation.answer]]) {
        if (text === null || text === undefined) continue;
        const label = document.createElement('p');
        label.className = 'muted';
        label.textContent = t(word);
        const body = document.createElement('p');
        body.className = `turn ${word}`;
        body.textContent = text;
        item.append(label, body);
      }
    } else {
      const none = document.createElement('p');
      none.className = 'muted not-kept';
      none.textContent = t('not_kept');
      item.append(none);
    }
    list.append(item);
  }
  if (!quality.rated_down.length) {
    const none = document.createElement('p');
    none.textContent = t('none_rated_down');
    list.append(none);
  }
  list.dataset.count = String(quality.rated_down.length);
  list.dataset.query = query.toString();
}

/** A config value as text: lists of plain values joined, nothing as a dash. */
function configText(value) {
  if (value === null || value === undefined) return '—';
  if (Array.isArray(value)) return value.length ? value.map(configText).join(', ') : '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `value`'s leaves as [path, text]; a list of plain values is one leaf, a list of tables
 * is named by each table's `name` where it has one. */
function leaves(value, path = []) {
  const plain = (item) => item === null || typeof item !== 'object';
  if (plain(value) || (Array.isArray(value) && value.every(plain))) return [[path.join('.'), configText(value)]];
  const entries = Array.isArray(value)
    ? value.map((item, index) => [item && typeof item.name === 'string' ? item.name : `[${index}]`, item])
    : Object.entries(value);
  if (!entries.length) return [[path.join('.'), '—']];
  return entries.flatMap(([key, item]) => leaves(item, [...path, key]));
}

/** A two-column table of settings. */
function settingsTable(rows) {
  const table = document.createElement('table');
  fillTable(table, [['setting', (row) => row[0]], ['value', (row) => row[1]]], rows);
  for (const cell of table.querySelectorAll('tbody td:nth-child(2)')) cell.className = 'wrap';
  const box = document.createElement('div');
  box.className = 'scroll';
  // A box that may scroll sideways (a phone) must be reachable by keyboard.
  box.tabIndex = 0;
  box.append(table);
  return box;
}

// Sections shown open; the long ones (routes, prompts, prices) start closed.
const OPEN_SECTIONS = new Set(['general', 'tiers', 'budget', 'upstreams', 'departments', 'guest_pool', 'alerts']);

async function loadConfig() {
  const shown = await api('GET', '/admin/config');
  const validation = $('config-validation');
  validation.replaceChildren();
  const verdict = document.createElement('p');
  verdict.className = shown.validation.valid ? 'ok' : 'error';
  verdict.textContent = t('valid');
  validation.append(verdict);
  const warnings = shown.validation.warnings || [];
  const heading = document.createElement('p');
  heading.textContent = warnings.length ? `${t('warnings')}:` : t('no_warnings');
  validation.append(heading);
  if (warnings.length) {
    const list = document.createElement('ul');
    list.id = 'config-warnings';
    for (const warning of warnings) {
      const item = document.createElement('li');
      item.textContent = warning;
      list.append(item);
    }
    validation.append(list);
  }
  const { upstream_keys: upstreamKeys, ...named } = shown.secrets;
  const secretRows = [
    ...Object.entries(named).map(([name, value]) => [name, t(value)]),
    ...upstreamKeys.map((row) => [`${row.secret} (${row.upstream})`, t('keys_count', { n: row.keys })]),
  ];
  fillTable($('config-secrets'), [['secret', (row) => row[0]], ['value', (row) => row[1]]], secretRows);
  const sections = $('config-sections');
  sections.replaceChildren();
  const config = shown.config || {};
  const general = Object.entries(config).filter(([, value]) => value === null || typeof value !== 'object' || (Array.isArray(value) && value.every((item) => item === null || typeof item !== 'object')));
  const groups = [['general', general.flatMap(([key, value]) => leaves(value, [key]))]];
  for (const [key, value] of Object.entries(config)) {
    if (general.some(([name]) => name === key)) continue;
    groups.push([key, leaves(value)]);
  }
  for (const [name, rows] of groups) {
    const section = document.createElement('details');
    section.className = 'section';
    section.dataset.section = name;
    section.open = OPEN_SECTIONS.has(name);
    const summary = document.createElement('summary');
    summary.textContent = name === 'general' ? t('general') : name;
    section.append(summary, settingsTable(rows.map(([path, text]) => [path || name, text])));
    sections.append(section);
  }
  $('config-raw').textContent = JSON.stringify(shown, null, 2);
}

async function explainRoute(event) {
  event.preventDefault();
  const text = $('route-text').value;
  const decision = await api('GET', `/admin/route?${new URLSearchParams({ text })}`);
  $('route-result').textContent = JSON.stringify(decision, null, 2);
  $('route-result').hidden = false;
}

/** The report's query from the Usage page's form (empty fields left out). */
function usageQuery() {
  const query = new URLSearchParams({ group: $('usage-group').value });
  for (const [name, id] of [['from', 'usage-from'], ['to', 'usage-to'], ['user', 'usage-user'], ['model', 'usage-model']]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  return query;
}

/** The Usage page: `GET /admin/usage` grouped and filtered as the form says (read from the
 * ledger's daily rollup): by day a uPlot line, otherwise one bar per group; the table; the
 * same report as CSV and XLSX. */
async function loadUsage(event) {
  event?.preventDefault();
  const query = usageQuery();
  const report = await api('GET', `/admin/usage?${query}`);
  const rows = report.data;
  for (const [id, format] of [['usage-csv', 'csv'], ['usage-xlsx', 'xlsx']]) {
    const link = new URLSearchParams(query);
    link.set('format', format);
    $(id).href = `/admin/usage?${link}`;
  }
  const byDay = query.get('group') === 'day';
  $('usage-chart').hidden = !byDay;
  $('usage-bars').hidden = byDay;
  if (byDay) {
    drawSpend(rows, 'usage-chart', 'usageChart');
  } else {
    const list = $('usage-bars');
    list.replaceChildren();
    const top = Math.max(...rows.map((row) => row.cost_usd), 0);
    for (const row of [...rows].sort((a, b) => b.cost_usd - a.cost_usd)) {
      const item = document.createElement('li');
      item.dataset.key = row.key;
      const name = document.createElement('span');
      name.textContent = row.key || '—';
      const bar = document.createElement('span');
      bar.className = 'bar';
      // CSSOM, not a style attribute: the page's CSP allows no inline styles.
      bar.style.width = `${top > 0 ? Math.max((row.cost_usd / top) * 100, 0.5) : 0.5}%`;
      const figure = document.createElement('span');
      figure.textContent = usd(row.cost_usd);
      item.append(name, bar, figure);
      list.append(item);
    }
  }
  fillTable($('usage-table'), [
    [query.get('group') === 'dept' ? 'department' : query.get('group'), (row) => row.key],
    ['requests', (row) => number(row.requests)],
    ['tokens', (row) => number(row.total_tokens)],
    ['cached', (row) => number(row.cached_tokens)],
    ['reasoning', (row) => number(row.reasoning_tokens)],
    ['cost', (row) => usd(row.cost_usd)],
  ], rows);
}

const LOADERS = {
  overview: loadOverview, usage: loadUsage, users: loadUsers, keys: loadKeys, ledger: loadLedger, quality: loadQuality,
  config: loadConfig,
};

function pageError(error) {
  if (error.status !== 401) $('page-error').textContent = error.message;
}

function guarded(handler) {
  return (event) => handler(event).catch(pageError);
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
  $('user-search-form').addEventListener('submit', guarded(searchUsers));
  $('user-form').addEventListener('submit', guarded(lookUpUser));
  $('tier-form').addEventListener('submit', guarded(saveTier));
  $('block-form').addEventListener('submit', guarded(async (event) => {
    event.preventDefault();
    await setBlocked(true);
  }));
  $('unblock-button').addEventListener('click', guarded(() => setBlocked(false)));
  $('ledger-prev').addEventListener('click', guarded(() => pageLedger(false)));
  $('ledger-next').addEventListener('click', guarded(() => pageLedger(true)));
  $('quality-form').addEventListener('submit', guarded(loadQuality));
  $('key-form').addEventListener('submit', guarded(createKey));
  $('usage-form').addEventListener('submit', guarded(loadUsage));
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
