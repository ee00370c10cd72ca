// The canonical bytes match docs/canonical-form.md's worked examples byte
// for byte, and a signature made with WebCrypto verifies and is accepted
// by a node.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { canonicalBytes, Signer, verifyDelta, Rhizome, base64url, fromBase64url } from '../dist/index.js';
import { TestNode } from './node.mjs';

const doc = readFileSync(fileURLToPath(new URL('../../../docs/canonical-form.md', import.meta.url)), 'utf8');

/** Each worked example: the JSON block, then the hex block (before each `|`). */
function examples() {
  const out = [];
  const re = /```json\n([\s\S]*?)```[\s\S]*?<!-- example: ([^>]*) -->\n```text\n([\s\S]*?)```/g;
  for (const m of doc.matchAll(re)) {
    const lines = m[3].trim().split('\n');
    const hex = lines.filter((l) => !l.startsWith('blake3')).map((l) => l.split('|')[0].trim()).join(' ');
    out.push({ name: m[2], delta: JSON.parse(m[1]), hex: hex.replace(/\s+/g, '') });
  }
  return out;
}

const hexOf = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

test('canonical bytes match every worked example of docs/canonical-form.md', () => {
  const all = examples();
  assert.equal(all.length, 2, 'two worked examples in the doc');
  for (const { name, delta, hex } of all) {
    assert.equal(hexOf(canonicalBytes(delta)), hex, name);
    // Key order, a signature and v1's null context change nothing.
    const shuffled = { pointers: delta.pointers, creator: delta.creator, host: delta.host, timeCreated: delta.timeCreated, id: delta.id, signature: 'x' };
    assert.equal(hexOf(canonicalBytes(shuffled)), hex, name);
  }
});

test('roles sort as UTF-8 bytes, not UTF-16 units, and the sort is stable', () => {
  // U+FF5E sorts before U+1F600 in UTF-8, after it in UTF-16.
  const d = { id: 'x', timeCreated: 1, host: 'h', creator: 'c', pointers: [
    { localContext: '\u{1F600}', target: 1 }, { localContext: '\uFF5E', target: 2 }, { localContext: '\uFF5E', target: 3 }] };
  const b = canonicalBytes(d);
  const text = new TextDecoder().decode(b);
  assert.ok(text.indexOf('\uFF5E') < text.indexOf('\u{1F600}'));
  // 2^53+1 as a bigint stays exact.
  const big = canonicalBytes({ ...d, pointers: [{ localContext: 'n', target: 9007199254740993n }] });
  assert.equal(hexOf(big.slice(-8)), '0020000000000001');
});

test('base64url round-trips without padding', () => {
  const bytes = Uint8Array.from([0, 251, 255, 1, 2]);
  assert.equal(base64url(bytes), 'APv_AQI');
  assert.deepEqual(fromBase64url('APv_AQI'), bytes);
});

const node = await TestNode.start();
after(() => node.stop());

test('a delta signed with WebCrypto Ed25519 verifies, and the node stores it with its signature', async () => {
  const signer = await Signer.generate();
  const rz = new Rhizome({ url: node.url, creator: 'signer', host: 'ts' });
  const signed = await signer.sign(rz.delta('doc', { title: 'signed' }));
  assert.match(signed.signature, /^[A-Za-z0-9_-]{86}$/);
  assert.ok(await verifyDelta(signed, signer.publicKey));
  assert.ok(!(await verifyDelta({ ...signed, creator: 'mallory' }, signer.publicKey)));
  assert.deepEqual(await rz.put(signed), { accepted: [signed.id], duplicates: [], queued: [] });
  const stored = await rz.get(signed.id);
  assert.equal(stored.signature, signed.signature);
  assert.ok(await verifyDelta(stored, signer.publicKey));
});
