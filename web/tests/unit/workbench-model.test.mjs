import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as M from '../../workbench/model.js';
import { matchShortcut } from '../../workbench/shortcuts.js';

const label = { id: 1, name: 'car', attributes: [
  { id: 10, name: 'color', input_type: 'select', mutable: false, default_value: 'red', values: ['red', 'blue'] },
  { id: 11, name: 'parked', input_type: 'checkbox', mutable: true, default_value: 'false', values: ['false'] }] };
const other = { id: 2, name: 'person', attributes: [{ id: 20, name: 'age', input_type: 'number', mutable: false, default_value: '0', values: ['0', '100', '1'] }] };

test('new objects get the default attribute values', () => {
  const o = M.newObject({ type: 'rectangle', frame: 3, label, points: [0, 0, 1, 1] });
  assert.deepEqual(o.attributes, [{ spec_id: 10, value: 'red' }, { spec_id: 11, value: 'false' }]);
  assert.equal(o.frame, 3);
  const t = M.newObject({ kind: 'tag', frame: 0, label });
  assert.equal(t.type, null);
});

test('fillAttributes completes values in label order', () => {
  assert.deepEqual(M.fillAttributes([{ spec_id: 11, value: 'true' }], label),
    [{ spec_id: 10, value: 'red' }, { spec_id: 11, value: 'true' }]);
});

test('label change resets attributes; setAttribute; zOrder; group', () => {
  const a = M.newObject({ type: 'rectangle', frame: 0, label, points: [0, 0, 1, 1] });
  const b = M.newObject({ type: 'rectangle', frame: 0, label, points: [0, 0, 1, 1], z_order: 4 });
  let objs = [a, b];
  objs = M.setAttribute(objs, a.cid, 10, 'blue');
  assert.equal(objs[0].attributes[0].value, 'blue');
  objs = M.changeLabel(objs, a.cid, other);
  assert.deepEqual(objs[0].attributes, [{ spec_id: 20, value: '0' }]);
  objs = M.zOrder(objs, a.cid, 'front');
  assert.equal(objs[0].z_order, 5);
  objs = M.zOrder(objs, a.cid, 'back');
  assert.equal(objs[0].z_order, 3);
  objs = M.group(objs, [a.cid, b.cid]);
  assert.equal(objs[0].group, 1);
  assert.equal(objs[1].group, 1);
  objs = M.group(objs, [a.cid], true);
  assert.equal(objs[0].group, 0);
});

test('history: commit, undo, redo', () => {
  let h = M.history([]);
  const a = M.newObject({ type: 'points', frame: 0, label, points: [1, 1] });
  h = M.commit(h, [a]);
  h = M.commit(h, M.update(h.present, a.cid, { points: [2, 2] }));
  assert.deepEqual(h.present[0].points, [2, 2]);
  h = M.undo(h);
  assert.deepEqual(h.present[0].points, [1, 1]);
  h = M.undo(h);
  assert.equal(h.present.length, 0);
  assert.equal(M.undo(h), h);
  h = M.redo(M.redo(h));
  assert.deepEqual(h.present[0].points, [2, 2]);
  h = M.undo(h);
  h = M.commit(h, []);
  assert.equal(h.future.length, 0);
});

test('objectsOnFrame shows tracks interpolated; pasteCopy', () => {
  const { objects } = M.fromServer({
    shapes: [{ type: 'rectangle', occluded: false, z_order: 0, points: [0, 0, 1, 1], id: 1, frame: 0, label_id: 1, group: 0, attributes: [] }],
    tags: [],
    tracks: [{ id: 2, frame: 0, label_id: 1, group: 0, attributes: [], shapes: [
      { type: 'rectangle', occluded: false, z_order: 0, points: [0, 0, 10, 10], id: 5, frame: 0, outside: false, attributes: [] },
      { type: 'rectangle', occluded: false, z_order: 0, points: [10, 10, 20, 20], id: 6, frame: 4, outside: false, attributes: [] }] }],
  });
  const on2 = M.objectsOnFrame(objects, 2);
  assert.equal(on2.length, 1);
  assert.equal(on2[0].keyframe, false);
  assert.deepEqual(on2[0].points, [5, 5, 15, 15]);
  assert.equal(M.objectsOnFrame(objects, 0).length, 2);
  const p = M.pasteCopy(on2[0], 7);
  assert.equal(p.kind, 'shape');
  assert.equal(p.frame, 7);
  assert.notEqual(p.cid, on2[0].cid);
  assert.equal(p.keyframe, undefined);
  assert.equal(p.shapes, undefined);
  const st = M.statistics(objects, 5);
  assert.equal(st['box count'], 2);
  assert.equal(st['track count'], 1);
});

