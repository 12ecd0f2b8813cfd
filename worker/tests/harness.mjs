// Starts the real stack for a test file: mock-openai (the one fake) and the worker under
// `wrangler dev` (workerd, local Durable Objects and D1 in a fresh folder), on free ports.
// Everything a test sees went over real HTTP through the real worker.
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startSelfhost } from './selfhost-harness.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS = join(ROOT, 'test-results');
export const SIGNING_SECRET = 'test-signing-secret-5b1f0c7e9a2d';
export const ADMIN_TOKEN = 'test-admin-token-8c3e1a';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function waitForLine(child, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    const onData = (data) => {
      seen += data.toString();
      const match = seen.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${seen}`));
    });
  });
}

/** Starts mock-openai; returns its base URL and a stop function. */
export async function startMock(args = []) {
  const binary = join(ROOT, 'target/release/mock-openai');
  const child = spawn(binary, ['--port', '0', '--chunks', '40', '--delay-ms', '15', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const match = await waitForLine(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/, 10_000, 'mock-openai');
  const url = match[1];
  return {
    url,
    async stats() {
      return (await fetch(`${url}/_mock/stats`)).json();
    },
    async reset() {
      await fetch(`${url}/_mock/reset`, { method: 'POST' });
    },
    /** The body of the last chat request the mock received: what the proxy forwarded. */
    async lastRequest() {
      return (await fetch(`${url}/_mock/last-request`)).json();
    },
    /** The last chat request with its method, path, query, dialect and headers. */
    async lastRequestDetail() {
      return (await fetch(`${url}/_mock/last-request?detail=1`)).json();
    },
    stop() {
      child.kill('SIGTERM');
    },
  };
}

/**
 * Starts mock-openai and the worker. `config` becomes OACHAT_CONFIG (JSON); `keys` the
 * comma-separated OPENAI_API_KEYS; `vars` any extra vars (a var named `*_KEYS` holds more
 * upstream keys). `stop()` fails the suite if any upstream key appears in the wrangler log.
 */
export async function startStack({ config = {}, keys = 'sk-mock-ok', vars = {}, name = 'stack', persistTo, mockArgs = [] } = {}) {
  // The worker does not forward a client's x-mock-* headers upstream: stream shape comes
  // from the mock's own flags (`mockArgs`, e.g. ['--chunks', '60', '--delay-ms', '40']).
  const mock = await startMock(mockArgs);
  // `config` and `vars` may be functions of the mock, for upstreams at its provider paths.
  if (typeof config === 'function') config = config(mock);
  if (typeof vars === 'function') vars = vars(mock);
  const port = await freePort();
  const inspector = await freePort();
  // Pass a previous stack's `persist` to restart on its Durable Objects and D1.
  const persist = persistTo ?? mkdtempSync(join(tmpdir(), 'oachat-test-'));
  mkdirSync(RESULTS, { recursive: true });
  const logPath = join(RESULTS, `${name}.wrangler.log`);
  const log = createWriteStream(logPath);
  const allVars = {
    OPENAI_BASE_URL: `${mock.url}/v1`,
    OPENAI_API_KEYS: keys,
    OACHAT_SIGNING_SECRET: SIGNING_SECRET,
    OACHAT_ADMIN_TOKEN: ADMIN_TOKEN,
    OACHAT_DEMO: '1',
    OACHAT_CONFIG: JSON.stringify({ allowed_origins: [`http://127.0.0.1:${port}`], ...config }),
    ...vars,
  };
  const args = ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspector), '--persist-to', persist, '--log-level', 'info',
    // An empty env file, so a developer's .dev.vars never leaks into tests.
    '--env-file', '/dev/null'];
  if (process.env.OACHAT_TEST_TARGET === 'selfhost') {
    return selfhostStack({ name, port, persist, allVars, mock, logPath });
  }
  for (const [key, value] of Object.entries(allVars)) args.push('--var', `${key}:${value}`);
  const child = spawn('npx', args, {
    cwd: ROOT,
    env: { ...process.env, OACHAT_PREBUILT: '1', WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForLine(child, /Ready on http/, 90_000, 'wrangler dev');
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    try { process.kill(-child.pid, 'SIGTERM'); } catch {}
    mock.stop();
    throw error;
  }
  return {
    url,
    mock,
    logPath,
    persist,
    log: () => readFileSync(logPath, 'utf8'),
    token: (claims = {}) => mintToken(claims),
    /** Every upstream key this stack was given (OPENAI_API_KEYS and any `*_KEYS` var). */
    secrets: upstreamSecrets(allVars),
    async stop() {
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      await new Promise((r) => setTimeout(r, 300));
      mock.stop();
      // No upstream key may ever reach the log, whatever the suite did.
      const leaked = findSecrets(readFileSync(logPath, 'utf8'), upstreamSecrets(allVars));
      if (leaked.length) throw new Error(`upstream keys in ${logPath}: ${leaked.length} occurrence(s)`);
    },
  };
}

/**
 * startStack's other target (`OACHAT_TEST_TARGET=selfhost`, `make test-selfhost`): the same
 * vars given to build/selfhost/run as its environment, `persist` as its OACHAT_DATA.
 */
async function selfhostStack({ name, port, persist, allVars, mock, logPath }) {
  let server;
  try {
    server = await startSelfhost({ env: { ...allVars, OACHAT_LISTEN: `127.0.0.1:${port}`, OACHAT_DATA: persist }, name, port });
  } catch (error) {
    mock.stop();
    throw error;
  }
  const log = () => readFileSync(server.logPath, 'utf8');
  return {
    url: server.url,
    mock,
    logPath: server.logPath,
    persist,
    log,
    token: (claims = {}) => mintToken(claims),
    secrets: upstreamSecrets(allVars),
    async stop() {
      await server.stop();
      mock.stop();
      const leaked = findSecrets(log(), upstreamSecrets(allVars));
      if (leaked.length) throw new Error(`upstream keys in ${server.logPath}: ${leaked.length} occurrence(s)`);
    },
  };
}

function upstreamSecrets(vars) {
  return Object.entries(vars)
    .filter(([name]) => name.endsWith('_KEYS'))
    .flatMap(([, value]) => String(value).split(/[,\n]/))
    .map((key) => key.trim())
    .filter(Boolean);
}

/** Which of `secrets` occur in `text` (without echoing them: callers print only counts). */
export function findSecrets(text, secrets) {
  return secrets.filter((secret) => text.includes(secret));
}

/** The id oachat shows for an upstream key: `key_` + the first 8 hex digits of its SHA-256. */
export function keyId(secret) {
  return `key_${createHash('sha256').update(secret).digest('hex').slice(0, 8)}`;
}

/** The shared key health (`GET /admin/keys/health`) as { upstream: { keyId: state } }. */
export async function keyHealth(url) {
  const response = await admin(url, '/admin/keys/health');
  if (response.status !== 200) throw new Error(`key health: ${response.status}`);
  const body = await response.json();
  return Object.fromEntries(body.upstreams.map(([name, snapshot]) => [name, snapshot.keys]));
}

/**
 * Calls `probe()` every 100 ms until it returns something truthy, and returns that. A poll that
 * times out fails the test (it throws, naming `what` and the last value seen): a test must never
 * carry on as if the state it waited for had come.
 */
export async function poll(what, probe, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not reached after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls the shared key health (shared after responses) until `check(health)` holds. */
export async function waitForHealth(url, check, timeoutMs = 5_000) {
  return poll('key health', async () => {
    const health = await keyHealth(url);
    return check(health) ? health : null;
  }, timeoutMs);
}

/** The ledger row of a request id; rows are written after the response, so this polls. */
export async function ledgerRow(url, requestId, timeoutMs = 5_000) {
  return poll(`the ledger row of ${requestId}`, async () => {
    const { rows } = await (await admin(url, '/admin/ledger?limit=1000')).json();
    return rows.find((r) => r.id === requestId);
  }, timeoutMs);
}

/** A user's budget once nothing is reserved any more (settles run after the response). */
export async function settledUsage(url, user, timeoutMs = 15_000) {
  return poll(`${user}'s reservations settled`, async () => {
    const usage = await (await admin(url, `/admin/users/${encodeURIComponent(user)}/usage`)).json();
    return usage && usage.reserved_tokens === 0 && usage.reserved_micro_usd === 0 ? usage : null;
  }, timeoutMs);
}

/** Mock-openai's counters for one key (zeros when it never saw the key). */
export async function mockCounters(stack, secret) {
  const stats = await stack.mock.stats();
  return { requests: 0, streams_finished: 0, streams_aborted: 0, prompt_tokens: 0, completion_tokens: 0, ...stats.keys[secret] };
}

/** Limits that never get in a test's way: each suite sends far more than 20 requests a minute. */
export const GENEROUS_TIERS = {
  tiers: { staff: { rpm: 100000, max_rounds: 100000, daily_tokens: 1000000000, daily_usd: 'unlimited' } },
  budget: { daily_usd: 'unlimited' },
};

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');

/** Mints a user token the way an OA backend does (HS256, claims sub/name/tier/dept/exp). */
export function mintToken({ sub = 'alice', name = 'Alice', tier, dept, exp, secret = SIGNING_SECRET } = {}) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = { sub, name, exp: exp ?? Math.floor(Date.now() / 1000) + 600 };
  if (tier) claims.tier = tier;
  if (dept) claims.dept = dept;
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** POSTs a chat completion and returns the raw Response. */
export function chat(url, token, body, extraHeaders = {}, signal = undefined) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    signal,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extraHeaders },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Reads an SSE response fully; returns the data payloads and when each network chunk came. */
export async function readSse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const arrivals = [];
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    arrivals.push(performance.now());
    text += decoder.decode(value, { stream: true });
  }
  const events = text
    .split(/\n\n/)
    .map((block) => block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter(Boolean);
  return { events, arrivals, text };
}

/** The assistant text of a parsed SSE stream. */
export function streamedText(events) {
  return events
    .filter((e) => e !== '[DONE]')
    .map((e) => JSON.parse(e))
    .map((chunk) => chunk.choices?.[0]?.delta?.content ?? '')
    .join('');
}

export const admin = (url, path, init = {}) =>
  fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers || {}) },
  });
