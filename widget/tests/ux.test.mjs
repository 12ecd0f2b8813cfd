// What a user does with the panel: stop, regenerate, copy, rate, keyboard and screen readers,
// scrolling while an answer streams, themes, reduced motion and phones. Saves the screenshots
// the README shows (light, dark, mobile, a code block).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { RESULTS, startStack } from '../../worker/tests/harness.mjs';
import { apiSendAndWait, coreReady, hostPage, launch, openPage, openWidget, sendAndWait } from './browser.mjs';

let stack;
let browser;
before(async () => {
  stack = await startStack({ name: 'widget-ux', config: { tiers: { staff: { rpm: 1000 } } } });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const page_ = (attributes) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>ux</title></head>
  <body style="font:14px sans-serif"><h1>OA page</h1><button id="before">host</button>
  <script src="/v1/widget.js" data-token-url="/demo/token" ${attributes}></script></body></html>`;

test('the stop button ends the stream and keeps the partial answer; regenerate replaces it', async () => {
  const { page } = await openPage(browser, `${stack.url}/demo`);
  await openWidget(page);
  const widget = page.locator('oachat-widget');
  await widget.locator('.oc-input').fill('stop via the button');
  await widget.locator('.oc-input').press('Enter');
  const stop = widget.locator('.oc-send[data-action="stop"]');
  await stop.waitFor();
  await page.waitForFunction(() => {
    const root = document.querySelector('oachat-widget').shadowRoot;
    const answers = root.querySelectorAll('.oc-msg[data-role="assistant"] .oc-bubble');
    return answers.length > 1 && answers[answers.length - 1].textContent.length > 5;
  });
  await stop.click();
  const answer = widget.locator('.oc-msg[data-role="assistant"]').last();
  await answer.locator('.oc-actions').waitFor();
  const partial = await answer.innerText();
  assert.doesNotMatch(partial, /Hello from mock-openai/);
  assert.ok(partial.length > 0);

  const answersBefore = await widget.locator('.oc-msg[data-role="assistant"]').count();
  await answer.locator('[data-action="regenerate"]').click();
  await page.waitForFunction(() => {
    const root = document.querySelector('oachat-widget').shadowRoot;
    const rows = root.querySelectorAll('.oc-msg[data-role="assistant"]');
    return rows[rows.length - 1].querySelector('.oc-actions') && /Hello from mock-openai/.test(rows[rows.length - 1].textContent);
  }, null, { timeout: 20_000 });
  assert.equal(await widget.locator('.oc-msg[data-role="assistant"]').count(), answersBefore, 'replaced, not added');
});

test('copy answer and the code copy button write to the clipboard; thumbs never break the UI', async () => {
  const { page, context, consoleErrors } = await openPage(browser, `${stack.url}/demo`);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
  await openWidget(page);
  const answer = await sendAndWait(page, 'copy me');
  await answer.locator('[data-action="copy-answer"]').click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, /^## Mock answer/);
  assert.match(copied, /copy me/);

  await answer.locator('.oc-code .oc-copy').click();
  const code = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(code.trimEnd(), 'fn main() {\n    println!("Hello from mock-openai");\n}');
  assert.match(await answer.locator('.oc-code .oc-copy').innerText(), /已复制|Copied/);
  await answer.locator('.oc-code').screenshot({ path: join(RESULTS, 'widget-code-block.png') });

  const feedback = page.waitForRequest((r) => r.url().endsWith('/v1/oachat/feedback') && r.method() === 'POST');
  await answer.locator('[data-action="thumbs-up"]').click();
  const request = await feedback;
  const body = JSON.parse(request.postData());
  assert.equal(body.rating, 1);
  assert.ok(body.request_id);
  assert.equal(await answer.locator('[data-action="thumbs-up"]').getAttribute('aria-pressed'), 'true');
  await answer.locator('[data-action="thumbs-down"]').click();
  assert.equal(await answer.locator('[data-action="thumbs-down"]').getAttribute('aria-pressed'), 'true');
  assert.equal(await answer.locator('[data-action="thumbs-up"]').getAttribute('aria-pressed'), 'false');
  // The endpoint may not exist yet (404): the chat goes on.
  await page.waitForTimeout(300);
  await sendAndWait(page, 'still works after feedback');
  assert.deepEqual(consoleErrors.filter((e) => !/status of 404|Failed to load resource/.test(e)), []);
});

test('keyboard: Tab reaches the bubble, Enter opens, Enter sends, ESC closes and focus returns to the bubble', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/keys`, page_(''));
  await page.locator('#before').focus();
  await page.keyboard.press('Tab');
  const focused = () => page.evaluate(() => {
    const host = document.activeElement;
    return host && host.shadowRoot && host.shadowRoot.activeElement ? host.shadowRoot.activeElement.className : (host && host.tagName);
  });
  assert.equal(await focused(), 'oc-launcher');
  await page.keyboard.press('Enter');
  const widget = page.locator('oachat-widget');
  await widget.locator('.oc-panel:not([hidden]) .oc-input').waitFor();
  assert.equal(await focused(), 'oc-input', 'a fine pointer gets the input focused');
  await page.keyboard.type('typed with the keyboard');
  await page.keyboard.press('Enter');
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').first().waitFor({ timeout: 20_000 });
  // Screen readers: the log is a polite live region; the status line says when an answer is done.
  assert.equal(await widget.locator('.oc-log').getAttribute('aria-live'), 'polite');
  assert.equal(await widget.locator('.oc-log').getAttribute('role'), 'log');
  assert.match(await widget.locator('.oc-sr[role="status"]').textContent(), /Answer complete|回答完成/);
  assert.equal(await widget.locator('.oc-panel').getAttribute('role'), 'dialog');
  await page.keyboard.press('Escape');
  assert.equal(await widget.locator('.oc-panel').isHidden(), true);
  assert.equal(await focused(), 'oc-launcher');
  assert.equal(await widget.locator('.oc-launcher').getAttribute('aria-expanded'), 'false');
});

