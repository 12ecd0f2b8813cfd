// The token-minting examples in examples/tokens/ (PHP, Node, Python, Java) each mint a token
// the real worker accepts: every runtime present on the machine is run, none is mocked.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ROOT, SIGNING_SECRET, admin, chat, startStack } from './harness.mjs';

const EXAMPLES = join(ROOT, 'examples/tokens');
const MINTERS = [
  { runtime: 'php', args: ['mint.php'] },
  { runtime: 'node', args: ['mint.mjs'] },
  { runtime: 'python3', args: ['mint.py'] },
  { runtime: 'java', args: ['Mint.java'] },
];

const available = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

let stack;
before(async () => {
  stack = await startStack({ name: 'tokens', config: { tiers: { vip: { rpm: 60 } } } });
});
after(async () => {
  await stack?.stop();
});

for (const { runtime, args } of MINTERS) {
  test(`a token minted by examples/tokens/${args[0]} is accepted`, { skip: !available(runtime) && `${runtime} is not installed` }, async () => {
    const sub = `tok-${runtime}`;
    const mint = (secret) => execFileSync(runtime, [...args, sub, '张三 Zhang', 'vip'], {
      cwd: EXAMPLES,
      env: { ...process.env, OACHAT_SIGNING_SECRET: secret },
      encoding: 'utf8',
      timeout: 60_000,
    }).trim();
    const token = mint(SIGNING_SECRET);
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWT without padding');
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    assert.equal(claims.sub, sub);
    assert.equal(claims.name, '张三 Zhang');
    assert.equal(claims.tier, 'vip');
    const ttl = claims.exp - Math.floor(Date.now() / 1000);
    assert.ok(ttl > 60 && ttl <= 600, `expires in ${ttl} s`);

    const response = await chat(stack.url, token, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(response.status, 200, await response.clone().text());
    await response.json();
    // The worker took the identity from the token: the request counted for u:<sub>.
    for (let i = 0; i < 50; i++) {
      const usage = await (await admin(stack.url, `/admin/users/u:${sub}/usage`)).json();
      if (usage?.spent_tokens > 0) break;
      assert.ok(i < 49, 'usage was never recorded for the token\'s sub');
      await new Promise((r) => setTimeout(r, 100));
    }

    // The same script with the wrong secret is refused.
    const forged = await chat(stack.url, mint('wrong-secret'), { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(forged.status, 401);
  });
}
