// Starts the self-hosted build (build/selfhost/run, from `make selfhost`) the way an operator
// does: values in the environment (or an env file), a data folder, a listen address. Used by
// selfhost.test.mjs and, with OACHAT_TEST_TARGET=selfhost, by startStack for every suite.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Not imported from harness.mjs, which imports this module (startStack's selfhost target).
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RESULTS = join(ROOT, 'test-results');

// OACHAT_SELFHOST_DIR: another folder built by `node worker/selfhost/build.mjs DIR`.
export const RUN = join(process.env.OACHAT_SELFHOST_DIR ?? join(ROOT, 'build/selfhost'), 'run');

export function requireBuild() {
  if (!existsSync(RUN)) throw new Error(`${RUN} is missing: run \`make selfhost\` (or bash .ci/build-selfhost.sh) first`);
}

/**
 * Runs `run ...args` to completion (check, backup, restore, or a start that must refuse);
 * resolves with its exit code and output.
 */
export function runOnce(args, env, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(RUN, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`run ${args.join(' ')} did not finish:\n${output}`)); }, timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

/**
 * Starts `run` in the background and waits for /healthz. `env` is the whole environment the
 * process gets (plus PATH), so nothing of the test runner's leaks in. Returns the process,
 * its URL, and `stop(signal)` which waits for it to exit.
 */
export async function startSelfhost({ env, args = [], name = 'selfhost', port }) {
  requireBuild();
  mkdirSync(RESULTS, { recursive: true });
  const logPath = join(RESULTS, `${name}.selfhost.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(RUN, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  let running = true;
  exited.then(() => { running = false; });
  for (let i = 0; ; i++) {
    if (!running) throw new Error(`build/selfhost/run exited before serving (see ${logPath})`);
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    if (i > 600) { child.kill('SIGKILL'); throw new Error(`build/selfhost/run did not serve in 60 s (see ${logPath})`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url, logPath, child, exited,
    async stop(signal = 'SIGTERM') {
      if (running) child.kill(signal);
      return exited;
    },
  };
}
