// oachat on plain workerd: the one place that turns wrangler.toml and a bundle from
// `wrangler deploy --dry-run --outdir` into a workerd (Cap'n Proto text) config. Used by
// `make bench` (bench/proxy.mjs) and `make selfhost` (worker/selfhost/build.mjs), so both run the
// same Durable Object classes, the same compatibility settings and the same local D1.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A string as Cap'n Proto text: JSON string escapes of ASCII text are valid capnp. */
export const capnpText = (s) => JSON.stringify(String(s));

/**
 * What the workerd config needs from wrangler.toml, read with wrangler's own parser so that a
 * Durable Object class or a var added there reaches plain workerd without editing this file.
 */
export async function readWrangler(root) {
  const { experimental_readRawConfig: readRawConfig } = await import(join(root, 'node_modules/wrangler/wrangler-dist/cli.js'));
  const { rawConfig } = readRawConfig({ config: join(root, 'wrangler.toml') });
  return wranglerFacts(rawConfig);
}

/**
 * Every Durable Object class wrangler.toml names (bindings and migrations, less deleted ones),
 * whether it stores in SQLite, and the binding that points at it (if any).
 */
export function wranglerFacts(raw) {
  const sqlite = new Set();
  const classes = new Set();
  for (const migration of raw.migrations ?? []) {
    for (const name of migration.new_sqlite_classes ?? []) { classes.add(name); sqlite.add(name); }
    for (const name of migration.new_classes ?? []) classes.add(name);
    for (const { from, to } of migration.renamed_classes ?? []) {
      if (classes.delete(from)) classes.add(to);
      if (sqlite.delete(from)) sqlite.add(to);
    }
    for (const name of migration.deleted_classes ?? []) { classes.delete(name); sqlite.delete(name); }
  }
  const bindings = (raw.durable_objects?.bindings ?? []).map((b) => ({ name: b.name, className: b.class_name }));
  for (const b of bindings) classes.add(b.className);
  return {
    compatibilityDate: raw.compatibility_date,
    compatibilityFlags: raw.compatibility_flags ?? [],
    durableObjects: [...classes].map((className) => ({ className, sqlite: sqlite.has(className) })),
    durableObjectBindings: bindings,
    d1Bindings: (raw.d1_databases ?? []).map((d) => d.binding),
    vars: raw.vars ?? {},
    assetsDirectory: raw.assets?.directory ?? null,
  };
}

/** The bundle's modules, the entry first (workerd takes the first module as the main one). */
export function bundleModules(distDir) {
  const files = readdirSync(distDir).filter((f) => /\.(m?js|wasm)$/.test(f));
  const main = files.includes('index.js') ? 'index.js' : files.find((f) => f.endsWith('.js'));
  return [main, ...files.filter((f) => f !== main)];
}

/**
 * The config text. `embed(path)` says how a file is named from the config (relative to it for
 * the bench, `/…` on the import path for the self-hosted folder). `bindings` are extra capnp
 * binding entries (text vars, or environment lookups) placed before the platform ones;
 * `listen` the socket address; `storage` the disk directories' default paths. With
 * `storage.assets`, the socket serves worker/selfhost/assets.js first, which answers for the static
 * files and hands everything else to oachat; with `storage.cache`, worker/selfhost/cache.js backs
 * the Cache API.
 */
