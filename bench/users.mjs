// What users live with (issue 17, "Measure what users live with"), on top of proxy.mjs's rows:
//   - many users: oachat's proxy rows again with N distinct users (N = concurrency, 1,000 at
//     c=500), each request carrying its own user's token (bench/loadgen --header-file), beside a
//     single-user control row from the same tool; the single-user rows stay as the worst case;
//   - realistic pacing: CPU per stream at 50 tokens/s (the `steady` mock: 500 chunks, 20 ms
//     apart) for every contender with a process, and the 15 ms / 50 tokens/s rows of the floor;
//   - isolate memory: oachat on plain workerd started again with workerd's inspector, whose
//     V8 sessions report each isolate's JS heap (Runtime.getHeapUsage) and wasm linear memory
//     (the byteLength of every WebAssembly.Memory, found with Runtime.queryObjects), sampled at
//     c=50 and while 2,000 streams are held, beside the process RSS.
// Nothing here changes the worker: tokens are minted like an OA backend does (HS256), and the
// memory figures come from the runtime's own inspector, not from an endpoint in the worker.
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, cpuSeconds, fmt, fmtSpread, freePort, log, mintToken, processTree, rssMiB, sleep, spread, withRssSampling } from './lib.mjs';
import { SIGNING_SECRET, body, loadgen, startContender } from './proxy.mjs';

/** Simulated users at concurrency C (issue 17: N = C, and 1,000 users at c=500). */
export const usersAt = (conc) => (conc >= 500 ? 1000 : conc);
/** The contenders that have users (oachat); the others take one shared upstream key. */
export const HAS_USERS = ['workerd', 'wrangler'];

