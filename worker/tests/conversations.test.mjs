// Server-side conversations and feedback through the real worker: the widget sends only the
// new message; the worker keeps the history in the user's own Durable Object, sends it
// upstream trimmed to the window, stores the streamed answer, and never shows one user's
// conversation to another.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  admin, chat, ledgerRow as ledgerRowOf, mintToken, readSse, startStack, streamedText,
} from './harness.mjs';

const WINDOW = 400;

let stack;
before(async () => {
  stack = await startStack({
    name: 'conversations',
    config: { history_window_tokens: WINDOW, tiers: { short: { max_rounds: 2 } }, guest_mode: true },
  });
});
after(async () => {
  await stack?.stop();
});

const bearer = (token) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

function turn(token, body, headers = {}) {
  return fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST',
    headers: { ...bearer(token), ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', ...body }),
  });
}

const api = (token, path = '', init = {}) =>
  fetch(`${stack.url}/v1/oachat/conversations${path}`, { ...init, headers: { ...bearer(token), ...(init.headers || {}) } });

/** The conversation once it holds `count` messages (the turn is stored after the stream). */
async function stored(token, id, count) {
  for (let i = 0; i < 100; i++) {
    const response = await api(token, `/${id}`);
    if (response.status === 200) {
      const conversation = await response.json();
      if (conversation.messages.length >= count) return conversation;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`conversation ${id} never reached ${count} messages`);
}

/** The ledger row of a request, once written (after the response). */
const ledgerRow = (requestId) => ledgerRowOf(stack.url, requestId, 10_000);

test('a first message creates a conversation, streams the answer and stores both', async () => {
  const token = mintToken({ sub: 'conv-alice' });
  const response = await turn(token, { message: 'How do I file a leave request?' });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /text\/event-stream/);
  const id = response.headers.get('x-oachat-conversation');
  assert.match(id, /^c_[0-9a-f]{24}$/);
  const { events } = await readSse(response);
  assert.equal(events.at(-1), '[DONE]');
  const answer = streamedText(events);
  assert.match(answer, /How do I file a leave request\?/);

  const conversation = await stored(token, id, 2);
  assert.equal(conversation.id, id);
  assert.equal(conversation.title, 'How do I file a leave request?');
  assert.deepEqual(conversation.messages.map((m) => [m.seq, m.role]), [[1, 'user'], [2, 'assistant']]);
  assert.equal(conversation.messages[0].content, 'How do I file a leave request?');
  assert.equal(conversation.messages[1].content, answer, 'the stored answer is what was streamed');
});

test('continuing sends the stored history upstream, trimmed to the window', async () => {
  const token = mintToken({ sub: 'conv-history' });
  const prompts = [];
  let id;
  for (let round = 1; round <= 5; round++) {
    const response = await turn(token, { message: `question number ${round}`, ...(id ? { conversation_id: id } : {}) });
    assert.equal(response.status, 200, `round ${round}`);
    id = response.headers.get('x-oachat-conversation');
    const requestId = response.headers.get('x-request-id');
    await readSse(response);
    await stored(token, id, round * 2);
    prompts.push((await ledgerRow(requestId)).prompt_tokens);
  }
  // The second turn carried the first question and answer (one pair adds `pair` tokens).
  const pair = prompts[1] - prompts[0];
  assert.ok(pair > 50, `prompts ${prompts}`);
  // Once the window is full the oldest pair is dropped: the prompt stops growing by a pair a
  // turn. The window is counted with the proxy's estimate; mock-openai's own count may exceed
  // it by the estimator's error (about 20% on English), hence the margin.
  assert.ok(prompts[4] - prompts[3] < pair / 2, `prompts ${prompts} kept growing`);
  assert.ok(Math.max(...prompts) <= WINDOW * 1.25, `prompts ${prompts} over the window ${WINDOW}`);
  const conversation = await stored(token, id, 10);
  assert.equal(conversation.messages.length, 10, 'trimming is for the prompt only: all is stored');
});

