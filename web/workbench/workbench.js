// @ts-check
/**
 * The annotation workbench of one job (#/jobs/<id>): frames from compressed chunks,
 * drawing and editing shapes on SVG over the image, the objects sidebar, saving as
 * CVAT's UI does (create → update → delete), the job status and client events.
 */
import { html, useState, useEffect, useRef, useMemo, useCallback } from '../lib.js';
import * as api from '../api.js';
import { setLeaveGuard } from '../app.js';
import { FrameProvider } from './frames.js';
import { Logger } from './logs.js';
import * as M from './model.js';
import { saveAll, makeBaseline, computeDiff, hasChanges } from './save.js';
import { hitTest, translate, resizeRect, normalizeRect, clampPoints, minPoints, bbox } from './geometry.js';
import { SHORTCUTS, matchShortcut } from './shortcuts.js';

/** @typedef {import('./model.js').Obj} Obj */
/** @typedef {import('./model.js').Label} Label */
/** @typedef {'select'|'rectangle'|'polygon'|'polyline'|'points'} Mode */
/** @typedef {{type: string, points: number[], cursor: number[] | null, down: number[] | null, started: number}} Drawing */

/**
 * Above this many shapes on a frame only the selected ones show their label text (as
 * CVAT does by default for all): Chromium lays SVG text out again on every pan step.
 */
const LABELS_ALL_MAX = 300;
const DRAW_TYPES = /** @type {const} */ (['rectangle', 'polygon', 'polyline', 'points']);
const TYPE_NAMES = { rectangle: 'Rectangle', polygon: 'Polygon', polyline: 'Polyline', points: 'Points', cuboid: 'Cuboid' };

/** A stable colour per label. @param {number} id */
export function labelColor(id) {
  const hue = (id * 137.508) % 360;
  return `hsl(${hue.toFixed(0)}, 85%, 50%)`;
}

/** A random Idempotency-Key (works outside secure contexts too). */
function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Elements kept from the previous render while their inputs are unchanged: preact skips
 * an element it has seen before, so with thousands of shapes a pan or a zoom touches
 * only the layer's transform, and dragging one shape re-renders that shape alone.
 * Call once per render; entries not asked for in a render are dropped.
 * @returns {(key: any, deps: any[], make: () => any) => any}
 */
function useElementCache() {
  const ref = useRef(/** @type {Map<any, {deps: any[], el: any}>} */ (new Map()));
  const prev = ref.current;
  const next = new Map();
  ref.current = next;
  return (key, deps, make) => {
    const c = prev.get(key) || next.get(key);
    const el = c && c.deps.length === deps.length && c.deps.every((d, i) => d === deps[i]) ? c.el : make();
    next.set(key, { deps, el });
    return el;
  };
}

/**
 * @param {{jobId: number, user: any, navigate: (to: string) => void}} props
 */
