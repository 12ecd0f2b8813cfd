// Widget figures: transfer sizes (ours and the peers' npm bundles, measured the same way),
// DOMContentLoaded -> bubble visible and click -> panel usable in headless Chromium on the demo
// page, and the streaming-render benchmark (native Rust for oachat/comrak, markdown-it in
// Chromium and in Node).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { BENCH, ROOT, OUT, log, run, spread } from './lib.mjs';

const require = createRequire(import.meta.url);

export const sizesOf = (bytes) => ({
  raw: bytes.length,
  gzip: gzipSync(bytes, { level: 9 }).length,
  brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
});

/** oachat's widget: before first open = widget.js (the loader); after = core JS + wasm. */
export function ourSizes() {
  const dist = join(ROOT, 'widget/dist');
  const v1 = join(dist, 'v1');
  const files = existsSync(v1) ? readdirSync(v1) : [];
  const loader = readFileSync(join(dist, 'widget.js'));
  const coreJs = files.filter((f) => f.endsWith('.js') && f !== 'widget.js');
  const wasm = files.filter((f) => f.endsWith('.wasm'));
  const sum = (list) => list.map((f) => sizesOf(readFileSync(join(v1, f)))).reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli }), { raw: 0, gzip: 0, brotli: 0 });
  let buildReport = null;
  try { buildReport = JSON.parse(readFileSync(join(dist, 'sizes.json'), 'utf8')); } catch {}
  return { loader: sizesOf(loader), coreJs: sum(coreJs), wasm: sum(wasm), coreFiles: [...coreJs, ...wasm], buildReport };
}

/** The peers' main bundle, from their npm tarballs (npm pack: the package only, no install). */
const PEERS = [
  { pkg: 'deep-chat', file: 'dist/deepChat.bundle.js', note: 'self-contained bundle (the CDN file)' },
  { pkg: 'flowise-embed', file: 'dist/web.js', note: 'the embed script pages load' },
  { pkg: '@typebot.io/js', file: 'dist/web.js', note: 'the embed script pages load' },
  { pkg: '@botpress/webchat', file: 'dist/index.js', note: 'ESM library; its ~30 dependencies (react, react-dom, react-markdown, radix, axios, ...) are NOT included, so this understates what a page downloads' },
];

export function peerSizes() {
  const dir = join(BENCH, '.peers');
  mkdirSync(dir, { recursive: true });
  const out = [];
  for (const peer of PEERS) {
    const existing = readdirSync(dir).find((f) => f.startsWith(peer.pkg.replace('@', '').replace('/', '-') + '-') && f.endsWith('.tgz'));
    let tgz = existing;
    if (!tgz) {
      tgz = run('npm', ['pack', peer.pkg, '--silent', '--pack-destination', dir], { cwd: dir, timeoutMs: 120_000 }).trim().split('\n').pop();
    }
    const unpacked = join(dir, tgz.replace(/\.tgz$/, ''));
    if (!existsSync(unpacked)) {
      mkdirSync(unpacked, { recursive: true });
      execFileSync('tar', ['-xzf', join(dir, tgz), '-C', unpacked]);
    }
    const pkgJson = JSON.parse(readFileSync(join(unpacked, 'package/package.json'), 'utf8'));
    const bytes = readFileSync(join(unpacked, 'package', peer.file));
    out.push({ ...peer, version: pkgJson.version, ...sizesOf(bytes) });
  }
  return out;
}

// ---- browser -------------------------------------------------------------------------------

