import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readZip } from '../../workbench/zip.js';

/** A stored zip (no compression) of the given members, as the server's chunks are. */
function storedZip(members, comment = '') {
  const locals = [], centrals = [];
  let offset = 0;
  for (const [name, data] of members) {
    const n = Buffer.from(name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0, 8);
    lh.writeUInt32LE(data.length, 18); lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(n.length, 26); lh.writeUInt16LE(0, 28);
    const extra = Buffer.from([0x55, 0x54, 1, 0, 0]); // an unrelated extra field in the central entry
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6);
    ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(n.length, 28); ch.writeUInt16LE(extra.length, 30); ch.writeUInt32LE(offset, 42);
    locals.push(lh, n, data);
    centrals.push(ch, n, extra);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const c = Buffer.from(comment);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(members.length, 8); eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cd.length, 12); eocd.writeUInt32LE(offset, 16); eocd.writeUInt16LE(c.length, 20);
  return Buffer.concat([...locals, cd, eocd, c]);
}

test('reads stored members in directory order', () => {
  const z = storedZip([['000000.jpeg', Buffer.from('first')], ['000001.jpeg', Buffer.from('second!')]], 'a comment');
  const m = readZip(new Uint8Array(z));
  assert.deepEqual(m.map((x) => x.name), ['000000.jpeg', '000001.jpeg']);
  assert.equal(Buffer.from(m[0].data).toString(), 'first');
  assert.equal(Buffer.from(m[1].data).toString(), 'second!');
});

test('works on an ArrayBuffer and an offset view', () => {
  const z = storedZip([['a.jpeg', Buffer.from([1, 2, 3])]]);
  const padded = new Uint8Array(z.length + 5);
  padded.set(z, 5);
  assert.deepEqual([...readZip(padded.subarray(5))[0].data], [1, 2, 3]);
  const ab = z.buffer.slice(z.byteOffset, z.byteOffset + z.length);
  assert.equal(readZip(ab).length, 1);
});

test('rejects non-zips and compressed members', () => {
  assert.throws(() => readZip(new Uint8Array(40)), /not a zip/);
  const z = storedZip([['a.jpeg', Buffer.from('x')]]);
  const cdStart = z.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  z.writeUInt16LE(8, cdStart + 10);
  assert.throws(() => readZip(new Uint8Array(z)), /compressed/);
});
