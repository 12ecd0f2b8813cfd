// The static assets in front of oachat on plain workerd, which has no Cloudflare assets layer:
// a GET or HEAD for a file listed in the build's manifest is served from the `assets` disk
// directory with the headers `_headers` gives it (and an ETag, so revalidation costs a 304);
// every other request goes to the oachat worker untouched, as on Cloudflare, where assets are
// matched before the worker runs.
import manifest from 'manifest.json';

const rules = manifest.rules.map(({ pattern, headers }) => ({ test: new RegExp(pattern), headers }));

/** The file a path names: itself, `dir/` -> `dir/index.html`, `page` -> `page.html`. */
function lookup(pathname) {
  const candidates = pathname.endsWith('/') ? [pathname + 'index.html'] : [pathname, pathname + '.html'];
  for (const path of candidates) {
    if (Object.hasOwn(manifest.files, path)) return [path, manifest.files[path]];
  }
  return null;
}

async function serveFile(request, env, pathname, path, file) {
  const headers = new Headers({ 'content-type': file.type, etag: file.etag });
  for (const rule of rules) {
    if (rule.test.test(pathname)) for (const [name, value] of rule.headers) headers.set(name, value);
  }
  if (request.headers.get('if-none-match') === file.etag) return new Response(null, { status: 304, headers });
  const body = await env.FILES.fetch(new Request(`http://assets${path}`));
  if (!body.ok) return env.OACHAT.fetch(request);
  headers.set('content-length', String(file.size));
  return new Response(request.method === 'HEAD' ? null : body.body, { status: 200, headers });
}

export default {
  // One access-log line per request (journald keeps them): method, path without its query
  // (which may hold a token), status, time to the response head. wrangler dev logs the same.
  async fetch(request, env) {
    const started = Date.now();
    const response = await route(request, env);
    console.log(`${request.method} ${new URL(request.url).pathname} ${response.status} ${Date.now() - started}ms`);
    return response;
  },
};

/** A listed file for a GET or HEAD; the worker for everything else. */
async function route(request, env) {
  if (request.method === 'GET' || request.method === 'HEAD') {
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(request.url).pathname);
    } catch {
      return env.OACHAT.fetch(request); // not a file name: the worker answers (404)
    }
    const found = lookup(pathname);
    if (found) return serveFile(request, env, pathname, ...found);
  }
  return env.OACHAT.fetch(request);
}
