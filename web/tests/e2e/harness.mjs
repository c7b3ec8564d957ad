// The end-to-end harness: a real ferrocat (FERROCAT_BIN, default target/debug/ferrocat)
// on a free port with its own data folder and SQLite, and Debian's Chromium driven by
// playwright-core. Each test gets a fresh server and browser page; on failure a
// screenshot is saved under target/e2e-screenshots/.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(fileURLToPath(import.meta.url), '../../../..');
export const PASSWORD = 'e2e-Admin-pass-1';

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {any} */ (s.address());
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/** Starts ferrocat (with `env` added to its environment); returns { base, stop }. */
export async function startServer(env = {}) {
  const bin = process.env.FERROCAT_BIN || join(root, 'target/debug/ferrocat');
  const dir = mkdtempSync(join(tmpdir(), 'ferrocat-e2e-'));
  const port = await freePort();
  const child = spawn(bin, [], {
    cwd: dir,
    env: {
      ...process.env,
      FERROCAT_LISTEN: `127.0.0.1:${port}`,
      FERROCAT_ADMIN_PASSWORD: PASSWORD,
      FERROCAT_AUTH_RATE_LIMIT: '0',
      RUST_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (i > 600) throw new Error('ferrocat did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Launches Chromium with the flags DEVELOPERS.md gives. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * Runs `fn({ base, page, browser })` against a fresh server and page; saves a
 * screenshot named after the test when it throws.
 * @param {import('node:test').TestContext} t
 * @param {(ctx: {base: string, page: import('playwright-core').Page, browser: import('playwright-core').Browser}) => Promise<void>} fn
 * @param {Record<string, string>} [env]  added to the server's environment
 */
export async function withApp(t, fn, env = {}) {
  const server = await startServer(env);
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  try {
    await fn({ base: server.base, page, browser });
    if (errors.length) throw errors[0];
  } catch (e) {
    const dir = join(root, 'target/e2e-screenshots');
    mkdirSync(dir, { recursive: true });
    const name = t.name.replace(/[^a-z0-9]+/gi, '_');
    await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
    await server.stop();
  }
}

/** An API call as the admin (or with `token`), for set-up and checks. */
export async function api(base, method, path, body, token) {
  if (!token) {
    const r = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    token = (await r.json()).key;
  }
  const headers = { Authorization: `Token ${token}` };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const r = await fetch(`${base}/api/v1${path}`, { method, headers, body: payload });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Signs in through the UI as `username`. */
export async function signIn(page, base, username = 'admin', password = PASSWORD) {
  await page.goto(`${base}/#/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('current-user').waitFor();
}

/** A w×h RGB PNG with a gradient and a few blocks, different per seed (for uploads). */
export function pngImage(w, h, seed = 0) {
  const { deflateSync } = require_zlib();
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const block = ((x >> 5) + (y >> 5) + seed) % 3;
      raw[o] = (x * 255 / w) | 0;
      raw[o + 1] = (y * 255 / h) | 0;
      raw[o + 2] = block * 100;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

import * as zlib from 'node:zlib';
function require_zlib() { return zlib; }

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c;
}
