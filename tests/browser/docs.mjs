// Collaborative editing in real browsers (run by tests/browser_documents.rs):
// two chromium pages each run the official @automerge/automerge package
// (served from node_modules by a tiny static server on a free port; its
// `fullfat_base64` entry point carries the wasm inline, so no bundler and
// no network), and edit one document of the node at the same time over
// the WebSocket ops `doc` and `doc_put` (API.md §7). Page B goes offline
// for a while, keeps typing, then reconnects: it asks only for what it
// lacks (its heads) and pushes what the node lacks (saveSince).
//
// usage: node docs.mjs NODE_HTTP_ADDR PAGE_PORT (an origin the node allows)
// The document starts as "|": Bob types before it, Alice after it, so the
// result is deterministic.
// prints one JSON line {"a": TEXT, "b": TEXT, "typed": N, "heads": [...]}
// and exits 0.
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [nodeAddr, pagePort] = process.argv.slice(2);
if (!nodeAddr) {
  console.error('usage: node docs.mjs NODE_HTTP_ADDR');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const amRoot = join(here, 'node_modules/@automerge/automerge/dist/mjs');

// The page: an Automerge client of one document, driven from here.
const page = `<!doctype html><meta charset="utf-8"><title>rhizome docs</title>
<script type="module">
  import * as A from '/am/entrypoints/fullfat_base64.js';
  const node = ${JSON.stringify(nodeAddr)};
  const b64 = (u8) => {
    let s = '';
    for (const x of u8) s += String.fromCharCode(x);
    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  };
  const unb64 = (s) => {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return u;
  };
  const st = { doc: A.init(), cursor: 0, online: false, serverHeads: [], errors: [], acks: 0, sent: 0, ws: null };
  let ref = 0;
  const put = (bytes) => {
    if (!st.online || bytes.length === 0) return;
    st.sent++;
    st.ws.send(JSON.stringify({ op: 'doc_put', ref: ++ref, entity: 'shared', property: 'body', changes: b64(bytes) }));
  };
  // Connects, catches up on what this page lacks (its heads tell the node),
  // then pushes what the node lacks.
  window.connect = () => new Promise((resolve) => {
    const ws = new WebSocket('ws://' + node + '/api/ws');
    st.ws = ws;
    let first = true;
    ws.onopen = () => ws.send(JSON.stringify({ op: 'doc', id: 'd', entity: 'shared', property: 'body', heads: A.getHeads(st.doc) }));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'changes') {
        if (m.changes) st.doc = A.loadIncremental(st.doc, unb64(m.changes));
        st.serverHeads = m.heads;
        if (first) {
          first = false;
          st.online = true;
          put(A.saveSince(st.doc, st.serverHeads));
          resolve();
        }
      } else if (m.type === 'ack') st.acks++;
      else st.errors.push(e.data);
    };
    ws.onerror = () => st.errors.push('ws error');
  });
  // Puts in flight when the socket closes may never be acked; what they
  // carried is pushed again on reconnect (saveSince the node's heads), so
  // only acks of the puts made on a live socket are awaited.
  window.disconnect = () => { st.online = false; st.ws.close(); st.sent = st.acks; };
  window.create = () => {
    st.doc = A.from({ text: '|' });
    put(A.saveSince(st.doc, []));
  };
  // Types text one character per change: at the end, or at this page's
  // cursor (which starts at the start and moves on as it types).
  window.type = async (text, where, pause) => {
    for (const ch of text) {
      st.doc = A.change(st.doc, { time: Math.floor(Date.now() / 1000) }, (d) => {
        A.splice(d, ['text'], where === 'start' ? st.cursor : d.text.length, 0, ch);
      });
      if (where === 'start') st.cursor++;
      put(A.getLastLocalChange(st.doc));
      await new Promise((r) => setTimeout(r, pause));
    }
  };
  window.report = () => ({
    text: st.doc.text === undefined ? null : String(st.doc.text),
    heads: [...A.getHeads(st.doc)].sort(),
    online: st.online, sent: st.sent, acks: st.acks, errors: st.errors,
  });
  window.ready = true;
</script>`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/am/')) {
    const file = normalize(join(amRoot, url.pathname.slice(4)));
    if (!file.startsWith(amRoot)) {
      res.writeHead(403);
      res.end();
      return;
    }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page);
});
await new Promise((r) => server.listen(Number(pagePort ?? 0), '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

const profile = mkdtempSync(join(tmpdir(), 'rhizome-chromium-docs-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let status = 0;
try {
  const a = await browser.newPage();
  const b = await browser.newPage();
  for (const p of [a, b]) {
    p.on('pageerror', (e) => console.error(`page error: ${e}`));
    await p.goto(pageUrl);
    await p.waitForFunction(() => window.ready === true, null, { timeout: 60000 });
  }
  await a.evaluate(() => window.connect());
  await a.evaluate(() => window.create());
  await b.evaluate(() => window.connect());
  await b.waitForFunction(() => window.report().text === '|', null, { timeout: 30000 });

  const textA = 'Alice types at the end of the document. ';
  const textB1 = 'Bob types at the start. ';
  const textB2 = 'Offline, Bob keeps typing. ';
  const textB3 = 'Back online! ';
  // Both type at once; Bob goes offline halfway and comes back.
  const alice = a.evaluate((t) => window.type(t, 'end', 15), textA);
  const bob = (async () => {
    await b.evaluate((t) => window.type(t, 'start', 10), textB1);
    await b.evaluate(() => window.disconnect());
    await b.evaluate((t) => window.type(t, 'start', 10), textB2);
    await b.evaluate(() => window.connect());
    await b.evaluate((t) => window.type(t, 'start', 10), textB3);
  })();
  await Promise.all([alice, bob]);
  const typed = [...textA + textB1 + textB2 + textB3].length + 1;
  const same = async () => {
    const ra = await a.evaluate(() => window.report());
    const rb = await b.evaluate(() => window.report());
    return { ra, rb, ok: ra.text !== null && ra.text === rb.text && JSON.stringify(ra.heads) === JSON.stringify(rb.heads) && ra.text.length === typed && ra.acks >= ra.sent && rb.acks >= rb.sent };
  };
  const start = Date.now();
  let r = await same();
  while (!r.ok && Date.now() - start < 30000) {
    await new Promise((res) => setTimeout(res, 100));
    r = await same();
  }
  if (!r.ok) throw new Error(`the pages did not converge: ${JSON.stringify(r)}`);
  if (r.ra.errors.length || r.rb.errors.length) throw new Error(`errors: ${JSON.stringify(r)}`);
  console.log(JSON.stringify({ a: r.ra.text, b: r.rb.text, typed, heads: r.ra.heads }));
} catch (e) {
  console.error(`browser docs test failed: ${e}`);
  status = 1;
} finally {
  await browser.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(status);