async function launch() {
  const { chromium } = require(join(ROOT, 'node_modules/playwright-core'));
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Installed before any page script: records when the bubble first becomes visible. */
const BUBBLE_PROBE = `(() => {
  const visible = (el) => { if (!el) return false; const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none' && !el.hidden; };
  const tick = () => {
    const host = document.querySelector('oachat-widget');
    const bubble = host && host.shadowRoot && host.shadowRoot.querySelector('.oc-launcher');
    if (visible(bubble)) { window.__bubbleVisibleAt = performance.now(); return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();`;

/** Click the bubble; resolve when the panel's input is shown and enabled (checked every frame). */
const OPEN_AND_WAIT = `new Promise((resolve) => {
  const root = document.querySelector('oachat-widget').shadowRoot;
  const usable = () => { const panel = root.querySelector('.oc-panel'); const input = root.querySelector('.oc-panel .oc-input');
    if (!panel || panel.hidden || !input || input.disabled) return false; const r = input.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const t0 = performance.now();
  root.querySelector('.oc-launcher').click();
  const tick = () => { if (usable()) resolve(performance.now() - t0); else requestAnimationFrame(tick); };
  tick();
})`;

/** Times the widget on the demo page; fresh browser context (cold cache) per repetition. */
export async function widgetTimings(demoUrl, reps) {
  const browser = await launch();
  const runs = [];
  try {
    for (let i = 0; i < reps; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const requests = [];
      page.on('requestfinished', async (req) => {
        const sizes = await req.sizes().catch(() => null);
        requests.push({ url: req.url(), at: Date.now(), bytes: sizes ? sizes.responseBodySize + sizes.responseHeadersSize : null });
      });
      await page.addInitScript(BUBBLE_PROBE);
      await page.goto(demoUrl, { waitUntil: 'load' });
      await page.waitForFunction(() => window.__bubbleVisibleAt !== undefined, null, { timeout: 20_000 });
      const nav = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { dcl: n.domContentLoadedEventStart, bubble: window.__bubbleVisibleAt };
      });
      await page.waitForTimeout(300);
      const before = requests.length;
      const openMs = await page.evaluate(OPEN_AND_WAIT);
      await page.waitForTimeout(500);
      const after = requests.slice(before).map((r) => r.url.replace(/^https?:\/\/[^/]+/, ''));
      const pre = requests.slice(0, before).map((r) => r.url.replace(/^https?:\/\/[^/]+/, ''));
      runs.push({ bubbleAfterDclMs: nav.bubble - nav.dcl, openMs, requestsBeforeOpen: pre, requestsOnOpen: after });
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return {
    bubble: spread(runs.map((r) => r.bubbleAfterDclMs)),
    open: spread(runs.map((r) => r.openMs)),
    requestsBeforeOpen: runs[0]?.requestsBeforeOpen,
    requestsOnOpen: runs[0]?.requestsOnOpen,
    runs,
  };
}

/**
 * markdown-it, full re-render per chunk, in Chromium: each chunk is its own task (as network
 * chunks are), parse + innerHTML + forced layout; main-thread time summed, slowest chunk kept.
 */
export async function markdownItBrowser(chunks, reps) {
  const browser = await launch();
  const mdPath = join(BENCH, '.node/node_modules/markdown-it/dist/browser/markdown-it.umd.min.js');
  const results = [];
  try {
    for (let i = 0; i < reps; i++) {
      const page = await browser.newPage();
      await page.setContent('<!doctype html><html><body><div id="msg" style="width:360px;font:14px sans-serif"></div></body></html>');
      await page.addScriptTag({ path: mdPath });
      const r = await page.evaluate(async (chunks) => {
        const md = window.markdownit({ linkify: true });
        const el = document.getElementById('msg');
        const channel = new MessageChannel();
        const nextTask = () => new Promise((resolve) => { channel.port1.onmessage = () => resolve(); channel.port2.postMessage(0); });
        let text = '';
        let total = 0;
        let max = 0;
        let longFrames = 0;
        const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) longFrames = Math.max(longFrames, e.duration); });
        try { obs.observe({ type: 'long-animation-frame', buffered: false }); } catch {}
        for (const c of chunks) {
          await nextTask();
          const t0 = performance.now();
          text += c;
          el.innerHTML = md.render(text);
          void el.offsetHeight; // style + layout of the new content: part of the frame's work
          const dt = performance.now() - t0;
          total += dt;
          if (dt > max) max = dt;
        }
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        obs.disconnect();
        return { total, max, loaf: longFrames, htmlBytes: el.innerHTML.length };
      }, chunks);
      results.push(r);
      await page.close();
      if (r.total > 20_000) break; // one run of this is already long: keep the suite bounded
    }
  } finally {
    await browser.close();
  }
  return {
    total: spread(results.map((r) => r.total)),
    max: spread(results.map((r) => r.max)),
    loaf: spread(results.map((r) => r.loaf)),
    htmlBytes: results[0]?.htmlBytes,
  };
}

/**
 * The widget's renderers as it ships them (wasm, opt-level z) in Chromium, with DOM updates:
 * - incremental: StreamingMarkdown.push per chunk, append the committed HTML, then update the
 *   tail as the widget's view.rs does: append the new text to the last text node when that is
 *   all that changed (core/tail_update.rs plans it), replace the tail's innerHTML otherwise.
 *   The widget renders once per animation frame, whatever number of chunks arrived; here every
 *   chunk is rendered and laid out on its own: a worst case (one chunk per frame);
 * - full: render_markdown(whole text so far) per chunk, replace the message's innerHTML.
 * Each chunk is its own task (as network chunks are); every chunk forces style and layout.
 * - paced (one run per rate in `pacedRates`, chunks per second): what the widget does with a
 *   stream. Chunks arrive as tasks at that rate and only queue their text; one
 *   requestAnimationFrame callback per frame renders all text queued since the last frame and
 *   updates the DOM as above, then reads layout once (the widget's scroll-follow read). Main-thread
 *   time is the sum of the arrival tasks and the frame callbacks; "max" is the slowest callback.
 * Served to the page through playwright's request interception: no server, no network.
 */
