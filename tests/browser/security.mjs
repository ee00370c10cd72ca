// Browser security test driver (run by tests/browser_security.rs).
//
// usage: node security.mjs NODE_HTTP_ADDR ADMIN_TOKEN ALICE_TOKEN READER_TOKEN
//
// 1. A page on the node's own origin (a document the node serves):
//    makes an Ed25519 key with WebCrypto, registers it for alice, signs a
//    delta with the canonical form of docs/security.md and stores it (201),
//    then a copy with one byte changed (400 bad_signature); its EventSource
//    and WebSocket (token in the query) open and receive the delta.
// 2. A page on another origin (a static server on a free port): its
//    EventSource, WebSocket and fetch to the node all fail.
// Prints one JSON line {"own": {...}, "foreign": {...}} and exits 0.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './launch.mjs';

const [nodeAddr, admin, alice, reader] = process.argv.slice(2);
if (!nodeAddr || !admin || !alice || !reader) {
  console.error('usage: node security.mjs NODE_HTTP_ADDR ADMIN_TOKEN ALICE_TOKEN READER_TOKEN');
  process.exit(2);
}
const sign = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'sign.js'), 'utf8');
const node = `http://${nodeAddr}`;

// Evaluated in a document the node itself serves (its health answer), so
// it runs on the node's own origin.
const ownScript = `(async () => {
${sign}
  const r = { sse: false, ws: false, live: [] };
  const es = new EventSource('/api/deltas?feed=sse&entity=signed-doc&token=${reader}');
  es.onopen = () => { r.sse = true; };
  es.addEventListener('delta', (e) => r.live.push(JSON.parse(e.data).id));
  const ws = new WebSocket('ws://' + location.host + '/api/ws?token=${reader}');
  await new Promise((res) => { ws.onopen = () => { r.ws = true; res(); }; ws.onerror = () => res(); });
  const { publicKey, privateKey } = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const raw = await crypto.subtle.exportKey('raw', publicKey);
  const reg = await fetch('/api/keys/alice', { method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ${admin}' },
    body: JSON.stringify({ public_key: b64url(raw) }) });
  r.register = reg.status;
  const delta = { id: 'signed-' + crypto.randomUUID(), timeCreated: Date.now(), host: 'browser', creator: 'alice',
    pointers: [{ localContext: 'entity', target: 'signed-doc', targetContext: 'title' },
               { localContext: 'title', target: 'Grüße from WebCrypto' },
               { localContext: 'n', target: 42 }, { localContext: 'x', target: 1.5 },
               { localContext: 'flag', target: true }] };
  delta.signature = b64url(await crypto.subtle.sign('Ed25519', privateKey, canonical(delta)));
  const post = (d) => fetch('/api/deltas', { method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ${alice}' }, body: JSON.stringify(d) });
  // One changed byte first (the same id: a tampered copy of what will be
  // stored), then the real one.
  const tampered = JSON.parse(JSON.stringify(delta));
  tampered.pointers[1].target = 'Grüße from WebCrypta';
  const bad = await post(tampered);
  r.tampered = bad.status;
  r.tamperedCode = (await bad.json()).error.code;
  const good = await post(delta);
  r.signed = good.status;
  r.id = delta.id;
  const unsigned = { ...delta, id: 'unsigned-' + delta.id }; delete unsigned.signature;
  const u = await post(unsigned);
  r.unsigned = u.status;
  for (let i = 0; i < 200 && r.live.length === 0; i++) await new Promise((res) => setTimeout(res, 50));
  return r;
})()`;

const foreignPage = `<!doctype html><meta charset="utf-8"><title>foreign origin</title>
<script>
window.result = (async () => {
  const r = { sse: false, ws: false, fetch: 'not tried' };
  const es = new EventSource('${node}/api/deltas?feed=sse&token=${reader}');
  es.onopen = () => { r.sse = true; };
  const ws = new WebSocket('ws://${nodeAddr}/api/ws?token=${reader}');
  ws.onopen = () => { r.ws = true; };
  try {
    const res = await fetch('${node}/api/deltas/count', { headers: { authorization: 'Bearer ${reader}' } });
    r.fetch = 'status ' + res.status;
  } catch (e) { r.fetch = 'refused'; }
  await new Promise((res) => setTimeout(res, 1500));
  r.sseState = es.readyState;   // 2 = CLOSED: the browser gave up on a 403
  r.wsState = ws.readyState;    // 3 = CLOSED
  return r;
})();
</script>`;

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(foreignPage);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const foreignUrl = `http://127.0.0.1:${server.address().port}/`;

const { browser, close } = await launch();
let status = 0;
try {
  const own = await browser.newPage();
  await own.goto(`${node}/api/health`);
  const ownResult = await own.evaluate(ownScript);
  const foreign = await browser.newPage();
  await foreign.goto(foreignUrl);
  const foreignResult = await foreign.evaluate(() => window.result);
  console.log(JSON.stringify({ own: ownResult, foreign: foreignResult }));
} catch (e) {
  console.error(`browser security test failed: ${e}`);
  status = 1;
} finally {
  await close();
  server.close();
}
process.exit(status);
