// Reads and writes against a real node: put/get/set, views with
// strategies and schemas, hyperviews, queries, the changes feed, errors as
// typed exceptions carrying the node's code.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Rhizome, RhizomeError, UnreachableError, canonicalBytes, uuidv7 } from '../dist/index.js';
import { TestNode, freePort } from './node.mjs';

const node = await TestNode.start();
after(() => node.stop());
const rz = new Rhizome({ url: node.url, creator: 'alice', host: 'laptop' });

test('set, put, get, view, hyperview, count and the changes feed', async () => {
  const d1 = await rz.set('m1', { title: 'Alien', year: 1979 });
  assert.match(d1.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const d2 = rz.delta('m1', { year: 1980 }, { timeCreated: d1.timeCreated + 1 });
  assert.deepEqual(await rz.put([d2]), { accepted: [d2.id], duplicates: [], queued: [] });
  assert.deepEqual(await rz.put(d2), { accepted: [], duplicates: [d2.id], queued: [] });
  // Stored as written (the node keeps pointers in canonical order).
  assert.deepEqual(canonicalBytes(await rz.get(d1.id)), canonicalBytes(d1));

  const view = await rz.view('m1');
  assert.deepEqual(view, { id: 'm1', properties: { title: 'Alien', year: 1980 } });
  assert.deepEqual((await rz.view('m1', { strategy: 'all-values' })).properties.year, [1979, 1980]);
  assert.equal((await rz.view('m1', { strategies: { year: 'min' } })).properties.year, 1979);
  assert.deepEqual((await rz.view('m1', { as_of: d1.timeCreated })).properties.year, 1979);

  const hv = await rz.hyperview('m1');
  assert.deepEqual(hv.properties.year.map((d) => d.id), [d1.id, d2.id]);
  assert.equal(await rz.count(), 2);
  const page = await rz.changes({ since: 0, limit: 1 });
  assert.deepEqual(page.deltas.map((d) => d.id), [d1.id]);
  assert.deepEqual((await rz.changes({ since: page.last_seq })).deltas.map((d) => d.id), [d2.id]);
  assert.deepEqual(await rz.entities(), ['m1']);

  const negation = await rz.negate(d2.id, { reason: 'typo' });
  assert.equal((await rz.view('m1')).properties.year, 1979);
  assert.ok(negation.pointers.some((p) => p.localContext === '_negates' || p.localContext === 'negates'));
});

test('schemas, nested views and queries', async () => {
  await rz.set('p1', { name: 'Ridley' });
  await rz.put({ id: uuidv7(), timeCreated: Date.now(), host: 'h', creator: 'alice', pointers: [
    { localContext: 'movie', target: 'm2', targetContext: 'director' },
    { localContext: 'director', target: 'p1', targetContext: 'directed' }] });
  await rz.set('m2', { title: 'Blade Runner' });
  await rz.putSchema({ name: 'Person', select: 'by-target-context', contexts: ['name'] });
  await rz.putSchema({ name: 'Movie', select: 'by-target-context', contexts: ['title', 'director'],
    transform: { director: { schema: 'Person' } } });
  assert.deepEqual(await rz.schemas(), ['Movie', 'Person']);
  assert.deepEqual((await rz.schema('Person')).contexts, ['name']);
  const v = await rz.view('m2', { schema: 'Movie' });
  assert.deepEqual(v, { id: 'm2', properties: { title: 'Blade Runner', director: { id: 'p1', properties: { name: 'Ridley' } } } });
  const views = await rz.query({ filter: { '==': [{ var: 'properties.name' }, 'Ridley'] } });
  assert.deepEqual(views.map((x) => x.id), ['p1']);
});

test('errors are RhizomeErrors carrying the node code and details', async () => {
  await assert.rejects(rz.get('nope'), (e) => e instanceof RhizomeError && e.code === 'not_found' && e.status === 404);
  const bad = { id: 'bad', timeCreated: 1.5, host: 'h', creator: 'c', pointers: [] };
  await assert.rejects(rz.put([rz.delta('x', { a: 1 }), bad]), (e) => {
    assert.equal(e.code, 'invalid_delta');
    assert.equal(e.status, 400);
    assert.equal(e.details.index, 1);
    return true;
  });
  const conflict = { ...rz.delta('x', { a: 1 }) };
  await rz.put(conflict);
  await assert.rejects(rz.put({ ...conflict, creator: 'bob' }), (e) => e.code === 'conflict' && e.status === 409);
  await assert.rejects(rz.view('m1', { schema: 'Nope' }), (e) => e.code === 'unknown_schema');
  const nowhere = new Rhizome({ url: `http://127.0.0.1:${await freePort()}` });
  await assert.rejects(nowhere.health(), (e) => e instanceof UnreachableError && e.code === 'unreachable');
});

test('the token goes as a Bearer header on requests and ?token= on sockets', async () => {
  const seen = [];
  const fetchSpy = (url, init) => {
    seen.push(init.headers.authorization);
    return fetch(url, init);
  };
  let tokenNow = 't1';
  const authed = new Rhizome({ url: node.url, token: () => tokenNow, fetch: fetchSpy });
  await authed.health();
  tokenNow = 't2';
  await authed.health();
  assert.deepEqual(seen, ['Bearer t1', 'Bearer t2']);
  const urls = [];
  class SpyWebSocket extends WebSocket {
    constructor(url) {
      urls.push(url);
      super(url);
    }
  }
  const w = new Rhizome({ url: node.url, token: 'secret', WebSocket: SpyWebSocket }).watch('m1');
  await w.next();
  await w.return();
  assert.deepEqual(urls, [`ws://127.0.0.1:${node.port}/api/ws?token=secret`]);
});
