// The proxy benchmark: the same mock-openai upstreams, five contenders, one run.
//   direct   -> mock-openai itself (the floor)
//   workerd  -> oachat's production bundle (wrangler deploy --dry-run) on plain workerd
//   wrangler -> oachat under `wrangler dev`
//   portkey  -> @portkey-ai/gateway (Node)
//   litellm  -> LiteLLM proxy (Python, 1 worker)
// Each proxy is pinned to CPU 0; the mocks and the load tools to CPU 1.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH, ROOT, OUT, cpuSeconds, freePort, log, mintToken, processTree, rssMiB, run, runAsync,
  sleep, spread, startProcess, withRssSampling, commOf,
} from './lib.mjs';
import { bundleModules, capnpText, readWrangler, workerdConfig } from '../worker/selfhost/workerd-config.mjs';
import { floorPaces } from './users.mjs';

export const PROXY_CPU = 0;
export const LOAD_CPU = 1;
const OHA = join(BENCH, '.tools/bin/oha');
const LOADGEN = join(BENCH, 'target/release/oachat-loadgen');
const MOCK = join(ROOT, 'target/release/mock-openai');
const WORKERD = join(ROOT, 'node_modules/@cloudflare/workerd-linux-64/bin/workerd');
export const SIGNING_SECRET = 'bench-signing-secret-6d0a4c2f9e1b';
const ADMIN_TOKEN = 'bench-admin-token-3f7a';
// Two keys per upstream: the key pool picks between them on every request.
const UPSTREAM_KEYS = 'sk-mock-bench-1,sk-mock-bench-2';
const WRANGLER_ENV = { WRANGLER_CACHE_DIR: join(OUT, '.wrangler-cache'), WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1', OACHAT_PREBUILT: '1' };

/** What each kind of request asks the mock for (one mock per kind, so every proxy sees the same upstream). */
export const MOCKS = {
  // An ordinary streamed answer: 40 chunks, 15 ms apart (the mock's default; ~0.6 s per stream).
  paced: { chunks: 40, delayMs: 15, model: 'gpt-4o-mini' },
  // The CPU figure: 500 chunks back to back.
  burst: { chunks: 500, delayMs: 0, model: 'gpt-4o' },
  // Long streams for the concurrency hold: 200 ms apart (5 events/s each), long enough to
  // outlast ramp + hold + 10 s (startMocks sets the count).
  hold: { chunks: 150, delayMs: 200, model: 'gpt-4.1-mini' },
  // Realistic pacing (issue 17): 500 chunks at 50 tokens/s, 20 ms apart (10 s per stream).
  steady: { chunks: 500, delayMs: 20, model: 'gpt-4.1-nano' },
};

export async function startMocks(holdTotalS = 20) {
  MOCKS.hold.chunks = Math.ceil((holdTotalS + 10) * (1000 / MOCKS.hold.delayMs));
  const mocks = {};
  for (const [kind, m] of Object.entries(MOCKS)) {
    const p = await startProcess(`mock-${kind}`, MOCK, ['--port', '0', '--chunks', String(m.chunks), '--delay-ms', String(m.delayMs)], {
      cpu: LOAD_CPU, ready: /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    });
    mocks[kind] = { ...m, url: p.match[1], proc: p };
  }
  return mocks;
}

// mock-openai quotes the user's message in its answer and splits the answer into at most
// `chunks` pieces of at least one character: the burst prompt is long enough for 500 chunks.
const LONG_PROMPT = 'Please explain, step by step and with examples, how our travel expense policy works: who approves trips, which receipts are needed, how per-diem rates are chosen for domestic and international travel, what happens with currency conversion, how mileage for private cars is reimbursed, and which deadlines apply to claims submitted after the end of a quarter. '.repeat(2);
// A non-streamed answer comes at once from mock-openai, but oachat asks every upstream for a
// stream (so first-byte timing and failover mean the same for both kinds of call): the pacing
// directive gives that stream no delay, so every proxy's non-streamed row sees an upstream that
// answers at once, as the rows before this change did.
// `usage`: the client asks for the usage chunk itself (`stream_options.include_usage`), as the
// Vercel AI SDK and LiteLLM's clients do; oachat then forwards the upstream's stream unchanged
// and passes it through natively (worker/src/relay_native.rs).
export const body = (kind, stream, { usage = false } = {}) =>
  JSON.stringify({
    model: MOCKS[kind].model,
    messages: [{
      role: 'user',
      content: (kind === 'burst' || kind === 'steady' ? LONG_PROMPT : 'Hello! Summarise our leave policy in three sentences.')
        + (stream ? '' : ' [mock delay_ms=0]'),
    }],
    ...(stream ? { stream: true } : {}),
    ...(stream && usage ? { stream_options: { include_usage: true } } : {}),
  });

/** OACHAT_CONFIG as an operator would write it: three upstreams, a high-rpm tier, finite budgets. */
function oachatConfig(mocks, origin) {
  return JSON.stringify({
    allowed_origins: [origin],
    default_tier: 'bench',
    // Limits stay on: every request is admitted by the caller's UserDo (rate window, rounds,
    // token and money reservation) and settled after the response; the numbers are only high
    // enough not to refuse the load.
    tiers: {
      bench: { rpm: 100_000_000, max_rounds: 100_000_000, daily_tokens: 1_000_000_000_000, daily_usd: 1_000_000, models: ['*'] },
      // The cost ladder's "refused at admission" row: every request asks for more than this.
      'bench-refused': { rpm: 100_000_000, max_rounds: 100_000_000, daily_tokens: 1, models: ['*'] },
    },
    budget: { daily_usd: 1_000_000 },
    // One upstream per mock; `paced` also serves the other built-in models the default routes use.
    upstreams: Object.entries(mocks).map(([kind, m]) => ({
      name: kind, base_url: `${m.url}/v1`, keys_secret: 'OPENAI_API_KEYS',
      models: kind === 'paced' ? ['gpt-4o-mini', 'gpt-4.1', 'o4-mini'] : [m.model],
    })),
  });
}

function oachatVars(mocks, port) {
  return {
    OPENAI_BASE_URL: `${mocks.paced.url}/v1`,
    OPENAI_API_KEYS: UPSTREAM_KEYS,
    OACHAT_SIGNING_SECRET: SIGNING_SECRET,
    OACHAT_ADMIN_TOKEN: ADMIN_TOKEN,
    OACHAT_DEMO: '1',
    OACHAT_CONFIG: oachatConfig(mocks, `http://127.0.0.1:${port}`),
  };
}

// ---- plain workerd ---------------------------------------------------------------------------

/** Bundles the worker like `wrangler deploy` does, offline, into out/workerd/dist. */
export function bundleWorker() {
  const dir = join(OUT, 'workerd');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'dist'), { recursive: true });
  run('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', join(dir, 'dist')], { env: WRANGLER_ENV, timeoutMs: 300_000 });
  copyFileSync(join(ROOT, 'worker/selfhost/d1-shim.js'), join(dir, 'd1-shim.js'));
  return dir;
}

