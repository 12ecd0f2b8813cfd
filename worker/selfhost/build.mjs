// `make selfhost`: assembles build/selfhost/, a folder that runs oachat on one Linux x86-64
// machine with nothing else installed (README "Self-hosting"):
//   dist/          the production bundle (`wrangler deploy --dry-run --outdir`)
//   assets/        the static assets wrangler.toml's [assets] names, manifest.json beside them
//   bin/workerd    the workerd binary from npm; bin/oachat-check-config the native config checker
//   oachat.capnp.in  the workerd config; `run` adds one environment binding per variable
//   vars.defaults  wrangler.toml's [vars], used where the environment does not set them
//   run            start / backup / restore (worker/selfhost/run.sh)
// Expects the worker, the widget and the checker built (the Makefile target does that first).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleModules, readWrangler, workerdConfig } from './workerd-config.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
// `node worker/selfhost/build.mjs [DIR]`: another folder than build/selfhost, e.g. to test a build
// while the current one serves.
const out = process.argv[2] ? resolve(process.argv[2]) : join(root, 'build/selfhost');
const workerdBinary = join(root, 'node_modules/@cloudflare/workerd-linux-64/bin/workerd');
const checker = join(root, 'target/release/oachat-check-config');

// Variables the run script hands to the worker: oachat's own and every secret or key list an
// upstream or a tool may name (`keys_secret`), matched by name when `run` starts.
export const ENV_PATTERN = '^(OACHAT_|OPENAI_)|_(KEYS|KEY|SECRET|TOKEN)$';
// Read by the run script itself, never by the worker.
export const RUN_ONLY = ['OACHAT_LISTEN', 'OACHAT_DATA'];

const CONTENT_TYPES = {
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

function listFiles(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path, base) : [relative(base, path)];
  });
}

/** `_headers` (Cloudflare's format: a path pattern, then indented `Name: value` lines) as rules. */
export function parseHeaders(text) {
  const rules = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    if (!/^\s/.test(line)) {
      // `*` matches anything, `:name` one path segment; the rest is literal.
      const pattern = line.trim().split(/(\*|:[A-Za-z]\w*)/).map((part) =>
        part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('');
      rules.push({ pattern: `^${pattern}$`, headers: [] });
    } else if (rules.length) {
      const colon = line.indexOf(':');
      if (colon > 0) rules.at(-1).headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
  }
  return rules;
}

function copyAssets(from, to) {
  mkdirSync(to, { recursive: true });
  const files = {};
  for (const file of listFiles(from)) {
    if (file === '_headers' || file === '_redirects') continue;
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(from, file), join(to, file));
    const bytes = readFileSync(join(from, file));
    const ext = file.slice(file.lastIndexOf('.'));
    files['/' + file] = {
      type: CONTENT_TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(bytes).digest('hex').slice(0, 20)}"`,
      size: bytes.length,
    };
  }
  const headersFile = join(from, '_headers');
  const rules = existsSync(headersFile) ? parseHeaders(readFileSync(headersFile, 'utf8')) : [];
  return { files, rules };
}

/** `[vars]` as `NAME=value` lines (a table as JSON, as the worker reads OACHAT_CONFIG). */
function varsDefaults(vars) {
  return Object.entries(vars)
    .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .filter((line) => !line.includes('\n'))
    .join('\n') + '\n';
}

async function main() {
  const wrangler = await readWrangler(root);
  for (const needed of [workerdBinary, checker, join(root, 'worker/build/index.js')]) {
    if (!existsSync(needed)) throw new Error(`missing ${relative(root, needed)}: run \`make selfhost\`, which builds it first`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'bin'), { recursive: true });
  execFileSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', join(out, 'dist')], {
    cwd: root, stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, OACHAT_PREBUILT: '1', WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1' },
  });
  // Only the modules workerd loads (the dry run also writes a README and source maps).
  const modules = bundleModules(join(out, 'dist'));
  for (const file of readdirSync(join(out, 'dist'))) if (!modules.includes(file)) rmSync(join(out, 'dist', file), { recursive: true });
  copyFileSync(join(here, 'd1-shim.js'), join(out, 'd1-shim.js'));
  copyFileSync(join(here, 'assets.js'), join(out, 'assets.js'));
  copyFileSync(join(here, 'cache.js'), join(out, 'cache.js'));
  const manifest = wrangler.assetsDirectory ? copyAssets(join(root, wrangler.assetsDirectory), join(out, 'assets')) : { files: {}, rules: [] };
  mkdirSync(join(out, 'assets'), { recursive: true });
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
  copyFileSync(workerdBinary, join(out, 'bin/workerd'));
  copyFileSync(checker, join(out, 'bin/oachat-check-config'));
  chmodSync(join(out, 'bin/workerd'), 0o755);
  chmodSync(join(out, 'bin/oachat-check-config'), 0o755);
  // The environment bindings are the run script's: it writes one line per variable set where
  // the marker stands, so no value is ever written to disk, only names.
  const config = workerdConfig({
    wrangler, modules,
    embed: (path) => `/${path}`,
    bindings: ['@ENV_BINDINGS@'],
    listen: '127.0.0.1:8080',
    storage: { do: 'data/do', d1: 'data/ledger', assets: 'assets', cache: true },
    // Upstreams and webhooks may be on the internet, in the company network or on this host.
    outbound: ['public', 'private', 'local'],
    header: '# Generated by `make selfhost` (worker/selfhost/build.mjs); `run` adds the environment bindings and the paths.\n',
  });
  // The marker must stand alone on its line, before the first fixed binding, without a comma.
  writeFileSync(join(out, 'oachat.capnp.in'), config.replace('@ENV_BINDINGS@,\n', '@ENV_BINDINGS@\n'));
  writeFileSync(join(out, 'vars.defaults'), varsDefaults(wrangler.vars));
  const run = readFileSync(join(here, 'run.sh'), 'utf8')
    .replace('@ENV_PATTERN@', ENV_PATTERN)
    .replace('@RUN_ONLY@', RUN_ONLY.join(' '));
  writeFileSync(join(out, 'run'), run);
  chmodSync(join(out, 'run'), 0o755);
  const version = execFileSync('git', ['describe', '--always', '--dirty'], { cwd: root }).toString().trim();
  writeFileSync(join(out, 'VERSION'), `${version}\nworkerd ${execFileSync(workerdBinary, ['--version']).toString().trim()}\n`);
  const size = listFiles(out).reduce((sum, f) => sum + statSync(join(out, f)).size, 0);
  console.log(`build/selfhost: ${Object.keys(manifest.files).length} asset(s), ${wrangler.durableObjects.length} Durable Object class(es), ${(size / 2 ** 20).toFixed(0)} MiB`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
