// `make bench` -> bench/run.sh -> this file. Runs every benchmark on this machine in one run and
// writes bench/RESULTS.md (and the raw figures to bench/out/results.json).
//   node bench/bench.mjs [--smoke] [--only proxy,widget,render,routing,ledger] [--contenders a,b,...]
// --only ledger (that part alone) merges its section into the existing RESULTS.md.
// --smoke: seconds-long, for CI: direct + plain workerd only, 1 s points, small holds, no
// browser timings, no routing eval. It writes bench/out/RESULTS-smoke.md, never RESULTS.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { BENCH, ROOT, OUT, log, run, sleep, versionOf } from './lib.mjs';
import { CONTENDERS, MOCKS, bundleWorker, measure, measureFloor, startContender, startMocks, summarize } from './proxy.mjs';
import { wasmRenderBrowser, markdownItBrowser, markdownItNode, markdownItVersion, nativeRender, ourSizes, peerSizes, widgetTimings } from './widget.mjs';
import { measureLedger } from './ledger.mjs';
import { mergeSection, writeReport } from './report.mjs';
import { HAS_USERS, measureMemory, measureSteady, measureUsageStreams, measureUsers } from './users.mjs';

const argv = process.argv.slice(2);
const SMOKE = argv.includes('--smoke');
const argOf = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : null; };
const ONLY = new Set((argOf('--only') || 'proxy,widget,render,routing,ledger').split(','));
const env = (k, d) => (process.env[k] ? Number(process.env[k]) : d);

const P = SMOKE
  ? { reps: 1, secs: 1, ladderSecs: 1, concs: [1, 10], streamConcs: [1, 10], holds: [100], holdSecs: 2, ramp: 0.5, cpuStreams: 20, cpuSecs: 10, warmup: 20, widgetReps: 1, renderReps: 1, steadyStreams: 10 }
  : {
    reps: env('BENCH_REPS', 3), secs: env('BENCH_SECONDS', 3), ladderSecs: 2, concs: [1, 50, 500], streamConcs: [1, 50, 500],
    holds: [500, 1000, 2000], holdSecs: env('BENCH_HOLD_SECONDS', 10), confirmHoldSecs: 30, ramp: 3, cpuStreams: env('BENCH_CPU_STREAMS', 200), cpuSecs: 20,
    warmup: 200, widgetReps: 5, renderReps: 3, steadyStreams: env('BENCH_STEADY_STREAMS', 100),
  };
// A run of the ledger part alone keeps the full run's raw figures (results.json) as they are.
const LEDGER_ONLY = !SMOKE && ONLY.size === 1 && ONLY.has('ledger');
const RAW = join(OUT, LEDGER_ONLY ? 'results-ledger.json' : 'results.json');
const contenders = (argOf('--contenders') || (SMOKE ? 'direct,workerd' : CONTENDERS.join(','))).split(',');

const started = new Date();
const results = { smoke: SMOKE, params: P, mocks: MOCKS, started: started.toISOString(), proxies: {}, errors: [] };
mkdirSync(OUT, { recursive: true });

function machine() {
  // pgrep run directly (not through a shell whose own command line would match the pattern).
  // (The workplace's own agent processes carry these words in their environment: not counted.)
  const busy = run('pgrep', ['-af', 'cargo|rustc|wrangler|workerd|chromium'], { allowFail: true })
    .split('\n').filter((l) => l.trim() && !/binary_backend/.test(l)).length;
  return {
    cpu: cpus()[0]?.model, cores: cpus().length, memGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: run('uname', ['-r']).trim(), os: (readFileSync('/etc/os-release', 'utf8').match(/PRETTY_NAME="(.*)"/) || [])[1],
    loadavgAtStart: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    otherBuildProcessesAtStart: Number(busy),
  };
}

