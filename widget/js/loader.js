/*! oachat widget loader: draws the bubble at once and loads the wasm core on first use. */
// This is the only script a host page pastes. It stays tiny (a few KiB gzip): it defines
// `window.OAChat` and `window.ChatSDK` (the only globals oachat creates), reads the
// configuration, draws the launcher bubble inside a shadow root, and imports the Rust/wasm
// core only when someone hovers or clicks the bubble, or calls the API.
(function () {
  'use strict';
  if (window.OAChat && window.OAChat.__oachat) return; // pasted twice: keep the first

  // `document.currentScript` is only set while this script first runs: capture it now.
  var script = document.currentScript;
  var scriptUrl = (script && script.src) || '';
  // The API lives where the script came from: strip `/widget.js` or `/v1/widget.js`.
  var apiBase = scriptUrl.replace(/\/(v1\/)?widget\.js(\?.*)?$/, '') || location.origin;
  var CORE_JS = '__OACHAT_CORE_JS__';
  var CORE_WASM = '__OACHAT_CORE_WASM__';

  var DATA_KEYS = ['title', 'avatar', 'welcome', 'position', 'offsetX', 'offsetY', 'primaryColor',
    'theme', 'locale', 'token', 'tokenUrl', 'zIndex', 'model', 'placeholder', 'starters', 'endpoint',
    'history'];

  function readDataset() {
    var out = {};
    if (!script) return out;
    DATA_KEYS.forEach(function (key) {
      var value = script.dataset[key];
      if (value !== undefined) out[key] = value;
    });
    if (typeof out.starters === 'string') {
      out.starters = out.starters.split('|').map(function (s) { return s.trim(); }).filter(Boolean);
    }
    return out;
  }

  var config = Object.assign({ endpoint: apiBase }, readDataset(), window.OAChatConfig || {});
  var listeners = {};
  // Host card templates by name: { template: '<div>{{field}}</div>' } or { render(data, el) }.
  var cards = {};
  var queue = [];
  var core = null;        // the mounted wasm widget, once loaded
  var loading = null;     // the import promise, so it runs once
  var host = null;
  var shadow = null;
  var bubble = null;
  var inlineRoot = null;  // ChatSDK `root`: the panel renders inside it instead of floating

  function emit(name, detail) {
    (listeners[name] || []).slice().forEach(function (fn) {
      try { fn(detail); } catch (error) { console.error(error); }
    });
    window.dispatchEvent(new CustomEvent('oachat:' + name, { detail: detail }));
  }

  // Tokens come from data-token, OAChat.init({getToken}) or data-token-url (with cookies).
  // `force` asks for a fresh one after the worker said the old one expired.
  var cachedToken = null;
  function getToken(force) {
    if (!force && cachedToken) return Promise.resolve(cachedToken);
    var got;
    if (typeof config.getToken === 'function') {
      got = Promise.resolve(config.getToken({ refresh: !!force }));
    } else if (config.tokenUrl) {
      got = fetch(new URL(config.tokenUrl, location.href), { credentials: 'include' })
        .then(function (response) {
          if (!response.ok) throw new Error('token_url ' + response.status);
          return response.text();
        })
        .then(function (text) {
          try { var parsed = JSON.parse(text); return parsed.token || parsed.access_token || text; }
          catch (_) { return text.trim(); }
        });
    } else {
      got = Promise.resolve(config.token || null);
    }
    return got.then(function (token) { cachedToken = token || null; return cachedToken; });
  }

  var BUBBLE_CSS =
    '.oc-launcher{all:initial;position:fixed;z-index:var(--oc-z,2147483000);' +
    'bottom:var(--oc-offset-y,24px);width:56px;height:56px;border-radius:50%;cursor:pointer;' +
    'background:var(--oc-primary,#2563eb);color:#fff;display:flex;align-items:center;' +
    'justify-content:center;box-shadow:0 6px 20px rgba(0,0,0,.22);transition:transform .15s ease}' +
    '.oc-launcher:hover{transform:scale(1.06)}' +
    '.oc-launcher:focus-visible{outline:3px solid var(--oc-primary,#2563eb);outline-offset:3px}' +
    '.oc-launcher svg{width:28px;height:28px;fill:currentColor}' +
    '.oc-launcher[data-side=right]{right:var(--oc-offset-x,24px)}' +
    '.oc-launcher[data-side=left]{left:var(--oc-offset-x,24px)}' +
    '.oc-launcher[aria-busy=true]{opacity:.7;cursor:progress}' +
    '.oc-launcher[hidden]{display:none}' +
    '@media (prefers-reduced-motion:reduce){.oc-launcher{transition:none}}';

  function adoptCss(root, css) {
    // Constructable stylesheets work under a strict style-src CSP; <style> is the fallback.
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } catch (_) {
      var style = document.createElement('style');
      style.textContent = css;
      root.appendChild(style);
    }
  }

  function applyTheme() {
    if (!host) return;
    var side = config.position === 'left' ? 'left' : 'right';
    host.style.setProperty('--oc-z', String(parseInt(config.zIndex, 10) || 2147483000));
    if (config.primaryColor) host.style.setProperty('--oc-primary', String(config.primaryColor));
    if (config.offsetX != null) host.style.setProperty('--oc-offset-x', px(config.offsetX));
    if (config.offsetY != null) host.style.setProperty('--oc-offset-y', px(config.offsetY));
    if (bubble) {
      bubble.setAttribute('data-side', side);
      bubble.setAttribute('aria-label', config.title || (isZh() ? '打开智能助手' : 'Open assistant'));
    }
  }

  function px(value) { return /^\d+$/.test(String(value)) ? value + 'px' : String(value); }
  function isZh() { return /^zh/i.test(config.locale || navigator.language || ''); }

  function mountHost() {
    if (host || !document.body) return;
    // A custom element name: host-page rules on `div` or `.class` never match it.
    host = document.createElement('oachat-widget');
    host.setAttribute('data-oachat', '');
    // Zero-size and out of the flow: the host element never covers the page's clicks.
    host.style.cssText = inlineRoot ? 'display:block;position:relative' : 'position:static;display:contents';
    if (inlineRoot) host.setAttribute('data-inline', '');
    shadow = host.attachShadow({ mode: 'open' });
    adoptCss(shadow, BUBBLE_CSS);
    bubble = document.createElement('button');
    bubble.type = 'button';
    bubble.className = 'oc-launcher';
    bubble.setAttribute('part', 'launcher');
    bubble.setAttribute('aria-haspopup', 'dialog');
    bubble.setAttribute('aria-expanded', 'false');
    bubble.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
    bubble.addEventListener('click', function () { api.toggle(); });
    bubble.addEventListener('pointerenter', preload, { once: true });
    bubble.addEventListener('focus', preload, { once: true });
    shadow.appendChild(bubble);
    (inlineRoot || document.body).appendChild(host);
    applyTheme();
  }

  function preload() { load().catch(function () {}); }

  function load() {
    if (loading) return loading;
    if (bubble) bubble.setAttribute('aria-busy', 'true');
    loading = import(new URL(CORE_JS, apiBase + '/').href)
      .then(function (module) {
        return module.default({ module_or_path: new URL(CORE_WASM, apiBase + '/').href })
          .then(function () {
            if (!shadow) throw new Error('oachat was destroyed while loading');
            core = module.mount(shadow, config, { emit: emit, getToken: getToken, cards: cards });
            if (bubble) bubble.removeAttribute('aria-busy');
            var pending = queue;
            queue = [];
            pending.forEach(function (call) { call(); });
            emit('ready', {});
            return core;
          });
      })
      .catch(function (error) {
        loading = null;
        if (bubble) bubble.removeAttribute('aria-busy');
        emit('error', { code: 'load_failed', message: String(error && error.message || error) });
        throw error;
      });
    return loading;
  }

  // Calls made before the core is ready are queued and replayed in order.
  function whenReady(name, needsLoad) {
    return function () {
      var args = arguments;
      if (core) return core[name].apply(core, args);
      if (!host && needsLoad) mountHost();
      queue.push(function () { core[name].apply(core, args); });
      if (needsLoad) preload();
    };
  }

  var api = {
    __oachat: true,
    version: '__OACHAT_VERSION__',
    init: function (options) {
      Object.assign(config, options || {});
      applyTheme();
      if (core) core.setConfig(config);
      return api;
    },
    open: whenReady('open', true),
    close: whenReady('close', false),
    toggle: whenReady('toggle', true),
    isOpen: function () { return core ? core.isOpen() : false; },
    // A promise for the mounted core: host pages (and tests) can wait for it.
    loaded: function () { if (!host) mountHost(); return load().then(function () {}); },
    send: whenReady('send', true),
    stop: whenReady('stop', false),
    reset: whenReady('reset', false),
    setToken: function (token) { config.token = token; cachedToken = token || null; return api; },
    setConfig: function (partial) { return api.init(partial); },
    setLocale: function (locale) { return api.init({ locale: locale }); },
    registerCard: function (name, definition) {
      if (name && definition && (typeof definition.template === 'string' || typeof definition.render === 'function')) {
        cards[String(name)] = definition;
      }
      return api;
    },
    addCard: whenReady('addCard', true),
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); return api; },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; });
      return api;
    },
    // Removes every trace from the page: the panel, the bubble, listeners and timers, and the
    // host's event handlers. `OAChat` stays, so a later `open()` can mount a fresh widget.
    destroy: function () {
      if (core) core.destroy();
      if (host && host.parentNode) host.parentNode.removeChild(host);
      core = null; loading = null; host = null; shadow = null; bubble = null; queue = [];
      listeners = {}; cachedToken = null;
    },
  };

  // ChatSDK (Alibaba ChatUI) facade: code written for it keeps working.
  function ChatSDK(options) {
    var sdkConfig = (options && options.config) || {};
    var mapped = {};
    if (sdkConfig.navbar && sdkConfig.navbar.title) mapped.title = sdkConfig.navbar.title;
    if (sdkConfig.robot && sdkConfig.robot.avatar) mapped.avatar = sdkConfig.robot.avatar;
    var welcome = (sdkConfig.messages || []).filter(function (m) {
      return m && m.content && typeof m.content.text === 'string';
    }).map(function (m) { return m.content.text; });
    if (welcome.length) mapped.welcome = welcome.join('\n\n');
    if (Array.isArray(sdkConfig.quickReplies)) {
      mapped.starters = sdkConfig.quickReplies.map(function (q) { return q.name || q.text || String(q); });
    }
    if (sdkConfig.placeholder) mapped.placeholder = sdkConfig.placeholder;
    this.options = options || {};
    this.mapped = mapped;
  }
  ChatSDK.prototype.run = function () {
    api.init(this.mapped);
    var handlers = this.options.handlers || {};
    if (typeof handlers.onToggle === 'function') {
      api.on('open', function () { handlers.onToggle(true); });
      api.on('close', function () { handlers.onToggle(false); });
    }
    var root = this.options.root;
    if (root && root.appendChild) {
      // Inline: the panel fills the root element, no bubble, no floating layer.
      inlineRoot = root;
      config.inline = true;
      if (host) {
        host.setAttribute('data-inline', '');
        host.style.cssText = 'display:block;position:relative';
        root.appendChild(host);
      }
      api.open();
    }
    return this;
  };
  ChatSDK.prototype.getCtx = function () {
    return { postMessage: function (m) { if (m && m.content) api.send(m.content.text); } };
  };

  window.OAChat = api;
  window.ChatSDK = window.ChatSDK || ChatSDK;

  if (document.body) mountHost();
  else document.addEventListener('DOMContentLoaded', mountHost, { once: true });
})();