/** The shared generator (worker/selfhost/workerd-config.mjs) with the vars written in as text. */
async function benchConfig(dir, port, vars) {
  mkdirSync(join(dir, 'do'), { recursive: true });
  mkdirSync(join(dir, 'd1'), { recursive: true });
  return workerdConfig({
    wrangler: await readWrangler(ROOT),
    modules: bundleModules(join(dir, 'dist')),
    embed: (path) => path,
    bindings: Object.entries(vars).map(([k, v]) => `(name = ${capnpText(k)}, text = ${capnpText(v)})`),
    listen: `127.0.0.1:${port}`,
    storage: { do: join(dir, 'do'), d1: join(dir, 'd1') },
    header: '# Generated by bench/proxy.mjs: oachat\'s production bundle on plain workerd (worker/selfhost/workerd-config.mjs).\n',
  });
}

// ---- the platform floor ------------------------------------------------------------------------

/**
 * CPU of two minimal JS workers on the same workerd (bench/workerd/floor.js): one returns the
 * upstream body untouched (native pipe), one passes it through a JS TransformStream that looks
 * at every chunk. They bound what any worker that meters a stream can cost per event here.
 */
export async function measureFloor(mocks, P) {
  const dir = join(OUT, 'floor');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(BENCH, 'workerd/floor.js'), join(dir, 'floor.js'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'floor.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "floor", worker = .floor), (name = "loopback", network = (allow = ["local"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "floor") ],
);
const floor :Workerd.Worker = (
  modules = [ (name = "floor.js", esModule = embed "floor.js") ],
  compatibilityDate = "2026-11-01",
  bindings = [ (name = "UPSTREAM", text = ${capnpText(mocks.burst.url + '/v1')}), (name = "KEY", text = "sk-mock-bench-1"),
    (name = "UPSTREAMS", text = ${capnpText(JSON.stringify(Object.fromEntries(Object.entries(mocks).map(([k, m]) => [k, m.url + '/v1']))))}) ],
  globalOutbound = "loopback",
);
`);
  const proc = await startProcess('workerd-floor', WORKERD, ['serve', join(dir, 'floor.capnp'), '--experimental'], {
    cpu: PROXY_CPU, cwd: dir, ready: `${base}/`, readyTimeoutMs: 30_000,
  });
  const out = {};
  try {
    await sleep(500);
    const pids = () => processTree(proc.pid);
    for (const mode of ['pipe', 'transform', 'tee']) {
      const target = { url: `${base}/${mode}/chat/completions`, headers: { 'content-type': 'application/json' } };
      await loadgen('run', target, body('burst', true), ['-c', '4', '-n', '20', '-z', '30', '--timeout', '20', '--expect-done']);
      const cpu0 = cpuSeconds(pids());
      const res = await loadgen('run', target, body('burst', true), ['-c', '10', '-n', String(P.cpuStreams), '-z', String(P.cpuSecs), '--timeout', '30', '--expect-done']);
      const streamMs = res.ok ? ((cpuSeconds(pids()) - cpu0) * 1000) / res.ok : null;
      const cpu1 = cpuSeconds(pids());
      const ns = await loadgen('run', target, body('burst', false), ['-c', '10', '-n', '2000', '-z', String(P.cpuSecs), '--timeout', '30']);
      const requestMs = ns.ok ? ((cpuSeconds(pids()) - cpu1) * 1000) / ns.ok : null;
      out[mode] = { streamMs, streams: res.ok, streamErrors: res.errors, requestMs, requests: ns.ok, requestErrors: ns.errors };
      out[mode].paces = await floorPaces(target, pids, P); // users.mjs: the 15 ms and 50 tokens/s rows
      log(`floor ${mode}: ${streamMs?.toFixed(3)} CPU ms per 500-chunk stream, ${requestMs?.toFixed(3)} per non-streamed request`);
    }
  } finally {
    await proc.stop();
  }
  return out;
}

// ---- contenders ------------------------------------------------------------------------------

export const CONTENDERS = ['direct', 'workerd', 'wrangler', 'portkey', 'litellm'];

export async function startContender(name, mocks, { workerdDir, workerdArgs = [] } = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const token = mintToken({ secret: SIGNING_SECRET, tier: 'bench' });
  const json = { 'content-type': 'application/json' };
  if (name === 'direct') {
    return {
      name, pids: () => [], stop: async () => {},
      target: (kind) => ({ url: `${mocks[kind].url}/v1/chat/completions`, headers: { ...json, authorization: `Bearer sk-mock-bench-1` } }),
    };
  }
  if (name === 'workerd') {
    const vars = oachatVars(mocks, port);
    rmSync(join(workerdDir, 'do'), { recursive: true, force: true });
    rmSync(join(workerdDir, 'd1'), { recursive: true, force: true });
    writeFileSync(join(workerdDir, 'oachat.capnp'), await benchConfig(workerdDir, port, vars));
    const proc = await startProcess('workerd', WORKERD, ['serve', join(workerdDir, 'oachat.capnp'), '--experimental', ...workerdArgs], {
      cpu: PROXY_CPU, cwd: workerdDir, ready: `${base}/healthz`, readyTimeoutMs: 60_000,
    });
    return {
      name, proc, base, pids: () => processTree(proc.pid), stop: () => proc.stop(),
      target: () => ({ url: `${base}/v1/chat/completions`, headers: { ...json, authorization: `Bearer ${token}` } }),
    };
  }
  if (name === 'wrangler') {
    const inspector = await freePort();
    const persist = mkdtempSync(join(tmpdir(), 'oachat-bench-'));
    const args = ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
      '--persist-to', persist, '--log-level', 'warn', '--env-file', '/dev/null'];
    for (const [k, v] of Object.entries(oachatVars(mocks, port))) args.push('--var', `${k}:${v}`);
    const proc = await startProcess('wrangler-dev', 'npx', args, { cpu: PROXY_CPU, env: WRANGLER_ENV, ready: `${base}/healthz`, readyTimeoutMs: 120_000 });
    return {
      name, proc, base, pids: () => processTree(proc.pid), stop: () => proc.stop(),
      target: () => ({ url: `${base}/v1/chat/completions`, headers: { ...json, authorization: `Bearer ${token}` } }),
      demoUrl: `${base}/demo`,
    };
  }
  if (name === 'portkey') {
    const dir = join(BENCH, '.portkey/node_modules/@portkey-ai/gateway');
    // Node 20 (the system one), as in the reference figures.
    const proc = await startProcess('portkey', 'node', ['-r', join(BENCH, 'portkey-localhost.cjs'), join(dir, 'build/start-server.js'), `--port=${port}`, '--headless'], {
      cpu: PROXY_CPU, ready: `${base}/`, readyTimeoutMs: 60_000,
    });
    return {
      name, proc, base, pids: () => processTree(proc.pid), stop: () => proc.stop(),
      target: (kind) => ({
        url: `${base}/v1/chat/completions`,
        headers: { ...json, authorization: 'Bearer sk-mock-bench-1', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mocks[kind].url}/v1` },
      }),
    };
  }
  if (name === 'litellm') {
    const cfg = join(OUT, 'litellm.yaml');
    const models = Object.values(mocks).map((m) =>
      `  - model_name: ${m.model}\n    litellm_params:\n      model: openai/${m.model}\n      api_base: ${m.url}/v1\n      api_key: sk-mock-bench-1\n`).join('');
    writeFileSync(cfg, `model_list:\n${models}litellm_settings:\n  telemetry: false\n  drop_params: true\n`);
    const proc = await startProcess('litellm', join(BENCH, '.venv/bin/litellm'), ['--config', cfg, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1'], {
      cpu: PROXY_CPU, env: { LITELLM_LOCAL_MODEL_COST_MAP: 'True', LITELLM_LOG: 'ERROR', NO_DOCS: 'True', DISABLE_ADMIN_UI: 'True' },
      ready: `${base}/health/liveliness`, readyTimeoutMs: 180_000,
    });
    return {
      name, proc, base, pids: () => processTree(proc.pid), stop: () => proc.stop(),
      target: () => ({ url: `${base}/v1/chat/completions`, headers: { ...json, authorization: 'Bearer sk-bench' } }),
    };
  }
  throw new Error(`unknown contender ${name}`);
}

