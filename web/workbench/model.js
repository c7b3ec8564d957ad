// @ts-check
/**
 * The workbench's object model: local annotation objects (shapes, tags, tracks),
 * immutable updates and an undo/redo history. Pure; importable by node.
 *
 * A local object carries a client id `cid` (stable for the session); the server id
 * lives in save.js's id map, so undo never loses what the server knows.
 */
import { trackShapeAt } from './geometry.js';

/**
 * @typedef {{spec_id: number, value: string}} AttrValue
 * @typedef {{
 *   cid: number, kind: 'shape'|'tag'|'track', type: string|null, frame: number,
 *   label_id: number, group: number, occluded: boolean, z_order: number,
 *   points: number[], attributes: AttrValue[], shapes?: any[],
 *   locked?: boolean, hidden?: boolean,
 * }} Obj
 * @typedef {{id: number, name: string, attributes: any[]}} Label
 */

let cidCounter = 1;
/** A fresh client id. */
export function nextCid() { return cidCounter++; }

/**
 * Default attribute values of a label, in the label's attribute order.
 * @param {Label | undefined} label @param {(a: any) => boolean} [which]
 * @returns {AttrValue[]}
 */
export function defaultAttributes(label, which = () => true) {
  return (label?.attributes || []).filter(which)
    .map((a) => ({ spec_id: a.id, value: a.default_value ?? (a.values || [''])[0] ?? '' }));
}

/**
 * Completes an attribute list with the label's defaults (as the server's GET does).
 * @param {AttrValue[]} attrs @param {Label | undefined} label
 */
export function fillAttributes(attrs, label) {
  const have = new Map(attrs.map((a) => [Number(a.spec_id), String(a.value)]));
  const out = (label?.attributes || []).map((a) => ({
    spec_id: a.id, value: have.has(a.id) ? /** @type {string} */ (have.get(a.id)) : (a.default_value ?? ''),
  }));
  return out;
}

/**
 * A new object.
 * @param {{kind?: 'shape'|'tag', type?: string|null, frame: number, label: Label, points?: number[], z_order?: number}} o
 * @returns {Obj}
 */
export function newObject({ kind = 'shape', type = null, frame, label, points = [], z_order = 0 }) {
  return {
    cid: nextCid(), kind, type: kind === 'tag' ? null : type, frame, label_id: label.id, group: 0,
    occluded: false, z_order, points, attributes: defaultAttributes(label),
  };
}

/**
 * Local objects from an API annotation document.
 * @param {{shapes?: any[], tags?: any[], tracks?: any[]}} doc
 * @returns {{objects: Obj[], ids: Map<number, number>}}
 */
export function fromServer(doc) {
  /** @type {Obj[]} */
  const objects = [];
  const ids = new Map();
  const attrs = (/** @type {any[]} */ l) => (l || []).map((a) => ({ spec_id: Number(a.spec_id), value: String(a.value) }));
  for (const s of doc.shapes || []) {
    const cid = nextCid();
    ids.set(cid, s.id);
    objects.push({
      cid, kind: 'shape', type: s.type, frame: s.frame, label_id: s.label_id, group: s.group || 0,
      occluded: !!s.occluded, z_order: s.z_order || 0, points: s.points.map(Number), attributes: attrs(s.attributes),
    });
  }
  for (const t of doc.tags || []) {
    const cid = nextCid();
    ids.set(cid, t.id);
    objects.push({
      cid, kind: 'tag', type: null, frame: t.frame, label_id: t.label_id, group: t.group || 0,
      occluded: false, z_order: 0, points: [], attributes: attrs(t.attributes),
    });
  }
  for (const t of doc.tracks || []) {
    const cid = nextCid();
    ids.set(cid, t.id);
    const shapes = [...(t.shapes || [])].sort((a, b) => a.frame - b.frame).map((s) => ({
      id: s.id, type: s.type, occluded: !!s.occluded, z_order: s.z_order || 0, points: s.points.map(Number),
      frame: s.frame, outside: !!s.outside, attributes: attrs(s.attributes),
    }));
    objects.push({
      cid, kind: 'track', type: shapes[0]?.type || 'rectangle', frame: t.frame, label_id: t.label_id,
      group: t.group || 0, occluded: false, z_order: 0, points: [], attributes: attrs(t.attributes), shapes,
    });
  }
  return { objects, ids };
}

