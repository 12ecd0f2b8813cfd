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
    'history', 'contextSelector'];

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
  // Tools the page registers: name -> { name, description, parameters, handler, confirm }.
  // They live here, not in the core, so they can be registered before it loads; the core
  // gets their descriptions, and calls the handlers back through the bridge.
  var tools = {};
  var context;            // OAChat.setContext(...); undefined until the page sets one
  var selection = '';     // the page's selected text when the panel was last opened

  var TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
  var MAX_TOOLS = 32;
  var TOOL_TIMEOUT_MS = 30000;

  function registerTool(definition) {
    var tool = definition || {};
    if (typeof tool.name !== 'string' || !TOOL_NAME.test(tool.name)) {
      throw new Error('OAChat.registerTool: name must match ^[A-Za-z0-9_-]{1,64}$, got ' + JSON.stringify(tool.name));
    }
    if (typeof tool.handler !== 'function') {
      throw new Error('OAChat.registerTool: ' + tool.name + ' needs a handler function');
    }
    if (tool.parameters != null && (typeof tool.parameters !== 'object' || Array.isArray(tool.parameters))) {
      throw new Error('OAChat.registerTool: ' + tool.name + ': parameters must be a JSON Schema object');
    }
    if (!tools[tool.name] && Object.keys(tools).length >= MAX_TOOLS) {
      throw new Error('OAChat.registerTool: at most ' + MAX_TOOLS + ' tools');
    }
    tools[tool.name] = {
      name: tool.name,
      description: String(tool.description || '').slice(0, 1024),
      parameters: tool.parameters || { type: 'object', properties: {} },
      handler: tool.handler,
      confirm: tool.confirm,
    };
    syncTools();
  }

  // What the core needs to know: no handler, and `confirm` as true, false or 'ask' (a function).
  function toolList() {
    return Object.keys(tools).map(function (name) {
      var tool = tools[name];
      return { name: name, description: tool.description, parameters: tool.parameters,
        confirm: typeof tool.confirm === 'function' ? 'ask' : tool.confirm === true };
    });
  }
  function syncTools() { if (core) core.setTools(toolList()); }

  // The page's confirm(args) for a call; a throwing one asks the user, to be safe.
  function confirmTool(name, argumentsJson) {
    var tool = tools[name];
    if (!tool || typeof tool.confirm !== 'function') return true;
    try { return !!tool.confirm(JSON.parse(argumentsJson)); } catch (error) { console.error(error); return true; }
  }

  // Runs a handler with a timeout; resolves {status, content} and never rejects.
  function runTool(name, argumentsJson) {
    var tool = tools[name];
    if (!tool) return Promise.resolve({ status: 'error', content: 'Tool ' + name + ' is not available on this page.' });
    var ms = Math.min(Math.max(parseInt(config.toolTimeoutMs, 10) || TOOL_TIMEOUT_MS, 100), 120000);
    var timer;
    var timeout = new Promise(function (_, reject) {
      timer = setTimeout(function () { reject(new Error('The tool did not answer within ' + ms + ' ms.')); }, ms);
    });
    var run = new Promise(function (resolve) { resolve(tool.handler(JSON.parse(argumentsJson))); });
    return Promise.race([run, timeout]).then(function (result) {
      var content = JSON.stringify(result === undefined ? null : result);
      if (typeof content !== 'string') throw new Error('The tool result is not JSON.');
      return { status: 'ok', content: content };
    }).catch(function (error) {
      var message = error && error.message ? error.message : String(error);
      return { status: 'error', content: message || 'The tool failed.' };
    }).then(function (result) { clearTimeout(timer); return result; });
  }

  // The context the page gave: setContext wins; else the data-context-selector element's
  // data-oachat-context JSON or its text.
  function pageContext() {
    if (context !== undefined) return context;
    if (!config.contextSelector) return undefined;
    var element = null;
    try { element = document.querySelector(config.contextSelector); } catch (_) { return undefined; }
    if (!element) return undefined;
    var data = element.getAttribute('data-oachat-context');
    if (data) { try { return JSON.parse(data); } catch (_) { /* not JSON: its text then */ } }
    return element.innerText || element.textContent || '';
  }
  function syncContext() {
    var value = pageContext();
    if (core && value !== undefined) core.setContext(value);
  }

  function captureSelection() {
    try { selection = String(window.getSelection() || ''); } catch (_) { selection = ''; }
  }

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
    // Before the click: the text selected on the page, for "Quote selection".
    bubble.addEventListener('pointerdown', captureSelection);
    bubble.addEventListener('click', function () { if (!selection) captureSelection(); api.toggle(); });
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
            core = module.mount(shadow, config, {
              emit: emit, getToken: getToken, cards: cards, runTool: runTool, confirmTool: confirmTool,
              takeSelection: function () { var text = selection; selection = ''; return text; },
            });
            syncTools();
            syncContext();
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

  var openCore = whenReady('open', true);
  var api = {
    __oachat: true,
    version: '__OACHAT_VERSION__',
    init: function (options) {
      Object.assign(config, options || {});
      if (options && Array.isArray(options.tools)) options.tools.forEach(registerTool);
      applyTheme();
      if (core) core.setConfig(config);
      return api;
    },
    open: function () { captureSelection(); return openCore(); },
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
    // Tools: the model may call them; handlers run here, in the page, with the user's rights.
    registerTool: function (definition) { registerTool(definition); return api; },
    unregisterTool: function (name) { delete tools[String(name)]; syncTools(); return api; },
    // Page context sent with each message (any JSON, at most 4 KB); null clears it.
    setContext: function (value) {
      context = value === undefined ? null : value;
      if (core) core.setContext(context);
      return api;
    },
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
      listeners = {}; cachedToken = null; selection = '';
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
  // Tools in window.OAChatConfig: a bad one is reported, the widget still loads.
  (Array.isArray(config.tools) ? config.tools : []).forEach(function (tool) {
    try { registerTool(tool); } catch (error) { console.error(error); }
  });
  window.ChatSDK = window.ChatSDK || ChatSDK;

  if (document.body) mountHost();
  else document.addEventListener('DOMContentLoaded', mountHost, { once: true });
})();