test('a user\'s history follows them to another browser', async () => {
  const first = mintToken({ sub: 'conv-roamer', name: 'Roamer' });
  const response = await turn(first, { message: 'remember me\nsecond line' });
  const id = response.headers.get('x-oachat-conversation');
  await readSse(response);
  await stored(first, id, 2);

  // Another browser: a fresh token minted later for the same person.
  const fresh = mintToken({ sub: 'conv-roamer', name: 'Roamer', exp: Math.floor(Date.now() / 1000) + 3600 });
  const list = await (await api(fresh)).json();
  assert.equal(list.object, 'list');
  const found = list.data.find((c) => c.id === id);
  assert.equal(found?.title, 'remember me');
  assert.ok(found.updated_ms >= found.created_ms);
  const conversation = await (await api(fresh, `/${id}`)).json();
  assert.equal(conversation.messages.length, 2);
});

test('another user\'s conversation id returns 404, whatever the method', async () => {
  const alice = mintToken({ sub: 'conv-owner' });
  const response = await turn(alice, { message: 'my private question' });
  const id = response.headers.get('x-oachat-conversation');
  await readSse(response);
  await stored(alice, id, 2);

  const mallory = mintToken({ sub: 'conv-mallory' });
  const attempts = [
    await api(mallory, `/${id}`),
    await api(mallory, `/${id}`, { method: 'PATCH', body: JSON.stringify({ title: 'mine now' }) }),
    await api(mallory, `/${id}`, { method: 'DELETE' }),
    await turn(mallory, { message: 'continue it', conversation_id: id }),
  ];
  for (const attempt of attempts) {
    assert.equal(attempt.status, 404);
    assert.equal((await attempt.json()).error.code, 'conversation_not_found');
  }
  const list = await (await api(mallory)).json();
  assert.ok(!list.data.some((c) => c.id === id));
  // The owner's conversation is untouched.
  const mine = await (await api(alice, `/${id}`)).json();
  assert.equal(mine.title, 'my private question');
  assert.equal(mine.messages.length, 2);

  assert.equal((await api(mallory, '/..%2Fetc')).status, 404);
  assert.equal((await fetch(`${stack.url}/v1/oachat/conversations`)).status, 401);
});

test('conversations can be renamed and deleted', async () => {
  const token = mintToken({ sub: 'conv-tidy' });
  const response = await turn(token, { message: 'rename me' });
  const id = response.headers.get('x-oachat-conversation');
  await readSse(response);
  await stored(token, id, 2);

  const renamed = await api(token, `/${id}`, { method: 'PATCH', body: JSON.stringify({ title: '  Leave policy ' }) });
  assert.equal(renamed.status, 200);
  assert.equal((await renamed.json()).title, 'Leave policy');
  assert.equal((await (await api(token, `/${id}`)).json()).title, 'Leave policy');
  const bad = await api(token, `/${id}`, { method: 'PATCH', body: JSON.stringify({ title: '' }) });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'title');

  const deleted = await api(token, `/${id}`, { method: 'DELETE' });
  assert.deepEqual(await deleted.json(), { id, deleted: true });
  assert.equal((await api(token, `/${id}`)).status, 404);
  assert.ok(!(await (await api(token)).json()).data.some((c) => c.id === id));
});

test('rounds are counted per server-side conversation', async () => {
  const token = mintToken({ sub: 'conv-rounds', tier: 'short' });
  let id;
  for (let round = 1; round <= 2; round++) {
    const response = await turn(token, { message: `round ${round}`, ...(id ? { conversation_id: id } : {}) });
    assert.equal(response.status, 200);
    id = response.headers.get('x-oachat-conversation');
    await readSse(response);
  }
  const third = await turn(token, { message: 'round 3', conversation_id: id });
  assert.equal(third.status, 429);
  assert.equal((await third.json()).error.code, 'max_rounds_exceeded');
  // A new conversation starts its own count.
  const fresh = await turn(token, { message: 'new topic' });
  assert.equal(fresh.status, 200);
  await readSse(fresh);
});

test('bad turns are refused with the field named', async () => {
  const token = mintToken({ sub: 'conv-bad' });
  for (const [body, param] of [
    [{ message: '' }, 'message'],
    [{ message: 'x', conversation_id: 'no spaces' }, 'conversation_id'],
  ]) {
    const response = await turn(token, body);
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error.param, param);
  }
});