/**
 * What is shown on a frame: shapes and tags of the frame and tracks at their
 * interpolated position (`keyframe` tells whether the frame is one of the track's keyframes).
 * @param {Obj[]} objects @param {number} frame @param {number} [lastFrame]
 * @returns {(Obj & {readonly?: boolean, keyframe?: boolean, outside?: boolean})[]}
 */
export function objectsOnFrame(objects, frame, lastFrame = Infinity) {
  const out = [];
  for (const o of objects) {
    if (o.kind === 'track') {
      const s = trackShapeAt(/** @type {any} */ (o), frame, lastFrame);
      if (s) {
        out.push({
          ...o, type: s.type, points: s.points, occluded: s.occluded, z_order: s.z_order,
          attributes: [...o.attributes, ...(s.attributes || [])], keyframe: s.keyframe,
        });
      }
    } else if (o.frame === frame) {
      out.push(o);
    }
  }
  return out;
}

/** Counts for the "Load job"/"Send task info" events. @param {Obj[]} objects @param {number} frameCount */
export function statistics(objects, frameCount) {
  const count = (/** @type {string} */ t) => objects.filter((o) => o.kind === 'shape' && o.type === t).length
    + objects.filter((o) => o.kind === 'track' && o.type === t).length;
  return {
    'frame count': frameCount,
    'track count': objects.filter((o) => o.kind === 'track').length,
    'object count': objects.filter((o) => o.kind !== 'tag').length,
    'box count': count('rectangle'),
    'polygon count': count('polygon'),
    'polyline count': count('polyline'),
    'points count': count('points'),
    'cuboids count': count('cuboid'),
    'tag count': objects.filter((o) => o.kind === 'tag').length,
  };
}

// ---- immutable updates ----

/** @param {Obj[]} objs @param {number} cid @param {Partial<Obj>} patch */
export function update(objs, cid, patch) {
  return objs.map((o) => (o.cid === cid ? { ...o, ...patch } : o));
}

/** @param {Obj[]} objs @param {number[]} cids */
export function remove(objs, cids) {
  const set = new Set(cids);
  return objs.filter((o) => !set.has(o.cid));
}

/**
 * Sets one attribute value of an object.
 * @param {Obj[]} objs @param {number} cid @param {number} specId @param {string} value
 */
export function setAttribute(objs, cid, specId, value) {
  return objs.map((o) => {
    if (o.cid !== cid) return o;
    const has = o.attributes.some((a) => a.spec_id === specId);
    const attributes = has
      ? o.attributes.map((a) => (a.spec_id === specId ? { spec_id: specId, value } : a))
      : [...o.attributes, { spec_id: specId, value }];
    return { ...o, attributes };
  });
}

/**
 * Changes an object's label; attribute values reset to the new label's defaults.
 * @param {Obj[]} objs @param {number} cid @param {Label} label
 */
export function changeLabel(objs, cid, label) {
  return update(objs, cid, { label_id: label.id, attributes: defaultAttributes(label) });
}

/**
 * z-order: bring the object in front of (or behind) every other object of its frame.
 * @param {Obj[]} objs @param {number} cid @param {'front'|'back'} where
 */
export function zOrder(objs, cid, where) {
  const o = objs.find((x) => x.cid === cid);
  if (!o) return objs;
  const zs = objs.filter((x) => x.kind === 'shape' && x.frame === o.frame && x.cid !== cid).map((x) => x.z_order);
  if (!zs.length) return objs;
  const z = where === 'front' ? Math.max(...zs) + 1 : Math.min(...zs) - 1;
  return update(objs, cid, { z_order: z });
}

/**
 * Puts the objects in a new group (or none with `ungroup`).
 * @param {Obj[]} objs @param {number[]} cids @param {boolean} [ungroup]
 */
