// @ts-check
/**
 * A small reader of stored (uncompressed) zip archives, as CVAT's `imageset` chunks
 * are: it parses the central directory and returns the members in directory order.
 * Pure: works in a worker, in the page and in node.
 */

/**
 * @param {ArrayBuffer | Uint8Array} input
 * @returns {{name: string, data: Uint8Array}[]}
 */
export function readZip(input) {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // end of central directory: signature 0x06054b50, searched backwards (comment ≤ 64 KiB)
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end of central directory)');
  let count = dv.getUint16(eocd + 10, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  // zip64 end of central directory locator, for very large chunks
  if ((cdOffset === 0xffffffff || count === 0xffff) && eocd >= 20 && dv.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64 = Number(dv.getBigUint64(eocd - 20 + 8, true));
    count = Number(dv.getBigUint64(z64 + 32, true));
    cdOffset = Number(dv.getBigUint64(z64 + 48, true));
  }
  const dec = new TextDecoder();
  const out = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (dv.getUint32(p, true) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = dv.getUint16(p + 10, true);
    let csize = dv.getUint32(p + 20, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let local = dv.getUint32(p + 42, true);
    const name = dec.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field (id 1) when sizes/offsets overflow
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true), sz = dv.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (dv.getUint32(p + 24, true) === 0xffffffff) q += 8;
        if (csize === 0xffffffff) { csize = Number(dv.getBigUint64(q, true)); q += 8; }
        if (local === 0xffffffff) local = Number(dv.getBigUint64(q, true));
      }
      e += 4 + sz;
    }
    p = eEnd + commentLen;
    if (name.endsWith('/')) continue;
    if (method !== 0) throw new Error(`zip member ${name} is compressed (method ${method}); only stored members are supported`);
    if (dv.getUint32(local, true) !== 0x04034b50) throw new Error('corrupt zip local header');
    const start = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    out.push({ name, data: bytes.subarray(start, start + csize) });
  }
  return out;
}
