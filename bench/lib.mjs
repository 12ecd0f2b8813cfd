// Shared helpers of the benchmark: processes pinned with taskset, /proc accounting, stats.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH, '..');
export const OUT = join(BENCH, 'out');
export const LOGS = join(OUT, 'logs');
mkdirSync(LOGS, { recursive: true });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function log(...args) {
  const t = new Date().toISOString().slice(11, 19);
  console.log(`[bench ${t}]`, ...args);
}

// One free-port helper for tests and benchmarks.
export { freePort } from '../worker/tests/harness.mjs';

/** Runs a command to completion (bounded by timeoutMs); returns stdout. */
export function run(cmd, args, { cpu, timeoutMs = 600_000, env, cwd = ROOT, allowFail = false } = {}) {
  const [c, a] = cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
  const r = spawnSync(c, a, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 << 20 });
  if ((r.status !== 0 || r.error) && !allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.error}):\n${r.stderr?.slice(-3000)}`);
  }
  return r.stdout ?? '';
}

/** Runs a command asynchronously (so the event loop can sample /proc meanwhile). */
export function runAsync(cmd, args, { cpu, timeoutMs = 600_000, env, cwd = ROOT } = {}) {
  const [c, a] = cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${a.slice(0, 8).join(' ')} exited ${code}: ${err.slice(-2000)}`));
    });
  });
}

/**
 * Starts a long-running process pinned to `cpu`, in its own process group, logging to
 * out/logs/<name>.log. `ready` is a URL polled until it answers (any status), or a RegExp on output.
 */
export async function startProcess(name, cmd, args, { cpu, env, cwd = ROOT, ready, readyTimeoutMs = 120_000 } = {}) {
  const logPath = join(LOGS, `${name}.log`);
  const logStream = createWriteStream(logPath);
  const [c, a] = cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
  const child = spawn(c, a, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  let exited = null;
  child.stdout.on('data', (d) => { output += d; logStream.write(d); });
  child.stderr.on('data', (d) => { output += d; logStream.write(d); });
  child.on('exit', (code) => (exited = code ?? 'signal'));
  const proc = {
    name,
    pid: child.pid,
    logPath,
    output: () => output,
    async stop() {
      if (exited !== null) return;
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
      if (exited === null) { try { process.kill(-child.pid, 'SIGKILL'); } catch {} await sleep(200); }
    },
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`${name} exited (${exited}) before it was ready:\n${output.slice(-3000)}`);
    if (Date.now() > deadline) { await proc.stop(); throw new Error(`${name} not ready in ${readyTimeoutMs} ms:\n${output.slice(-3000)}`); }
    if (ready instanceof RegExp) {
      const m = output.match(ready);
      if (m) { proc.match = m; break; }
    } else if (typeof ready === 'string') {
      const ok = await fetch(ready, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
      if (ok) break;
    } else break;
    await sleep(200);
  }
  return proc;
}

// ---- /proc accounting --------------------------------------------------------------------

const CLK_TCK = Number(run('getconf', ['CLK_TCK']).trim()) || 100;

function statOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] = state (field 3); ppid field 4 -> rest[1]; utime 14 -> rest[11]; stime 15 -> rest[12]
    return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) };
  } catch {
    return null;
  }
}

/** The pid and all its descendants. */
export function processTree(rootPid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = statOf(entry);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(entry));
  }
  const out = [];
  const stack = [rootPid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    for (const c of children.get(p) || []) stack.push(c);
  }
  return out;
}

export function commOf(pid) {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return '?'; }
}

/** CPU seconds (user+system, all threads) of the given pids. */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const p of pids) {
    const st = statOf(p);
    if (st) ticks += st.utime + st.stime;
  }
  return ticks / CLK_TCK;
}

/** Resident set size in MiB of the given pids, summed. */
export function rssMiB(pids) {
  let kb = 0;
  for (const p of pids) {
    try {
      const m = readFileSync(`/proc/${p}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
      if (m) kb += Number(m[1]);
    } catch {}
  }
  return kb / 1024;
}

/** Samples RSS of `pidsFn()` every `everyMs` while `promise` runs; returns [result, maxMiB]. */
export async function withRssSampling(pidsFn, promise, everyMs = 250) {
  let max = rssMiB(pidsFn());
  const timer = setInterval(() => { max = Math.max(max, rssMiB(pidsFn())); }, everyMs);
  try {
    const result = await promise;
    max = Math.max(max, rssMiB(pidsFn()));
    return [result, max];
  } finally {
    clearInterval(timer);
  }
}

// ---- stats -------------------------------------------------------------------------------

/** {median, min, max, n} of the finite numbers in `values`. */
export function spread(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

export function fmt(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 100) return x.toFixed(Math.min(digits, 1));
  return x.toFixed(digits);
}

/** "median (min–max)" */
export function fmtSpread(s, digits = 2) {
  if (!s) return '—';
  if (s.n === 1) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

// ---- tokens ------------------------------------------------------------------------------

const b64url = (b) => Buffer.from(b).toString('base64url');

/** A user token as an OA backend mints it (HS256; claims sub/name/tier/exp), like harness.mjs. */
export function mintToken({ secret, sub = 'bench-user', name = 'Bench User', tier, ttlS = 4 * 3600 }) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = { sub, name, exp: Math.floor(Date.now() / 1000) + ttlS };
  if (tier) claims.tier = tier;
  const payload = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${sig}`;
}

export function versionOf(cmd, args = ['--version']) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
    return (r.stdout || r.stderr || '').trim().split('\n')[0];
  } catch {
    return '?';
  }
}

export const exists = existsSync;