// ---- load ------------------------------------------------------------------------------------

async function oha(target, bodyText, conc, secs) {
  const args = ['--no-tui', '--output-format', 'json', '-c', String(conc), '-z', `${secs}s`, '-w', '-t', '15s', '-m', 'POST', '-d', bodyText];
  for (const [k, v] of Object.entries(target.headers)) args.push('-H', `${k}: ${v}`);
  args.push(target.url);
  const out = JSON.parse(await runAsync(OHA, args, { cpu: LOAD_CPU, timeoutMs: (secs + 60) * 1000 }));
  const codes = out.statusCodeDistribution || {};
  const ok = codes['200'] || 0;
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  const errors = total - ok + Object.values(out.errorDistribution || {}).reduce((a, b) => a + b, 0);
  const pct = out.latencyPercentiles || {};
  return {
    ok, errors, codes, errorKinds: out.errorDistribution || {},
    rps: ok / (out.summary?.total || secs),
    p50: (pct.p50 ?? NaN) * 1000, p99: (pct.p99 ?? NaN) * 1000,
  };
}

/** oha for the cost ladder: any status counts (a 401 is the point of one step). */
async function ohaAny(target, bodyText, conc, secs) {
  const args = ['--no-tui', '--output-format', 'json', '-c', String(conc), '-z', `${secs}s`, '-w', '-t', '15s'];
  if (bodyText) args.push('-m', 'POST', '-d', bodyText);
  for (const [k, v] of Object.entries(target.headers)) args.push('-H', `${k}: ${v}`);
  args.push(target.url);
  const out = JSON.parse(await runAsync(OHA, args, { cpu: LOAD_CPU, timeoutMs: (secs + 60) * 1000 }));
  const codes = out.statusCodeDistribution || {};
  const done = Object.values(codes).reduce((a, b) => a + b, 0);
  const pct = out.latencyPercentiles || {};
  return { done, codes, rps: done / (out.summary?.total || secs), p50: (pct.p50 ?? NaN) * 1000, p99: (pct.p99 ?? NaN) * 1000 };
}

