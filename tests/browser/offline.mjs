// Offline-first browser test driver (run by tests/ts_client.rs): a page
// using the TypeScript client (clients/ts/dist, with an IndexedDB outbox)
// goes offline (playwright's setOffline), writes, is reloaded while still
// offline (the outbox survives in IndexedDB), comes back online, and the
// node ends up holding every write exactly once, in order.
//
// The page and the client's modules are served by playwright's request
// interception at the node's own origin (so the page talks to the node
// same-origin, and a reload works offline); API requests go to the node.
//
// usage: node offline.mjs NODE_HTTP_ADDR CLIENT_DIST_DIR
// prints one JSON line {"ok": true, ...} and exits 0, or exits 1.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './launch.mjs';

const [nodeAddr, dist] = process.argv.slice(2);
if (!nodeAddr || !dist) {
  console.error('usage: node offline.mjs NODE_HTTP_ADDR CLIENT_DIST_DIR');
  process.exit(2);
}
const base = `http://${nodeAddr}`;

const page = `<!doctype html><meta charset="utf-8"><title>offline app</title>
<script type="module">
  import { Rhizome, indexedDbStore } from './dist/index.js';
  window.rz = new Rhizome({ url: location.origin, creator: 'browser', host: 'chromium',
    offline: { store: indexedDbStore('offline-test'), retryMs: 300 } });
  window.ready = true;
</script>`;

const chrome = await launch();
const context = chrome.browser;
await context.route(`${base}/app/**`, (route) => {
  const path = new URL(route.request().url()).pathname.slice('/app/'.length);
  if (path === 'index.html') return route.fulfill({ contentType: 'text/html', body: page });
  const m = /^dist\/([a-z]+\.js)$/.exec(path);
  if (!m) return route.fulfill({ status: 404, body: 'no such file' });
  return route.fulfill({ contentType: 'text/javascript', body: readFileSync(join(dist, m[1])) });
});

const errors = [];
let status = 0;
try {
  const tab = await context.newPage();
  tab.on('pageerror', (e) => errors.push(String(e)));
  const load = async () => {
    await tab.goto(`${base}/app/index.html`);
    await tab.waitForFunction(() => window.ready === true, null, { timeout: 20000 });
  };
  await load();
  // Online: delivered at once; the view is remembered.
  const first = await tab.evaluate(async () => (await window.rz.set('note', { title: 'online', body: 'b' })).id);
  await tab.evaluate(() => window.rz.view('note'));

  await context.setOffline(true);
  const offline = await tab.evaluate(async () => {
    const ids = [];
    for (let i = 1; i <= 3; i++) {
      const d = window.rz.delta('note', { title: `offline ${i}` });
      const r = await window.rz.put(d);
      if (r.queued[0] !== d.id) throw new Error(`not queued: ${JSON.stringify(r)}`);
      ids.push(d.id);
    }
    return { ids, view: await window.rz.view('note') };
  });
  if (!offline.view.stale || offline.view.properties.title !== 'offline 3' || offline.view.properties.body !== 'b') {
    throw new Error(`offline view: ${JSON.stringify(offline.view)}`);
  }

  // Reloaded while still offline: the outbox is still there, and one more write.
  await tab.reload();
  await tab.waitForFunction(() => window.ready === true, null, { timeout: 20000 });
  const afterReload = await tab.evaluate(async () => {
    const pending = (await window.rz.pending()).map((d) => d.id);
    const d = window.rz.delta('note', { title: 'offline 4' });
    await window.rz.put(d);
    return { pending, id: d.id };
  });
  if (JSON.stringify(afterReload.pending) !== JSON.stringify(offline.ids)) {
    throw new Error(`outbox after reload: ${JSON.stringify(afterReload.pending)}`);
  }
  const written = [first, ...offline.ids, afterReload.id];

  // Back online: delivered by itself (the online event, then retries).
  await context.setOffline(false);
  const deadline = Date.now() + 20000;
  while ((await tab.evaluate(async () => (await window.rz.pending()).length)) > 0) {
    if (Date.now() > deadline) throw new Error('the outbox was not delivered within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const res = await fetch(`${base}/api/deltas?entity=note&since=0`);
  const stored = (await res.json()).deltas.map((d) => d.id);
  if (JSON.stringify(stored) !== JSON.stringify(written)) {
    throw new Error(`node holds ${JSON.stringify(stored)}, written ${JSON.stringify(written)}`);
  }
  const view = await tab.evaluate(() => window.rz.view('note'));
  if (view.stale || view.properties.title !== 'offline 4') throw new Error(`view online: ${JSON.stringify(view)}`);
  if (errors.length) throw new Error(`page errors: ${errors.join(' | ')}`);
  console.log(JSON.stringify({ ok: true, written, stored }));
} catch (e) {
  console.error(`offline browser test failed: ${e}; page errors: ${JSON.stringify(errors)}`);
  status = 1;
} finally {
  await chrome.close();
}
process.exit(status);