export function group(objs, cids, ungroup = false) {
  const g = ungroup ? 0 : Math.max(0, ...objs.map((o) => o.group || 0)) + 1;
  const set = new Set(cids);
  return objs.map((o) => (set.has(o.cid) ? { ...o, group: g } : o));
}

/**
 * A copy of an object for pasting onto `frame` (a new object; tracks are pasted as
 * the shape shown on the copied frame).
 * @param {Obj} o @param {number} frame
 * @returns {Obj}
 */
export function pasteCopy(o, frame) {
  const { readonly, keyframe, outside, shapes, ...rest } = /** @type {any} */ (o);
  return {
    ...rest, kind: o.kind === 'track' ? 'shape' : o.kind, cid: nextCid(), frame, group: 0,
    points: [...o.points], attributes: o.attributes.map((a) => ({ ...a })), locked: false, hidden: false,
  };
}

// ---- tracks ----

/**
 * Changes a track on `frame`: the keyframe there is updated, or a keyframe is made
 * from the interpolated shape (api-v1 §9.8) and inserted in frame order.
 * `patch.attributes` holds mutable attribute values to set on the keyframe.
 * @param {Obj[]} objs @param {number} cid @param {number} frame
 * @param {{points?: number[], occluded?: boolean, outside?: boolean, attributes?: AttrValue[]}} patch
 * @param {number} [lastFrame]
 */
export function setKeyframe(objs, cid, frame, patch, lastFrame = Infinity) {
  return objs.map((o) => {
    if (o.cid !== cid || o.kind !== 'track') return o;
    const shapes = (o.shapes || []).slice();
    const i = shapes.findIndex((s) => s.frame === frame);
    let base;
    if (i >= 0) {
      base = shapes[i];
    } else {
      const cur = trackShapeAt(/** @type {any} */ (o), frame, lastFrame);
      if (!cur) return o;
      base = {
        type: cur.type, occluded: cur.occluded, z_order: cur.z_order, points: cur.points, frame,
        outside: false, attributes: (cur.attributes || []).map((a) => ({ ...a })),
      };
    }
    const attributes = (base.attributes || []).map((/** @type {AttrValue} */ a) => ({ ...a }));
    for (const a of patch.attributes || []) {
      const j = attributes.findIndex((/** @type {AttrValue} */ x) => x.spec_id === a.spec_id);
      if (j >= 0) attributes[j] = { ...a }; else attributes.push({ ...a });
    }
    const k = { ...base, ...patch, attributes, frame };
    if (i >= 0) shapes[i] = k;
    else { shapes.push(k); shapes.sort((a, b) => a.frame - b.frame); }
    return { ...o, shapes };
  });
}

/**
 * Changes a track's label: immutable defaults on the track, mutable defaults on
 * every keyframe.
 * @param {Obj[]} objs @param {number} cid @param {Label} label
 */
export function changeTrackLabel(objs, cid, label) {
  return objs.map((o) => (o.cid !== cid ? o : {
    ...o, label_id: label.id,
    attributes: defaultAttributes(label, (a) => !a.mutable),
    shapes: (o.shapes || []).map((s) => ({ ...s, attributes: defaultAttributes(label, (a) => a.mutable) })),
  }));
}

// ---- history ----

/**
 * @typedef {{past: Obj[][], present: Obj[], future: Obj[][]}} History
 */

/** @param {Obj[]} objects @returns {History} */
export function history(objects) {
  return { past: [], present: objects, future: [] };
}

/** @param {History} h @param {Obj[]} next @param {number} [limit] @returns {History} */
export function commit(h, next, limit = 300) {
  if (next === h.present) return h;
  const past = [...h.past, h.present];
  if (past.length > limit) past.shift();
  return { past, present: next, future: [] };
}

/** @param {History} h @returns {History} */
export function undo(h) {
  if (!h.past.length) return h;
  return { past: h.past.slice(0, -1), present: h.past[h.past.length - 1], future: [h.present, ...h.future] };
}

/** @param {History} h @returns {History} */
export function redo(h) {
  if (!h.future.length) return h;
  return { past: [...h.past, h.present], present: h.future[0], future: h.future.slice(1) };
}
