// Assembles widget/dist/ from the wasm-bindgen output: content-hashed core files under /v1/,
// the loader (minified, with the hashed names filled in) at /v1/widget.js and /widget.js,
// and the cache/CORS rules in _headers. Prints the sizes a host page pays.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const bindgen = process.argv[2];
const dist = join(here, 'dist');
const v1 = join(dist, 'v1');
const esbuild = join(root, 'node_modules/.bin/esbuild');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version || '0.1.0';

const hash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 12);
const minify = (source) =>
  execFileSync(esbuild, ['--minify', '--target=es2020', '--loader=js', '--legal-comments=none'], {
    input: source,
  });

const wasm = readFileSync(join(bindgen, 'oachat_widget_bg.opt.wasm'));
const glue = minify(readFileSync(join(bindgen, 'oachat_widget.js'), 'utf8').replace(/^\/\/# sourceMappingURL.*$/m, ''));
const wasmName = `oachat-core.${hash(wasm)}.wasm`;
const glueName = `oachat-core.${hash(glue)}.js`;

rmSync(dist, { recursive: true, force: true });
mkdirSync(v1, { recursive: true });
writeFileSync(join(v1, wasmName), wasm);
writeFileSync(join(v1, glueName), glue);

const loaderSource = readFileSync(join(here, 'js/loader.js'), 'utf8')
  .replace('__OACHAT_CORE_JS__', `v1/${glueName}`)
  .replace('__OACHAT_CORE_WASM__', `v1/${wasmName}`)
  .replace('__OACHAT_VERSION__', version);
const loader = minify(loaderSource);
writeFileSync(join(v1, 'widget.js'), loader);
writeFileSync(join(dist, 'widget.js'), loader);

// Hashed files never change: cache them for a year. The loader names them, so it is cached
// briefly and revalidated. Everything is fetched cross-origin by host pages (module import,
// wasm streaming compile), hence CORS.
writeFileSync(
  join(dist, '_headers'),
  `/v1/oachat-core.*
  Cache-Control: public, max-age=31536000, immutable
  Access-Control-Allow-Origin: *
  X-Content-Type-Options: nosniff
/v1/widget.js
  Cache-Control: public, max-age=300, must-revalidate
  Access-Control-Allow-Origin: *
  X-Content-Type-Options: nosniff
/widget.js
  Cache-Control: public, max-age=300, must-revalidate
  Access-Control-Allow-Origin: *
  X-Content-Type-Options: nosniff
`,
);

const sizes = (bytes) => ({
  raw: bytes.length,
  gzip: gzipSync(bytes, { level: 9 }).length,
  brotli: brotliCompressSync(bytes).length,
});
const report = {
  loader: sizes(loader),
  core_js: sizes(glue),
  core_wasm: sizes(wasm),
  files: readdirSync(v1),
};
writeFileSync(join(dist, 'sizes.json'), JSON.stringify(report, null, 2));
const kib = (n) => (n / 1024).toFixed(1) + ' KiB';
console.log(
  `widget: loader ${kib(report.loader.gzip)} gzip (before first open); ` +
    `core ${kib(report.core_js.gzip + report.core_wasm.gzip)} gzip (on first open)`,
);
