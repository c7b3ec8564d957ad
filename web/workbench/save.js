// @ts-check
/**
 * Saving a job's annotations as CVAT's UI does (api-v1 §9.5): the difference between
 * the last saved state (the baseline) and the local objects becomes
 * `PATCH …?action=create` (new objects), then `?action=update` (changed ones), then
 * `?action=delete` (removed ones); ids returned by create are mapped back by position.
 * Pure apart from the injected `send`; importable by node for unit tests.
 */

/** @typedef {import('./model.js').Obj} Obj */
/** @typedef {{shapes: any[], tags: any[], tracks: any[]}} Lists */

const LIST = /** @type {const} */ ({ shape: 'shapes', tag: 'tags', track: 'tracks' });

/** @param {string} kind @param {number} id */
export const keyOf = (kind, id) => `${kind}:${id}`;

/** @param {any[]} l */
const attrs = (l) => l.map((a) => ({ spec_id: Number(a.spec_id), value: String(a.value) }));

/**
 * The API form of a local object (§9.1), with `id` when the server knows it.
 * @param {Obj} o @param {number | null | undefined} id
 */
export function toServer(o, id) {
  /** @type {any} */
  let out;
  if (o.kind === 'tag') {
    out = { frame: o.frame, label_id: o.label_id, group: o.group || 0, attributes: attrs(o.attributes) };
  } else if (o.kind === 'track') {
    out = {
      frame: Math.min(...(o.shapes || []).map((s) => s.frame)), label_id: o.label_id, group: o.group || 0,
      shapes: (o.shapes || []).map((s) => {
        /** @type {any} */
        const k = {
          type: s.type, occluded: !!s.occluded, z_order: s.z_order || 0, points: s.points.slice(),
          frame: s.frame, outside: !!s.outside, attributes: attrs(s.attributes || []),
        };
        if (s.id != null) k.id = s.id;
        return k;
      }),
      attributes: attrs(o.attributes),
    };
  } else {
    out = {
      type: o.type, occluded: !!o.occluded, z_order: o.z_order || 0, points: o.points.slice(),
      frame: o.frame, label_id: o.label_id, group: o.group || 0, attributes: attrs(o.attributes),
    };
  }
  if (id != null) out.id = id;
  return out;
}

/** @returns {Lists} */
export const emptyLists = () => ({ shapes: [], tags: [], tracks: [] });

/** @param {Lists} l */
export const isEmpty = (l) => !l.shapes.length && !l.tags.length && !l.tracks.length;

/**
 * The baseline: server key → JSON of the object as last saved or loaded.
 * @param {Obj[]} objects @param {Map<number, number>} ids  cid → server id
 * @returns {Map<string, string>}
 */
export function makeBaseline(objects, ids) {
  const base = new Map();
  for (const o of objects) {
    const id = ids.get(o.cid);
    if (id != null) base.set(keyOf(o.kind, id), JSON.stringify(toServer(o, id)));
  }
  return base;
}

/**
 * What to send: objects without a server id are created, objects whose API form
 * differs from the baseline are updated, baseline objects without a local object are
 * deleted (sent in their last saved form). `cids` give, per list, the local object of
 * each request item (for mapping create ids back).
 * @param {Obj[]} objects @param {Map<number, number>} ids @param {Map<string, string>} base
 */
export function computeDiff(objects, ids, base) {
  const create = emptyLists(), update = emptyLists(), del = emptyLists();
  /** @type {{shapes: number[], tags: number[], tracks: number[]}} */
  const createCids = { shapes: [], tags: [], tracks: [] };
  const present = new Set();
  for (const o of objects) {
    const list = LIST[o.kind];
    const id = ids.get(o.cid);
    if (id == null) {
      create[list].push(toServer(o, null));
      createCids[list].push(o.cid);
      continue;
    }
    const key = keyOf(o.kind, id);
    present.add(key);
    const json = JSON.stringify(toServer(o, id));
    if (base.get(key) !== json) update[list].push(JSON.parse(json));
  }
  for (const [key, json] of base) {
    if (present.has(key)) continue;
    const kind = /** @type {'shape'|'tag'|'track'} */ (key.split(':')[0]);
    del[LIST[kind]].push(JSON.parse(json));
  }
  return { create, createCids, update, delete: del };
}

/** Whether there is anything to save. @param {ReturnType<typeof computeDiff>} d */
export const hasChanges = (d) => !isEmpty(d.create) || !isEmpty(d.update) || !isEmpty(d.delete);

/**
 * Runs the save sequence. `send(action, body)` performs
 * `PATCH /jobs/<id>/annotations?action=<action>` with `If-Match: "<body.version>"` and
 * returns the response body. `ids` and `base` are updated in place after every
 * successful step, so a failure part way leaves them consistent with the server.
 * Like CVAT's UI, all three requests are sent (lists may be empty) once anything changed.
 * @param {{objects: Obj[], ids: Map<number, number>, base: Map<string, string>, version: number,
 *   send: (action: 'create'|'update'|'delete', body: any) => Promise<any>,
 *   onStep?: (action: string) => void}} o
 * @returns {Promise<{version: number, saved: boolean}>}
 */
export async function saveAll({ objects, ids, base, version, send, onStep = () => {} }) {
  const d = computeDiff(objects, ids, base);
  if (!hasChanges(d)) return { version, saved: false };
  const byCid = new Map(objects.map((o) => [o.cid, o]));

  onStep('create');
  let r = await send('create', { ...d.create, version });
  version = r.version;
  for (const list of /** @type {const} */ (['shapes', 'tags', 'tracks'])) {
    const got = r[list] || [];
    if (got.length !== d.createCids[list].length) {
      throw new Error(`The server returned ${got.length} ${list} for ${d.createCids[list].length} created`);
    }
    got.forEach((/** @type {any} */ item, /** @type {number} */ i) => {
      const cid = d.createCids[list][i];
      ids.set(cid, item.id);
      const o = /** @type {Obj} */ (byCid.get(cid));
      if (o.kind === 'track' && Array.isArray(item.shapes)) {
        // keyframe ids, by position as well
        o.shapes = (o.shapes || []).map((s, k) => ({ ...s, id: item.shapes[k]?.id ?? s.id }));
      }
      base.set(keyOf(o.kind, item.id), JSON.stringify(toServer(o, item.id)));
    });
  }

  onStep('update');
  r = await send('update', { ...d.update, version });
  version = r.version;
  for (const list of /** @type {const} */ (['shapes', 'tags', 'tracks'])) {
    const kind = list === 'shapes' ? 'shape' : list === 'tags' ? 'tag' : 'track';
    for (const item of d.update[list]) base.set(keyOf(kind, item.id), JSON.stringify(item));
  }

  onStep('delete');
  r = await send('delete', { ...d.delete, version });
  version = r.version;
  for (const list of /** @type {const} */ (['shapes', 'tags', 'tracks'])) {
    const kind = list === 'shapes' ? 'shape' : list === 'tags' ? 'tag' : 'track';
    for (const item of d.delete[list]) {
      base.delete(keyOf(kind, item.id));
      // an undo may bring the object back: it must then be created anew
      for (const [cid, id] of ids) if (id === item.id && !byCid.has(cid)) ids.delete(cid);
    }
  }
  return { version, saved: true };
}
