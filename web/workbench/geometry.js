// @ts-check
/**
 * Pure geometry of the workbench: bounding boxes, hit testing, point-in-polygon and
 * track interpolation (api-v1 §9.8). No DOM; importable by node for unit tests.
 */

/** @typedef {{type: string, points: number[]}} Geom */

/**
 * The bounding box of a flat point list.
 * @param {number[]} pts
 * @returns {{x1: number, y1: number, x2: number, y2: number}}
 */
export function bbox(pts) {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let i = 0; i + 1 < pts.length; i += 2) {
    const x = pts[i], y = pts[i + 1];
    if (x < x1) x1 = x;
    if (x > x2) x2 = x;
    if (y < y1) y1 = y;
    if (y > y2) y2 = y;
  }
  return { x1, y1, x2, y2 };
}

/** Orders a rectangle's corners: [xtl, ytl, xbr, ybr]. @param {number[]} p */
export function normalizeRect(p) {
  return [Math.min(p[0], p[2]), Math.min(p[1], p[3]), Math.max(p[0], p[2]), Math.max(p[1], p[3])];
}

/**
 * Even-odd point-in-polygon test.
 * @param {number} x @param {number} y @param {number[]} pts  flat vertices
 */
export function pointInPolygon(x, y, pts) {
  let inside = false;
  const n = pts.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = pts[2 * i], yi = pts[2 * i + 1], xj = pts[2 * j], yj = pts[2 * j + 1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Distance from (px,py) to the segment (ax,ay)-(bx,by). */
export function distToSegment(px, py, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  let t = len2 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
  t = Math.max(0, Math.min(1, t));
  const cx = ax + t * dx, cy = ay + t * dy;
  return Math.hypot(px - cx, py - cy);
}

/**
 * Whether the point hits a shape; `tol` is the tolerance in image pixels for lines
 * and points.
 * @param {Geom} s @param {number} x @param {number} y @param {number} [tol]
 */
export function hitShape(s, x, y, tol = 4) {
  const p = s.points;
  switch (s.type) {
    case 'rectangle': {
      const [x1, y1, x2, y2] = normalizeRect(p);
      return x >= x1 - tol && x <= x2 + tol && y >= y1 - tol && y <= y2 + tol;
    }
    case 'polygon':
      if (pointInPolygon(x, y, p)) return true;
      return nearOutline(p, x, y, tol, true);
    case 'polyline':
      return nearOutline(p, x, y, tol, false);
    case 'points':
      for (let i = 0; i + 1 < p.length; i += 2) if (Math.hypot(p[i] - x, p[i + 1] - y) <= tol * 1.5) return true;
      return false;
    default: {
      const b = bbox(p);
      return x >= b.x1 && x <= b.x2 && y >= b.y1 && y <= b.y2;
    }
  }
}

/** @param {number[]} p @param {number} x @param {number} y @param {number} tol @param {boolean} closed */
function nearOutline(p, x, y, tol, closed) {
  const n = p.length / 2;
  for (let i = 0; i < n - 1 + (closed ? 1 : 0); i++) {
    const j = (i + 1) % n;
    if (distToSegment(x, y, p[2 * i], p[2 * i + 1], p[2 * j], p[2 * j + 1]) <= tol) return true;
  }
  return false;
}

/**
 * The topmost shape under a point: highest z_order first, then the latest in the list;
 * among equals, a smaller area wins (so a box inside a box can be picked).
 * @template {Geom & {z_order?: number}} T
 * @param {T[]} shapes @param {number} x @param {number} y @param {number} [tol]
 * @returns {T | null}
 */
export function hitTest(shapes, x, y, tol = 4) {
  /** @type {T | null} */
  let best = null;
  let bestKey = [-Infinity, Infinity, -1];
  shapes.forEach((s, i) => {
    if (!hitShape(s, x, y, tol)) return;
    const b = bbox(s.points);
    const key = [s.z_order || 0, (b.x2 - b.x1) * (b.y2 - b.y1), i];
    if (key[0] > bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] > bestKey[2])))) {
      best = s;
      bestKey = key;
    }
  });
  return best;
}

/** Adds (dx, dy) to every point. @param {number[]} p @param {number} dx @param {number} dy */
export function translate(p, dx, dy) {
  return p.map((v, i) => (i % 2 ? v + dy : v + dx));
}

/**
 * Moves one rectangle corner (0 tl, 1 tr, 2 br, 3 bl) to (x, y); returns a normalized rectangle.
 * @param {number[]} p @param {number} corner @param {number} x @param {number} y
 */
