// Receives oachat's server-tool webhooks in Node with node:http and node:crypto, no packages.
// Usage: OACHAT_TOOLS_SECRET=... PORT=8787 node receiver.mjs
// Every check runs before the tool does; see README.md for the request format.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

const MAX_BODY_BYTES = 64 * 1024; // the worker's tool calls are small; refuse anything bigger
const MAX_CLOCK_SKEW_SECONDS = 300; // a captured request stops working after five minutes
const REPLAY_WINDOW_MS = 10 * 60 * 1000; // remember delivery ids longer than the skew allows, both ways
const MAX_REMEMBERED_DELIVERIES = 10_000; // bounded memory; beyond this, refuse rather than forget

class WebhookError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Delivery id -> when it was seen. A Map iterates in insertion order, so the oldest come first.
const seenDeliveries = new Map();

function rememberDelivery(deliveryId, nowMs) {
  for (const [id, seenAt] of seenDeliveries) {
    if (nowMs - seenAt < REPLAY_WINDOW_MS) break;
    seenDeliveries.delete(id);
  }
  if (seenDeliveries.has(deliveryId)) throw new WebhookError(409, 'delivery already received');
  // Failing closed: forgetting an id early would let its request be replayed.
  if (seenDeliveries.size >= MAX_REMEMBERED_DELIVERIES) throw new WebhookError(503, 'too many deliveries');
  seenDeliveries.set(deliveryId, nowMs);
}

/**
 * Verifies one delivery and returns its parsed payload, or throws a WebhookError with the
 * HTTP status to answer. `headers` are node:http's (lowercase names); `rawBody` is a Buffer.
 */
export function verifyDelivery(secret, headers, rawBody, nowMs = Date.now()) {
  if (rawBody.length > MAX_BODY_BYTES) throw new WebhookError(413, 'body too large');

  // 1. The signature covers "<timestamp>.<body bytes>": compare in constant time.
  const timestamp = String(headers['x-oachat-timestamp'] ?? '');
  const signature = String(headers['x-oachat-signature'] ?? '');
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookError(401, 'bad timestamp');
  const expected = 'v1=' + createHmac('sha256', secret)
    .update(timestamp + '.').update(rawBody).digest('hex');
  const given = Buffer.from(signature);
  const wanted = Buffer.from(expected);
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
    throw new WebhookError(401, 'bad signature');
  }

  // 2. Fresh: a stale (or far-future) timestamp is refused as unauthenticated, 401.
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > MAX_CLOCK_SKEW_SECONDS) {
    throw new WebhookError(401, 'stale timestamp');
  }

  // 3. The body is signed, the x-oachat-delivery header is not: take the id from the body
  //    and insist the header agrees, so a replay cannot pass by changing the header.
  let payload;
  try {
    payload = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new WebhookError(400, 'body is not JSON');
  }
  if (typeof payload?.request_id !== 'string' || typeof payload.call_id !== 'string'
    || typeof payload.tool !== 'string' || typeof payload.user?.sub !== 'string') {
    throw new WebhookError(400, 'missing tool, call_id, request_id or user.sub');
  }
  const deliveryId = `${payload.request_id}:${payload.call_id}`;
  if (headers['x-oachat-delivery'] !== deliveryId) throw new WebhookError(401, 'delivery id does not match the body');

  // 4. Once only.
  rememberDelivery(deliveryId, nowMs);
  return payload;
}

// The tools this OA backend answers. `user.sub` is who asked: the worker took it from the
// user's token, so scope every lookup to it.
const TOOLS = {
  leave_balance({ arguments: args, user }) {
    const year = Number.isInteger(args?.year) ? args.year : new Date().getFullYear();
    return { user: user.sub, days: 5, year }; // look the balance up in your OA here
  },
};

function dispatch(payload) {
  const tool = Object.hasOwn(TOOLS, payload.tool) ? TOOLS[payload.tool] : undefined;
  if (!tool) throw new WebhookError(404, `unknown tool ${payload.tool}`);
  return tool(payload);
}

function answer(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

export function startReceiver(secret, port, host = '127.0.0.1') {
  const server = createServer((request, response) => {
    if (request.method !== 'POST') return answer(response, 405, { error: 'POST only' });
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // Stop buffering at once; the rest of the body is read and dropped.
        request.removeAllListeners('data');
        request.resume();
        answer(response, 413, { error: 'body too large' });
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (response.headersSent) return;
      try {
        answer(response, 200, dispatch(verifyDelivery(secret, request.headers, Buffer.concat(chunks))));
      } catch (error) {
        // Never echo internals: the status and a short reason are enough for the worker's log.
        const status = error instanceof WebhookError ? error.status : 500;
        if (status === 500) console.error(error);
        answer(response, status, { error: status === 500 ? 'internal error' : error.message });
      }
    });
  });
  server.listen(port, host, () => console.log(`oachat tool receiver on http://${host}:${port}`));
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env.OACHAT_TOOLS_SECRET;
  if (!secret) {
    console.error('usage: OACHAT_TOOLS_SECRET=... PORT=8787 node receiver.mjs');
    process.exit(2);
  }
  startReceiver(secret, Number(process.env.PORT || 8787));
}
