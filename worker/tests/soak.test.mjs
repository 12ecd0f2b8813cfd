// The soak: minutes of mixed concurrent traffic through the real worker, over every fault key
// of mock-openai, with client aborts, several users, a virtual key and guests. Afterwards it
// reconciles what the clients saw with what the worker booked: every admitted request has
// exactly one ledger row, each user's budget equals the sum of their rows, nobody spent past
// their tier, the deployment stayed under its cap, and no upstream key reached a client.
//
// OACHAT_SOAK_SECONDS sets how long traffic runs (default 30: what `make test` runs; `make soak`
// runs 300). OACHAT_SOAK_SEED replays a run's request sequence (each client loop draws from its
// own generator seeded from it; timing still differs, so refusals may land elsewhere).
// OACHAT_SOAK_WORKERS sets the concurrency (default 12). The summary is printed and written to
// test-results/soak-summary.json.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { RESULTS, admin, findSecrets, mintToken, startStack } from './harness.mjs';

const SOAK_SECONDS = positiveNumber('OACHAT_SOAK_SECONDS', 30);
const WORKERS = positiveNumber('OACHAT_SOAK_WORKERS', 12);
const SEED = process.env.OACHAT_SOAK_SEED
  ? Number(process.env.OACHAT_SOAK_SEED) >>> 0
  : Math.floor(Math.random() * 2 ** 32) >>> 0;
/** How long the worker gets, after traffic stops, to settle every reservation and move every row to D1. */
const SETTLE_SECONDS = positiveNumber('OACHAT_SOAK_SETTLE_SECONDS', 30);
/** A request that takes longer than this is stuck: the longest one the soak makes takes ~6 s. */
const HUNG_MS = 60_000;
/** Pause between one client's requests, so refusals (answered in a millisecond) do not spin. */
const THINK_MS = 120;