test('shortcuts as CVAT', () => {
  assert.equal(matchShortcut({ key: 'f' }), 'next');
  assert.equal(matchShortcut({ key: 'D' }), 'prev');
  assert.equal(matchShortcut({ key: 'v' }), 'next10');
  assert.equal(matchShortcut({ key: 'v', ctrlKey: true }), 'paste');
  assert.equal(matchShortcut({ key: 'z', ctrlKey: true }), 'undo');
  assert.equal(matchShortcut({ key: 'Z', ctrlKey: true, shiftKey: true }), 'redo');
  assert.equal(matchShortcut({ key: 'y', ctrlKey: true }), 'redo');
  assert.equal(matchShortcut({ key: 's', ctrlKey: true }), 'save');
  assert.equal(matchShortcut({ key: 'Delete' }), 'delete');
  assert.equal(matchShortcut({ key: 'F1' }), 'help');
  assert.equal(matchShortcut({ key: 'x' }), null);
});

test('tracks: editing a frame makes a keyframe; labels reset per kind of attribute', () => {
  const { objects } = M.fromServer({
    shapes: [], tags: [],
    tracks: [{ id: 2, frame: 0, label_id: 1, group: 0, attributes: [{ spec_id: 10, value: 'blue' }], shapes: [
      { type: 'rectangle', occluded: false, z_order: 0, points: [0, 0, 10, 10], id: 5, frame: 0, outside: false, attributes: [{ spec_id: 11, value: 'true' }] },
      { type: 'rectangle', occluded: false, z_order: 0, points: [10, 10, 20, 20], id: 6, frame: 4, outside: false, attributes: [{ spec_id: 11, value: 'false' }] }] }],
  });
  const cid = objects[0].cid;
  let objs = M.setKeyframe(objects, cid, 2, { points: [1, 1, 2, 2] });
  assert.deepEqual(objs[0].shapes.map((s) => s.frame), [0, 2, 4]);
  assert.deepEqual(objs[0].shapes[1].points, [1, 1, 2, 2]);
  assert.equal(objs[0].shapes[1].id, undefined);
  assert.deepEqual(objs[0].shapes[1].attributes, [{ spec_id: 11, value: 'true' }]);
  objs = M.setKeyframe(objs, cid, 4, { attributes: [{ spec_id: 11, value: 'true' }], occluded: true });
  assert.equal(objs[0].shapes[2].id, 6);
  assert.equal(objs[0].shapes[2].occluded, true);
  assert.deepEqual(objs[0].shapes[2].attributes, [{ spec_id: 11, value: 'true' }]);
  objs = M.setKeyframe(objs, cid, 6, { outside: true });
  assert.equal(objs[0].shapes[3].outside, true);
  assert.equal(M.objectsOnFrame(objs, 7).length, 0);
  // before the track starts nothing changes
  assert.equal(M.setKeyframe(objs, cid, -1, { points: [0, 0, 1, 1] })[0], objs[0]);
  objs = M.changeTrackLabel(objs, cid, label);
  assert.deepEqual(objs[0].attributes, [{ spec_id: 10, value: 'red' }]);
  assert.deepEqual(objs[0].shapes[0].attributes, [{ spec_id: 11, value: 'false' }]);
});