test('no scroll jump while streaming when the user scrolled up; an open code fence shows as pending text', async () => {
  const { page } = await openPage(browser, `${stack.url}/demo`);
  await openWidget(page);
  await sendAndWait(page, 'first, to fill the log');
  await sendAndWait(page, 'second, to fill the log');
  const seen = await page.evaluate(() => new Promise((resolve) => {
    const root = document.querySelector('oachat-widget').shadowRoot;
    const log = root.querySelector('.oc-log');
    const out = { scrollTops: [], pending: false, highlightedWhilePending: false };
    let started = false;
    window.OAChat.on('stream:start', () => {
      started = true;
      log.scrollTop = 0; // the user scrolls up to re-read
    });
    window.OAChat.on('stream:end', () => { started = false; resolve(out); });
    const tick = () => {
      if (started) {
        out.scrollTops.push(log.scrollTop);
        const tail = root.querySelectorAll('.oc-tail');
        const last = tail[tail.length - 1];
        if (last && last.querySelector('.oc-code-pending')) {
          out.pending = true;
          if (last.querySelector('.oc-code-pending .oc-k')) out.highlightedWhilePending = true;
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    window.OAChat.send('third, scroll up now');
  }));
  assert.ok(seen.scrollTops.length > 5);
  assert.ok(seen.scrollTops.every((top) => top === 0), `scroll moved: ${seen.scrollTops.join(',')}`);
  assert.equal(seen.pending, true, 'the unclosed fence was shown as pending text');
  assert.equal(seen.highlightedWhilePending, false);
  const widget = page.locator('oachat-widget');
  const answer = widget.locator('.oc-msg[data-role="assistant"]').last();
  assert.equal(await answer.locator('.oc-code-pending').count(), 0, 'closed fences are highlighted');
  assert.ok((await answer.locator('.oc-code .oc-k').count()) > 0);
});

test('themes: light, dark and auto (follows the system), with screenshots', async () => {
  const shots = [['light', 'light', 'rgb(255, 255, 255)'], ['dark', 'light', 'rgb(17, 24, 39)'], ['auto', 'dark', 'rgb(17, 24, 39)']];
  for (const [theme, scheme, background] of shots) {
    const { page, context } = await hostPage(browser, `${stack.url}/test/theme-${theme}`,
      page_(`data-theme="${theme}" data-title="OA 智能助手" data-starters="帮我写一封会议通知|本月请假人数"`),
      { colorScheme: scheme });
    await openWidget(page);
    const widget = page.locator('oachat-widget');
    assert.equal(await widget.locator('.oc-panel').evaluate((el) => getComputedStyle(el).backgroundColor), background, theme);
    if (theme !== 'auto') {
      await sendAndWait(page, '写一段 SQL 查询本月请假人数');
      await page.waitForTimeout(250);
      await widget.locator('.oc-panel').screenshot({ path: join(RESULTS, `widget-${theme}.png`) });
    }
    await context.close();
  }
});

test('prefers-reduced-motion: no panel animation and no blinking caret', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/motion`, page_(''), { reducedMotion: 'reduce' });
  await openWidget(page);
  const widget = page.locator('oachat-widget');
  assert.equal(await widget.locator('.oc-panel').evaluate((el) => getComputedStyle(el).animationName), 'none');
  assert.equal(await widget.locator('.oc-launcher').evaluate((el) => getComputedStyle(el).transitionDuration), '0s');
  const caret = await page.evaluate(() => new Promise((resolve) => {
    const root = document.querySelector('oachat-widget').shadowRoot;
    window.OAChat.on('stream:start', () => requestAnimationFrame(() => {
      const tail = root.querySelector('.oc-typing');
      resolve(tail ? getComputedStyle(tail, '::after').animationName : 'no caret');
    }));
    window.OAChat.send('motion');
  }));
  assert.equal(caret, 'none');
});

test('phone (390x844, touch): full-screen panel, 16px input, no autofocus; screenshot', async () => {
  const { page } = await openPage(browser, `${stack.url}/demo`, {
    viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  });
  const widget = page.locator('oachat-widget');
  await widget.locator('.oc-launcher').tap();
  await widget.locator('.oc-panel:not([hidden]) .oc-input').waitFor();
  await page.waitForTimeout(300); // the 160 ms opening animation moves the panel
  const box = await widget.locator('.oc-panel').evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { x: Math.round(r.x), y: Math.round(r.y), width: el.offsetWidth, height: el.offsetHeight };
  });
  assert.deepEqual(box, { x: 0, y: 0, width: 390, height: 844 });
  assert.equal(await widget.locator('.oc-input').evaluate((el) => getComputedStyle(el).fontSize), '16px');
  const active = await page.evaluate(() => document.querySelector('oachat-widget').shadowRoot.activeElement?.className || null);
  assert.notEqual(active, 'oc-input', 'no keyboard pops up by itself');
  await widget.locator('.oc-input').fill('手机上也能用吗？');
  await widget.locator('.oc-send').tap();
  await widget.locator('.oc-msg[data-role="assistant"] .oc-actions').first().waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(RESULTS, 'widget-mobile.png') });
  await widget.locator('[data-action="close"]').tap();
  assert.equal(await widget.locator('.oc-panel').isHidden(), true);
});

test('the API send helper works on a plain page (smoke for the helpers above)', async () => {
  const { page } = await hostPage(browser, `${stack.url}/test/smoke`, page_(''));
  await coreReady(page);
  await apiSendAndWait(page, 'smoke');
  assert.equal(await page.locator('oachat-widget').locator('.oc-msg[data-role="assistant"] .oc-actions').count(), 1);
});
