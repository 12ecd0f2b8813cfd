// The Workers Cache API (`caches.default`) for plain workerd, which makes every cache call a
// no-op unless the worker's `cacheApiOutbound` names a service that speaks the runtime's cache
// protocol: `GET url` answers `Cf-Cache-Status: HIT` with the stored response or `MISS`;
// `PUT url` carries the response serialised as HTTP/1.1 in its body; `PURGE url` deletes.
// Like a Cloudflare data center's cache it lives in memory: bounded (least recently used
// entries go first), honouring max-age / s-maxage / Expires, empty after a restart.

// A cache is an optimisation: 64 MiB of answers is many thousands of exact-match entries.
const MAX_BYTES = 64 * 1024 * 1024;
const decoder = new TextDecoder();

/** url -> { status, headers: [[name, value]], body: Uint8Array, expiresMs, bytes } */
const entries = new Map();
let totalBytes = 0;

function forget(url) {
  const entry = entries.get(url);
  if (!entry) return false;
  entries.delete(url);
  totalBytes -= entry.bytes;
  return true;
}

function indexOfBlankLine(bytes) {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

/** The body of a chunked transfer coding, decoded. */
function dechunk(bytes) {
  const parts = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf(10, at);
    if (lineEnd < 0) break;
    const size = parseInt(decoder.decode(bytes.subarray(at, lineEnd)).trim(), 16);
    if (!size) break;
    parts.push(bytes.subarray(lineEnd + 1, lineEnd + 1 + size));
    at = lineEnd + 1 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

/** `HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\nbody` as its parts, or null. */
function parseSerialized(bytes) {
  const end = indexOfBlankLine(bytes);
  if (end < 0) return null;
  const [statusLine, ...lines] = decoder.decode(bytes.subarray(0, end)).split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers = lines.map((line) => [line.slice(0, line.indexOf(':')).trim(), line.slice(line.indexOf(':') + 1).trim()]);
  const chunked = headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v));
  const raw = bytes.subarray(end + 4);
  return {
    status,
    headers: headers.filter(([n]) => !['transfer-encoding', 'content-length', 'connection'].includes(n.toLowerCase())),
    body: chunked ? dechunk(raw) : raw.slice(),
  };
}

/** How long a response may be kept, in ms from now (0: not at all). */
function freshnessMs(headers, now) {
  const get = (name) => headers.find(([n]) => n.toLowerCase() === name)?.[1];
  const control = (get('cache-control') ?? '').toLowerCase();
  if (/no-store|private|no-cache/.test(control)) return 0;
  const age = control.match(/s-maxage=(\d+)/) ?? control.match(/max-age=(\d+)/);
  if (age) return Number(age[1]) * 1000;
  const expires = Date.parse(get('expires') ?? '');
  return Number.isFinite(expires) ? Math.max(0, expires - now) : 0;
}

export default {
  async fetch(request) {
    const url = request.url;
    const now = Date.now();
    if (request.method === 'GET') {
      const entry = entries.get(url);
      if (!entry || entry.expiresMs <= now) {
        forget(url);
        return new Response(null, { headers: { 'cf-cache-status': 'MISS' } });
      }
      entries.delete(url); // most recently used goes last
      entries.set(url, entry);
      const headers = new Headers(entry.headers);
      headers.set('cf-cache-status', 'HIT');
      return new Response(entry.body, { status: entry.status, headers });
    }
    if (request.method === 'PUT') {
      const parsed = parseSerialized(new Uint8Array(await request.arrayBuffer()));
      const ttl = parsed ? freshnessMs(parsed.headers, now) : 0;
      if (!parsed || ttl === 0 || parsed.body.length > MAX_BYTES / 16) return new Response(null, { status: 413 });
      forget(url);
      const bytes = parsed.body.length + url.length + 256;
      entries.set(url, { ...parsed, expiresMs: now + ttl, bytes });
      totalBytes += bytes;
      for (const key of entries.keys()) {
        if (totalBytes <= MAX_BYTES) break;
        forget(key);
      }
      return new Response(null, { status: 204 });
    }
    if (request.method === 'PURGE') return new Response(null, { status: forget(url) ? 200 : 404 });
    return new Response(null, { status: 405 });
  },
};