export function resizeRect(p, corner, x, y) {
  const [x1, y1, x2, y2] = normalizeRect(p);
  const r = [x1, y1, x2, y2];
  if (corner === 0) { r[0] = x; r[1] = y; }
  if (corner === 1) { r[2] = x; r[1] = y; }
  if (corner === 2) { r[2] = x; r[3] = y; }
  if (corner === 3) { r[0] = x; r[3] = y; }
  return normalizeRect(r);
}

/** Clamps every point into [0, w] × [0, h]. @param {number[]} p @param {number} w @param {number} h */
export function clampPoints(p, w, h) {
  return p.map((v, i) => Math.max(0, Math.min(i % 2 ? h : w, v)));
}

/** The minimum number of points (pairs) per shape type. @param {string} type */
export function minPoints(type) {
  return { rectangle: 2, polygon: 3, polyline: 2, points: 1, cuboid: 8 }[type] || 1;
}

// ---- interpolation (§9.8) ----

/**
 * Resamples an open polyline through the vertices to `n` points equally spaced along it.
 * @param {number[]} p @param {number} [n]
 */
export function resample(p, n = 100) {
  const pts = [];
  for (let i = 0; i + 1 < p.length; i += 2) pts.push([p[i], p[i + 1]]);
  if (pts.length === 1) pts.push(pts[0]);
  const cum = [0];
  for (let i = 1; i < pts.length; i++) cum.push(cum[i - 1] + Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]));
  const total = cum[cum.length - 1];
  const out = [];
  let seg = 1;
  for (let k = 0; k < n; k++) {
    const d = n === 1 ? 0 : (total * k) / (n - 1);
    while (seg < pts.length - 1 && cum[seg] < d) seg++;
    const a = pts[seg - 1], b = pts[seg];
    const len = cum[seg] - cum[seg - 1];
    const t = len ? (d - cum[seg - 1]) / len : 0;
    out.push(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t);
  }
  return out;
}

/**
 * Douglas–Peucker simplification of a flat point list.
 * @param {number[]} p @param {number} eps
 */
export function simplify(p, eps = 0.05) {
  const n = p.length / 2;
  if (n < 3) return p.slice();
  const keep = new Uint8Array(n);
  keep[0] = keep[n - 1] = 1;
  const stack = [[0, n - 1]];
  while (stack.length) {
    const [a, b] = /** @type {number[]} */ (stack.pop());
    let md = -1, mi = -1;
    for (let i = a + 1; i < b; i++) {
      const d = distToSegment(p[2 * i], p[2 * i + 1], p[2 * a], p[2 * a + 1], p[2 * b], p[2 * b + 1]);
      if (d > md) { md = d; mi = i; }
    }
    if (md > eps) {
      keep[mi] = 1;
      stack.push([a, mi], [mi, b]);
    }
  }
  const out = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(p[2 * i], p[2 * i + 1]);
  return out;
}

/**
 * Interpolates between keyframes a and b at frame f (a.frame < f < b.frame).
 * @param {{type: string, points: number[], frame: number}} a
 * @param {{type: string, points: number[], frame: number}} b
 * @param {number} f
 */
export function interpolatePoints(a, b, f) {
  const t = (f - a.frame) / (b.frame - a.frame);
  const linear = ['rectangle', 'points', 'cuboid'].includes(a.type) && a.type === b.type
    && a.points.length === b.points.length;
  if (linear) return a.points.map((v, i) => v + (b.points[i] - v) * t);
  const ra = resample(a.points), rb = resample(b.points);
  return simplify(ra.map((v, i) => v + (rb[i] - v) * t), 0.05);
}

/**
 * The shape of a track at `frame`, or null when the track is not visible there.
 * Keyframes: `{frame, type, points, outside, occluded, z_order, attributes}`.
 * @param {{shapes: any[]}} track @param {number} frame @param {number} [lastFrame]
 * @returns {null | {frame: number, type: string, points: number[], occluded: boolean, z_order: number, outside: boolean, attributes: any[], keyframe: boolean}}
 */
export function trackShapeAt(track, frame, lastFrame = Infinity) {
  const ks = [...track.shapes].sort((x, y) => x.frame - y.frame);
  if (!ks.length || frame < ks[0].frame || frame > lastFrame) return null;
  let i = 0;
  while (i + 1 < ks.length && ks[i + 1].frame <= frame) i++;
  const a = ks[i];
  if (a.frame === frame) return a.outside ? null : { ...a, keyframe: true };
  if (a.outside) return null;
  const b = ks[i + 1];
  if (!b) {
    if (['rectangle', 'points', 'cuboid'].includes(a.type)) return { ...a, frame, keyframe: false };
    return null;
  }
  if (b.outside) return { ...a, frame, keyframe: false };
  return { ...a, frame, points: interpolatePoints(a, b, frame), keyframe: false };
}