function positiveNumber(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${process.env[name]}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The stack: every fault key beside good keys, tiers small enough that every refusal happens.

/**
 * Upstreams and their keys. Keys are picked round-robin, so the fault keys take their share
 * of first attempts. sk-mock-slowgen, sk-mock-echo400, sk-mock-deactivated and sk-mock-reset
 * (and the `forbidden-*` models, the "Request too large" 429 and the `[mock ...]` pacing
 * directive) are newer mock behaviours: an older mock treats those keys as good ones and
 * answers those requests, which the soak tolerates because it reconciles whatever happened
 * rather than expecting a particular outcome.
 */
const UPSTREAMS = [
  ['pool', 'POOL_KEYS', 'sk-mock-429,sk-mock-401,sk-mock-quota,sk-mock-ok-pool-1,sk-mock-ok-pool-2',
    ['gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini']],
  ['flaky', 'FLAKY_KEYS', 'sk-mock-500,sk-mock-ok-flaky', ['flaky-model']],
  // sk-mock-slow holds its head 3 s, past first_byte_timeout_ms: an abandoned attempt.
  ['slow', 'SLOW_KEYS', 'sk-mock-slow,sk-mock-ok-slow', ['slow-model']],
  ['cut', 'CUT_KEYS', 'sk-mock-cut,sk-mock-ok-cut', ['cut-model']],
  // Non-streamed answers generated for chunks × delay before the head: past the timeout when slow.
  ['slowgen', 'SLOWGEN_KEYS', 'sk-mock-slowgen,sk-mock-ok-slowgen', ['slowgen-model']],
  ['echo', 'ECHO_KEYS', 'sk-mock-echo400,sk-mock-ok-echo', ['echo-model']],
  ['deactivated', 'DEACTIVATED_KEYS', 'sk-mock-deactivated,sk-mock-ok-deactivated', ['deactivated-model']],
  // Every fault in one pool, so one request can meet several of them in turn.
  // sk-mock-reset drops the connection before any byte (an older mock answers with it).
  ['mixed', 'MIXED_KEYS', 'sk-mock-slowgen,sk-mock-500,sk-mock-slow,sk-mock-reset,sk-mock-deactivated,sk-mock-429,sk-mock-cut,sk-mock-ok-mixed',
    ['mixed-model']],
  // The mock refuses `forbidden-*` models on every key (403): their own pool, so whatever that
  // does to key health does not starve the rest of the soak.
  ['restricted', 'RESTRICTED_KEYS', 'sk-mock-ok-restricted-1,sk-mock-ok-restricted-2', ['forbidden-model']],
  // Oversized prompts ("Request too large", 429 on every key), for the same reason alone.
  ['wide', 'WIDE_KEYS', 'sk-mock-ok-wide-1,sk-mock-ok-wide-2', ['wide-model']],
];

const FREE = { input_per_mtok: 0, output_per_mtok: 0 };
const price = (input, output) => ({ input_per_mtok: input, output_per_mtok: output });
/** USD per million tokens. The built-in models keep their list prices (gpt-4.1: $2 / $8). */
const PRICES = {
  'flaky-model': price(1, 4),
  'slow-model': FREE,
  'cut-model': price(0.5, 2),
  'slowgen-model': price(1, 4),
  'echo-model': FREE,
  'deactivated-model': price(0.5, 2),
  'mixed-model': price(2, 8),
  'forbidden-model': price(1, 4),
  'wide-model': FREE,
};

/**
 * Small on purpose, so every refusal happens: `tight` and the default `staff` tier run into
 * their rpm, `chatty`, `vkey` and guests into max_rounds in their few conversations, `tight`,
 * `vkey` and guests into daily_tokens, `wallet` into daily_usd, guests together into the guest
 * pool. `chatty` and `wide` are limited by little but the deployment's cap, so admitted traffic
 * (and every fault) keeps flowing to the end of the run.
 */
const TIERS = {
  tight: { rpm: 10, max_rounds: 4, daily_tokens: 3000, daily_usd: 0.05, max_tokens: 300 },
  wallet: { rpm: 600, max_rounds: 'unlimited', daily_tokens: 1000000, daily_usd: 0.01, max_tokens: 400 },
  chatty: { rpm: 600, max_rounds: 3, daily_tokens: 1000000, daily_usd: 1.0, max_tokens: 500 },
  wide: { rpm: 600, max_rounds: 'unlimited', daily_tokens: 5000000, daily_usd: 1.0, max_tokens: 600 },
  vkey: { rpm: 120, max_rounds: 5, daily_tokens: 20000, daily_usd: 0.05, max_tokens: 400 },
  guest: {
    rpm: 10, max_rounds: 3, daily_tokens: 4000, daily_usd: 0.01, max_tokens: 200,
    models: ['auto', 'gpt-4o-mini', 'flaky-model', 'cut-model', 'slow-model', 'mixed-model'],
  },
};
/** The built-in default tier, for the user whose token names no tier. */
const STAFF = { rpm: 20, max_rounds: 30, daily_tokens: 200000, daily_usd: 2.0, max_tokens: 2048 };
/** What all guests together may use. */
const GUEST_POOL = { rpm: 40, daily_usd: 0.02 };

// The deployment cap, from prices. An ordinary answer (~40 prompt and ~120 answer tokens) at the
// dearest prices here ($2 / $8 per million) costs about 1,040 micro-USD; the request mix averages
// about a fifth of that (cheaper, free and failed requests). Twelve clients get about 14 admitted
// requests a second through wrangler dev on two cores, so the cap is about 3.5 minutes of that
// spend (~0.6 USD): the 30 s run stays far under it, a five-minute soak reaches it late and sees
// deployment refusals (the personal budgets of `chatty` and `wide` outlast it).
const TYPICAL_COST_MICRO_USD = 40 * 2 + 120 * 8;
const ADMITTED_PER_SECOND = 14;
const DEPLOYMENT_CAP_MICRO_USD = Math.round(210 * ADMITTED_PER_SECOND * TYPICAL_COST_MICRO_USD / 5);

const CONFIG = {
  guest_mode: true,
  key_strategy: 'round_robin',
  max_attempts: 5,
  first_byte_timeout_ms: 800,
  upstreams: UPSTREAMS.map(([name, keysSecret, , models]) => ({ name, keys_secret: keysSecret, models })),
  prices: PRICES,
  tiers: TIERS,
  guest_pool: GUEST_POOL,
  // Slices small beside the cap, so leases held by a few users do not lock the rest out.
  budget: { daily_usd: DEPLOYMENT_CAP_MICRO_USD / 1e6, lease_slice_usd: 0.004 },
};
const KEY_VARS = Object.fromEntries(UPSTREAMS.map(([, keysSecret, keys]) => [keysSecret, keys]));

// ---------------------------------------------------------------------------------------------
// Actors and request shapes

/**
 * Signed users (their `u:` identity and tier), one virtual key, and guests. A guest is limited
 * by its network (`g:<address>`, IPv6 by /64), not by the device id its browser chose, so the
 * guests here are three devices behind a few addresses, and their identity is whatever the
 * ledger says (`user` is null: any `g:` identity with credential `guest` is theirs).
 */
function makeActors(virtualKey) {
  const user = (sub, tier) => ({
    name: sub, user: `u:${sub}`, tierName: tier ?? 'staff', tier: tier ? TIERS[tier] : STAFF,
    headers: () => ({ authorization: `Bearer ${mintToken({ sub, tier })}` }),
  });
  const guest = (device) => ({
    name: device, user: null, tierName: 'guest', tier: TIERS.guest,
    headers: (rng) => ({ 'x-oachat-device': device, 'cf-connecting-ip': pick(rng, GUEST_ADDRESSES) }),
  });
  return [
    user('soak-tight', 'tight'),
    user('soak-wallet', 'wallet'),
    user('soak-chatty', 'chatty'),
    user('soak-wide', 'wide'),
    user('soak-staff'),
    {
      name: 'vkey', user: `k:${virtualKey.id}`, tierName: 'vkey', tier: TIERS.vkey,
      headers: () => ({ authorization: `Bearer ${virtualKey.key}` }),
    },
    guest('soak-guest-device-1'),
    guest('soak-guest-device-2'),
    guest('soak-guest-device-3'),
  ];
}
/** The last two share a /64, so they are one guest. */
const GUEST_ADDRESSES = ['203.0.113.7', '203.0.113.8', '198.51.100.20', '2001:db8:0:1::1', '2001:db8:0:1::2'];
const isGuest = (user) => user.startsWith('g:');
/** Whether a ledger row can be the caller's: the same identity, or for a guest any guest one. */
const rowIsCallers = (row, record) => (record.user === null ? isGuest(row.user) && row.credential === 'guest' : row.user === record.user);
/** The tier whose limits bind a ledger user. */
function tierOfUser(user) {
  if (isGuest(user)) return ['guest', TIERS.guest];
  const actor = actors.find((a) => a.user === user);
  return [actor?.tierName, actor?.tier];
}

/** ~52,000 tokens by the mock's count (and more by the worker's estimate): over the mock's 50,000. */
const OVERSIZED_PROMPT = `${'soak '.repeat(52_000)}end`;
/** Repeated word for word, so the cacheable `translate` route answers some from the cache. */
const CACHEABLE = ['Translate to French: the meeting moves to Thursday.', 'Translate to German: the invoice is paid.'];

/** Kinds of request, with their weight. Each names the fault it exercises. */
const KINDS = [
  ['plain', 24, () => ({ model: 'gpt-4o-mini' })],
  ['dear', 6, () => ({ model: 'gpt-4.1' })],
  ['flaky', 8, () => ({ model: 'flaky-model' })],
  ['slow', 5, () => ({ model: 'slow-model' })],
  ['cut', 8, () => ({ model: 'cut-model' })],
  // Non-streamed: the mock generates for chunks × delay before the head.
  ['slowgen', 6, (rng) => ({ model: 'slowgen-model', stream: false, pacing: { chunks: int(rng, 10, 60), delay: int(rng, 10, 40) } })],
  ['echo', 5, () => ({ model: 'echo-model' })],
  ['deactivated', 5, () => ({ model: 'deactivated-model' })],
  ['mixed', 10, () => ({ model: 'mixed-model' })],
  ['forbidden', 4, () => ({ model: 'forbidden-model' })],
  ['auto', 6, (rng) => ({ model: 'auto', text: pick(rng, ['How do I book a meeting room?', 'Write a short welcome note for a new colleague', 'Fix this SQL: SELEC * FROM t']) })],
  ['cached', 5, (rng) => ({ model: 'auto', text: pick(rng, CACHEABLE) })],
  ['oversized', 2, () => ({ model: 'wide-model', text: OVERSIZED_PROMPT })],
];
const KIND_WEIGHT = KINDS.reduce((sum, [, weight]) => sum + weight, 0);

/** One request: its body, and whether (and when) the client walks away mid-stream. */
function makeRequest(rng, actor, sequence) {
  let roll = rng() * KIND_WEIGHT;
  const [kind, , make] = KINDS.find(([, weight]) => (roll -= weight) < 0) ?? KINDS[0];
  const chosen = make(rng);
  const stream = chosen.stream ?? rng() < 0.6;
  let text = chosen.text ?? `soak ${sequence} from ${actor.name}: ${kind}`;
  const pacing = chosen.pacing ?? (stream && rng() < 0.5 ? { chunks: int(rng, 5, 60), delay: int(rng, 0, 50) } : null);
  // The worker does not forward x-mock-* headers; the mock reads pacing from the message too.
  if (pacing && kind !== 'cached') text = `${text} [mock chunks=${pacing.chunks} delay_ms=${pacing.delay}]`;
  const body = { model: chosen.model, messages: [{ role: 'user', content: text }] };
  if (stream) body.stream = true;
  if (stream && rng() < 0.3) body.stream_options = { include_usage: true };
  if (rng() < 0.3) body.n = 1;
  const maxTokens = pick(rng, [undefined, undefined, 16, 64, 200, 1000, 4000]);
  if (maxTokens !== undefined) body.max_tokens = maxTokens;
  // A few conversations per actor, so max_rounds refuses some.
  if (rng() < 0.4) body.oachat = { conversation_id: `${actor.name}-c${int(rng, 0, 3)}` };
  const abortAfterMs = stream && rng() < 0.1 ? int(rng, 20, 600) : null;
  return { kind, body, abortAfterMs };
}

// ---------------------------------------------------------------------------------------------
// Driving traffic

/** mulberry32: small, fast and good enough to pick requests; the same seed, the same picks. */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const int = (rng, low, high) => low + Math.floor(rng() * (high - low + 1));
const pick = (rng, list) => list[Math.floor(rng() * list.length)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends one request and records what the client saw: status, x-request-id (present exactly
 * when the request was admitted), error code, how a stream ended, whether the client aborted.
 */
async function send(url, secrets, actor, request, rng) {
  const record = {
    at: Date.now() - trafficStarted, actor: actor.name, user: actor.user, kind: request.kind, stream: Boolean(request.body.stream),
    status: 0, requestId: null, code: null, streamEnd: null, aborted: false, hung: false, transport: null, leaked: 0,
  };
  const controller = new AbortController();
  let finished = false;
  const hung = setTimeout(() => {
    record.hung = true;
    controller.abort();
  }, HUNG_MS);
  let abortTimer;
  try {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', ...actor.headers(rng) },
      body: JSON.stringify(request.body),
    });
    record.status = response.status;
    record.requestId = response.headers.get('x-request-id');
    if (request.abortAfterMs !== null && response.status === 200) {
      // Only after the head arrived: the request was admitted and its stream is running.
      abortTimer = setTimeout(() => {
        if (finished) return;
        record.aborted = true;
        controller.abort();
      }, request.abortAfterMs);
    }
    const headerText = [...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
    let text = '';
    try {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      finished = true;
    } catch (error) {
      if (!record.aborted && !record.hung) record.transport = `body: ${error.cause?.code ?? error.message}`;
    }
    record.leaked = findSecrets(`${headerText}\n${text}`, secrets).length;
    describeBody(record, response.headers.get('content-type') ?? '', text);
  } catch (error) {
    if (!record.hung) record.transport = `fetch: ${error.cause?.code ?? error.message}`;
  } finally {
    finished = true;
    clearTimeout(hung);
    clearTimeout(abortTimer);
  }
  return record;
}

function describeBody(record, contentType, text) {
  if (contentType.includes('text/event-stream')) {
    const events = text.split(/\n\n/)
      .map((block) => block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'))
      .filter(Boolean);
    const last = events.at(-1);
    if (record.aborted) record.streamEnd = 'aborted';
    else if (last === '[DONE]') record.streamEnd = 'done';
    else {
      let code = null;
      try { code = JSON.parse(last ?? '').error?.code ?? null; } catch {}
      record.streamEnd = code ? `error:${code}` : 'eof';
    }
    return;
  }
  try {
    const body = JSON.parse(text);
    if (body.error) record.code = body.error.code ?? body.error.type ?? 'error';
    // A deployment refusal shares budget_exceeded with personal ones: tell them apart by message.
    if (body.error?.code === 'budget_exceeded' && /for everyone/.test(body.error.message)) record.code = 'budget_exceeded (deployment)';
  } catch {
    if (record.status !== 200) record.code = 'unparsable';
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the worker's books

/** Every ledger row, newest first, paged 1,000 at a time. */
async function allLedgerRows(url) {
  const rows = [];
  const seen = new Set();
  for (let offset = 0; ; offset += 1000) {
    const response = await admin(url, `/admin/ledger?limit=1000&offset=${offset}`);
    assert.equal(response.status, 200, `GET /admin/ledger offset ${offset}: ${response.status}`);
    const page = (await response.json()).rows;
    // A worker that ignores `offset` would hand back the first page forever.
    if (page.length && seen.has(rowKey(page[0]))) {
      throw new Error(`GET /admin/ledger?offset=${offset} repeats rows of an earlier page: is offset supported?`);
    }
    for (const row of page) seen.add(rowKey(row));
    rows.push(...page);
    if (page.length < 1000) return rows;
  }
}
const rowKey = (row) => `${row.id}\u0000${row.ts_ms}\u0000${row.user}`;

/**
 * A user's budget (`GET /admin/users/<user>/usage`), asked under the percent-encoded identity.
 * If that answers null but the raw path answers, the numbers are still used (so the rest of the
 * reconciliation holds) and the path problem is reported on its own.
 */
async function usageOf(url, user) {
  const get = async (path) => {
    const response = await admin(url, path);
    assert.equal(response.status, 200, `GET ${path}: ${response.status}`);
    return response.json();
  };
  const encoded = await get(`/admin/users/${encodeURIComponent(user)}/usage`);
  if (encoded !== null) return { usage: encoded, encodedPathWorks: true };
  // Undecoded, an identity with a `/` (a guest's IPv6 /64) is another path: no answer then.
  const rawResponse = await admin(url, `/admin/users/${user}/usage`);
  const raw = rawResponse.ok ? await rawResponse.json() : null;
  return { usage: raw, encodedPathWorks: raw === null };
}

/** The base request id of a row: `req_x:a2` (an abandoned attempt of req_x) belongs to `req_x`. */
function parseRowId(id) {
  const match = /^(.*):a(\d+)$/.exec(id);
  return match ? { base: match[1], attempt: Number(match[2]) } : { base: id, attempt: null };
}

/** The budget day number of a ledger row (its `day`, YYYY-MM-DD in budget.timezone, as days since 1970-01-01). */
function rowDay(row) {
  if (typeof row.day === 'number') return row.day;
  if (typeof row.day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(row.day)) return Date.parse(`${row.day}T00:00:00Z`) / 86_400_000;
  return Math.floor(row.ts_ms / 86_400_000);
}

const limitOf = (value, scale) => (value === 'unlimited' || value === undefined ? Infinity : value * scale);

// ---------------------------------------------------------------------------------------------
// The run

let stack;
let actors;
/** What every client saw, one record per request. */
const records = [];
/** The worker's books once settled (or once the deadline passed). */
let books;
let trafficStarted = Date.now();
let trafficSeconds = 0;

before(async () => {
  console.log(`soak: ${SOAK_SECONDS} s, ${WORKERS} clients, seed ${SEED} (replay with OACHAT_SOAK_SEED=${SEED})`);
  stack = await startStack({ name: 'soak', keys: 'sk-mock-ok-default', vars: KEY_VARS, config: CONFIG });
  const created = await admin(stack.url, '/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'soak', tier: 'vkey' }) });
  assert.equal(created.status, 200, `POST /admin/keys: ${created.status}`);
  actors = makeActors(await created.json());
});

after(async () => {
  writeSummary();
  await stack?.stop();
});

test(`mixed traffic for ${SOAK_SECONDS} s: no request hangs or breaks at the transport`, { timeout: (SOAK_SECONDS + 120) * 1000 }, async () => {
  trafficStarted = Date.now();
  const deadline = trafficStarted + SOAK_SECONDS * 1000;
  const client = async (index) => {
    const rng = generator(SEED ^ Math.imul(index + 1, 0x9e3779b1));
    for (let sequence = 0; Date.now() < deadline; sequence++) {
      const actor = pick(rng, actors);
      const request = makeRequest(rng, actor, `${index}.${sequence}`);
      records.push(await send(stack.url, stack.secrets, actor, request, rng));
      await sleep(rng() * THINK_MS);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, index) => client(index)));
  trafficSeconds = (Date.now() - trafficStarted) / 1000;
  console.log(`${records.length} requests in ${trafficSeconds.toFixed(1)} s`);
  printTraffic();

  const hung = records.filter((r) => r.hung);
  const broken = records.filter((r) => r.transport);
  assert.deepEqual(
    { hung: hung.length, transportErrors: broken.length },
    { hung: 0, transportErrors: 0 },
    `hung: ${describe(hung)}; transport errors: ${describe(broken, (r) => r.transport)}`,
  );
});

test('after traffic stops, every reservation settles and every admitted request reaches the ledger', { timeout: (SETTLE_SECONDS + 60) * 1000 }, async () => {
  const admitted = new Set(records.filter((r) => r.requestId).map((r) => r.requestId));
  const deadline = Date.now() + SETTLE_SECONDS * 1000;
  let previousCount = -1;
  let state;
  for (;;) {
    const rows = await allLedgerRows(stack.url);
    const usage = {};
    for (const user of new Set([...actors.map((a) => a.user).filter(Boolean), ...rows.map((r) => r.user)])) {
      usage[user] = await usageOf(stack.url, user);
    }
    const present = new Set(rows.map((row) => parseRowId(row.id).base));
    const missing = [...admitted].filter((id) => !present.has(id));
    const reserved = Object.entries(usage)
      .filter(([, { usage: u }]) => u && (u.reserved_tokens !== 0 || u.reserved_micro_usd !== 0))
      .map(([user, { usage: u }]) => `${user} (${u.reserved_tokens} tokens, ${u.reserved_micro_usd} µUSD)`);
    // Stragglers (abandoned attempts' rows) can arrive after the request's own row: wait until
    // the row count holds still across one poll too.
    const still = rows.length === previousCount;
    state = { rows, usage, missing, reserved };
    if (!missing.length && !reserved.length && still) break;
    if (Date.now() > deadline) {
      books = state;
      assert.fail(`not settled ${SETTLE_SECONDS} s after traffic stopped: ` +
        `${missing.length} admitted request(s) without a ledger row (${describeIds(missing)}); ` +
        `reservations left: ${reserved.join(', ') || 'none'}; row count still moving: ${!still}`);
    }
    previousCount = rows.length;
    await sleep(1000);
  }
  books = state;
  console.log(`settled: ${books.rows.length} ledger rows`);
});

test('every admitted request has exactly one ledger row, of its own user, and no row is foreign', () => {
  assert.ok(books, 'the books were never read');
  const byId = new Map(records.filter((r) => r.requestId).map((r) => [r.requestId, r]));
  const ownRows = new Map();
  const problems = [];
  const foreign = [];
  const badAttempts = [];
  for (const row of books.rows) {
    const { base, attempt } = parseRowId(row.id);
    const record = byId.get(base);
    if (!record) {
      foreign.push(row);
      continue;
    }
    if (attempt !== null) {
      // An abandoned upstream attempt of an admitted request: allowed, and it must say so.
      if (row.ending !== 'abandoned' || !rowIsCallers(row, record)) badAttempts.push(row);
      continue;
    }
    ownRows.set(base, [...(ownRows.get(base) ?? []), row]);
  }
  const missing = [...byId.values()].filter((r) => !ownRows.has(r.requestId));
  const duplicated = [...ownRows].filter(([, rows]) => rows.length > 1);
  const wrongUser = [...ownRows].filter(([id, rows]) => !rowIsCallers(rows[0], byId.get(id)));
  if (missing.length) {
    problems.push(`${missing.length} of ${byId.size} admitted request(s) have no ledger row, by outcome: ` +
      `${JSON.stringify(countBy(missing, outcome))}; e.g. ${describeIds(missing.map((r) => r.requestId))}`);
  }
  if (duplicated.length) problems.push(`${duplicated.length} request id(s) have several rows: ${describeIds(duplicated.map(([id]) => id))}`);
  if (wrongUser.length) {
    problems.push(`${wrongUser.length} row(s) name another user than the caller: ` +
      wrongUser.slice(0, 5).map(([id, rows]) => `${id} ${rows[0].user} ≠ ${byId.get(id).user ?? 'a guest'}`).join(', '));
  }
  if (badAttempts.length) {
    problems.push(`${badAttempts.length} attempt row(s) (<id>:a<k>) not ending abandoned or of another user: ` +
      badAttempts.slice(0, 5).map((row) => `${row.id} ${row.ending} ${row.user}`).join(', '));
  }
  if (foreign.length) {
    problems.push(`${foreign.length} ledger row(s) belong to no admitted request, by user/ending/status: ` +
      `${JSON.stringify(countBy(foreign, (row) => `${row.user} ${row.ending} ${row.status}`))}; e.g. ${describeIds(foreign.map((row) => row.id))}`);
  }
  assert.deepEqual(problems, []);
});

test('each user\'s budget equals the sum of their ledger rows, with nothing left reserved', () => {
  assert.ok(books, 'the books were never read');
  const problems = [];
  const byUser = groupBy(books.rows, (row) => row.user);
  for (const [user, { usage, encodedPathWorks }] of Object.entries(books.usage)) {
    if (!encodedPathWorks) problems.push(`${user}: GET /admin/users/${encodeURIComponent(user)}/usage answers null; only the undecoded path /admin/users/${user}/usage finds the user`);
    const rows = (byUser.get(user) ?? []).filter((row) => usage === null || rowDay(row) === usage.day);
    const ledger = sumRows(rows);
    if (usage === null) {
      if (rows.length) problems.push(`${user}: ${rows.length} ledger row(s) but no usage at all`);
      continue;
    }
    if (usage.reserved_tokens !== 0 || usage.reserved_micro_usd !== 0) {
      problems.push(`${user}: still reserved ${usage.reserved_tokens} tokens, ${usage.reserved_micro_usd} µUSD`);
    }
    if (usage.spent_tokens !== ledger.tokens) {
      problems.push(`${user}: spent_tokens ${usage.spent_tokens}, ledger ${ledger.tokens} (differs by ${usage.spent_tokens - ledger.tokens})`);
    }
    if (usage.spent_micro_usd !== ledger.microUsd) {
      problems.push(`${user}: spent_micro_usd ${usage.spent_micro_usd}, ledger ${ledger.microUsd} (differs by ${usage.spent_micro_usd - ledger.microUsd})`);
    }
  }
  assert.deepEqual(problems, []);
});

test('no user spends past their tier, guests stay in their pool, and the deployment under its cap', () => {
  assert.ok(books, 'the books were never read');
  const problems = [];
  for (const [user, { usage }] of Object.entries(books.usage)) {
    if (!usage) continue;
    const [tierName, tier] = tierOfUser(user);
    if (!tier) continue; // a foreign user: the ledger test names it
    const tokenLimit = limitOf(tier.daily_tokens, 1);
    const usdLimit = limitOf(tier.daily_usd, 1e6);
    if (usage.spent_tokens > tokenLimit) problems.push(`${user} (${tierName}): spent ${usage.spent_tokens} tokens of ${tokenLimit}`);
    if (usage.spent_micro_usd > usdLimit) problems.push(`${user} (${tierName}): spent ${usage.spent_micro_usd} µUSD of ${usdLimit}`);
  }
  const today = Math.max(...books.rows.map(rowDay));
  const rowsToday = books.rows.filter((row) => rowDay(row) === today);
  const guests = sumRows(rowsToday.filter((row) => isGuest(row.user))).microUsd;
  if (guests > GUEST_POOL.daily_usd * 1e6) problems.push(`guests together spent ${guests} µUSD of their pool's ${GUEST_POOL.daily_usd * 1e6}`);
  const total = sumRows(rowsToday).microUsd;
  if (total > DEPLOYMENT_CAP_MICRO_USD) problems.push(`the deployment spent ${total} µUSD of its ${DEPLOYMENT_CAP_MICRO_USD} cap`);
  assert.deepEqual(problems, []);
});

test('no upstream key appears in any response', () => {
  const leaking = records.filter((r) => r.leaked);
  assert.equal(leaking.length, 0, `responses quoting an upstream key, by kind: ${JSON.stringify(countBy(leaking, (r) => `${r.kind} ${r.status}`))}`);
});

// ---------------------------------------------------------------------------------------------
// Summaries

/** Budget spend as the ledger has it: tokens exclude cache hits (they cost nothing upstream). */
function sumRows(rows) {
  let tokens = 0;
  let microUsd = 0;
  for (const row of rows) {
    if (row.ending !== 'cached') tokens += row.prompt_tokens + row.completion_tokens;
    microUsd += row.cost_micro_usd;
  }
  return { tokens, microUsd };
}

function outcome(record) {
  if (record.hung) return 'hung';
  if (record.transport) return `transport (${record.transport})`;
  const how = record.stream ? (record.streamEnd ?? record.code) : record.code ?? 'ok';
  return `${record.status} ${how}`;
}

function countBy(list, key) {
  const counts = {};
  for (const item of list) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

function groupBy(list, key) {
  const groups = new Map();
  for (const item of list) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

const describeIds = (ids) => (ids.length > 5 ? `${ids.slice(0, 5).join(', ')} and ${ids.length - 5} more` : ids.join(', ')) || 'none';
const describe = (list, detail = outcome) => list.slice(0, 5).map((r) => `${r.kind} by ${r.actor}: ${detail(r)}`).join('; ') || 'none';

function printTraffic() {
  const admitted = records.filter((r) => r.requestId);
  const refused = records.filter((r) => !r.requestId);
  console.log(`admitted ${admitted.length}, refused ${refused.length}, client aborts ${records.filter((r) => r.aborted).length}`);
  console.log(`refused by code: ${JSON.stringify(countBy(refused, (r) => `${r.status} ${r.code}`))}`);
  const firstDeploymentRefusal = firstDeploymentRefusalSeconds();
  if (firstDeploymentRefusal !== null) console.log(`first deployment refusal after ${firstDeploymentRefusal.toFixed(1)} s`);
  console.log(`admitted by outcome: ${JSON.stringify(countBy(admitted, outcome))}`);
  for (const [kind] of KINDS) {
    const ofKind = records.filter((r) => r.kind === kind);
    console.log(`  ${kind.padEnd(12)} ${JSON.stringify(countBy(ofKind, (r) => `${r.requestId ? '' : 'refused '}${outcome(r)}`))}`);
  }
}

/** When the deployment's cap first refused someone, in seconds into the traffic; null if never. */
function firstDeploymentRefusalSeconds() {
  const times = records.filter((r) => r.code === 'budget_exceeded (deployment)').map((r) => r.at);
  return times.length ? Math.min(...times) / 1000 : null;
}

function userTable() {
  if (!books) return [];
  const byUser = groupBy(books.rows, (row) => row.user);
  const users = [...new Set([...actors.map((a) => a.user).filter(Boolean), ...byUser.keys()])];
  return users.map((user) => {
    const [tierName, tier] = tierOfUser(user);
    const usage = books.usage[user]?.usage ?? null;
    const rows = byUser.get(user) ?? [];
    const ledger = sumRows(rows);
    const ownIds = new Set(rows.map((row) => parseRowId(row.id).base));
    const mine = records.filter((r) => r.user === user || (r.requestId && ownIds.has(r.requestId)));
    return {
      user, tier: tierName ?? '?', admitted: mine.filter((r) => r.requestId).length,
      rows: rows.length, abandoned_rows: rows.filter((row) => parseRowId(row.id).attempt !== null).length,
      usage_tokens: usage?.spent_tokens ?? null, ledger_tokens: ledger.tokens, limit_tokens: limitOf(tier?.daily_tokens, 1),
      usage_micro_usd: usage?.spent_micro_usd ?? null, ledger_micro_usd: ledger.microUsd, limit_micro_usd: limitOf(tier?.daily_usd, 1e6),
      reserved: usage ? `${usage.reserved_tokens}/${usage.reserved_micro_usd}` : null,
    };
  });
}

function writeSummary() {
  if (!records.length) return;
  const table = userTable();
  const summary = {
    seed: SEED, seconds: SOAK_SECONDS, clients: WORKERS, traffic_seconds: trafficSeconds,
    requests: records.length,
    admitted: records.filter((r) => r.requestId).length,
    refused_by_code: countBy(records.filter((r) => !r.requestId), (r) => `${r.status} ${r.code}`),
    admitted_by_outcome: countBy(records.filter((r) => r.requestId), outcome),
    ledger_rows: books?.rows.length ?? null,
    rows_by_ending: books ? countBy(books.rows, (row) => `${row.ending} ${row.status}`) : null,
    deployment_cap_micro_usd: DEPLOYMENT_CAP_MICRO_USD,
    first_deployment_refusal_s: firstDeploymentRefusalSeconds(),
    deployment_spent_micro_usd: books ? sumRows(books.rows).microUsd : null,
    users: table,
  };
  console.log(`ledger rows ${summary.ledger_rows} by ending: ${JSON.stringify(summary.rows_by_ending)}`);
  console.log(`deployment spent ${summary.deployment_spent_micro_usd} of ${DEPLOYMENT_CAP_MICRO_USD} µUSD`);
  const columns = ['user', 'tier', 'admitted', 'rows', 'abandoned_rows', 'usage_tokens', 'ledger_tokens', 'limit_tokens', 'usage_micro_usd', 'ledger_micro_usd', 'limit_micro_usd', 'reserved'];
  const widths = columns.map((c) => Math.max(c.length, ...table.map((row) => String(row[c]).length)));
  const line = (cells) => `${cells.map((cell, i) => String(cell).padEnd(widths[i])).join(' ')}`;
  console.log(line(columns));
  for (const row of table) console.log(line(columns.map((c) => row[c])));
  writeFileSync(join(RESULTS, 'soak-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
}