test('the widget\'s endpoints do CORS: preflight allows PATCH, the conversation header is exposed', async () => {
  const preflight = await fetch(`${stack.url}/v1/oachat/conversations/c_1`, {
    method: 'OPTIONS',
    headers: { origin: stack.url, 'access-control-request-method': 'PATCH' },
  });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-methods'), /PATCH/);

  const response = await turn(mintToken({ sub: 'conv-cors' }), { message: 'from the page' }, { origin: stack.url });
  assert.equal(response.headers.get('access-control-allow-origin'), stack.url);
  assert.match(response.headers.get('access-control-expose-headers'), /x-oachat-conversation/);
  await readSse(response);

  const elsewhere = await api(mintToken({ sub: 'conv-cors' }), '', { headers: { origin: 'https://evil.example' } });
  assert.equal(elsewhere.status, 403);
});

test('feedback sent the moment the answer ends finds its row (regression: 404 while the row waited in the outbox)', async () => {
  const token = mintToken({ sub: 'feedback-fast' });
  for (let i = 0; i < 3; i++) {
    const response = await chat(stack.url, token, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `quick ${i}` }] });
    const requestId = response.headers.get('x-request-id');
    await response.json();
    const liked = await fetch(`${stack.url}/v1/oachat/feedback`, {
      method: 'POST', headers: bearer(token), body: JSON.stringify({ request_id: requestId, rating: 1 }),
    });
    assert.equal(liked.status, 200, `rating ${i}: ${await liked.clone().text()}`);
    assert.equal((await ledgerRow(requestId)).feedback, 1);
  }
});

test('feedback is stored on the caller\'s own ledger row only', async () => {
  const token = mintToken({ sub: 'feedback-user' });
  const response = await chat(stack.url, token, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rate me' }] });
  const requestId = response.headers.get('x-request-id');
  await response.json();
  await ledgerRow(requestId);

  const rate = (who, body) => fetch(`${stack.url}/v1/oachat/feedback`, {
    method: 'POST', headers: bearer(who), body: JSON.stringify(body),
  });
  const liked = await rate(token, { request_id: requestId, rating: 1 });
  assert.equal(liked.status, 200);
  assert.deepEqual(await liked.json(), { request_id: requestId, rating: 1 });
  assert.equal((await ledgerRow(requestId)).feedback, 1);

  // Someone else cannot rate it (and learns nothing: the same 404 as for an unknown id).
  const other = await rate(mintToken({ sub: 'feedback-other' }), { request_id: requestId, rating: -1 });
  assert.equal(other.status, 404);
  assert.equal((await other.json()).error.code, 'request_not_found');
  assert.equal((await rate(token, { request_id: 'req_unknown', rating: 1 })).status, 404);
  assert.equal((await ledgerRow(requestId)).feedback, 1);

  const disliked = await rate(token, { request_id: requestId, rating: -1 });
  assert.equal(disliked.status, 200);
  assert.equal((await ledgerRow(requestId)).feedback, -1);
  assert.equal((await rate(token, { request_id: requestId, rating: 0 })).status, 200);
  assert.equal((await ledgerRow(requestId)).feedback, null);

  const bad = await rate(token, { request_id: requestId, rating: 5 });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'rating');
});

test('guests (unsigned device ids) get no stored conversations, but can still chat', async () => {
  // A guest's device id is chosen by the browser: anyone who learns it could read the
  // conversations it unlocked, so stored conversations need a signed identity.
  const device = { 'x-oachat-device': 'guest-device-0123456789', 'content-type': 'application/json' };
  const list = await fetch(`${stack.url}/v1/oachat/conversations`, { headers: device });
  assert.equal(list.status, 401);
  assert.equal((await list.json()).error.code, 'missing_credential');
  const turnResponse = await fetch(`${stack.url}/v1/oachat/chat`, {
    method: 'POST', headers: device, body: JSON.stringify({ message: 'hi' }),
  });
  assert.equal(turnResponse.status, 401);
  const plain = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST', headers: device,
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(plain.status, 200);
  await plain.json();
});