export async function wasmRenderBrowser(chunks, { fullReps = 1, incrementalReps = 3, pacedRates = [], pacedReps = 1, renderIntervalMs = 0 } = {}) {
  const pkg = join(BENCH, 'target/render-wasm-pkg');
  const browser = await launch();
  const out = { incremental: [], full: [] };
  try {
    const page = await browser.newPage();
    await page.route('http://oachat-bench.invalid/**', (route) => {
      const name = new URL(route.request().url()).pathname.slice(1);
      if (name === '') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><html><body><div id="msg" style="width:360px;font:14px sans-serif"><div id="c"></div><div id="t"></div></div></body></html>' });
      return route.fulfill({ path: join(pkg, name), contentType: name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
    });
    await page.goto('http://oachat-bench.invalid/');
    await page.addScriptTag({ url: 'http://oachat-bench.invalid/oachat_render_wasm.js' });
    await page.evaluate(() => wasm_bindgen({ module_or_path: '/oachat_render_wasm_bg.wasm' }));
    // view.rs append_text_at, shared by both runs: follow the path of last children and append
    // to the last text node; false when the DOM is not of that shape.
    await page.evaluate(() => {
      window.appendAt = (root, tags, flags, appended) => {
        let el = root;
        const names = tags.split(' ');
        for (let i = 0; i < names.length; i++) {
          let child = el.lastChild;
          if (flags[i] === '1') child = child && child.nodeType === Node.TEXT_NODE ? child.previousSibling : null;
          if (!child || child.nodeType !== Node.ELEMENT_NODE || child.localName !== names[i]) return false;
          el = child;
        }
        const last = el.lastChild;
        if (last && last.nodeType === Node.TEXT_NODE) last.appendData(appended); else el.append(appended);
        return true;
      };
    });
    const runOnce = (mode) => page.evaluate(async ({ chunks, mode }) => {
      const box = document.getElementById('msg');
      const committed = document.getElementById('c');
      const tail = document.getElementById('t');
      committed.innerHTML = '';
      tail.innerHTML = '';
      const channel = new MessageChannel();
      const nextTask = () => new Promise((resolve) => { channel.port1.onmessage = () => resolve(); channel.port2.postMessage(0); });
      let total = 0;
      let renderTotal = 0;
      let max = 0;
      const inc = mode === 'incremental' ? new wasm_bindgen.Incremental() : null;
      let text = '';
      const step = (chunk, last) => {
        const t0 = performance.now();
        if (inc) {
          const c = last ? inc.finish() : inc.push(chunk);
          const action = inc.tail_action();
          const append = action === 1 ? [inc.path_tags(), inc.path_flags(), inc.append_text()] : null;
          renderTotal += performance.now() - t0;
          if (c) committed.insertAdjacentHTML('beforeend', c);
          if (action === 2 || (append && !appendAt(tail, ...append))) tail.innerHTML = inc.tail();
        } else {
          text += chunk;
          const html = wasm_bindgen.full_render(text);
          renderTotal += performance.now() - t0;
          tail.innerHTML = html;
        }
        void box.offsetHeight; // style + layout: part of the frame's work
        const dt = performance.now() - t0;
        total += dt;
        if (dt > max) max = dt;
      };
      for (const chunk of chunks) { await nextTask(); step(chunk, false); }
      let domMatchesFull = null;
      if (inc) {
        await nextTask(); step('', true); inc.free();
        // The patched DOM must serialize exactly like the full render parsed from scratch.
        const reference = document.createElement('div');
        reference.innerHTML = wasm_bindgen.full_render(chunks.join(''));
        domMatchesFull = committed.innerHTML + tail.innerHTML === reference.innerHTML;
      }
      return { total, renderTotal, max, domMatchesFull, htmlBytes: committed.innerHTML.length + tail.innerHTML.length };
    }, { chunks, mode });
    const runPaced = (rate) => page.evaluate(async ({ chunks, rate, renderIntervalMs }) => {
      const box = document.getElementById('msg');
      const committed = document.getElementById('c');
      const tail = document.getElementById('t');
      committed.innerHTML = '';
      tail.innerHTML = '';
      const inc = new wasm_bindgen.Incremental();
      let queued = '';
      let frame = 0;
      let arrived = 0;
      let total = 0;
      let renderTotal = 0;
      let max = 0;
      let frames = 0;
      const start = performance.now();
      await new Promise((resolve) => {
        let lastRender = -Infinity;
        const onFrame = () => {
          frame = 0;
          const t0 = performance.now();
          const finished = arrived === chunks.length;
          if (!finished && t0 - lastRender < renderIntervalMs) { frame = requestAnimationFrame(onFrame); return; }
          lastRender = t0;
          let c = inc.push(queued);
          queued = '';
          if (finished) c += inc.finish();
          const action = inc.tail_action();
          const append = action === 1 ? [inc.path_tags(), inc.path_flags(), inc.append_text()] : null;
          renderTotal += performance.now() - t0;
          if (c) committed.insertAdjacentHTML('beforeend', c);
          if (action === 2 || (append && !appendAt(tail, ...append))) tail.innerHTML = inc.tail();
          void box.offsetHeight; // the widget's scroll-follow read: style + layout of this frame
          const dt = performance.now() - t0;
          total += dt;
          if (dt > max) max = dt;
          frames++;
          if (finished) resolve();
        };
        const arrive = () => {
          const t0 = performance.now();
          while (arrived < chunks.length && start + (arrived * 1000) / rate <= t0) queued += chunks[arrived++];
          if (!frame) frame = requestAnimationFrame(onFrame);
          total += performance.now() - t0;
          if (arrived < chunks.length) setTimeout(arrive, Math.max(0, start + (arrived * 1000) / rate - performance.now()));
        };
        arrive();
      });
      inc.free();
      return { rate, total, renderTotal, max, frames, seconds: (performance.now() - start) / 1000 };
    }, { chunks, rate, renderIntervalMs });
    for (let i = 0; i < incrementalReps; i++) out.incremental.push(await runOnce('incremental'));
    for (const rate of pacedRates) {
      out.paced ??= [];
      const runs = [];
      for (let i = 0; i < pacedReps; i++) runs.push(await runPaced(rate));
      out.paced.push(runs);
    }
    for (let i = 0; i < fullReps; i++) out.full.push(await runOnce('full'));
  } finally {
    await browser.close();
  }
  const sum = (list) => ({
    total: spread(list.map((r) => r.total)), render: spread(list.map((r) => r.renderTotal)),
    max: spread(list.map((r) => r.max)), htmlBytes: list[0]?.htmlBytes,
    domMatchesFull: list.every((r) => r.domMatchesFull !== false),
  });
  const paced = (out.paced ?? []).map((runs) => ({
    rate: runs[0].rate, frames: runs[0].frames, seconds: runs[0].seconds,
    total: spread(runs.map((r) => r.total)), render: spread(runs.map((r) => r.renderTotal)), max: spread(runs.map((r) => r.max)),
  }));
  return { incremental: sum(out.incremental), full: sum(out.full), paced };
}

/** markdown-it parse only (no DOM), in Node: the same work as the native Rust figures. */
export function markdownItNode(chunks, reps) {
  const markdownit = require(join(BENCH, '.node/node_modules/markdown-it'));
  const results = [];
  for (let i = 0; i < reps; i++) {
    const md = markdownit({ linkify: true });
    let text = '';
    let total = 0;
    let max = 0;
    for (const c of chunks) {
      const t0 = performance.now();
      text += c;
      md.render(text);
      const dt = performance.now() - t0;
      total += dt;
      if (dt > max) max = dt;
    }
    results.push({ total, max });
  }
  return { total: spread(results.map((r) => r.total)), max: spread(results.map((r) => r.max)) };
}

/** The native Rust render benchmark (bench/render). */
export function nativeRender(reps) {
  const docPath = join(OUT, 'render-chunks.json');
  const out = run(join(BENCH, 'target/release/oachat-render-bench'), ['--runs', String(reps), '--write-doc', docPath], { cpu: 1, timeoutMs: 300_000 });
  const result = JSON.parse(out);
  return { ...result, chunks: JSON.parse(readFileSync(docPath, 'utf8')) };
}

export function markdownItVersion() {
  try { return JSON.parse(readFileSync(join(BENCH, '.node/node_modules/markdown-it/package.json'), 'utf8')).version; } catch { return '?'; }
}

export { log };