export async function loadgen(mode, target, bodyText, extra) {
  const args = [mode, '--url', target.url, '--body', bodyText, ...extra];
  for (const [k, v] of Object.entries(target.headers)) args.push('-H', `${k}: ${v}`);
  return JSON.parse(await runAsync(LOADGEN, args, { cpu: LOAD_CPU, timeoutMs: 180_000 }));
}

/** Measures one contender; returns its raw figures. */
export async function measure(c, P) {
  const r = { name: c.name, nonstream: {}, stream: {}, notes: [] };
  const pids = c.pids;
  const hasProc = pids().length > 0;
  r.rssStart = hasProc ? rssMiB(pids()) : null;
  // Sanity + warm-up (JIT, isolates, DO storage, connection pools).
  const warm = await loadgen('run', c.target('paced'), body('paced', false), ['-c', '4', '-n', String(P.warmup), '-z', '60', '--timeout', '20']);
  const warmS = await loadgen('run', c.target('paced'), body('paced', true), ['-c', '4', '-n', '20', '-z', '60', '--timeout', '20', '--expect-done']);
  if (warm.ok === 0 || warmS.ok === 0) throw new Error(`${c.name}: warm-up failed: ${JSON.stringify(warm)} ${JSON.stringify(warmS)}`);
  if (warm.errors || warmS.errors) r.notes.push(`warm-up errors: ${JSON.stringify(warm.error_kinds)} ${JSON.stringify(warmS.error_kinds)}`);
  r.rssIdle = hasProc ? rssMiB(pids()) : null;
  r.processes = hasProc ? [...new Set(pids().map(commOf))].join(', ') : null;

  for (const conc of P.concs) {
    const reps = [];
    for (let i = 0; i < P.reps; i++) {
      const cpu0 = hasProc ? cpuSeconds(pids()) : 0;
      const [res, rss] = await withRssSampling(pids, oha(c.target('paced'), body('paced', false), conc, P.secs));
      const cpuMs = hasProc && res.ok ? ((cpuSeconds(pids()) - cpu0) * 1000) / res.ok : null;
      reps.push({ ...res, rss: hasProc ? rss : null, cpuMs });
    }
    r.nonstream[conc] = reps;
    log(`${c.name} non-stream c=${conc}: p50 ${reps.map((x) => x.p50.toFixed(2)).join('/')} ms, ${reps.map((x) => Math.round(x.rps)).join('/')} req/s, errors ${reps.map((x) => x.errors).join('/')}`);
  }
  for (const conc of P.streamConcs) {
    const reps = [];
    for (let i = 0; i < P.reps; i++) {
      const cpu0 = hasProc ? cpuSeconds(pids()) : 0;
      const [res, rss] = await withRssSampling(pids, loadgen('run', c.target('paced'), body('paced', true), ['-c', String(conc), '-z', String(P.secs), '--timeout', '15', '--expect-done']));
      const cpuMs = hasProc && res.ok ? ((cpuSeconds(pids()) - cpu0) * 1000) / res.ok : null;
      reps.push({ ...res, rss: hasProc ? rss : null, cpuMs });
    }
    r.stream[conc] = reps;
    log(`${c.name} stream c=${conc}: ttfb p50 ${reps.map((x) => x.ttfb_ms?.p50).join('/')} ms, ${reps.map((x) => Math.round(x.rps)).join('/')} streams/s, errors ${reps.map((x) => x.errors).join('/')}`);
  }
  // CPU per streamed request of 500 chunks: process CPU time (user+system, all threads, the
  // whole process tree) over a batch, divided by the streams completed.
  {
    const before = hasProc ? cpuSeconds(pids()) : 0;
    const t0 = Date.now();
    const res = await loadgen('run', c.target('burst'), body('burst', true), ['-c', '10', '-n', String(P.cpuStreams), '-z', String(P.cpuSecs), '--timeout', '30', '--expect-done']);
    const wall = (Date.now() - t0) / 1000;
    const after = hasProc ? cpuSeconds(pids()) : 0;
    r.cpu = { streams: res.ok, errors: res.errors, cpuS: after - before, wallS: wall, msPerStream: hasProc && res.ok ? ((after - before) * 1000) / res.ok : null, totalMs: res.total_ms };
    log(`${c.name} cpu: ${r.cpu.msPerStream?.toFixed(3) ?? '(not measured: no proxy process)'} ms per 500-chunk stream (${res.ok} streams, ${res.errors} errors)`);
  }
  // What a request costs on plain workerd, step by step (CPU ms per request of the workerd
  // process, oha at concurrency 1 and 10): the runtime alone, a refused token, the whole chat.
  if (c.name === 'workerd') {
    const idle0 = cpuSeconds(pids());
    await sleep(3000);
    r.idleCpuMsPerS = ((cpuSeconds(pids()) - idle0) * 1000) / 3;
    r.ladder = [];
    const t = c.target('paced');
    const steps = [
      ['GET /healthz (runtime + wasm entry, no I/O)', { url: t.url.replace('/v1/chat/completions', '/healthz'), headers: {} }, null],
      ['POST chat, invalid token → 401 (routing, auth; no Durable Object, no upstream)', { url: t.url, headers: { ...t.headers, authorization: 'Bearer not-a-token' } }, body('paced', false)],
      // One UserDo call and nothing else: the admission refuses the budget, so no upstream,
      // settle or ledger row follows. Its gap to the 401 row is one Durable Object call.
      ['POST chat, refused at admission → 429 (1 UserDo call; no upstream, no settle)', { url: t.url, headers: { ...t.headers, authorization: `Bearer ${mintToken({ secret: SIGNING_SECRET, sub: 'bench-refused', tier: 'bench-refused' })}` } }, body('paced', false)],
      ['POST chat, non-streaming (admission in UserDo, upstream, settle, D1 ledger)', t, body('paced', false)],
      // The widget's turn: one call to the user's object before the first byte (open the
      // conversation + admit) and one after (append the turn + settle + ledger row).
      ['POST /v1/oachat/chat, a new conversation\'s turn (2 UserDo calls: begin turn, settle + append)', { url: t.url.replace('/v1/chat/completions', '/v1/oachat/chat'), headers: t.headers },
        JSON.stringify({ message: 'Hello! Summarise our leave policy in three sentences. [mock delay_ms=0]' })],
    ];
    for (const [label, target, b] of steps) {
      for (const conc of [1, 10]) {
        const cpu0 = cpuSeconds(pids());
        const res = await ohaAny(target, b, conc, P.ladderSecs);
        const cpuMs = res.done ? ((cpuSeconds(pids()) - cpu0) * 1000) / res.done : null;
        r.ladder.push({ label, conc, p50: res.p50, p99: res.p99, rps: res.rps, cpuMs, codes: res.codes });
        log(`${c.name} ladder ${label} c=${conc}: p50 ${res.p50.toFixed(2)} ms, ${cpuMs?.toFixed(3)} CPU ms/request, codes ${JSON.stringify(res.codes)}`);
      }
    }
  }
  // Concurrent open streams held without a single error.
  r.holds = [];
  // The floor only needs to show that the mock and the client hold the highest level.
  for (const n of c.name === 'direct' ? P.holds.slice(-1) : P.holds) {
    const [res, rss] = await withRssSampling(pids, loadgen('hold', c.target('hold'), body('hold', true), ['-c', String(n), '--hold', String(P.holdSecs), '--ramp', String(P.ramp), '--stall', '5', '--timeout', '10']));
    r.holds.push({ ...res, rss: hasProc ? rss : null });
    log(`${c.name} hold ${n}: held ${res.held}, errors ${res.errors} ${JSON.stringify(res.error_kinds)}`);
    if (res.errors > 0 || res.held < n) break;
    await sleep(1500); // let the dropped streams close
  }
  // oachat on plain workerd: the best level again, held for the target's full 30 s.
  const best = r.holds.filter((h) => h.errors === 0 && h.held === h.streams).map((h) => h.streams).pop();
  if (c.name === 'workerd' && P.confirmHoldSecs && best) {
    await sleep(1500);
    const [res, rss] = await withRssSampling(pids, loadgen('hold', c.target('hold'), body('hold', true), ['-c', String(best), '--hold', String(P.confirmHoldSecs), '--ramp', String(P.ramp), '--stall', '5', '--timeout', '10']));
    r.confirmHold = { ...res, rss };
    log(`${c.name} hold ${best} for ${P.confirmHoldSecs} s: held ${res.held}, errors ${res.errors} ${JSON.stringify(res.error_kinds)}`);
  }
  r.rssAfter = hasProc ? rssMiB(pids()) : null;
  return r;
}

