#!/usr/bin/env node
// Mints an oachat user token (HS256 JWT) with Node's built-in crypto; no packages.
// Usage: OACHAT_SIGNING_SECRET=... node mint.mjs <sub> [name] [tier]
import { createHmac } from 'node:crypto';

const TTL_SECONDS = 600; // short-lived: the widget asks for a new one when it expires

export function mintOachatToken({ sub, name, tier }, secret, now = Math.floor(Date.now() / 1000)) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { sub, exp: now + TTL_SECONDS };
  if (name) claims.name = name;
  if (tier) claims.tier = tier;
  const signingInput = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [sub, name, tier] = process.argv.slice(2);
  const secret = process.env.OACHAT_SIGNING_SECRET;
  if (!sub || !secret) {
    console.error('usage: OACHAT_SIGNING_SECRET=... node mint.mjs <sub> [name] [tier]');
    process.exit(2);
  }
  console.log(mintOachatToken({ sub, name, tier }, secret));
}
