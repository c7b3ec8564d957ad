import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bbox, normalizeRect, pointInPolygon, hitShape, hitTest, translate, resizeRect, clampPoints,
  resample, simplify, interpolatePoints, trackShapeAt, distToSegment,
} from '../../workbench/geometry.js';

test('bbox and normalizeRect', () => {
  assert.deepEqual(bbox([3, 4, 1, 9, 5, 2]), { x1: 1, y1: 2, x2: 5, y2: 9 });
  assert.deepEqual(normalizeRect([10, 20, 5, 2]), [5, 2, 10, 20]);
});

test('pointInPolygon, including a concave polygon', () => {
  const square = [0, 0, 10, 0, 10, 10, 0, 10];
  assert.equal(pointInPolygon(5, 5, square), true);
  assert.equal(pointInPolygon(15, 5, square), false);
  const u = [0, 0, 10, 0, 10, 10, 7, 10, 7, 3, 3, 3, 3, 10, 0, 10];
  assert.equal(pointInPolygon(5, 8, u), false);
  assert.equal(pointInPolygon(1, 8, u), true);
});

test('distToSegment', () => {
  assert.equal(distToSegment(5, 3, 0, 0, 10, 0), 3);
  assert.equal(distToSegment(-4, 3, 0, 0, 10, 0), 5);
});

test('hitShape per type', () => {
  assert.ok(hitShape({ type: 'rectangle', points: [0, 0, 10, 10] }, 5, 5));
  assert.ok(!hitShape({ type: 'rectangle', points: [0, 0, 10, 10] }, 20, 5));
  assert.ok(hitShape({ type: 'polyline', points: [0, 0, 10, 0] }, 5, 2, 3));
  assert.ok(!hitShape({ type: 'polyline', points: [0, 0, 10, 0] }, 5, 6, 3));
  assert.ok(hitShape({ type: 'points', points: [50, 50] }, 52, 51, 3));
  assert.ok(hitShape({ type: 'polygon', points: [0, 0, 10, 0, 5, 10] }, 5, 4));
});

test('hitTest prefers higher z, then the smaller object', () => {
  const big = { id: 'big', type: 'rectangle', points: [0, 0, 100, 100], z_order: 0 };
  const small = { id: 'small', type: 'rectangle', points: [40, 40, 60, 60], z_order: 0 };
  assert.equal(hitTest([small, big], 50, 50).id, 'small');
  assert.equal(hitTest([big, small], 10, 10).id, 'big');
  const top = { ...big, id: 'top', z_order: 2 };
  assert.equal(hitTest([small, top], 50, 50).id, 'top');
  assert.equal(hitTest([small], 0, 0), null);
});

test('translate, resizeRect, clampPoints', () => {
  assert.deepEqual(translate([1, 2, 3, 4], 10, 20), [11, 22, 13, 24]);
  assert.deepEqual(resizeRect([0, 0, 10, 10], 2, 20, 30), [0, 0, 20, 30]);
  assert.deepEqual(resizeRect([0, 0, 10, 10], 0, 15, 15), [10, 10, 15, 15]);
  assert.deepEqual(clampPoints([-5, 5, 700, 500], 640, 480), [0, 5, 640, 480]);
});

test('resample and simplify', () => {
  const r = resample([0, 0, 10, 0], 11);
  assert.equal(r.length, 22);
  assert.deepEqual([r[0], r[1], r[2], r[20]], [0, 0, 1, 10]);
  assert.deepEqual(simplify(r), [0, 0, 10, 0]);
  assert.equal(resample([5, 5], 4).length, 8);
});

test('interpolation: rectangles linear, polygons resampled', () => {
  const a = { frame: 0, type: 'rectangle', points: [0, 0, 10, 10] };
  const b = { frame: 10, type: 'rectangle', points: [10, 20, 30, 40] };
  assert.deepEqual(interpolatePoints(a, b, 5), [5, 10, 20, 25]);
  const pa = { frame: 0, type: 'polygon', points: [0, 0, 10, 0, 10, 10] };
  const pb = { frame: 2, type: 'polygon', points: [10, 0, 20, 0, 20, 10] };
  const mid = interpolatePoints(pa, pb, 1);
  assert.deepEqual(mid.slice(0, 2), [5, 0]);
  assert.deepEqual(mid.slice(-2), [15, 10]);
});

test('trackShapeAt: keyframes, outside, after the end', () => {
  const track = {
    shapes: [
      { frame: 2, type: 'rectangle', points: [0, 0, 10, 10], outside: false, occluded: false, z_order: 0, attributes: [] },
      { frame: 6, type: 'rectangle', points: [4, 4, 14, 14], outside: false, occluded: false, z_order: 0, attributes: [] },
      { frame: 8, type: 'rectangle', points: [4, 4, 14, 14], outside: true, occluded: false, z_order: 0, attributes: [] },
      { frame: 10, type: 'rectangle', points: [0, 0, 1, 1], outside: false, occluded: false, z_order: 0, attributes: [] },
    ],
  };
  assert.equal(trackShapeAt(track, 1), null);
  assert.equal(trackShapeAt(track, 2).keyframe, true);
  assert.deepEqual(trackShapeAt(track, 4).points, [2, 2, 12, 12]);
  assert.deepEqual(trackShapeAt(track, 7).points, [4, 4, 14, 14]);
  assert.equal(trackShapeAt(track, 8), null);
  assert.equal(trackShapeAt(track, 9), null);
  assert.deepEqual(trackShapeAt(track, 15).points, [0, 0, 1, 1]);
  assert.equal(trackShapeAt(track, 15, 12), null);
  const poly = { shapes: [{ frame: 0, type: 'polygon', points: [0, 0, 1, 0, 1, 1], outside: false }] };
  assert.equal(trackShapeAt(poly, 3), null);
});