/** Summaries used by the report: medians and spreads over repetitions. */
export function summarize(r) {
  const s = { name: r.name, nonstream: {}, stream: {} };
  for (const [conc, reps] of Object.entries(r.nonstream)) {
    s.nonstream[conc] = {
      p50: spread(reps.map((x) => x.p50)), p99: spread(reps.map((x) => x.p99)), rps: spread(reps.map((x) => x.rps)),
      errors: reps.reduce((a, x) => a + x.errors, 0), ok: reps.reduce((a, x) => a + x.ok, 0), rss: spread(reps.map((x) => x.rss)),
      cpuMs: spread(reps.map((x) => x.cpuMs)),
    };
  }
  for (const [conc, reps] of Object.entries(r.stream)) {
    s.stream[conc] = {
      ttfb50: spread(reps.map((x) => x.ttfb_ms?.p50)), ttfb99: spread(reps.map((x) => x.ttfb_ms?.p99)),
      total50: spread(reps.map((x) => x.total_ms?.p50)), total99: spread(reps.map((x) => x.total_ms?.p99)),
      rps: spread(reps.map((x) => x.rps)), errors: reps.reduce((a, x) => a + x.errors, 0), ok: reps.reduce((a, x) => a + x.ok, 0),
      rss: spread(reps.map((x) => x.rss)), cpuMs: spread(reps.map((x) => x.cpuMs)),
    };
  }
  const good = r.holds.filter((h) => h.errors === 0 && h.held === h.streams);
  s.maxHeld = good.length ? Math.max(...good.map((h) => h.streams)) : 0;
  s.holds = r.holds;
  s.confirmHold = r.confirmHold;
  s.ladder = r.ladder;
  s.idleCpuMsPerS = r.idleCpuMsPerS;
  s.cpu = r.cpu;
  s.rssIdle = r.rssIdle;
  s.rssStart = r.rssStart;
  s.rssAfter = r.rssAfter;
  s.processes = r.processes;
  s.notes = r.notes;
  const rpsAll = Object.values(s.nonstream).map((x) => x.rps?.median ?? 0);
  s.saturationRps = rpsAll.length ? Math.max(...rpsAll) : null;
  return s;
}