/** A --header-file for bench/loadgen: one `authorization` line per user (sub bench-user-<i>). */
export function usersFile(n) {
  const path = join(OUT, `users-${n}.txt`);
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(`authorization: Bearer ${mintToken({ secret: SIGNING_SECRET, sub: `bench-user-${i}`, name: `Bench User ${i}`, tier: 'bench' })}`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** A loadgen `run` with process-tree CPU and RSS around it; { ...loadgen JSON, cpuMs, rss }. */
async function runMeasured(pids, target, bodyText, extra) {
  const cpu0 = cpuSeconds(pids());
  const [res, rss] = await withRssSampling(pids, loadgen('run', target, bodyText, extra));
  const cpuMs = res.ok ? ((cpuSeconds(pids()) - cpu0) * 1000) / res.ok : null;
  return { ...res, rss, cpuMs, p50: res.total_ms?.p50, p99: res.total_ms?.p99 };
}

/**
 * oachat with one user and with N users, all through bench/loadgen (so the two rows differ only
 * in the tokens): non-streaming (1 user and N users) and streaming (N users; the 1-user streaming
 * rows are proxy.mjs's own, from the same tool). c=1 is skipped: with N = C it is the 1-user row.
 */
export async function measureUsers(c, P) {
  const out = { nonstream1: {}, nonstreamN: {}, streamN: {}, users: {} };
  const concs = P.concs.filter((x) => x > 1);
  const all = usersFile(Math.max(...concs.map(usersAt)));
  // Every user's first request creates its Durable Object: warm each user once, so the rows
  // measure users who already exist, as in a running deployment.
  const t0 = Date.now();
  const warm = await loadgen('run', c.target('paced'), body('paced', false), ['-c', '20', '-n', String(Math.max(...concs.map(usersAt))), '-z', '120', '--timeout', '30', '--header-file', all]);
  out.warm = { ok: warm.ok, errors: warm.errors, seconds: (Date.now() - t0) / 1000 };
  log(`${c.name} users: warmed ${warm.ok} users in ${out.warm.seconds.toFixed(1)} s (${warm.errors} errors)`);
  for (const conc of concs) {
    const n = usersAt(conc);
    const file = usersFile(n);
    out.users[conc] = n;
    for (const [key, extra, kind, stream] of [
      ['nonstream1', [], 'paced', false],
      ['nonstreamN', ['--header-file', file], 'paced', false],
      ['streamN', ['--header-file', file, '--expect-done'], 'paced', true],
    ]) {
      const reps = [];
      for (let i = 0; i < P.reps; i++) {
        reps.push(await runMeasured(c.pids, c.target(kind), body(kind, stream), ['-c', String(conc), '-z', String(P.secs), '--timeout', '15', ...extra]));
      }
      out[key][conc] = reps;
      log(`${c.name} ${key} c=${conc} (${key.endsWith('1') ? 1 : n} users): p50 ${reps.map((x) => x.p50?.toFixed(2)).join('/')} ms, ttfb p50 ${reps.map((x) => x.ttfb_ms?.p50).join('/')} ms, ${reps.map((x) => Math.round(x.rps)).join('/')} req/s, errors ${reps.map((x) => x.errors).join('/')}`);
    }
  }
  return out;
}

/** CPU per stream at 50 tokens/s (the `steady` mock), P.steadyStreams streams at once. */
export async function measureSteady(c, P) {
  const pids = c.pids;
  if (!pids().length) return null;
  const t = c.target('steady');
  await loadgen('run', t, body('steady', true), ['-c', '4', '-n', '4', '-z', '60', '--timeout', '30', '--expect-done']);
  const res = await runMeasured(pids, t, body('steady', true), ['-c', String(P.steadyStreams), '-n', String(P.steadyStreams), '-z', '60', '--timeout', '40', '--expect-done']);
  log(`${c.name} 50 tokens/s: ${res.cpuMs?.toFixed(3)} CPU ms per 500-chunk stream (${res.ok} streams, ${res.errors} errors, total p50 ${res.total_ms?.p50} ms)`);
  return { streams: res.ok, errors: res.errors, errorKinds: res.error_kinds, msPerStream: res.cpuMs, total: res.total_ms, conc: P.steadyStreams };
}

/**
 * CPU per stream when the client asks for usage itself (`stream_options.include_usage`): oachat
 * then forwards the stream unchanged and passes it through natively (worker/src/relay_native.rs).
 * Burst (P.cpuStreams at c=10) and 50 tokens/s (P.steadyStreams at once), as the rows above.
 */
export async function measureUsageStreams(c, P) {
  const pids = c.pids;
  if (!pids().length) return null;
  const usage = { usage: true };
  const burst = await runMeasured(pids, c.target('burst'), body('burst', true, usage), ['-c', '10', '-n', String(P.cpuStreams), '-z', String(P.cpuSecs), '--timeout', '30', '--expect-done']);
  const steady = await runMeasured(pids, c.target('steady'), body('steady', true, usage), ['-c', String(P.steadyStreams), '-n', String(P.steadyStreams), '-z', '60', '--timeout', '40', '--expect-done']);
  log(`${c.name} with include_usage: burst ${burst.cpuMs?.toFixed(3)} CPU ms per 500-chunk stream (${burst.ok} ok, ${burst.errors} errors); 50 tokens/s ${steady.cpuMs?.toFixed(3)} (${steady.ok} ok, ${steady.errors} errors)`);
  return {
    burst: { msPerStream: burst.cpuMs, streams: burst.ok, errors: burst.errors },
    steady: { msPerStream: steady.cpuMs, streams: steady.ok, errors: steady.errors },
  };
}

/** The floor worker's rows at the 15 ms (`paced`, 40 chunks) and 50 tokens/s (`steady`) paces. */
export async function floorPaces(target, pids, P) {
  const at = (kind) => ({ ...target, url: `${target.url}?up=${kind}` });
  const paced = await runMeasured(pids, at('paced'), body('paced', true), ['-c', '50', '-z', String(P.secs), '--timeout', '15', '--expect-done']);
  const steady = await runMeasured(pids, at('steady'), body('steady', true), ['-c', String(P.steadyStreams), '-n', String(P.steadyStreams), '-z', '60', '--timeout', '40', '--expect-done']);
  const out = {
    paced: { msPerStream: paced.cpuMs, streams: paced.ok, errors: paced.errors },
    steady: { msPerStream: steady.cpuMs, streams: steady.ok, errors: steady.errors },
  };
  log(`floor ${target.url.split('/')[3]}: 15 ms pace ${out.paced.msPerStream?.toFixed(3)} CPU ms per 40-chunk stream; 50 tokens/s ${out.steady.msPerStream?.toFixed(3)} per 500-chunk stream`);
  return out;
}

// ---- isolate memory through workerd's inspector ---------------------------------------------

async function webSocketClass() {
  if (globalThis.WebSocket) return globalThis.WebSocket;
  return (await import('ws')).default; // Node 20: the `ws` package wrangler brings
}

/** One CDP session per inspector target (one per isolate: the worker with its Durable Objects, the D1 shim). */
async function inspectorSessions(port) {
  const WS = await webSocketClass();
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const sessions = [];
  for (const t of list) {
    const ws = new WS(t.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => { ws.addEventListener('open', resolve); ws.addEventListener('error', reject); });
    let id = 0;
    const pending = new Map();
    const contexts = [];
    ws.addEventListener('message', (m) => {
      const d = JSON.parse(typeof m.data === 'string' ? m.data : m.data.toString());
      if (d.id && pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); }
      if (d.method === 'Runtime.executionContextCreated') contexts.push(d.params.context);
    });
    const send = (method, params = {}) => new Promise((resolve, reject) => {
      const i = ++id;
      const timer = setTimeout(() => { pending.delete(i); reject(new Error(`${method}: no answer in 60 s`)); }, 60_000);
      pending.set(i, (d) => { clearTimeout(timer); d.error ? reject(new Error(`${method}: ${d.error.message}`)) : resolve(d.result); });
      ws.send(JSON.stringify({ id: i, method, params }));
    });
    sessions.push({ title: t.title || t.url || t.id, send, contexts, close: () => ws.close() });
  }
  return sessions;
}

/** JS heap and wasm linear memory of one isolate. */
async function isolateMemory(s) {
  const heap = await s.send('Runtime.getHeapUsage');
  let wasm = null;
  try {
    // Every live WebAssembly.Memory: queryObjects walks the heap for objects with this prototype.
    // workerd has no default context for evaluate: Runtime.enable announces the isolate's one.
    await s.send('Runtime.enable');
    for (let i = 0; i < 20 && !s.contexts.length; i++) await sleep(50);
    if (!s.contexts.length) throw new Error('no execution context announced');
    const proto = await s.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype', uniqueContextId: s.contexts[0].uniqueId });
    const found = await s.send('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId });
    const sizes = await s.send('Runtime.callFunctionOn', {
      objectId: found.objects.objectId, returnByValue: true,
      functionDeclaration: 'function () { return this.map((m) => m.buffer.byteLength); }',
    });
    wasm = sizes.result.value;
    heap.usedAfterGc = (await s.send('Runtime.getHeapUsage')).usedSize; // queryObjects collects garbage first
    await s.send('Runtime.releaseObjectGroup', { objectGroup: 'console' }).catch(() => {});
    await s.send('Runtime.disable').catch(() => {});
  } catch (e) {
    wasm = { error: e.message };
  }
  return { title: s.title, ...heap, wasmMemories: wasm };
}

function procMemory(pids) {
  const out = { rssMiB: rssMiB(pids), anonMiB: 0, fileMiB: 0 };
  for (const p of pids) {
    try {
      const st = readFileSync(`/proc/${p}/status`, 'utf8');
      out.anonMiB += Number(st.match(/RssAnon:\s+(\d+)/)?.[1] || 0) / 1024;
      out.fileMiB += Number(st.match(/RssFile:\s+(\d+)/)?.[1] || 0) / 1024;
    } catch {}
  }
  return out;
}

async function sample(label, port, pids) {
  const proc = procMemory(pids());
  const sessions = await inspectorSessions(port);
  try {
    const isolates = [];
    for (const s of sessions) isolates.push(await isolateMemory(s));
    const row = { label, ...proc, isolates };
    const mib = (b) => (b / 2 ** 20).toFixed(1);
    log(`memory ${label}: RSS ${proc.rssMiB.toFixed(1)} MiB; ${isolates.map((i) => `${i.title}: heap used ${mib(i.usedSize)}/${mib(i.totalSize)} MiB, wasm ${Array.isArray(i.wasmMemories) ? i.wasmMemories.map(mib).join('+') : JSON.stringify(i.wasmMemories)} MiB`).join('; ')}`);
    return row;
  } finally {
    for (const s of sessions) s.close();
  }
}

/** Runs `work` and takes a memory sample `afterMs` into it. */
async function sampleDuring(label, port, pids, work, afterMs) {
  const running = work();
  await sleep(afterMs);
  const row = await sample(label, port, pids);
  row.load = await running;
  return row;
}

/**
 * oachat on plain workerd with `--inspector-addr`: memory samples after warm-up, at c=50
 * (non-streaming and streaming, N = 50 users) and while 2,000 streams are held (1 user, and
 * 2,000 users). The inspector run is separate from the timing rows; a session is attached only
 * while a sample is taken.
 */
export async function measureMemory(mocks, workerdDir, P) {
  const port = await freePort();
  const c = await startContender('workerd', mocks, { workerdDir, workerdArgs: [`--inspector-addr=127.0.0.1:${port}`] });
  const out = { samples: [] };
  try {
    const pids = c.pids;
    const users50 = usersFile(50);
    const holdN = P.holds[P.holds.length - 1];
    const usersHold = usersFile(holdN);
    // The c=50 samples come before the hold's users exist (their Durable Objects stay in memory).
    await loadgen('run', c.target('paced'), body('paced', false), ['-c', '10', '-n', '200', '-z', '60', '--timeout', '30', '--header-file', users50]);
    await loadgen('run', c.target('paced'), body('paced', true), ['-c', '4', '-n', '20', '-z', '60', '--timeout', '20', '--expect-done']);
    out.samples.push(await sample('idle, after warm-up (50 users have made requests)', port, pids));
    const secs = Math.max(6, P.secs * 2);
    out.samples.push(await sampleDuring('c=50 non-streaming, 50 users', port, pids,
      () => loadgen('run', c.target('paced'), body('paced', false), ['-c', '50', '-z', String(secs), '--timeout', '15', '--header-file', users50]), (secs * 1000) / 2));
    out.samples.push(await sampleDuring('c=50 streaming, 50 users', port, pids,
      () => loadgen('run', c.target('paced'), body('paced', true), ['-c', '50', '-z', String(secs), '--timeout', '15', '--expect-done', '--header-file', users50]), (secs * 1000) / 2));
    await loadgen('run', c.target('paced'), body('paced', false), ['-c', '20', '-n', String(holdN), '-z', '120', '--timeout', '30', '--header-file', usersHold]);
    out.samples.push(await sample(`idle, after ${holdN} users have made one request each`, port, pids));
    for (const [label, extra] of [[`${holdN} streams held, 1 user`, []], [`${holdN} streams held, ${holdN} users`, ['--header-file', usersHold]]]) {
      await sleep(1500);
      const row = await sampleDuring(label, port, pids,
        () => loadgen('hold', c.target('hold'), body('hold', true), ['-c', String(holdN), '--hold', String(P.holdSecs), '--ramp', String(P.ramp), '--stall', '5', '--timeout', '10', ...extra]),
        (P.ramp + P.holdSecs / 2) * 1000);
      out.samples.push(row);
      log(`memory hold: held ${row.load.held}/${holdN}, errors ${row.load.errors} ${JSON.stringify(row.load.error_kinds)}`);
    }
  } finally {
    await c.stop();
  }
  return out;
}

// ---- report ------------------------------------------------------------------------------------

const LABEL = { workerd: 'oachat, plain workerd', wrangler: 'oachat, wrangler dev', portkey: 'Portkey (Node)', litellm: 'LiteLLM (1 worker)' };
const mib = (b) => (typeof b === 'number' ? (b / 2 ** 20).toFixed(1) : '—');
const wasmTotal = (i) => (Array.isArray(i.wasmMemories) ? i.wasmMemories.reduce((a, b) => a + b, 0) : null);

/** The added rows of RESULTS.md (called by report.mjs at the end of the proxy sections). */
export function writeUsersReport(R, p) {
  const px = R.proxies || {};
  const d = px.direct?.raw;
  const withUsers = Object.keys(px).filter((n) => px[n].users);
  const med = (reps, f) => spread((reps || []).map(f));
  const sub = (s, floor) => (s && floor ? { ...s, median: s.median - floor.median, min: s.min - floor.median, max: s.max - floor.median } : null);
  if (withUsers.length) {
    p('## Proxy: one user against many users (bench/loadgen)');
    p();
    p('oachat admits every request in the caller\'s UserDo. With one user every request queues on one Durable Object: **the single-user rows are the worst case**; each pair below has the 1-user row of the same run first. Here the same load again with **N distinct users** (N = concurrency; 1,000 users at c=500, so each user has at most one request in flight), each request carrying its own user\'s token (`bench/loadgen --header-file`, tokens minted like the harness does; each user made one request before the rows, so its Durable Object exists). oha sends the same headers on every request (it can vary the URL, not a header), so **every figure in this table is from bench/loadgen**, including the 1-user non-streaming control row; the oha table above stays the reference for the single-user non-streaming figures. At c=1, N = C = 1 is the single-user row. Latency = time to the end of the response; "added" is against the direct floor\'s oha/loadgen median at the same concurrency.');
    p();
    p('| contender | request | concurrency | users | p50 ms | p99 ms | added p50 ms | TTFB p50 ms | added TTFB p50 | req/s | proxy CPU ms per request | ok | errors |');
    p('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const n of withUsers) {
      const u = px[n].users;
      for (const conc of Object.keys(u.nonstream1)) {
        const floorNs = med(d?.nonstream[conc], (x) => x.p50);
        const floorTtfb = med(d?.stream[conc], (x) => x.ttfb_ms?.p50);
        const rows = [
          ['non-streaming', 1, u.nonstream1[conc]],
          ['non-streaming', u.users[conc], u.nonstreamN[conc]],
          ['streaming (the streaming table\'s row)', 1, px[n].raw.stream[conc]],
          ['streaming', u.users[conc], u.streamN[conc]],
        ];
        for (const [kind, users, reps] of rows) {
          if (!reps) continue;
          const stream = kind.startsWith('streaming');
          const p50 = med(reps, (x) => (stream ? x.total_ms?.p50 : x.p50));
          const p99 = med(reps, (x) => (stream ? x.total_ms?.p99 : x.p99));
          const ttfb = stream ? med(reps, (x) => x.ttfb_ms?.p50) : null;
          p(`| ${LABEL[n]} | ${kind} | ${conc} | ${users === 1 ? '1 (worst case)' : `**${users}**`} | ${fmtSpread(p50)} | ${fmtSpread(p99)} | ${stream ? '—' : fmtSpread(sub(p50, floorNs))} | ${fmtSpread(ttfb)} | ${stream ? fmtSpread(sub(ttfb, floorTtfb)) : '—'} | ${fmtSpread(med(reps, (x) => x.rps), 0)} | ${fmtSpread(med(reps, (x) => x.cpuMs), 3)} | ${reps.reduce((a, x) => a + x.ok, 0)} | ${reps.reduce((a, x) => a + x.errors, 0)} |`);
        }
      }
      p();
      p(`${LABEL[n]}: warming ${u.warm?.ok} users (one request each, c=20) took ${fmt(u.warm?.seconds, 1)} s (${u.warm?.errors} errors).`);
      p();
    }
  }
  const paced = Object.keys(px).filter((n) => px[n].steady || px[n].summary?.cpu);
  if (paced.length || R.floor) {
    p('## Proxy: CPU per stream at each pace');
    p();
    p(`Process-tree CPU (user + system) per completed stream. **burst**: 500 chunks back to back (\`burst\` mock, up to ${R.params.cpuStreams} streams at c=10: the figure above). **15 ms**: 40 chunks, 15 ms apart (\`paced\` mock, the streaming rows at c=50). **50 tokens/s**: 500 chunks, 20 ms apart (\`steady\` mock, ${R.params.steadyStreams} streams at once, ~10 s each). Single user for oachat.`);
    p();
    p('| contender | burst, 500 chunks | 15 ms, 40 chunks (c=50) | 50 tokens/s, 500 chunks | 50 tokens/s: streams ok / errors |');
    p('|---|---|---|---|---|');
    for (const n of paced) {
      if (n === 'direct') continue;
      const s = px[n].summary;
      const st = px[n].steady;
      p(`| ${LABEL[n] || n} | ${fmt(s?.cpu?.msPerStream, 3)} | ${fmt(s?.stream?.[50]?.cpuMs?.median, 3)} | **${fmt(st?.msPerStream, 3)}** | ${st ? `${st.streams} / ${st.errors}` : '—'} |`);
      const u = px[n].usage;
      if (u) p(`| ${LABEL[n] || n}, client asks for usage${HAS_USERS.includes(n) ? ' (passed through natively)' : ''} | ${fmt(u.burst.msPerStream, 3)} | — | **${fmt(u.steady.msPerStream, 3)}** | ${u.steady.streams} / ${u.steady.errors} |`);
    }
    const f = R.floor;
    for (const [mode, label] of [['pipe', 'floor: native pipe'], ['transform', 'floor: JS TransformStream'], ['tee', 'floor: tee, one branch native to the client, one read natively to its end']]) {
      if (!f?.[mode]) continue;
      const pc = f[mode].paces;
      p(`| ${label} | ${fmt(f[mode].streamMs, 3)} | ${fmt(pc?.paced?.msPerStream, 3)} | **${fmt(pc?.steady?.msPerStream, 3)}** | ${pc ? `${pc.steady.streams} / ${pc.steady.errors}` : '—'} |`);
    }
    p();
  }
  const mem = R.memory;
  writeTargets17(R, p);
  if (mem?.samples?.length) {
    p('## Proxy: isolate memory (oachat on plain workerd, through workerd\'s inspector)');
    p();
    p('A separate start of the same workerd config with `--inspector-addr`; one V8 inspector session per isolate, attached only while a sample is taken. **JS heap** = `Runtime.getHeapUsage` (used / allocated V8 heap); **wasm** = the `byteLength` of every live `WebAssembly.Memory` in the isolate (`Runtime.queryObjects` on `WebAssembly.Memory.prototype`; linear memory lives outside the V8 heap and never shrinks, so it is the isolate\'s high-water mark). Heap "used" is read before the heap walk of the sample; "live" after it (queryObjects collects garbage first). A Cloudflare isolate has 128 MB; issue 17\'s target is wasm + JS heap ≤ 64 MB with 2,000 streams held. RSS is the whole workerd process (all isolates, SQLite page caches of the Durable Objects, connection buffers, the runtime); RssAnon / RssFile from /proc/PID/status.');
    p();
    p('| moment | process RSS MiB (anon / file) | isolate | JS heap used / allocated MiB | JS heap live (after GC) MiB | wasm linear memory MiB | wasm + JS heap used MiB |');
    p('|---|---|---|---|---|---|---|');
    for (const s of mem.samples) {
      const hold = s.load?.mode === 'hold' ? ` (held ${s.load.held}/${s.load.streams}, ${s.load.errors} errors)` : '';
      for (const [i, iso] of s.isolates.entries()) {
        const w = wasmTotal(iso);
        p(`| ${i === 0 ? `${s.label}${hold}` : ''} | ${i === 0 ? `${fmt(s.rssMiB, 1)} (${fmt(s.anonMiB, 1)} / ${fmt(s.fileMiB, 1)})` : ''} | ${iso.title} | ${mib(iso.usedSize)} / ${mib(iso.totalSize)} | ${mib(iso.usedAfterGc)} | ${w === null ? JSON.stringify(iso.wasmMemories).slice(0, 80) : `${mib(w)} (${iso.wasmMemories.length} memor${iso.wasmMemories.length === 1 ? 'y' : 'ies'})`} | **${w === null ? '—' : mib(w + iso.usedSize)}** |`);
      }
    }
    p();
  }
}

/** Issue 17's targets against this run (Portkey's figures only if Portkey ran in this run). */
function writeTargets17(R, p) {
  const px = R.proxies || {};
  const w = px.workerd;
  if (!w) return;
  const pk = px.portkey;
  const d = px.direct?.raw;
  const floorMed = (reps, f) => spread((reps || []).map(f))?.median;
  const addedNs = (q) => (d ? spread(w.raw.nonstream[1]?.map((x) => x[q] - floorMed(d.nonstream[1], (y) => y[q])))?.median : null);
  const pkAdded = (q) => (pk && d ? spread(pk.raw.nonstream[1]?.map((x) => x[q] - floorMed(d.nonstream[1], (y) => y[q])))?.median : null);
  const status = (v, t, unit = '') => {
    if (v === null || v === undefined || t === null || t === undefined || Number.isNaN(v) || Number.isNaN(t)) return 'not measured in this run';
    return v <= t ? '**met**' : `**missed** by ${fmt(v - t)}${unit} (${fmt(v / t, 2)}× the target)`;
  };
  const statusGe = (v, t) => (v == null || t == null ? 'not measured in this run' : v >= t ? '**met**' : `**missed**: ${fmt(v / t, 2)}× the target (short by ${fmt(t - v, 0)})`);
  const nPk = pk ? '' : ' (Portkey not in this run)';
  const u = w.users;
  const hi = u ? Math.max(...Object.keys(u.nonstreamN).map(Number)) : null;
  const rpsMany = u ? Math.max(...Object.values(u.nonstreamN).map((reps) => spread(reps.map((x) => x.rps))?.median ?? 0)) : null;
  const ttfbMany = u?.streamN[50] ? spread(u.streamN[50].map((x) => x.ttfb_ms?.p50 - floorMed(d?.stream[50], (y) => y.ttfb_ms?.p50)))?.median : null;
  const f = R.floor;
  const cpuTarget = (pkMs, pipeMs) => (pkMs == null ? null : pipeMs != null && pipeMs > pkMs ? 1.2 * pipeMs : pkMs);
  const xPipe = (v, pipeMs) => (v != null && pipeMs ? `; ${fmt(v / pipeMs, 2)}× the pipe floor` : '');
  const burstT = cpuTarget(pk?.summary?.cpu?.msPerStream, f?.pipe?.streamMs);
  const steadyT = cpuTarget(pk?.steady?.msPerStream, f?.pipe?.paces?.steady?.msPerStream);
  const held = R.memory?.samples?.filter((s) => s.load?.mode === 'hold') || [];
  const isoMB = (s) => { const i = s.isolates[0]; return Array.isArray(i.wasmMemories) ? (i.wasmMemories.reduce((a, b) => a + b, 0) + i.usedSize) / 1e6 : null; };
  const rss50 = Math.max(w.summary.nonstream[50]?.rss?.max ?? 0, w.summary.stream[50]?.rss?.max ?? 0) || null;
  const pkRss50 = pk ? Math.max(pk.summary.nonstream[50]?.rss?.max ?? 0, pk.summary.stream[50]?.rss?.max ?? 0) || null : null;
  p('## Targets (issue 17), with limits, metering, ledger and key pool on');
  p();
  p('| figure | target | measured (oachat, plain workerd) | status |');
  p('|---|---|---|---|');
  const a50 = addedNs('p50');
  const a99 = addedNs('p99');
  p(`| added latency, non-streaming, c=1, p50 (oha, 1 user) | ≤ Portkey's${pk ? ` (${fmt(pkAdded('p50'))} ms)` : ''} and ≤ 0.5 ms | ${fmt(a50)} ms | ${status(a50, Math.min(0.5, pkAdded('p50') ?? 0.5), ' ms')}${pk ? '' : ' (against 0.5 ms; Portkey not in this run)'} |`);
  p(`| same, p99 | ≤ Portkey's${pk ? ` (${fmt(pkAdded('p99'))} ms)` : ''} and ≤ 2 ms | ${fmt(a99)} ms | ${status(a99, Math.min(2, pkAdded('p99') ?? 2), ' ms')}${pk ? '' : ' (against 2 ms; Portkey not in this run)'} |`);
  p(`| requests/s per core, non-streaming, many users (loadgen, best of c>1, up to ${hi ? usersAt(hi) : '—'} users) | ≥ 1.5× Portkey's${pk ? ` (1.5 × ${fmt(pk.summary.saturationRps, 0)})` : ''} | ${fmt(rpsMany, 0)} | ${statusGe(rpsMany, pk ? 1.5 * pk.summary.saturationRps : null)}${nPk} |`);
  p(`| streaming TTFB added, c=50, 50 users (p50) | ≤ +3 ms | ${fmt(ttfbMany)} ms | ${status(ttfbMany, 3, ' ms')} |`);
  p(`| CPU per 500-chunk stream, burst | ≤ Portkey's, or ≤ 1.2× the native pipe where that is higher | ${fmt(w.summary.cpu?.msPerStream, 3)} ms (pipe floor ${fmt(f?.pipe?.streamMs, 3)}${pk ? `, Portkey ${fmt(pk.summary.cpu?.msPerStream, 3)}` : ''}) | ${status(w.summary.cpu?.msPerStream, burstT, ' ms')}${nPk}${xPipe(w.summary.cpu?.msPerStream, f?.pipe?.streamMs)} |`);
  p(`| CPU per 500-chunk stream, 50 tokens/s | same | ${fmt(w.steady?.msPerStream, 3)} ms (pipe floor ${fmt(f?.pipe?.paces?.steady?.msPerStream, 3)}${pk ? `, Portkey ${fmt(pk.steady?.msPerStream, 3)}` : ''}) | ${status(w.steady?.msPerStream, steadyT, ' ms')}${nPk}${xPipe(w.steady?.msPerStream, f?.pipe?.paces?.steady?.msPerStream)} |`);
  const wu = w.usage;
  if (wu) {
    // The same pace with the same body for Portkey, when it ran: a client asking for usage.
    const pu = pk?.usage;
    const burstU = cpuTarget(pu?.burst?.msPerStream ?? pk?.summary?.cpu?.msPerStream, f?.pipe?.streamMs);
    const steadyU = cpuTarget(pu?.steady?.msPerStream ?? pk?.steady?.msPerStream, f?.pipe?.paces?.steady?.msPerStream);
    p(`| same, burst, client asks for usage (passed through natively) | same | ${fmt(wu.burst.msPerStream, 3)} ms${pu ? ` (Portkey ${fmt(pu.burst.msPerStream, 3)})` : ''} | ${status(wu.burst.msPerStream, burstU, ' ms')}${nPk}${xPipe(wu.burst.msPerStream, f?.pipe?.streamMs)} |`);
    p(`| same, 50 tokens/s, client asks for usage (passed through natively) | same | ${fmt(wu.steady.msPerStream, 3)} ms${pu ? ` (Portkey ${fmt(pu.steady.msPerStream, 3)})` : ''} | ${status(wu.steady.msPerStream, steadyU, ' ms')}${nPk}${xPipe(wu.steady.msPerStream, f?.pipe?.paces?.steady?.msPerStream)} |`);
  }
  for (const s of held) p(`| worker isolate memory (wasm + JS heap used), ${s.label} | ≤ 64 MB | ${fmt(isoMB(s), 1)} MB | ${status(isoMB(s), 64, ' MB')} |`);
  p(`| process RSS at c=50 (max sampled, 1 user) | ≤ Portkey's${pkRss50 ? ` (${fmt(pkRss50, 1)} MiB)` : ''} | ${fmt(rss50, 1)} MiB | ${status(rss50, pkRss50, ' MiB')}${nPk} |`);
  p();
}
