// @ts-check
/// <reference lib="webworker" />
/**
 * Unzips a compressed chunk (stored zip of JPEGs) and decodes its frames to
 * ImageBitmaps off the main thread. Message in: `{id, buffer}`; out:
 * `{id, bitmaps}` (transferred) or `{id, error}`.
 */
import { readZip } from './zip.js';

self.onmessage = async (ev) => {
  const { id, buffer } = ev.data;
  try {
    const members = readZip(buffer);
    const bitmaps = await Promise.all(members.map((m) => {
      const type = /\.png$/i.test(m.name) ? 'image/png' : 'image/jpeg';
      return createImageBitmap(new Blob([/** @type {any} */ (m.data)], { type }));
    }));
    /** @type {any} */ (self).postMessage({ id, bitmaps }, bitmaps);
  } catch (e) {
    self.postMessage({ id, error: String(e && /** @type {any} */ (e).message || e) });
  }
};
