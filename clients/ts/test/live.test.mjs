// Live feeds against a real node: subscribe (WebSocket) and feed (SSE)
// deliver the backlog then live deltas, and after the node is killed and
// started again on the same data they resume after the last sequence
// number seen: every delta once, in order. Watch follows a view across
// the restart.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Rhizome } from '../dist/index.js';
import { TestNode, take } from './node.mjs';

const node = await TestNode.start();
after(() => node.stop());
const rz = new Rhizome({ url: node.url, creator: 'alice', host: 'live' });

/** Reads views until one has `title` (each is a change: no view repeats). */
async function until(watch, title) {
  let previous;
  for (;;) {
    const [v] = await take(watch, 1, `watch until ${title}`);
    assert.notDeepEqual(v, previous, 'a watch never repeats a view');
    previous = v;
    if (v.properties.title === title) return v;
  }
}

test('subscribe and feed resume after the node is killed and restarted: no gap, no repeat', async () => {
  const ids = [];
  const write = async (n) => {
    for (let i = 0; i < n; i++) ids.push((await rz.set('doc', { title: `v${ids.length}` })).id);
  };
  await rz.set('other', { title: 'filtered out' });
  await write(2); // backlog
  const ws = rz.subscribe({ entities: ['doc'] });
  const sse = rz.feed({ entity: ['doc'] });
  const watch = rz.watch('doc');
  const seen = { ws: await take(ws, 2, 'ws, line 36'), sse: await take(sse, 2, 'sse, line 36') };
  assert.equal((await take(watch, 1))[0].properties.title, 'v1');
  await write(2); // live
  seen.ws.push(...(await take(ws, 2, 'ws, line 39')));
  seen.sse.push(...(await take(sse, 2, 'sse, line 40')));
  // Views change once per stored batch; the watch reaches the newest.
  await until(watch, 'v3');

  await node.kill();
  await node.run();
  await write(3); // after the restart, while the clients reconnect
  seen.ws.push(...(await take(ws, 3, 'ws, line 47')));
  seen.sse.push(...(await take(sse, 3, 'sse, line 48')));
  // The watch gets the newest view (intermediate ones may be skipped).
  await until(watch, 'v6');

  for (const [name, items] of Object.entries(seen)) {
    assert.deepEqual(items.map((x) => x.delta.id), ids, name);
    const seqs = items.map((x) => x.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${name} in order`);
    assert.equal(new Set(seqs).size, seqs.length, `${name} without repeats`);
  }
  // Nothing more is pending: a new write is the next item of both.
  await write(1);
  assert.equal((await take(ws, 1, 'ws, line 60'))[0].delta.id, ids.at(-1));
  assert.equal((await take(sse, 1, 'sse, line 61'))[0].delta.id, ids.at(-1));
  await ws.return();
  await sse.return();
  await watch.return();
});

test('a slow reader pauses its socket and resumes by sequence number', async () => {
  const before = (await rz.changes({ since: 0, limit: 100000 })).last_seq;
  const ws = rz.subscribe({ entities: ['bulk'] }, { since: before, highWater: 8 });
  const batch = Array.from({ length: 40 }, (_, i) => rz.delta('bulk', { n: i }, { timeCreated: 1000 + i }));
  await rz.put(batch);
  const got = await take(ws, 40, 'ws, line 72');
  assert.deepEqual(got.map((x) => x.delta.id), batch.map((d) => d.id));
  await ws.return();
});

test('the feed stops on abort', async () => {
  const ctl = new AbortController();
  const feed = rz.feed({ since: 0, signal: ctl.signal });
  const first = await take(feed, 1);
  assert.equal(first.length, 1);
  ctl.abort();
  await assert.rejects(async () => {
    for await (const _ of feed);
  });
});
