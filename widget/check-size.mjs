// Fails when what a host page downloads grows past the committed budget: the gzip total of the
// loader, the core's JS and its wasm in widget/dist/sizes.json (written by build.mjs) against
// widget/size-budget.json. Deterministic (gzip level 9 of the same bytes), so a comrak upgrade
// that silently drops one of our patches (-38 KiB gzip) fails `make test` instead of shipping.
// Raise the budget on purpose, in the commit that pays for the growth.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sizes = JSON.parse(readFileSync(join(here, 'dist', 'sizes.json'), 'utf8'));
const budget = JSON.parse(readFileSync(join(here, 'size-budget.json'), 'utf8'));

const parts = ['loader', 'core_js', 'core_wasm'];
const total = parts.reduce((sum, part) => {
  const gzip = sizes[part]?.gzip;
  if (!Number.isInteger(gzip)) throw new Error(`widget/dist/sizes.json has no ${part}.gzip`);
  return sum + gzip;
}, 0);
const limit = budget.gzip_total_bytes;
if (!Number.isInteger(limit)) throw new Error('widget/size-budget.json needs gzip_total_bytes');

const kib = (n) => (n / 1024).toFixed(1) + ' KiB';
if (total > limit) {
  console.error(
    `widget size: ${total} bytes gzip (${kib(total)}) is over the budget of ${limit} bytes ` +
      `(${kib(limit)}) in widget/size-budget.json; ` +
      parts.map((part) => `${part} ${sizes[part].gzip}`).join(', '),
  );
  process.exit(1);
}
console.log(`widget size: ${kib(total)} gzip, budget ${kib(limit)} (${((100 * total) / limit).toFixed(1)} %)`);
