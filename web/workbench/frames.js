// @ts-check
/**
 * Frames of a task from its compressed chunks (§7.4): each chunk (a stored zip of
 * JPEGs) is fetched with the token header, unzipped and decoded to ImageBitmaps in a
 * worker (chunk-worker.js); the chunk after the one in use is prefetched.
 */
import { token } from '../api.js';

export class FrameProvider {
  /**
   * `chunkType`: `imageset` (zip chunks) or `video` (mp4 chunks, which the browser
   * cannot cut into frames here: those tasks are read frame by frame, `type=frame`).
   * @param {{taskId: number, chunkSize: number, size: number, startFrame: number, stopFrame: number, chunkType?: string}} o
   */
  constructor({ taskId, chunkSize, size, startFrame, stopFrame, chunkType = 'imageset' }) {
    this.taskId = taskId;
    this.perFrame = chunkType === 'video';
    /** @type {Map<number, Promise<ImageBitmap>>} */
    this.single = new Map();
    /** @type {Map<number, ImageBitmap>} */
    this.singleReady = new Map();
    this.chunkSize = Math.max(1, chunkSize || 1);
    this.size = size;
    this.startFrame = startFrame;
    this.stopFrame = stopFrame;
    /** @type {Map<number, Promise<ImageBitmap[]>>} */
    this.chunks = new Map();
    /** @type {Map<number, ImageBitmap[]>} */
    this.ready = new Map();
    this.worker = new Worker(new URL('./chunk-worker.js', import.meta.url), { type: 'module' });
    /** @type {Map<number, {resolve: (b: ImageBitmap[]) => void, reject: (e: Error) => void}>} */
    this.pending = new Map();
    this.seq = 0;
    this.worker.onmessage = (ev) => {
      const p = this.pending.get(ev.data.id);
      if (!p) return;
      this.pending.delete(ev.data.id);
      if (ev.data.error) p.reject(new Error(ev.data.error));
      else p.resolve(ev.data.bitmaps);
    };
  }

  /** @param {number} frame */
  chunkOf(frame) { return Math.floor(frame / this.chunkSize); }

  /** @param {number} n @returns {Promise<ImageBitmap[]>} */
  loadChunk(n) {
    let p = this.chunks.get(n);
    if (p) return p;
    p = (async () => {
      const t = token();
      const r = await fetch(`/api/v1/tasks/${this.taskId}/data?type=chunk&number=${n}&quality=compressed`, {
        headers: t ? { Authorization: `Token ${t}` } : {},
      });
      if (!r.ok) throw new Error(`chunk ${n}: HTTP ${r.status} ${await r.text()}`);
      const buffer = await r.arrayBuffer();
      const id = ++this.seq;
      /** @type {ImageBitmap[]} */
      const bitmaps = await new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        this.worker.postMessage({ id, buffer }, [buffer]);
      });
      this.ready.set(n, bitmaps);
      this.evict(n);
      return bitmaps;
    })();
    p.catch(() => this.chunks.delete(n));
    this.chunks.set(n, p);
    return p;
  }

  /** Keeps at most the chunks around `n` decoded. @param {number} n */
  evict(n) {
    for (const k of [...this.ready.keys()]) {
      if (Math.abs(k - n) > 2) {
        for (const b of this.ready.get(k) || []) b.close();
        this.ready.delete(k);
        this.chunks.delete(k);
      }
    }
  }

  /** One frame by itself (video tasks). @param {number} frame @returns {Promise<ImageBitmap>} */
  loadSingle(frame) {
    let p = this.single.get(frame);
    if (p) return p;
    p = (async () => {
      const t = token();
      const r = await fetch(`/api/v1/tasks/${this.taskId}/data?type=frame&number=${frame}&quality=compressed`, {
        headers: t ? { Authorization: `Token ${t}` } : {},
      });
      if (!r.ok) throw new Error(`frame ${frame}: HTTP ${r.status} ${await r.text()}`);
      const b = await createImageBitmap(await r.blob());
      this.singleReady.set(frame, b);
      for (const k of [...this.singleReady.keys()]) {
        if (Math.abs(k - frame) > 20) {
          this.singleReady.get(k)?.close();
          this.singleReady.delete(k);
          this.single.delete(k);
        }
      }
      return b;
    })();
    p.catch(() => this.single.delete(frame));
    this.single.set(frame, p);
    return p;
  }

  /** The frame at once if its chunk is decoded. @param {number} frame */
  peek(frame) {
    if (this.perFrame) return this.singleReady.get(frame) || null;
    const c = this.ready.get(this.chunkOf(frame));
    return c ? c[frame - this.chunkOf(frame) * this.chunkSize] || null : null;
  }

  /**
   * The frame's bitmap; prefetches the neighbouring chunk in the direction of travel.
   * @param {number} frame
   */
  async frame(frame) {
    if (this.perFrame) {
      const b = await this.loadSingle(frame);
      for (let k = frame + 1; k <= Math.min(this.stopFrame, frame + 5); k++) this.loadSingle(k).catch(() => {});
      return b;
    }
    const n = this.chunkOf(frame);
    const bitmaps = await this.loadChunk(n);
    const last = this.chunkOf(this.stopFrame);
    if (n + 1 <= last) this.loadChunk(n + 1).catch(() => {});
    const first = this.chunkOf(this.startFrame);
    if (frame - n * this.chunkSize < this.chunkSize / 4 && n - 1 >= first) this.loadChunk(n - 1).catch(() => {});
    const b = bitmaps[frame - n * this.chunkSize];
    if (!b) throw new Error(`frame ${frame} is missing from chunk ${n}`);
    return b;
  }

  close() {
    this.worker.terminate();
    for (const b of this.singleReady.values()) b.close();
    this.singleReady.clear();
    for (const c of this.ready.values()) for (const b of c) b.close();
    this.ready.clear();
    this.chunks.clear();
  }
}
