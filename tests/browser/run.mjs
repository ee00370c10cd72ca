// Browser test driver (run by tests/browser.rs): serves a test page from a
// tiny static server on a free port, opens it in Debian's chromium through
// playwright-core, and reports what the page's EventSource and WebSocket
// received from the node.
//
// usage: node run.mjs NODE_HTTP_ADDR EXPECTED_COUNT PAGE_PORT
// (the node must allow the page's origin, http://127.0.0.1:PAGE_PORT)
// prints "ready" once both feeds are open; the caller then writes deltas;
// prints one JSON line {"sse": [...], "ws": [...]} (delta ids) and exits 0.
import http from 'node:http';
import { launch } from './launch.mjs';

const [nodeAddr, expectedArg, pagePort] = process.argv.slice(2);
const expected = Number(expectedArg);
if (!nodeAddr || !expected) {
  console.error('usage: node run.mjs NODE_HTTP_ADDR EXPECTED_COUNT');
  process.exit(2);
}

const page = `<!doctype html><meta charset="utf-8"><title>rhizome live</title>
<script>
  window.got = { sse: [], ws: [], errors: [] };
  window.open = { sse: false, ws: false };
  const es = new EventSource('http://${nodeAddr}/api/deltas?feed=sse&entity=doc');
  es.onopen = () => { window.open.sse = true; };
  es.addEventListener('delta', (e) => window.got.sse.push(JSON.parse(e.data).id));
  es.onerror = () => window.got.errors.push('sse error');
  const ws = new WebSocket('ws://${nodeAddr}/api/ws');
  ws.onopen = () => {
    ws.send(JSON.stringify({ op: 'subscribe', id: 'live', filter: { entities: ['doc'] } }));
    ws.send(JSON.stringify({ op: 'ping' }));
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'pong') window.open.ws = true;
    else if (m.type === 'delta') window.got.ws.push(m.delta.id);
    else window.got.errors.push(e.data);
  };
  ws.onerror = () => window.got.errors.push('ws error');
</script>`;

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page);
});
await new Promise((r) => server.listen(Number(pagePort ?? 0), '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

const { browser, close } = await launch();
let status = 0;
try {
  const tab = await browser.newPage();
  await tab.goto(pageUrl);
  await tab.waitForFunction(() => window.open.sse && window.open.ws, null, { timeout: 60000 });
  console.log('ready');
  await tab.waitForFunction(
    (n) => window.got.sse.length >= n && window.got.ws.length >= n,
    expected,
    { timeout: 60000 },
  );
  const got = await tab.evaluate(() => window.got);
  console.log(JSON.stringify(got));
} catch (e) {
  console.error(`browser test failed: ${e}`);
  status = 1;
} finally {
  await close();
  server.close();
}
process.exit(status);