export function workerdConfig({ wrangler, modules, embed, bindings, listen, storage, outbound = ['local'], header = '' }) {
  // The Cache API needs a service behind it on plain workerd (worker/selfhost/cache.js); without one,
  // every cache call is a no-op (the bench, which measures uncached requests, runs without).
  const cacheService = storage.cache ? `
    (name = "cache", worker = .cache),` : '';
  const cacheWorker = storage.cache ? `
# caches.default: an in-memory cache that speaks workerd's cache protocol.
const cache :Workerd.Worker = (
  modules = [ (name = "cache.js", esModule = embed ${capnpText(embed('cache.js'))}) ],
  compatibilityDate = ${capnpText(wrangler.compatibilityDate)},
);
` : '';
  const assets = storage.assets ? `
    (name = "front", worker = .front),
    (name = "assets", disk = (path = ${capnpText(storage.assets)}, writable = false)),` : '';
  const front = storage.assets ? `
# The static assets (Cloudflare serves them before the worker runs; here this small worker does).
const front :Workerd.Worker = (
  modules = [
    (name = "assets.js", esModule = embed ${capnpText(embed('assets.js'))}),
    (name = "manifest.json", json = embed ${capnpText(embed('manifest.json'))}),
  ],
  compatibilityDate = ${capnpText(wrangler.compatibilityDate)},
  compatibilityFlags = ${JSON.stringify(wrangler.compatibilityFlags)},
  bindings = [ (name = "OACHAT", service = "oachat"), (name = "FILES", service = "assets") ],
);
` : '';
  const moduleList = modules
    .map((f) => (f.endsWith('.wasm')
      ? `(name = ${capnpText(f)}, wasm = embed ${capnpText(embed('dist/' + f))})`
      : `(name = ${capnpText(f)}, esModule = embed ${capnpText(embed('dist/' + f))})`))
    .join(',\n      ');
  const platformBindings = [
    ...wrangler.durableObjectBindings.map((b) => `(name = ${capnpText(b.name)}, durableObjectNamespace = ${capnpText(b.className)})`),
    ...wrangler.d1Bindings.map((name) => `(name = ${capnpText(name)}, wrapped = (moduleName = "cloudflare-internal:d1-api", innerBindings = [(name = "fetcher", service = "d1")]))`),
  ];
  const namespaces = wrangler.durableObjects
    .map((d) => `(className = ${capnpText(d.className)}, uniqueKey = ${capnpText('oachat-' + d.className)}, enableSql = ${d.sqlite})`)
    .join(',\n    ');
  return `using Workerd = import "/workerd/workerd.capnp";
${header}const config :Workerd.Config = (
  services = [${assets}${cacheService}
    (name = "oachat", worker = .oachat),
    (name = "d1", worker = .d1),
    (name = "do-storage", disk = (path = ${capnpText(storage.do)}, writable = true)),
    (name = "d1-storage", disk = (path = ${capnpText(storage.d1)}, writable = true)),
    (name = "outbound", network = (allow = ${JSON.stringify(outbound)}, tlsOptions = (trustBrowserCas = true))),
  ],
  sockets = [ (name = "http", address = ${capnpText(listen)}, http = (), service = ${storage.assets ? '"front"' : '"oachat"'}) ],
);

const oachat :Workerd.Worker = (
  modules = [
      ${moduleList}
  ],
  compatibilityDate = ${capnpText(wrangler.compatibilityDate)},
  compatibilityFlags = ${JSON.stringify(wrangler.compatibilityFlags)},
  bindings = [
      ${[...bindings, ...platformBindings].join(',\n      ')},
  ],
  durableObjectNamespaces = [
    ${namespaces},
  ],
  durableObjectStorage = (localDisk = "do-storage"),
  globalOutbound = "outbound",${storage.cache ? '\n  cacheApiOutbound = "cache",' : ''}
);

# The ledger: D1's own client in the worker, this SQLite Durable Object behind it.
const d1 :Workerd.Worker = (
  modules = [ (name = "d1-shim.js", esModule = embed ${capnpText(embed('d1-shim.js'))}) ],
  compatibilityDate = "2025-09-01",
  bindings = [ (name = "DB", durableObjectNamespace = "D1Shim") ],
  durableObjectNamespaces = [ (className = "D1Shim", uniqueKey = "oachat-ledger", enableSql = true) ],
  durableObjectStorage = (localDisk = "d1-storage"),
);
${front}${cacheWorker}`;
}