function versions() {
  const pkg = (p) => { try { return JSON.parse(readFileSync(join(p, 'package.json'), 'utf8')).version; } catch { return '?'; } };
  return {
    node: process.version,
    rustc: versionOf('rustc'),
    workerd: versionOf(join(ROOT, 'node_modules/@cloudflare/workerd-linux-64/bin/workerd')),
    wrangler: pkg(join(ROOT, 'node_modules/wrangler')),
    oha: versionOf(join(BENCH, '.tools/bin/oha')),
    portkey: pkg(join(BENCH, '.portkey/node_modules/@portkey-ai/gateway')),
    honoNodeServer: pkg(join(BENCH, '.portkey/node_modules/@hono/node-server')),
    litellm: versionOf(join(BENCH, '.venv/bin/python'), ['-c', 'import importlib.metadata as m; print(m.version("litellm"))']),
    python: versionOf(join(BENCH, '.venv/bin/python')),
    chromium: versionOf('/usr/bin/chromium'),
    markdownIt: markdownItVersion(),
    playwrightCore: pkg(join(ROOT, 'node_modules/playwright-core')),
    git: run('git', ['rev-parse', '--short', 'HEAD']).trim(),
  };
}

async function main() {
  results.machine = machine();
  results.versions = versions();
  log(`machine: ${JSON.stringify(results.machine)}`);

  if (ONLY.has('proxy')) {
    let workerdDir = null;
    if (contenders.includes('workerd')) {
      log('bundling the worker (wrangler deploy --dry-run)');
      workerdDir = bundleWorker();
    }
    const mocks = await startMocks(P.ramp + Math.max(P.holdSecs, P.confirmHoldSecs || 0));
    try {
      for (const name of contenders) {
        log(`--- ${name}`);
        let c = null;
        try {
          c = await startContender(name, mocks, { workerdDir });
          const raw = await measure(c, P);
          results.proxies[name] = { raw, summary: summarize(raw) };
          // users.mjs (issue 17): many users, 50 tokens/s.
          try {
            if (HAS_USERS.includes(name)) results.proxies[name].users = await measureUsers(c, P);
            results.proxies[name].steady = await measureSteady(c, P);
            results.proxies[name].usage = await measureUsageStreams(c, P);
          } catch (e) {
            results.errors.push(`${name} (users/pacing): ${e.message.slice(0, 2000)}`);
            log(`${name} users/pacing FAILED: ${e.message.slice(0, 2000)}`);
          }
          if (name === 'wrangler' && ONLY.has('widget') && !SMOKE) {
            log('widget timings on the demo page (wrangler dev serves the assets)');
            try {
              results.widgetTimings = await widgetTimings(c.demoUrl, P.widgetReps);
            } catch (e) {
              results.errors.push(`widget timings: ${e.message}`);
              log(`widget timings failed: ${e.message}`);
            }
          }
        } catch (e) {
          results.errors.push(`${name}: ${e.message.slice(0, 2000)}`);
          log(`${name} FAILED: ${e.message.slice(0, 2000)}`);
        } finally {
          if (c) await c.stop();
          await sleep(500);
        }
        writeFileSync(RAW, JSON.stringify(results, null, 1));
      }
      if (contenders.includes('workerd')) {
        try {
          log('--- platform floor (minimal JS workers on the same workerd)');
          results.floor = await measureFloor(mocks, P);
        } catch (e) {
          results.errors.push(`floor: ${e.message.slice(0, 2000)}`);
          log(`floor FAILED: ${e.message.slice(0, 2000)}`);
        }
        try {
          log('--- isolate memory (oachat on plain workerd with its inspector)');
          results.memory = await measureMemory(mocks, workerdDir, P);
        } catch (e) {
          results.errors.push(`memory: ${e.message.slice(0, 2000)}`);
          log(`memory FAILED: ${e.message.slice(0, 2000)}`);
        }
      }
    } finally {
      for (const m of Object.values(mocks)) await m.proc.stop();
    }
  }

  if (ONLY.has('widget')) {
    try {
      results.sizes = ourSizes();
      results.peers = peerSizes();
    } catch (e) {
      results.errors.push(`sizes: ${e.message}`);
    }
  }

  if (ONLY.has('render')) {
    try {
      log('streaming render: native (oachat incremental, comrak full)');
      const native = nativeRender(P.renderReps);
      const { chunks, ...rest } = native;
      results.render = { native: { ...rest, chunkCount: chunks.length } };
      log(`native: ${JSON.stringify(rest)}`);
      results.render.markdownItNode = markdownItNode(chunks, P.renderReps);
      if (existsSync(process.env.CHROMIUM_PATH || '/usr/bin/chromium')) {
        if (existsSync(join(BENCH, 'target/render-wasm-pkg/oachat_render_wasm_bg.wasm'))) {
          log('streaming render: the widget\'s wasm renderers in Chromium (incremental, full comrak)');
          results.render.wasm = await wasmRenderBrowser(SMOKE ? chunks.slice(0, 200) : chunks, { fullReps: 1, incrementalReps: SMOKE ? 1 : 3, pacedRates: SMOKE ? [] : [500, 100] });
          if (SMOKE) results.render.wasm.note = 'smoke: first 200 chunks only';
        }
        log('streaming render: markdown-it in Chromium');
        results.render.markdownItBrowser = await markdownItBrowser(SMOKE ? chunks.slice(0, 200) : chunks, SMOKE ? 1 : 2);
        if (SMOKE) results.render.markdownItBrowser.note = 'smoke: first 200 chunks only';
      }
    } catch (e) {
      results.errors.push(`render: ${e.message}`);
      log(`render failed: ${e.message}`);
    }
  }

  if (ONLY.has('routing') && !SMOKE) {
    try {
      log('routing classifier eval (cargo run --release -p oachat-routing-eval)');
      const t0 = Date.now();
      const out = run('cargo', ['run', '--quiet', '--release', '-p', 'oachat-routing-eval'], { timeoutMs: 900_000 });
      results.routing = { output: out, seconds: (Date.now() - t0) / 1000 };
    } catch (e) {
      results.errors.push(`routing: ${e.message.slice(0, 2000)}`);
    }
  }

  if (ONLY.has('ledger') && !SMOKE) {
    try {
      log('ledger at scale: the overview and usage reports over a generated ledger (bench/ledger.mjs)');
      results.ledger = await measureLedger({
        rows: env('BENCH_LEDGER_ROWS', 1_000_000),
        warm: env('BENCH_LEDGER_CALLS', 20),
        coldStarts: env('BENCH_LEDGER_COLD', 3),
        targets: (process.env.BENCH_LEDGER_TARGETS || 'wrangler,selfhost').split(','),
      });
      results.errors.push(...results.ledger.errors.map((e) => `ledger: ${e}`));
    } catch (e) {
      results.errors.push(`ledger: ${e.message.slice(0, 2000)}`);
      log(`ledger failed: ${e.message.slice(0, 2000)}`);
    }
  }

  results.finished = new Date().toISOString();
  results.machine.loadavgAtEnd = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  writeFileSync(RAW, JSON.stringify(results, null, 1));
  const target = SMOKE ? join(OUT, 'RESULTS-smoke.md') : join(BENCH, 'RESULTS.md');
  // Only the ledger part: its section goes into the existing RESULTS.md, the rest stays.
  if (LEDGER_ONLY) mergeSection(results, target);
  else writeReport(results, target);
  log(`wrote ${target} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (results.errors.length) log(`errors: ${results.errors.length}\n  ${results.errors.join('\n  ')}`);
  if (SMOKE && Object.keys(results.proxies).length < contenders.length) process.exit(1);
  // A ledger whose answers disagree with the generated rows (or that failed) fails the run.
  if (ONLY.has('ledger') && !SMOKE && (!results.ledger || results.ledger.errors.length)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
