// Starts the real stack for a test file: mock-openai (the one fake) and the worker under
// `wrangler dev` (workerd, local Durable Objects and D1 in a fresh folder), on free ports.
// Everything a test sees went over real HTTP through the real worker.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
    stop() {
      child.kill('SIGTERM');
    },
  };
}

/**
 * Starts mock-openai and the worker. `config` becomes OACHAT_CONFIG (JSON); `keys` the
 * comma-separated OPENAI_API_KEYS; `vars` any extra vars.
 */
export async function startStack({ config = {}, keys = 'sk-mock-ok', vars = {}, name = 'stack' } = {}) {
  const mock = await startMock();
  const port = await freePort();
  const inspector = await freePort();
  const persist = mkdtempSync(join(tmpdir(), 'oachat-test-'));
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
    log: () => readFileSync(logPath, 'utf8'),
    token: (claims = {}) => mintToken(claims),
    async stop() {
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      await new Promise((r) => setTimeout(r, 300));
      mock.stop();
    },
  };
}

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');

/** Mints a user token the way an OA backend does (HS256, claims sub/name/tier/exp). */
export function mintToken({ sub = 'alice', name = 'Alice', tier, exp, secret = SIGNING_SECRET } = {}) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = { sub, name, exp: exp ?? Math.floor(Date.now() / 1000) + 600 };
  if (tier) claims.tier = tier;
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** POSTs a chat completion and returns the raw Response. */
export function chat(url, token, body, extraHeaders = {}) {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
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
