// The platform floor for `make bench`: the least a worker on this workerd can do per request,
// to read oachat's CPU figures against. Not a proxy anyone should deploy (no auth, no limits,
// no metering, the key in the config). Modes, by path:
//   /pipe/...       fetch upstream and return its body untouched: the runtime pipes it
//                   natively, no JS runs per chunk.
//   /transform/...  the same through a JS TransformStream that looks at every chunk (counts
//                   bytes and checks for a usage member), as any metering proxy must at least.
//   /tee/...        the body tee'd: one branch returned untouched, the other read to its end
//                   by the runtime (`arrayBuffer()`), and looked at once, after the last byte.
// `?up=KIND` picks the mock of that kind (UPSTREAMS, a JSON map); the default is UPSTREAM (burst).
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const mode = url.pathname.split('/')[1];
    const base = JSON.parse(env.UPSTREAMS || '{}')[url.searchParams.get('up')] || env.UPSTREAM;
    const upstream = await fetch(`${base}${url.pathname.slice(mode.length + 1)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.KEY}`, 'content-type': 'application/json' },
      body: request.body,
    });
    if (mode === 'pipe' || !upstream.body) return new Response(upstream.body, upstream);
    if (mode === 'tee') {
      const [client, meter] = upstream.body.tee();
      ctx.waitUntil(new Response(meter).arrayBuffer().then((all) => all.byteLength));
      return new Response(client, upstream);
    }
    const usage = new TextEncoder().encode('"usage":{');
    let bytes = 0;
    let usageSeen = false;
    const body = upstream.body.pipeThrough(new TransformStream({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        if (!usageSeen && chunk.indexOf(usage[0]) >= 0) usageSeen = new TextDecoder().decode(chunk).includes('"usage":{');
        controller.enqueue(chunk);
      },
    }));
    return new Response(body, upstream);
  },
};