export function Workbench({ jobId, user, navigate }) {
  const [load, setLoad] = useState(/** @type {{error?: string, job?: any, task?: any, meta?: any} | null} */ (null));
  const [hist, setHist] = useState(M.history([]));
  const objects = hist.present;
  const [frame, setFrameState] = useState(0);
  const [selected, setSelected] = useState(/** @type {number[]} */ ([]));
  const [mode, setMode] = useState(/** @type {Mode} */ ('select'));
  const [lastType, setLastType] = useState('rectangle');
  const [drawLabel, setDrawLabel] = useState(0);
  const [drawing, setDrawing] = useState(/** @type {Drawing | null} */ (null));
  /** The view (zoom and offset of the image in the stage): see setView. */
  const viewRef = useRef({ scale: 1, tx: 0, ty: 0 });
  const [, setViewTick] = useState(0);
  const settleRef = useRef(/** @type {any} */ (0));
  const [preview, setPreview] = useState(/** @type {{cid: number, points: number[]} | null} */ (null));
  const [saveState, setSaveState] = useState(/** @type {{busy?: boolean, error?: string, conflict?: boolean, message?: string}} */ ({}));
  const [saveTick, setSaveTick] = useState(0);
  const [statusBusy, setStatusBusy] = useState(false);
  const [statusError, setStatusError] = useState('');
  const [frameError, setFrameError] = useState('');
  const [frameLoading, setFrameLoading] = useState(false);
  const [showHelp, setShowHelp] = useState(false);
  const [frameInput, setFrameInput] = useState('');

  const idsRef = useRef(/** @type {Map<number, number>} */ (new Map()));
  const baseRef = useRef(/** @type {Map<string, string>} */ (new Map()));
  const versionRef = useRef(0);
  const providerRef = useRef(/** @type {FrameProvider | null} */ (null));
  const loggerRef = useRef(/** @type {Logger | null} */ (null));
  const canvasRef = useRef(/** @type {HTMLCanvasElement | null} */ (null));
  const stageRef = useRef(/** @type {HTMLDivElement | null} */ (null));
  const layerRef = useRef(/** @type {HTMLDivElement | null} */ (null));
  const frameRef = useRef(0);
  const clipboardRef = useRef(/** @type {Obj | null} */ (null));
  /** Latest state for event handlers registered once. */
  const S = useRef(/** @type {any} */ ({}));

  const job = load?.job, task = load?.task, meta = load?.meta;
  /** @type {Label[]} */
  const labels = task?.labels || [];
  const labelById = useMemo(() => new Map(labels.map((l) => [l.id, l])), [labels]);
  const startFrame = job?.start_frame ?? 0;
  const stopFrame = job?.stop_frame ?? 0;
  const frameInfo = meta ? (meta.frames[frame] || meta.frames[0] || { width: 1, height: 1, name: '' }) : { width: 1, height: 1, name: '' };
  const W = frameInfo.width, H = frameInfo.height;

  const dirty = useMemo(
    () => hasChanges(computeDiff(objects, idsRef.current, baseRef.current)),
    [objects, saveTick],
  );

  // ---------- loading ----------
  const loadAll = useCallback(async () => {
    const t0 = performance.now();
    try {
      const job = await api.get(`/jobs/${jobId}`);
      const [task, meta, doc] = await Promise.all([
        api.get(`/tasks/${job.task_id}`),
        api.get(`/tasks/${job.task_id}/data/meta`),
        api.get(`/jobs/${jobId}/annotations`),
      ]);
      const { objects, ids } = M.fromServer(doc);
      for (const o of objects) {
        const label = task.labels.find((/** @type {Label} */ l) => l.id === o.label_id);
        if (o.kind !== 'track') o.attributes = M.fillAttributes(o.attributes, label);
      }
      idsRef.current = ids;
      baseRef.current = makeBaseline(objects, ids);
      versionRef.current = doc.version;
      setHist(M.history(objects));
      setSelected([]);
      setDrawLabel((d) => d || task.labels[0]?.id || 0);
      providerRef.current?.close();
      providerRef.current = new FrameProvider({
        taskId: task.id, chunkSize: meta.chunk_size || task.data_chunk_size, size: meta.size,
        startFrame: job.start_frame, stopFrame: job.stop_frame, chunkType: task.data_compressed_chunk_type,
      });
      if (loggerRef.current) { loggerRef.current.flush().catch(() => {}); loggerRef.current.close(); }
      loggerRef.current = new Logger({ jobId, taskId: task.id });
      setLoad({ job, task, meta });
      setFrameState(job.start_frame);
      frameRef.current = job.start_frame;
      setSaveTick((x) => x + 1);
      setSaveState({});
      loggerRef.current.log('Load job', {
        duration: Math.round(performance.now() - t0), ...M.statistics(objects, job.stop_frame - job.start_frame + 1),
      });
    } catch (e) {
      setLoad({ error: e instanceof Error ? e.message : String(e) });
    }
  }, [jobId]);

  useEffect(() => {
    loadAll();
    return () => {
      providerRef.current?.close();
      const lg = loggerRef.current;
      if (lg) { lg.flush().catch(() => {}); lg.close(); }
    };
  }, [loadAll]);

  // ---------- frames ----------
  const showFrame = useCallback(async (/** @type {number} */ n) => {
    const p = providerRef.current;
    const canvas = canvasRef.current;
    if (!p || !canvas) return;
    let bmp = p.peek(n);
    if (!bmp) {
      setFrameLoading(true);
      try {
        bmp = await p.frame(n);
        setFrameError('');
      } catch (e) {
        if (frameRef.current === n) setFrameError(e instanceof Error ? e.message : String(e));
        return;
      } finally {
        if (frameRef.current === n) setFrameLoading(false);
      }
    } else {
      p.frame(n).catch(() => {}); // keeps prefetching ahead
    }
    if (frameRef.current !== n) return;
    if (canvas.width !== bmp.width) canvas.width = bmp.width;
    if (canvas.height !== bmp.height) canvas.height = bmp.height;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    ctx.drawImage(bmp, 0, 0);
    canvas.dataset.frame = String(n);
  }, []);

  useEffect(() => {
    if (load?.job) showFrame(frame);
  }, [frame, load, showFrame]);

  const setFrame = useCallback((/** @type {number} */ n) => {
    const { startFrame, stopFrame } = S.current;
    const to = Math.max(startFrame, Math.min(stopFrame, Math.round(n)));
    const from = frameRef.current;
    if (to === from || Number.isNaN(to)) return;
    frameRef.current = to;
    setFrameState(to);
    setFrameInput('');
    setDrawing(null);
    setSelected([]);
    loggerRef.current?.log('Change frame', { from, to });
  }, []);

  // ---------- view ----------
  /**
   * Pans or zooms: the layer moves at once, without a render (thousands of shapes stay
   * untouched); what depends on the zoom (line widths, handles and labels through --s,
   * the zoom figure) follows in one render when the wheel or drag pauses, or at once
   * with `now`.
   * @param {{scale: number, tx: number, ty: number}} v @param {boolean} [now]
   */
  const setView = useCallback((v, now = false) => {
    viewRef.current = v;
    const l = layerRef.current;
    if (l) l.style.transform = `translate(${v.tx}px,${v.ty}px) scale(${v.scale})`;
    clearTimeout(settleRef.current);
    // while moving, the layer is its own compositor layer and its shapes take no hit tests
    const settle = () => { l?.classList.remove('moving'); setViewTick((x) => x + 1); };
    if (now) settle();
    else {
      l?.classList.add('moving');
      settleRef.current = setTimeout(settle, 150);
    }
  }, []);
  useEffect(() => () => clearTimeout(settleRef.current), []);

  const fit = useCallback(() => {
    const st = stageRef.current;
    if (!st) return;
    const { W, H } = S.current;
    const r = st.getBoundingClientRect();
    const scale = Math.min(r.width / W, r.height / H) * 0.95 || 1;
    setView({ scale, tx: (r.width - W * scale) / 2, ty: (r.height - H * scale) / 2 }, true);
    loggerRef.current?.log('Fit image', {});
  }, []);

  const fittedFor = useRef('');
  useEffect(() => {
    const k = `${W}x${H}`;
    if (load?.job && fittedFor.current !== k) { fittedFor.current = k; fit(); }
  }, [W, H, load, fit]);

  /** Client point → image coordinates. @param {{clientX: number, clientY: number}} e */
  const toImage = (e) => {
    const r = /** @type {HTMLDivElement} */ (layerRef.current).getBoundingClientRect();
    const { scale } = viewRef.current;
    return [(e.clientX - r.left) / scale, (e.clientY - r.top) / scale];
  };

  // ---------- changes ----------
  /** Applies a change as one undoable step. @param {(objs: Obj[]) => Obj[]} fn */
  const change = (fn) => setHist((h) => M.commit(h, fn(h.present)));

  const frameObjects = useMemo(
    () => M.objectsOnFrame(objects, frame, stopFrame),
    [objects, frame, stopFrame],
  );
  const shapesShown = useMemo(
    () => frameObjects.filter((o) => o.kind !== 'tag').sort((a, b) => a.z_order - b.z_order),
    [frameObjects],
  );

  const finishDrawing = (/** @type {Drawing | null} */ d = S.current.drawing) => {
    if (!d) return;
    const { frame, drawLabel, W, H } = S.current;
    const label = labelById.get(drawLabel) || labels[0];
    let pts = clampPoints(d.points, W, H);
    if (d.type === 'rectangle') pts = normalizeRect(pts);
    if (pts.length / 2 < minPoints(d.type) || !label) { setDrawing(null); setMode('select'); return; }
    if (d.type === 'rectangle' && (pts[2] - pts[0] < 1 || pts[3] - pts[1] < 1)) { setDrawing(null); return; }
    const zs = S.current.frameObjects.filter((/** @type {any} */ o) => o.kind === 'shape').map((/** @type {any} */ o) => o.z_order);
    const o = M.newObject({ type: d.type, frame, label, points: pts, z_order: zs.length ? Math.max(...zs) + 1 : 0 });
    change((objs) => [...objs, o]);
    setSelected([o.cid]);
    setDrawing(null);
    setMode('select');
    loggerRef.current?.log('Draw object', { count: 1, duration: Math.round(performance.now() - d.started) });
  };

  const startMode = (/** @type {Mode} */ m) => {
    setDrawing(null);
    setMode(m);
    if (m !== 'select') { setLastType(m); setSelected([]); }
  };

  const addTag = () => {
    const label = labelById.get(drawLabel) || labels[0];
    if (!label) return;
    const o = M.newObject({ kind: 'tag', frame, label });
    change((objs) => [...objs, o]);
    setSelected([o.cid]);
  };

  const deleteSelected = () => {
    const sel = S.current.selected.filter((/** @type {number} */ cid) => {
      const o = S.current.objects.find((/** @type {Obj} */ x) => x.cid === cid);
      return o && !o.locked;
    });
    if (!sel.length) return;
    change((objs) => M.remove(objs, sel));
    setSelected([]);
  };

  /** @param {number} cid @param {Partial<Obj>} patch */
  const patchObject = (cid, patch) => change((objs) => M.update(objs, cid, patch));

  /**
   * Changes the geometry or occlusion of what is shown: a shape directly, a track
   * through its keyframe on the current frame (made when missing).
   * @param {Obj} o @param {{points?: number[], occluded?: boolean, outside?: boolean}} patch
   */
  const patchShown = (o, patch) => {
    if (o.kind === 'track') {
      const { frame, stopFrame } = S.current;
      change((objs) => M.setKeyframe(objs, o.cid, frame, patch, stopFrame));
    } else {
      patchObject(o.cid, patch);
    }
  };

  const serverIdOf = (/** @type {number} */ cid) => idsRef.current.get(cid) ?? null;

  const setAttr = (/** @type {Obj} */ o, /** @type {any} */ spec, /** @type {string} */ value) => {
    if (o.kind === 'track' && spec.mutable) {
      // a mutable attribute of a track is stored per keyframe
      const { frame, stopFrame } = S.current;
      change((objs) => M.setKeyframe(objs, o.cid, frame, { attributes: [{ spec_id: spec.id, value }] }, stopFrame));
    } else {
      change((objs) => M.setAttribute(objs, o.cid, spec.id, value));
    }
    loggerRef.current?.log('Change attribute', { id: spec.id, value, object_id: serverIdOf(o.cid) ?? o.cid });
  };

  // ---------- saving ----------
  const save = async () => {
    if (S.current.saveState.busy) return;
    const t0 = performance.now();
    setSaveState({ busy: true, message: 'Saving…' });
    const objs = S.current.objects;
    /** @param {'create'|'update'|'delete'} action @param {any} body */
    const send = async (action, body) => {
      const key = newKey();
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await api.call('PATCH', `/jobs/${jobId}/annotations?action=${action}`, body, {
            'If-Match': `"${body.version}"`, 'Idempotency-Key': key,
          });
          return r.body;
        } catch (e) {
          // a network failure is retried with the same key: the server answers once
          if (e instanceof api.ApiError || attempt >= 2) throw e;
          await new Promise((res) => setTimeout(res, 400 * (attempt + 1)));
        }
      }
    };
    try {
      const r = await saveAll({
        objects: objs, ids: idsRef.current, base: baseRef.current, version: versionRef.current, send,
        onStep: (step) => setSaveState({ busy: true, message: `Saving (${step})…` }),
      });
      versionRef.current = r.version;
      setSaveTick((x) => x + 1);
      setSaveState({ message: r.saved ? 'All changes saved' : 'Nothing to save' });
      const lg = loggerRef.current;
      if (lg) {
        lg.log('Save job', { duration: Math.round(performance.now() - t0) });
        lg.log('Send task info', M.statistics(S.current.objects, S.current.stopFrame - S.current.startFrame + 1));
        lg.flush().catch(() => {});
      }
    } catch (e) {
      setSaveTick((x) => x + 1);
      if (e instanceof api.ApiError && (e.status === 409 || e.status === 412)) {
        setSaveState({ conflict: true, error: 'This job was changed elsewhere since it was loaded. Reload it to see those changes (your unsaved changes here will be lost).' });
      } else {
        setSaveState({ error: `Saving failed: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
  };

  const reload = async () => {
    if (S.current.dirty && !confirm('Discard your unsaved changes and reload the job?')) return;
    await loadAll();
  };

  const changeStatus = async (/** @type {string} */ status) => {
    setStatusBusy(true);
    setStatusError('');
    try {
      const j = await api.patch(`/jobs/${jobId}`, { status });
      setLoad((l) => ({ ...l, job: { ...l?.job, ...j } }));
    } catch (e) {
      setStatusError(e instanceof api.ApiError ? (e.field('status') || e.message) : String(e));
    } finally {
      setStatusBusy(false);
    }
  };

  const back = (/** @type {Event} */ e) => {
    e.preventDefault();
    navigate(`/tasks/${task?.id ?? ''}`); // the leave guard below asks about unsaved changes
  };

  // leaving by the app's routes (back button, edited address, links) asks first
  useEffect(() => setLeaveGuard(
    () => (S.current.dirty ? 'You have unsaved changes. Leave the job anyway?' : null),
  ), []);

  useEffect(() => {
    const h = (/** @type {BeforeUnloadEvent} */ e) => {
      if (S.current.dirty) { e.preventDefault(); e.returnValue = ''; }
    };
    window.addEventListener('beforeunload', h);
    return () => window.removeEventListener('beforeunload', h);
  }, []);

  // ---------- mouse ----------
  /**
   * Tracks a drag on window until the button is released.
   * @param {MouseEvent} e0 @param {(e: MouseEvent, moved: boolean) => void} move @param {(e: MouseEvent, moved: boolean) => void} up
   */
  const drag = (e0, move, up) => {
    let moved = false;
    const mm = (/** @type {MouseEvent} */ e) => {
      if (!moved && Math.hypot(e.clientX - e0.clientX, e.clientY - e0.clientY) > 2) moved = true;
      if (moved) move(e, moved);
    };
    const mu = (/** @type {MouseEvent} */ e) => {
      window.removeEventListener('mousemove', mm);
      window.removeEventListener('mouseup', mu);
      up(e, moved);
    };
    window.addEventListener('mousemove', mm);
    window.addEventListener('mouseup', mu);
  };

  const startPan = (/** @type {MouseEvent} */ e0) => {
    const v0 = viewRef.current;
    drag(e0, (e) => setView({ ...v0, tx: v0.tx + e.clientX - e0.clientX, ty: v0.ty + e.clientY - e0.clientY }), () => {});
  };

  /** Drags that change an object's points; committed as one step on release. */
  const startEdit = (/** @type {MouseEvent} */ e0, /** @type {Obj} */ o, /** @type {(x: number, y: number, dx: number, dy: number) => number[]} */ fn) => {
    const [x0, y0] = toImage(e0);
    drag(e0, (e) => {
      const [x, y] = toImage(e);
      setPreview({ cid: o.cid, points: fn(x, y, x - x0, y - y0) });
    }, (e, moved) => {
      setPreview(null);
      if (!moved) return;
      const [x, y] = toImage(e);
      const pts = fn(x, y, x - x0, y - y0);
      patchShown(o, { points: pts });
    });
  };

  const onStageDown = (/** @type {MouseEvent} */ e) => {
    if (e.button === 1) { e.preventDefault(); startPan(e); return; }
    if (e.button !== 0) return;
    const { mode, drawing, W, H } = S.current;
    if (mode === 'select') {
      const [x, y] = toImage(e);
      const hit = hitTest(S.current.shapesShown.filter((/** @type {any} */ o) => !o.hidden), x, y, 4 / viewRef.current.scale);
      if (hit) { onShapeDown(e, hit); return; }
      if (!e.ctrlKey && !e.metaKey) setSelected([]);
      startPan(e);
      return;
    }
    e.preventDefault();
    const p = clampPoints(toImage(e), W, H);
    if (mode === 'rectangle') {
      if (!drawing) {
        const d = { type: 'rectangle', points: p, cursor: p, down: [e.clientX, e.clientY], started: performance.now() };
        setDrawing(d);
        drag(e, (ev) => setDrawing({ ...d, cursor: clampPoints(toImage(ev), W, H) }), (ev, moved) => {
          if (moved) finishDrawing({ ...d, points: [...p, ...clampPoints(toImage(ev), W, H)] });
        });
      } else {
        finishDrawing({ ...drawing, points: [...drawing.points.slice(0, 2), ...p] });
      }
      return;
    }
    // polygon, polyline, points: a click adds a point, a double click finishes
    if (e.detail >= 2 && drawing) { finishDrawing(drawing); return; }
    const d = drawing || { type: mode, points: [], cursor: p, down: null, started: performance.now() };
    setDrawing({ ...d, points: [...d.points, ...p], cursor: p });
  };

  const onStageMove = (/** @type {MouseEvent} */ e) => {
    const d = S.current.drawing;
    if (d && d.type !== 'rectangle') setDrawing({ ...d, cursor: clampPoints(toImage(e), S.current.W, S.current.H) });
    else if (d && d.type === 'rectangle' && d.points.length === 2) setDrawing({ ...d, cursor: clampPoints(toImage(e), S.current.W, S.current.H) });
  };

  const onStageDbl = (/** @type {MouseEvent} */ e) => {
    if (S.current.mode !== 'select') return;
    const [x, y] = toImage(e);
    if (!hitTest(S.current.shapesShown, x, y, 4 / viewRef.current.scale)) fit();
  };

  const onWheel = (/** @type {WheelEvent} */ e) => {
    e.preventDefault();
    const st = /** @type {HTMLDivElement} */ (stageRef.current).getBoundingClientRect();
    const v = viewRef.current;
    const f = e.deltaY < 0 ? 1.1 : 1 / 1.1;
    const scale = Math.max(0.05, Math.min(40, v.scale * f));
    const sx = e.clientX - st.left, sy = e.clientY - st.top;
    const ix = (sx - v.tx) / v.scale, iy = (sy - v.ty) / v.scale;
    setView({ scale, tx: sx - ix * scale, ty: sy - iy * scale });
  };

  useEffect(() => {
    const st = stageRef.current;
    if (!st) return;
    st.addEventListener('wheel', onWheel, { passive: false });
    return () => st.removeEventListener('wheel', onWheel);
  }, [load]);

  const onShapeDown = (/** @type {MouseEvent} */ e, /** @type {any} */ o) => {
    e.stopPropagation();
    e.preventDefault();
    if (e.ctrlKey || e.metaKey) {
      setSelected((sel) => (sel.includes(o.cid) ? sel.filter((c) => c !== o.cid) : [...sel, o.cid]));
      return;
    }
    setSelected([o.cid]);
    if (o.locked) { startPan(e); return; }
    const orig = o.points;
    startEdit(e, o, (_x, _y, dx, dy) => translate(orig, dx, dy));
  };

  const onCornerDown = (/** @type {MouseEvent} */ e, /** @type {Obj} */ o, /** @type {number} */ corner) => {
    e.stopPropagation();
    e.preventDefault();
    const orig = o.points;
    const { W, H } = S.current;
    startEdit(e, o, (x, y) => resizeRect(orig, corner, Math.max(0, Math.min(W, x)), Math.max(0, Math.min(H, y))));
  };

  const onVertexDown = (/** @type {MouseEvent} */ e, /** @type {Obj} */ o, /** @type {number} */ i) => {
    e.stopPropagation();
    e.preventDefault();
    const orig = o.points;
    const { W, H } = S.current;
    startEdit(e, o, (x, y) => {
      const p = orig.slice();
      p[2 * i] = Math.max(0, Math.min(W, x));
      p[2 * i + 1] = Math.max(0, Math.min(H, y));
      return p;
    });
  };

  // ---------- keyboard ----------
  const onKey = (/** @type {KeyboardEvent} */ e) => {
    const st = S.current;
    const target = /** @type {HTMLElement} */ (e.target);
    const typing = target && (['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName) || target.isContentEditable);
    const action = matchShortcut(e);
    if (!action) return;
    if (typing && !['save', 'cancel'].includes(action)) return;
    const sel = st.selected;
    const one = sel.length === 1 ? st.objects.find((/** @type {Obj} */ o) => o.cid === sel[0]) : null;
    switch (action) {
      case 'save': save(); break;
      case 'next': setFrame(st.frame + 1); break;
      case 'prev': setFrame(st.frame - 1); break;
      case 'next10': setFrame(st.frame + 10); break;
      case 'prev10': setFrame(st.frame - 10); break;
      case 'first': setFrame(st.startFrame); break;
      case 'last': setFrame(st.stopFrame); break;
      case 'new':
        if (st.drawing) finishDrawing(st.drawing);
        else startMode(st.mode === 'select' ? st.lastType : st.mode);
        break;
      case 'finish':
        if (st.drawing) finishDrawing(st.drawing); else return;
        break;
      case 'cancel':
        if (st.drawing || st.mode !== 'select') { setDrawing(null); setMode('select'); } else if (showHelp) setShowHelp(false); else setSelected([]);
        break;
      case 'delete': deleteSelected(); break;
      case 'undo': setHist(M.undo); setSelected([]); break;
      case 'redo': setHist(M.redo); setSelected([]); break;
      case 'copy': {
        // what is shown (a track's shape on this frame), as it is now
        const shown = one && st.frameObjects.find((/** @type {any} */ o) => o.cid === one.cid);
        if (shown) clipboardRef.current = shown;
        break;
      }
      case 'paste': {
        const c = clipboardRef.current;
        if (!c) return;
        const n = M.pasteCopy(c, st.frame);
        change((objs) => [...objs, n]);
        setSelected([n.cid]);
        break;
      }
      case 'group': if (sel.length) change((objs) => M.group(objs, sel)); break;
      case 'ungroup': if (sel.length) change((objs) => M.group(objs, sel, true)); break;
      case 'lock': if (one) patchObject(one.cid, { locked: !one.locked }); break;
      case 'hide': if (one) patchObject(one.cid, { hidden: !one.hidden }); break;
      case 'occluded': {
        const shown = one && st.frameObjects.find((/** @type {any} */ o) => o.cid === one.cid);
        if (shown && shown.kind !== 'tag' && !shown.locked) patchShown(shown, { occluded: !shown.occluded });
        break;
      }
      case 'front': if (one && one.kind === 'shape') change((objs) => M.zOrder(objs, one.cid, 'front')); break;
      case 'back': if (one && one.kind === 'shape') change((objs) => M.zOrder(objs, one.cid, 'back')); break;
      case 'fit': fit(); break;
      case 'help': setShowHelp((x) => !x); break;
      default: return;
    }
    e.preventDefault();
  };

  const keyRef = useRef(onKey);
  keyRef.current = onKey;
  useEffect(() => {
    const h = (/** @type {KeyboardEvent} */ e) => keyRef.current(e);
    window.addEventListener('keydown', h);
    return () => window.removeEventListener('keydown', h);
  }, []);

  Object.assign(S.current, {
    objects, frame, selected, mode, lastType, drawLabel, drawing, startFrame, stopFrame, W, H,
    frameObjects, shapesShown, saveState, dirty,
  });
  /** The handlers cached elements call: always those of the latest render. */
  const A = useRef(/** @type {any} */ ({}));
  Object.assign(A.current, { onShapeDown, onCornerDown, onVertexDown, patchObject, patchShown });
  const shapeCache = useElementCache();
  const labelCache = useElementCache();
  const itemCache = useElementCache();

  // ---------- rendering ----------
  if (!load) return html`<div class="loading">Loading the job…</div>`;
  if (load.error) {
    return html`<div class="wb-error card" role="alert">
      <p class="error">Could not open job ${jobId}: ${load.error}</p>
      <a href="#/tasks">Back to tasks</a></div>`;
  }

  const selectedObj = selected.length === 1 ? frameObjects.find((o) => o.cid === selected[0]) || null : null;
  const view = viewRef.current;
  const s = view.scale;
  const handleR = 5 / s;

  /**
   * One shape with its label and, when it is the one selected, its handles. Sizes that
   * follow the zoom (handles, label text) come from the CSS variable --s, so a zoom
   * re-renders no shape.
   * @param {any} o
   */
  const renderShape = (o) => {
    if (o.hidden) return null;
    const pts = preview && preview.cid === o.cid ? preview.points : o.points;
    const sel = selected.includes(o.cid);
    const editable = sel && selected.length === 1 && !o.locked && mode === 'select';
    return shapeCache(o.cid, [o, pts, sel, editable], () => shapeElement(o, pts, sel, editable));
  };

  /**
   * A shape's label and id above it. All of them are drawn after all the shapes: on top,
   * and in one run, which Chromium composites much faster than texts between shapes.
   * @param {any} o
   */
  const renderLabel = (o) => {
    if (o.hidden) return null;
    const pts = preview && preview.cid === o.cid ? preview.points : o.points;
    const name = labelById.get(o.label_id)?.name || '';
    const sid = serverIdOf(o.cid);
    return labelCache(o.cid, [pts, name, sid], () => {
      const b = bbox(pts);
      return html`<text key=${o.cid} class="wb-text" x=${b.x1} y=${b.y1} dy="-0.33em">${name}${sid != null ? ` #${sid}` : ''}</text>`;
    });
  };

  /** @param {any} o @param {number[]} pts @param {boolean} sel @param {boolean} editable */
  const shapeElement = (o, pts, sel, editable) => {
    const color = labelColor(o.label_id);
    const cls = `wb-shape${sel ? ' selected' : ''}${o.occluded ? ' occluded' : ''}${o.kind === 'track' && !o.keyframe ? ' interpolated' : ''}${o.locked ? ' locked' : ''}`;
    const common = {
      class: cls, stroke: color, 'data-cid': o.cid, 'data-testid': `shape-${o.type}`,
      onMouseDown: (/** @type {MouseEvent} */ e) => S.current.mode === 'select' && A.current.onShapeDown(e, o),
    };
    let el;
    if (o.type === 'rectangle') {
      const [x1, y1, x2, y2] = normalizeRect(pts);
      el = html`<rect ...${common} x=${x1} y=${y1} width=${x2 - x1} height=${y2 - y1} fill=${color} />`;
    } else if (o.type === 'polygon') {
      el = html`<polygon ...${common} points=${pairs(pts)} fill=${color} />`;
    } else if (o.type === 'polyline') {
      el = html`<polyline ...${common} points=${pairs(pts)} fill="none" />`;
    } else {
      el = html`<g ...${common}>${chunk2(pts).map(([x, y]) => html`<circle class="wb-point" cx=${x} cy=${y} fill=${color} />`)}</g>`;
    }
    let handles = null;
    if (editable && o.type === 'rectangle') {
      const [x1, y1, x2, y2] = normalizeRect(pts);
      handles = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]].map(([x, y], i) => html`
        <circle class="wb-handle corner-${i}" cx=${x} cy=${y} data-testid="handle-corner-${i}"
          onMouseDown=${(/** @type {MouseEvent} */ e) => A.current.onCornerDown(e, o, i)} />`);
    } else if (editable) {
      handles = chunk2(pts).map(([x, y], i) => html`
        <circle class="wb-handle" cx=${x} cy=${y} data-testid="handle-vertex-${i}"
          onMouseDown=${(/** @type {MouseEvent} */ e) => A.current.onVertexDown(e, o, i)} />`);
    }
    return html`<g key=${o.cid}>${el}${handles}</g>`;
  };

  const renderDrawing = () => {
    if (!drawing) return null;
    const cur = drawing.cursor;
    if (drawing.type === 'rectangle') {
      if (!cur || drawing.points.length < 2) return null;
      const [x1, y1, x2, y2] = normalizeRect([...drawing.points.slice(0, 2), ...cur]);
      return html`<rect class="wb-drawing" x=${x1} y=${y1} width=${x2 - x1} height=${y2 - y1} />`;
    }
    const pts = cur ? [...drawing.points, ...cur] : drawing.points;
    return html`<g class="wb-drawing">
      ${drawing.type !== 'points' ? html`<polyline points=${pairs(pts)} fill="none" />` : null}
      ${chunk2(drawing.points).map(([x, y]) => html`<circle cx=${x} cy=${y} r=${handleR} />`)}
    </g>`;
  };

  /** One row of the objects list (kept while the object and its state are unchanged). @param {any} o */
  const renderItem = (o) => {
    const sel = selected.includes(o.cid);
    const label = labelById.get(o.label_id);
    const sid = serverIdOf(o.cid);
    return itemCache(o.cid, [o, sel, label, sid], () => html`
      <li key=${o.cid} data-testid="object-item" data-cid=${o.cid}
        class=${sel ? 'selected' : ''}
        onClick=${(/** @type {MouseEvent} */ e) => setSelected((sel) => ((e.ctrlKey || e.metaKey)
          ? (sel.includes(o.cid) ? sel.filter((c) => c !== o.cid) : [...sel, o.cid]) : [o.cid]))}>
        <div class="wb-obj-head">
          <span class="wb-swatch" style=${`background:${labelColor(o.label_id)}`}></span>
          <span class="wb-obj-label">${label?.name || o.label_id}</span>
          <span class="muted">${o.kind === 'tag' ? 'tag' : o.kind === 'track' ? `track ${o.type}` : o.type}</span>
          <span class="muted">#${sid ?? 'new'}</span>
          ${o.group ? html`<span class="badge">group ${o.group}</span>` : null}
          <span class="spacer"></span>
          ${o.kind !== 'tag' ? html`
            <button class="wb-toggle" aria-pressed=${!!o.locked} aria-label=${o.locked ? 'Unlock' : 'Lock'} title="Lock (L)"
              onClick=${(/** @type {Event} */ e) => { e.stopPropagation(); A.current.patchObject(o.cid, { locked: !o.locked }); }}>${lockIcon(!!o.locked)}</button>
            <button class="wb-toggle" aria-pressed=${!!o.hidden} aria-label=${o.hidden ? 'Show' : 'Hide'} title="Hide (H)"
              onClick=${(/** @type {Event} */ e) => { e.stopPropagation(); A.current.patchObject(o.cid, { hidden: !o.hidden }); }}>${o.hidden ? '◌' : '●'}</button>
            <button class="wb-toggle" aria-pressed=${!!o.occluded} aria-label="Occluded" title="Occluded (Q)" disabled=${o.locked}
              onClick=${(/** @type {Event} */ e) => { e.stopPropagation(); A.current.patchShown(o, { occluded: !o.occluded }); }}>${o.occluded ? '◐' : '○'}</button>` : null}
        </div>
        <div class="wb-obj-attrs muted">${attrSummary(o, label)}</div>
      </li>`);
  };

  const allLabels = shapesShown.length <= LABELS_ALL_MAX;
  const tagsHere = frameObjects.filter((o) => o.kind === 'tag');
  const frameCount = stopFrame - startFrame + 1;

  return html`
    <div class="wb" data-testid="workbench">
      <header class="wb-top">
        <a href=${`#/tasks/${task.id}`} onClick=${back} class="wb-back" data-testid="back-to-task">← ${task.name}</a>
        <span class="wb-title">Job #${job.id}</span>
        <div class="wb-nav" role="group" aria-label="Frame navigation">
          <button title="First frame (Home)" aria-label="First frame" onClick=${() => setFrame(startFrame)} disabled=${frame <= startFrame}>|◀</button>
          <button title="Previous frame (D)" aria-label="Previous frame" onClick=${() => setFrame(frame - 1)} disabled=${frame <= startFrame}>◀</button>
          <input type="range" aria-label="Frame slider" min=${startFrame} max=${stopFrame} value=${frame}
            onInput=${(/** @type {any} */ e) => setFrame(Number(e.target.value))} />
          <button title="Next frame (F)" aria-label="Next frame" onClick=${() => setFrame(frame + 1)} disabled=${frame >= stopFrame}>▶</button>
          <button title="Last frame (End)" aria-label="Last frame" onClick=${() => setFrame(stopFrame)} disabled=${frame >= stopFrame}>▶|</button>
          <label class="wb-goto">Frame
            <input type="number" data-testid="frame-input" min=${startFrame} max=${stopFrame}
              value=${frameInput === '' ? frame : frameInput}
              onInput=${(/** @type {any} */ e) => setFrameInput(e.target.value)}
              onKeyDown=${(/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter') { setFrame(Number(frameInput)); /** @type {any} */ (e.target).blur(); } }}
              onBlur=${() => setFrameInput('')} />
          </label>
          <span class="wb-frameinfo"><span data-testid="frame-number">${frame}</span> / ${stopFrame}
            <span class="muted"> ${frameInfo.name}</span>${frameLoading ? html` <span class="muted">loading…</span>` : null}</span>
        </div>
        <span class="spacer"></span>
        <button aria-label="Undo" title="Undo (Ctrl+Z)" onClick=${() => setHist(M.undo)} disabled=${!hist.past.length}>↶</button>
        <button aria-label="Redo" title="Redo (Ctrl+Shift+Z)" onClick=${() => setHist(M.redo)} disabled=${!hist.future.length}>↷</button>
        <button class="primary" data-testid="save-button" onClick=${save} disabled=${saveState.busy}
          title="Save (Ctrl+S)">${saveState.busy ? 'Saving…' : 'Save'}${dirty && !saveState.busy ? ' *' : ''}</button>
        <span class="wb-savestate muted" data-testid="save-state" role="status">${dirty ? 'Unsaved changes' : saveState.message || ''}</span>
        <label class="wb-status">Job status
          <select value=${job.status} disabled=${statusBusy} onChange=${(/** @type {any} */ e) => changeStatus(e.target.value)}>
            ${['annotation', 'validation', 'completed'].map((x) => html`<option value=${x}>${x}</option>`)}
          </select>
        </label>
        <button aria-label="Keyboard shortcuts" title="Shortcuts (F1)" onClick=${() => setShowHelp(true)}>?</button>
      </header>
      ${statusError ? html`<div class="wb-banner error" role="alert">${statusError}</div>` : null}
      ${saveState.error ? html`<div class="wb-banner error" role="alert" data-testid="save-error">${saveState.error}
        ${saveState.conflict ? html` <button onClick=${reload}>Reload the job</button>` : null}</div>` : null}
      ${frameError ? html`<div class="wb-banner error" role="alert">Frame ${frame}: ${frameError}</div>` : null}
      <div class="wb-body">
        <aside class="wb-tools" aria-label="Tools">
          <label class="field"><span>Label</span>
            <select data-testid="draw-label" value=${drawLabel} onChange=${(/** @type {any} */ e) => setDrawLabel(Number(e.target.value))}>
              ${labels.map((l) => html`<option value=${l.id}>${l.name}</option>`)}
            </select>
          </label>
          <button class=${mode === 'select' ? 'active' : ''} onClick=${() => startMode('select')} title="Select and edit (Esc)">Select</button>
          ${DRAW_TYPES.map((t) => html`
            <button class=${mode === t ? 'active' : ''} data-testid=${`draw-${t}`} onClick=${() => startMode(t)}
              disabled=${!labels.length} title=${`Draw a ${t} (N repeats)`}>${TYPE_NAMES[t]}</button>`)}
          <button onClick=${addTag} disabled=${!labels.length} data-testid="add-tag" title="Tag the frame with the label">Tag</button>
          <hr />
          <button onClick=${fit} title="Fit the image (double click)">Fit</button>
          <span class="muted wb-zoom">${Math.round(s * 100)}%</span>
          ${mode !== 'select' ? html`<p class="muted wb-hint">${hint(mode)}</p>` : null}
          ${allLabels ? null : html`<p class="muted wb-hint" data-testid="labels-hint">Over ${LABELS_ALL_MAX} shapes here: labels are shown for the selected ones.</p>`}
        </aside>
        <div class=${`wb-stage mode-${mode}`} ref=${stageRef} data-testid="stage"
          onMouseDown=${onStageDown} onMouseMove=${onStageMove} onDblClick=${onStageDbl}
          onContextMenu=${(/** @type {Event} */ e) => e.preventDefault()}>
          <div class="wb-layer" ref=${layerRef}
            style=${`width:${W}px;height:${H}px;transform:translate(${view.tx}px,${view.ty}px) scale(${s})`}>
            <canvas ref=${canvasRef} data-testid="frame-canvas" width=${W} height=${H}></canvas>
            <svg class="wb-svg" viewBox=${`0 0 ${W} ${H}`} width=${W} height=${H} style=${`--s:${s}`}>
              ${shapesShown.map(renderShape)}
              <g class="wb-labels">${(allLabels ? shapesShown : shapesShown.filter((o) => selected.includes(o.cid))).map(renderLabel)}</g>
              ${renderDrawing()}
            </svg>
          </div>
          ${tagsHere.length ? html`<div class="wb-tags">${tagsHere.map((t) => html`
            <span class="wb-tag" style=${`border-color:${labelColor(t.label_id)}`}>${labelById.get(t.label_id)?.name}</span>`)}</div>` : null}
        </div>
        <aside class="wb-side" aria-label="Objects">
          <h3>Objects on frame ${frame} <span class="muted">(${frameObjects.length})</span></h3>
          <ul class="wb-objects" data-testid="objects-list">
            ${frameObjects.map(renderItem)}
          </ul>
          ${selectedObj ? html`<${ObjectPanel} o=${selectedObj} label=${labelById.get(selectedObj.label_id)} labels=${labels}
            onLabel=${(/** @type {Label} */ l) => change((objs) => (selectedObj.kind === 'track'
              ? M.changeTrackLabel(objs, selectedObj.cid, l) : M.changeLabel(objs, selectedObj.cid, l)))}
            onOutside=${() => patchShown(selectedObj, { outside: true })}
            onAttr=${(/** @type {any} */ spec, /** @type {string} */ v) => setAttr(selectedObj, spec, v)}
            onZ=${(/** @type {'front'|'back'} */ w) => change((objs) => M.zOrder(objs, selectedObj.cid, w))}
            onDelete=${deleteSelected} />` : selected.length > 1 ? html`
            <div class="wb-panel"><p>${selected.length} objects selected.</p>
              <button onClick=${() => change((objs) => M.group(objs, selected))}>Group (G)</button>
              <button onClick=${() => change((objs) => M.group(objs, selected, true))}>Ungroup (Shift+G)</button>
              <button class="danger" onClick=${deleteSelected}>Delete (Del)</button></div>` : null}
          <p class="muted wb-count">${objects.length} objects in the job, ${frameCount} frames</p>
        </aside>
      </div>
      ${showHelp ? html`<${ShortcutsHelp} onClose=${() => setShowHelp(false)} />` : null}
    </div>`;
}

/** @param {string} mode */
function hint(mode) {
  return {
    rectangle: 'Drag, or click two opposite corners. Esc cancels.',
    polygon: 'Click the vertices; N, Enter or a double click finishes (3 points at least).',
    polyline: 'Click the vertices; N, Enter or a double click finishes (2 points at least).',
    points: 'Click the points; N, Enter or a double click finishes.',
  }[mode] || '';
}

/** @param {number[]} p */
function chunk2(p) {
  const out = [];
  for (let i = 0; i + 1 < p.length; i += 2) out.push([p[i], p[i + 1]]);
  return out;
}

/** @param {number[]} p */
const pairs = (p) => chunk2(p).map(([x, y]) => `${x},${y}`).join(' ');

/** @param {Obj} o @param {Label | undefined} label */
function attrSummary(o, label) {
  return (label?.attributes || []).map((a) => {
    const v = o.attributes.find((x) => x.spec_id === a.id);
    return v ? `${a.name}: ${v.value}` : null;
  }).filter(Boolean).join(', ');
}

/** A small padlock. @param {boolean} closed */
function lockIcon(closed) {
  return html`<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">
    <rect x="2" y="5.5" width="8" height="6" rx="1" fill="currentColor" />
    <path d=${closed ? 'M4 5.5V3.5a2 2 0 0 1 4 0v2' : 'M4 5.5V3.5a2 2 0 0 1 4 0'} fill="none" stroke="currentColor" stroke-width="1.3" /></svg>`;
}

/**
 * The selected object's details: label, attributes by input type (for tracks the
 * immutable ones belong to the track, the mutable ones to the keyframe of this frame),
 * z-order, delete.
 * @param {{o: any, label: Label | undefined, labels: Label[], onLabel: (l: Label) => void,
 *   onAttr: (spec: any, v: string) => void, onZ: (w: 'front'|'back') => void, onDelete: () => void,
 *   onOutside: () => void}} p
 */
function ObjectPanel({ o, label, labels, onLabel, onAttr, onZ, onDelete, onOutside }) {
  const ro = !!o.locked;
  const value = (/** @type {any} */ a) => o.attributes.find((/** @type {any} */ x) => x.spec_id === a.id)?.value ?? a.default_value ?? '';
  return html`
    <div class="wb-panel" data-testid="object-panel">
      <h3>${o.kind === 'tag' ? 'Tag' : o.kind === 'track' ? 'Track' : TYPE_NAMES[/** @type {'rectangle'} */ (o.type)]}
        ${o.kind === 'track' ? html` <span class="muted">${o.keyframe ? '(keyframe)' : '(interpolated)'}</span>` : null}
        ${o.locked ? html` <span class="muted">(locked)</span>` : null}</h3>
      <label class="field"><span>Object label</span>
        <select value=${o.label_id} disabled=${ro}
          onChange=${(/** @type {any} */ e) => { const l = labels.find((x) => x.id === Number(e.target.value)); if (l) onLabel(l); }}>
          ${labels.map((l) => html`<option value=${l.id}>${l.name}</option>`)}
        </select>
      </label>
      ${(label?.attributes || []).map((a) => html`<${AttrInput} key=${a.id} a=${a} value=${value(a)} disabled=${ro}
        onChange=${(/** @type {string} */ v) => onAttr(a, v)} />`)}
      ${o.kind === 'track' ? html`<p class="muted wb-hint">Editing the track here makes this frame a keyframe.</p>
        <div class="wb-row"><button disabled=${ro} onClick=${onOutside} title="The object leaves the view from this frame on">Outside from here</button></div>` : null}
      ${o.kind === 'shape' ? html`<div class="wb-row">
        <button disabled=${ro} onClick=${() => onZ('front')} title="Bring forward (+)">Bring forward</button>
        <button disabled=${ro} onClick=${() => onZ('back')} title="Send backward (-)">Send back</button></div>` : null}
      <div class="wb-row">
        <button class="danger" disabled=${ro} onClick=${onDelete} title="Delete (Del)">Delete</button>
        <span class="muted">z ${o.z_order}${o.group ? `, group ${o.group}` : ''}</span>
      </div>
    </div>`;
}

/**
 * One attribute's input by its type (§6.2).
 * @param {{a: any, value: string, disabled: boolean, onChange: (v: string) => void}} p
 */
function AttrInput({ a, value, disabled, onChange }) {
  const name = `${a.name}${a.mutable ? '' : ''}`;
  const title = a.mutable ? 'mutable: may change from frame to frame of a track' : 'immutable: one value per object';
  switch (a.input_type) {
    case 'select':
      return html`<label class="field" title=${title}><span>${name}</span>
        <select value=${value} disabled=${disabled} onChange=${(/** @type {any} */ e) => onChange(e.target.value)}>
          ${(a.values || []).map((/** @type {string} */ v) => html`<option value=${v}>${v}</option>`)}
          ${!(a.values || []).includes(value) ? html`<option value=${value}>${value}</option>` : null}
        </select></label>`;
    case 'radio':
      return html`<fieldset class="wb-radio" title=${title}><legend>${name}</legend>
        ${(a.values || []).map((/** @type {string} */ v) => html`<label>
          <input type="radio" name=${`attr-${a.id}`} value=${v} checked=${v === value} disabled=${disabled}
            onChange=${() => onChange(v)} /> ${v}</label>`)}</fieldset>`;
    case 'checkbox':
      return html`<label class="wb-check" title=${title}>
        <input type="checkbox" checked=${value === 'true'} disabled=${disabled}
          onChange=${(/** @type {any} */ e) => onChange(e.target.checked ? 'true' : 'false')} /> ${name}</label>`;
    case 'number': {
      const [min, max, step] = (a.values || []).map(Number);
      return html`<label class="field" title=${title}><span>${name}</span>
        <input type="number" min=${min} max=${max} step=${step || 1} value=${value} disabled=${disabled}
          onChange=${(/** @type {any} */ e) => {
            let v = Number(e.target.value);
            if (Number.isNaN(v)) return;
            if (!Number.isNaN(min)) v = Math.max(min, v);
            if (!Number.isNaN(max)) v = Math.min(max, v);
            onChange(String(v));
          }} /></label>`;
    }
    default:
      return html`<label class="field" title=${title}><span>${name}</span>
        <input type="text" value=${value} disabled=${disabled}
          onChange=${(/** @type {any} */ e) => onChange(e.target.value)} /></label>`;
  }
}

/** @param {{onClose: () => void}} p */
function ShortcutsHelp({ onClose }) {
  return html`
    <div class="wb-modal" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" data-testid="shortcuts-help"
      onClick=${(/** @type {MouseEvent} */ e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div class="card">
        <h3>Keyboard shortcuts</h3>
        <table class="grid"><tbody>
          ${SHORTCUTS.map((s) => html`<tr><td><kbd>${s.keys}</kbd></td><td>${s.text}</td></tr>`)}
        </tbody></table>
        <p class="muted">Mouse: wheel zooms, drag on empty space or the middle button pans, a double click on empty space fits the image; Ctrl+click selects several objects.</p>
        <button class="primary" onClick=${onClose}>Close</button>
      </div>
    </div>`;
}
