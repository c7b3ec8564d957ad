import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromServer, newObject, update, remove, setAttribute } from '../../workbench/model.js';
import { toServer, makeBaseline, computeDiff, hasChanges, saveAll } from '../../workbench/save.js';

const label = { id: 11, name: 'car', attributes: [{ id: 5, name: 'color', input_type: 'select', mutable: false, default_value: 'red', values: ['red', 'blue'] }] };

const doc = {
  version: 4,
  shapes: [
    { type: 'rectangle', occluded: false, z_order: 0, points: [1, 2, 3, 4], id: 9, frame: 0, label_id: 11, group: 0, attributes: [{ spec_id: 5, value: 'red' }] },
    { type: 'polygon', occluded: false, z_order: 1, points: [0, 0, 5, 0, 5, 5], id: 10, frame: 1, label_id: 11, group: 0, attributes: [{ spec_id: 5, value: 'blue' }] },
  ],
  tags: [{ id: 3, frame: 0, label_id: 11, group: 0, attributes: [] }],
  tracks: [{ id: 7, frame: 0, label_id: 11, group: 0, attributes: [], shapes: [
    { type: 'rectangle', occluded: false, z_order: 0, points: [0, 0, 1, 1], id: 70, frame: 0, outside: false, attributes: [] }] }],
};

test('toServer produces the API forms', () => {
  const { objects, ids } = fromServer(doc);
  assert.deepEqual(toServer(objects[0], ids.get(objects[0].cid)), doc.shapes[0] && {
    type: 'rectangle', occluded: false, z_order: 0, points: [1, 2, 3, 4], frame: 0, label_id: 11, group: 0,
    attributes: [{ spec_id: 5, value: 'red' }], id: 9,
  });
  const created = toServer(newObject({ type: 'rectangle', frame: 2, label, points: [1, 1, 2, 2] }), null);
  assert.equal('id' in created, false);
  assert.deepEqual(created.attributes, [{ spec_id: 5, value: 'red' }]);
  const track = toServer(objects.find((o) => o.kind === 'track'), 7);
  assert.equal(track.shapes[0].id, 70);
  assert.equal(track.frame, 0);
});

test('an unchanged document has no changes; lock and hide are client-only', () => {
  const { objects, ids } = fromServer(doc);
  const base = makeBaseline(objects, ids);
  assert.equal(hasChanges(computeDiff(objects, ids, base)), false);
  const locked = update(objects, objects[0].cid, { locked: true, hidden: true });
  assert.equal(hasChanges(computeDiff(locked, ids, base)), false);
});

test('diff splits into create, update and delete', () => {
  const { objects, ids } = fromServer(doc);
  const base = makeBaseline(objects, ids);
  let next = update(objects, objects[0].cid, { points: [5, 6, 7, 8] });
  next = setAttribute(next, objects[1].cid, 5, 'red');
  next = remove(next, [objects[2].cid]); // the tag
  const fresh = newObject({ type: 'polygon', frame: 0, label, points: [0, 0, 1, 0, 1, 1] });
  next = [...next, fresh];
  const d = computeDiff(next, ids, base);
  assert.equal(d.create.shapes.length, 1);
  assert.deepEqual(d.createCids.shapes, [fresh.cid]);
  assert.deepEqual(d.update.shapes.map((s) => s.id), [9, 10]);
  assert.deepEqual(d.update.shapes[0].points, [5, 6, 7, 8]);
  assert.deepEqual(d.delete.tags.map((t) => t.id), [3]);
  assert.deepEqual(d.delete.shapes, []);
  assert.deepEqual(d.update.tracks, []);
});

test('saveAll sends create, update, delete in order with versions, maps ids back', async () => {
  const { objects, ids } = fromServer(doc);
  const base = makeBaseline(objects, ids);
  const a = newObject({ type: 'rectangle', frame: 0, label, points: [1, 1, 5, 5] });
  const b = newObject({ kind: 'tag', frame: 1, label });
  let next = [...remove(objects, [objects[0].cid]), a, b];
  next = update(next, objects[1].cid, { occluded: true });
  const calls = [];
  let version = 4;
  let nextId = 100;
  const send = async (action, body) => {
    calls.push({ action, body: structuredClone(body) });
    assert.equal(body.version, version);
    version += 1;
    const echo = (l) => l.map((o) => ({ ...o, id: o.id ?? nextId++ }));
    return { version, shapes: echo(body.shapes), tags: echo(body.tags), tracks: echo(body.tracks) };
  };
  const r = await saveAll({ objects: next, ids, base, version: 4, send });
  assert.deepEqual(calls.map((c) => c.action), ['create', 'update', 'delete']);
  assert.equal(r.version, 7);
  assert.equal(calls[0].body.shapes.length, 1);
  assert.equal(calls[0].body.tags.length, 1);
  assert.deepEqual(calls[1].body.shapes.map((s) => [s.id, s.occluded]), [[10, true]]);
  assert.deepEqual(calls[2].body.shapes.map((s) => s.id), [9]);
  assert.equal(ids.get(a.cid), 100);
  assert.equal(ids.get(b.cid), 101);
  // afterwards nothing is left to save
  assert.equal(hasChanges(computeDiff(next, ids, base)), false);
  // and saving again sends nothing
  const again = await saveAll({ objects: next, ids, base, version: 7, send: async () => { throw new Error('no call expected'); } });
  assert.equal(again.saved, false);
  // undoing the delete brings the shape back: it is created anew, not updated
  const restored = [...next, objects[0]];
  const d = computeDiff(restored, ids, base);
  assert.equal(d.create.shapes.length, 1);
  assert.equal(d.update.shapes.length, 0);
});

test('a failure part way keeps what succeeded', async () => {
  const { objects, ids } = fromServer(doc);
  const base = makeBaseline(objects, ids);
  const a = newObject({ type: 'rectangle', frame: 0, label, points: [1, 1, 5, 5] });
  const next = [...update(objects, objects[0].cid, { z_order: 3 }), a];
  const send = async (action, body) => {
    if (action === 'update') { const e = new Error('conflict'); e.status = 409; throw e; }
    return { version: body.version + 1, shapes: body.shapes.map((s, i) => ({ ...s, id: 200 + i })), tags: [], tracks: [] };
  };
  await assert.rejects(saveAll({ objects: next, ids, base, version: 4, send }), /conflict/);
  assert.equal(ids.get(a.cid), 200);
  const d = computeDiff(next, ids, base);
  assert.equal(d.create.shapes.length, 0);
  assert.deepEqual(d.update.shapes.map((s) => s.id), [9]);
});

test('create responses with the wrong count are rejected', async () => {
  const { objects, ids } = fromServer({ version: 0, shapes: [], tags: [], tracks: [] });
  const base = makeBaseline(objects, ids);
  const a = newObject({ type: 'rectangle', frame: 0, label, points: [1, 1, 5, 5] });
  const send = async () => ({ version: 1, shapes: [], tags: [], tracks: [] });
  await assert.rejects(saveAll({ objects: [a], ids, base, version: 0, send }), /returned 0 shapes/);
});
