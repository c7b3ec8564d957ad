// @ts-check
/**
 * The API client: every call the UI makes goes through here, to the public
 * /api/v1 API with `Authorization: Token <key>`, like any other CVAT client.
 */

const TOKEN_KEY = 'ferrocat.token';

/** An error answer of the API, with the DRF-style body. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {any} body
   */
  constructor(status, body) {
    super(ApiError.describe(body) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }

  /** A readable message from a DRF error body (string, list or field map). @param {any} body */
  static describe(body) {
    if (body == null) return '';
    if (typeof body === 'string') return body;
    if (Array.isArray(body)) return body.map(ApiError.describe).join(' ');
    if (typeof body === 'object') {
      if (typeof body.detail === 'string') return body.detail;
      return Object.entries(body)
        .map(([k, v]) => (k === 'non_field_errors' ? '' : `${k}: `) + ApiError.describe(v))
        .join(' ');
    }
    return String(body);
  }

  /** Errors of one field, for showing next to it. @param {string} field */
  field(field) {
    const v = this.body && typeof this.body === 'object' && !Array.isArray(this.body)
      ? this.body[field] : undefined;
    return v == null ? '' : ApiError.describe(v);
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

/** @param {string} key */
export function setToken(key) {
  if (key) localStorage.setItem(TOKEN_KEY, key);
  else localStorage.removeItem(TOKEN_KEY);
}

/**
 * Calls the API. `body`: a plain object (sent as JSON) or FormData.
 * @param {string} method
 * @param {string} path  below /api/v1, e.g. `/tasks?page=2` (or a root `/git/…` route)
 * @param {any} [body]
 * @param {Record<string, string>} [headers]
 * @returns {Promise<{status: number, body: any, headers: Headers}>}
 */
export async function call(method, path, body, headers = {}) {
  /** @type {Record<string, string>} */
  const h = { ...headers };
  const t = token();
  if (t) h.Authorization = `Token ${t}`;
  /** @type {BodyInit | undefined} */
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  // the git plugin's routes live at the server root (api-v1 §12)
  const url = path.startsWith('/git/') ? path : `/api/v1${path}`;
  const r = await fetch(url, { method, headers: h, body: payload });
  const text = await r.text();
  let parsed = null;
  if (text) {
    try { parsed = JSON.parse(text); } catch { parsed = text; }
  }
  if (r.status === 401 && t) {
    // the session ended elsewhere (password change, sign out): back to sign-in
    setToken('');
    window.dispatchEvent(new Event('ferrocat:signed-out'));
  }
  if (!r.ok) throw new ApiError(r.status, parsed);
  return { status: r.status, body: parsed, headers: r.headers };
}

/** @param {string} path */
export const get = async (path) => (await call('GET', path)).body;
/** @param {string} path @param {any} body */
export const post = async (path, body) => (await call('POST', path, body)).body;
/** @param {string} path @param {any} body */
export const patch = async (path, body) => (await call('PATCH', path, body)).body;
/** @param {string} path @param {any} body */
export const put = async (path, body) => (await call('PUT', path, body)).body;
/** @param {string} path */
export const del = async (path) => (await call('DELETE', path)).body;

/**
 * Follows the §10.2 export protocol: polls every `interval` ms until the file is
 * ready (201), then returns the download URL's blob.
 * @param {string} url  e.g. `/tasks/3/dataset?format=COCO%201.0`
 * @param {(state: string) => void} [progress]
 * @param {number} [interval]
 */
export async function exportFile(url, progress = () => {}, interval = 500) {
  for (;;) {
    const r = await call('GET', url);
    if (r.status === 201) break;
    progress('preparing');
    await new Promise((res) => setTimeout(res, interval));
  }
  progress('downloading');
  const t = token();
  const r = await fetch(`/api/v1${url}&action=download`, {
    headers: t ? { Authorization: `Token ${t}` } : {},
  });
  if (!r.ok) throw new ApiError(r.status, await r.text());
  const name = /filename="([^"]*)"/.exec(r.headers.get('Content-Disposition') || '')?.[1];
  return { blob: await r.blob(), name: name || 'export.zip' };
}

/**
 * Follows the §10.3 import protocol: sends the file, then polls until 201.
 * @param {string} url  e.g. `/tasks/3/annotations?format=CVAT%201.1`
 * @param {File} file
 */
export async function importFile(url, file, interval = 500) {
  const form = new FormData();
  form.append('annotation_file', file);
  let r = await call('PUT', url, form);
  while (r.status === 202) {
    await new Promise((res) => setTimeout(res, interval));
    r = await call('PUT', url, new FormData());
  }
}
