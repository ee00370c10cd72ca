// Dashboard test driver (run by tests/dashboard.rs): opens the node's
// dashboard (GET /) in Debian's chromium through playwright-core, writes
// deltas through the API, and checks that the live list shows them within
// a second, that the entity browser shows the view and its time slider the
// earlier value, and that the page logs no console error. Saves
// screenshots to SHOT_DIR.
//
// usage: node dashboard.mjs NODE_HTTP_ADDR SHOT_DIR
// prints one JSON line {"ok": true, ...} and exits 0, or exits 1.
import { join } from 'node:path';
import { launch } from './launch.mjs';

const [nodeAddr, shotDir] = process.argv.slice(2);
if (!nodeAddr || !shotDir) {
  console.error('usage: node dashboard.mjs NODE_HTTP_ADDR SHOT_DIR');
  process.exit(2);
}
const base = `http://${nodeAddr}`;

async function put(deltas) {
  const res = await fetch(`${base}/api/deltas`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(deltas),
  });
  if (res.status !== 201) throw new Error(`put: ${res.status} ${await res.text()}`);
}
const setTitle = (id, t, title) => ({ id, timeCreated: t, host: 'dashboard-test', creator: 'alice', pointers: [
  { localContext: 'movie', target: 'movie-1', targetContext: 'title' }, { localContext: 'title', target: title }] });

const chrome = await launch();
const browser = chrome.browser;
const errors = [];
let status = 0;
try {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  // Some history for the charts and the slider.
  await put([setTitle('dash-0', 1700000000000, 'Alien')]);
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.dashboardReady === true, null, { timeout: 30000 });
  await page.waitForSelector('li[data-id="dash-0"]', { timeout: 10000 });

  // A delta written through the API shows within a second.
  const t0 = Date.now();
  await put([setTitle('dash-1', 1700000100000, 'Aliens')]);
  await page.waitForSelector('li[data-id="dash-1"]', { timeout: 1000 });
  const shownAfterMs = Date.now() - t0;

  // The entity browser: now, then as of the first write.
  await page.fill('#entity-id', 'movie-1');
  await page.click('#entity-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('view').textContent.includes('"Aliens"'), null, { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById('as-of').max === '2', null, { timeout: 10000 });
  await page.$eval('#as-of', (el) => { el.value = '0'; el.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => {
    const v = document.getElementById('view').textContent;
    return v.includes('"Alien"') && !v.includes('"Aliens"');
  }, null, { timeout: 10000 });
  const earlier = await page.$eval('#view', (el) => JSON.parse(el.textContent));
  const hyperviewText = await page.$eval('#hyperview', (el) => el.textContent);

  // Let the charts gather a few samples with some load, then screenshot.
  for (let i = 2; i < 30; i++) {
    await put([setTitle(`dash-${i}`, 1700000100000 + i * 1000, `Alien ${i}`)]);
    await page.waitForTimeout(150);
  }
  await page.$eval('#as-of', (el) => { el.value = el.max; el.dispatchEvent(new Event('input')); });
  await page.waitForTimeout(2500);
  await page.screenshot({ path: join(shotDir, 'dashboard.png'), fullPage: true });
  await page.locator('#entity-panel').screenshot({ path: join(shotDir, 'dashboard-entity.png') });
  if (errors.length) throw new Error(`console errors: ${errors.join(' | ')}`);
  console.log(JSON.stringify({ ok: true, shownAfterMs, earlier, hyperview: hyperviewText.slice(0, 200) }));
} catch (e) {
  console.error(`dashboard test failed: ${e}; console errors: ${JSON.stringify(errors)}`);
  status = 1;
} finally {
  await chrome.close();
}
process.exit(status);
