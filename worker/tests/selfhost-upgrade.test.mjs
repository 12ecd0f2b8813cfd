// Upgrading the self-hosted build keeps the data: the current build started on the data folder
// an earlier release wrote (worker/tests/fixtures/selfhost-data-<release>.tar.gz, made by
// fixtures/make-upgrade-data.mjs) migrates it at start and serves everything in it: ledger rows
// (now with their rollups), conversations, virtual keys, tier overrides and ratings.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { ADMIN_TOKEN, SIGNING_SECRET, admin, chat, freePort, ledgerRow, mintToken, startMock } from './harness.mjs';
import { requireBuild, startSelfhost } from './selfhost-harness.mjs';
import { UPGRADE_CONFIG } from './fixtures/upgrade-config.mjs';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
/** The releases we promise to upgrade from, oldest first. */
const RELEASES = ['fdaf245'];

let mock;
before(async () => {
  requireBuild();
  mock = await startMock();
});
after(() => mock?.stop());

for (const release of RELEASES) {
  test(`the data of release ${release} is migrated at start and served whole`, async () => {
    const expected = JSON.parse(readFileSync(join(FIXTURES, `selfhost-data-${release}.json`), 'utf8'));
    const scratch = mkdtempSync(join(tmpdir(), 'oachat-upgrade-'));
    execFileSync('tar', ['-xzf', join(FIXTURES, `selfhost-data-${release}.tar.gz`), '-C', scratch]);
    const port = await freePort();
    const server = await startSelfhost({
      name: `upgrade-from-${release}`,
      port,
      env: {
        OPENAI_BASE_URL: `${mock.url}/v1`,
        OPENAI_API_KEYS: 'sk-mock-upgrade',
        OACHAT_SIGNING_SECRET: SIGNING_SECRET,
        OACHAT_ADMIN_TOKEN: ADMIN_TOKEN,
        OACHAT_CONFIG: JSON.stringify(UPGRADE_CONFIG),
        OACHAT_LISTEN: `127.0.0.1:${port}`,
        OACHAT_DATA: join(scratch, 'data'),
      },
    });
    try {
      // Every ledger row, as written.
      for (const row of expected.ledger) {
        const found = await ledgerRow(server.url, row.id);
        for (const field of ['user', 'day', 'prompt_tokens', 'completion_tokens', 'cost_micro_usd']) {
          assert.equal(found[field], row[field], `${row.id}.${field}`);
        }
      }
      const { rows } = await (await admin(server.url, '/admin/ledger?limit=1000')).json();
      const rated = rows.find((row) => row.id === expected.alice_turns[0]);
      assert.equal(rated.feedback, -1, 'the rating survived');

      // The rollups did not exist in that release: the older rows are rolled up once, at start.
      const report = await (await admin(server.url, '/admin/usage?group=user')).json();
      for (const user of new Set(expected.ledger.map((row) => row.user))) {
        const mine = expected.ledger.filter((row) => row.user === user);
        const line = report.data.find((entry) => entry.key === user);
        assert.equal(line?.requests, mine.length, `${user}'s requests in the report`);
        assert.equal(line.prompt_tokens, mine.reduce((t, r) => t + r.prompt_tokens, 0));
      }

      // The conversation, with both turns.
      const alice = mintToken({ sub: 'upgrade-alice' });
      const conversation = await fetch(`${server.url}/v1/oachat/conversations/${expected.conversation}`, {
        headers: { authorization: `Bearer ${alice}` },
      });
      assert.equal(conversation.status, 200);
      const { messages } = await conversation.json();
      assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
      assert.equal(messages[0].content, 'Where is the leave policy?');

      // The virtual key still works and is listed; the tier override still holds.
      const viaKey = await chat(server.url, expected.virtual_key, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] });
      assert.equal(viaKey.status, 200);
      await viaKey.json();
      const { keys } = await (await admin(server.url, '/admin/keys')).json();
      assert.ok(keys.some((key) => key.id === expected.virtual_key_id));
      const carol = await (await admin(server.url, '/admin/users/u:upgrade-carol')).json();
      assert.equal(carol.tier_override, 'lead');

      // New requests are written with the columns the old ledger did not have.
      const fresh = await chat(server.url, mintToken({ sub: 'upgrade-dave', dept: 'finance' }), { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'new here' }] });
      assert.equal(fresh.status, 200);
      await fresh.json();
      const row = await ledgerRow(server.url, fresh.headers.get('x-request-id'), 15_000);
      assert.equal(row.dept, 'finance');
      assert.equal(row.tier, 'staff');
    } finally {
      await server.stop();
    }
  });
}
