// Offline first in Node: writes made while the node is down go to a file
// outbox, survive a client restart, and are delivered once, in order, when
// the node is back; reads meanwhile answer the last view seen plus the
// pending writes, marked stale.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rhizome, fileStore } from '../dist/node.js';
import { TestNode } from './node.mjs';

const node = await TestNode.start();
const dir = mkdtempSync(join(tmpdir(), 'rhizome-outbox-'));
after(async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the outbox keeps writes while the node is down and delivers each once, in order', async () => {
  const path = join(dir, 'outbox.json');
  const make = () => new Rhizome({ url: node.url, creator: 'alice', host: 'app', offline: { store: fileStore(path), retryMs: 200 } });
  let rz = make();
  // Online: delivered at once, the view is remembered.
  const first = await rz.set('note', { title: 'online', body: 'b0' });
  assert.deepEqual(await rz.pending(), []);
  assert.deepEqual(await rz.view('note'), { id: 'note', properties: { title: 'online', body: 'b0' } });

  await node.kill();
  const written = [first];
  for (let i = 1; i <= 5; i++) {
    const d = rz.delta('note', { title: `offline ${i}` });
    const r = await rz.put(d);
    assert.deepEqual(r, { accepted: [], duplicates: [], queued: [d.id] });
    written.push(d);
  }
  // Reads answer the last view seen plus the pending writes, marked stale.
  assert.deepEqual(await rz.view('note'), { id: 'note', properties: { title: 'offline 5', body: 'b0' }, stale: true });
  await assert.rejects(rz.flush(), (e) => e.code === 'unreachable');

  // The app restarts while the node is still down: the outbox survives.
  rz.close();
  rz = make();
  assert.deepEqual((await rz.pending()).map((d) => d.id), written.slice(1).map((d) => d.id));
  assert.equal((await rz.view('note')).stale, true);

  await node.run();
  await rz.flush();
  assert.deepEqual(await rz.pending(), []);
  const feed = await rz.changes({ since: 0, limit: 1000 });
  assert.deepEqual(feed.deltas.map((d) => d.id), written.map((d) => d.id), 'each once, in the order written');
  assert.deepEqual(await rz.view('note'), { id: 'note', properties: { title: 'offline 5', body: 'b0' } });
});

test('a batch delivered before its answer was lost is a duplicate, not a second copy', async () => {
  const path = join(dir, 'dup.json');
  const d = new Rhizome({ url: node.url, creator: 'alice' }).delta('dup', { n: 1 });
  // The node stores it, but the client never hears back: it stays queued.
  const online = new Rhizome({ url: node.url });
  await online.put(d);
  await fileStore(path).set('outbox', [{ key: 'lost-answer', deltas: [d] }]);
  const again = new Rhizome({ url: node.url, offline: { store: fileStore(path) } });
  await again.flush();
  assert.deepEqual(await again.pending(), []);
  const feed = await online.changes({ since: 0, limit: 1000, entity: ['dup'] });
  assert.deepEqual(feed.deltas.map((x) => x.id), [d.id]);
});

test('a queued batch the node refuses is reported, and the rest still goes', async () => {
  const path = join(dir, 'refused.json');
  const rejected = [];
  const maker = new Rhizome({ url: node.url, creator: 'alice' });
  const good = maker.delta('r', { n: 1 });
  const bad = { ...maker.delta('r', { n: 2 }), timeCreated: 1.5 };
  // Left by an earlier session.
  await fileStore(path).set('outbox', [{ key: 'a', deltas: [bad] }, { key: 'b', deltas: [good] }]);
  const rz = new Rhizome({ url: node.url, creator: 'alice', offline: { store: fileStore(path), onRejected: (r) => rejected.push(r) } });
  await rz.flush();
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].error.code, 'invalid_delta');
  assert.equal((await rz.get(good.id)).id, good.id);
  // Refused when put directly: thrown to the caller, not kept.
  await assert.rejects(rz.put(bad), (e) => e.code === 'invalid_delta');
  assert.deepEqual(await rz.pending(), []);
});
