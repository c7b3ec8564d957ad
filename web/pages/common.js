// @ts-check
/** Small building blocks shared by the pages: fields, dialogs, dates, downloads. */
import { html, useEffect, useRef, useState } from '../lib.js';
import * as api from '../api.js';

let nextId = 0;
/** A stable unique DOM id for label/for pairs. @param {string} prefix */
export function useId(prefix = 'f') {
  const ref = useRef('');
  if (!ref.current) ref.current = `${prefix}-${++nextId}`;
  return ref.current;
}

/**
 * A labelled form field with its error below (outside the <label>, so the
 * accessible name stays the label text).
 * @param {{label: string, error?: string, hint?: string, children?: any, testid?: string,
 *   render?: (id: string) => any}} props
 */
export function Field({ label, error, hint, render, testid }) {
  const id = useId('field');
  return html`
    <div class="form-field" data-testid=${testid}>
      <label for=${id}>${label}</label>
      ${render ? render(id) : null}
      ${hint && !error ? html`<div class="hint muted">${hint}</div>` : null}
      ${error ? html`<div class="error field-error" role="alert">${error}</div>` : null}
    </div>`;
}

/**
 * The error text of one field of an ApiError (or '').
 * @param {any} err
 * @param {string} name
 */
export function fieldError(err, name) {
  return err instanceof api.ApiError ? err.field(name) : '';
}

/**
 * The message of an error not tied to one of `known` fields: non_field_errors,
 * detail, bare strings/lists, network errors, or fields nobody shows.
 * @param {any} err
 * @param {string[]} [known]
 */
export function otherErrors(err, known = []) {
  if (!err) return '';
  if (!(err instanceof api.ApiError)) return String(err.message || err);
  const b = err.body;
  if (b && typeof b === 'object' && !Array.isArray(b)) {
    const rest = Object.fromEntries(Object.entries(b).filter(([k]) => !known.includes(k)));
    return Object.keys(rest).length ? api.ApiError.describe(rest) : '';
  }
  return err.message;
}

/** A date-time as the user's locale writes it. @param {string | null | undefined} s */
export function formatDate(s) {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

/** Bytes as "1.2 MB". @param {number} n */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Makes the browser save `blob` as `name` (a hidden <a download> click). @param {Blob} blob @param {string} name */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * A modal confirmation (native <dialog>). Rendered only while open.
 * @param {{title: string, children?: any, confirmLabel?: string, danger?: boolean,
 *   onConfirm: () => Promise<void> | void, onCancel: () => void}} props
 */
export function ConfirmDialog({ title, children, confirmLabel = 'OK', danger = true, onConfirm, onCancel }) {
  const ref = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => { if (d && d.open) d.close(); };
  }, []);
  const confirm = async () => {
    setBusy(true);
    setError('');
    try {
      await onConfirm();
    } catch (e) {
      setError(otherErrors(e) || String(e));
      setBusy(false);
    }
  };
  return html`
    <dialog class="confirm" ref=${ref} data-testid="confirm-dialog"
      onCancel=${(/** @type {Event} */ e) => { e.preventDefault(); if (!busy) onCancel(); }}>
      <h3>${title}</h3>
      <div class="confirm-body">${children}</div>
      ${error ? html`<div class="error">${error}</div>` : null}
      <div class="actions">
        <button onClick=${onCancel} disabled=${busy}>Cancel</button>
        <button class=${danger ? 'primary danger-fill' : 'primary'} onClick=${confirm} disabled=${busy}>
          ${busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>`;
}

/** All users (id → user), for owner/assignee names and pickers. */
export function useUsers() {
  const [users, setUsers] = useState(/** @type {any[]} */ ([]));
  useEffect(() => {
    let live = true;
    api.get('/users?page_size=all')
      .then((r) => { if (live) setUsers(r.results || r); })
      .catch(() => {});
    return () => { live = false; };
  }, []);
  return users;
}

/** @param {any[]} users @param {number | null | undefined} id */
export function userName(users, id) {
  if (id == null) return '';
  const u = users.find((x) => x.id === id);
  return u ? u.username : `#${id}`;
}

/**
 * The preview of a task (fetched with the token, shown through an object URL).
 * @param {{taskId: number, hasData?: boolean}} props
 */
export function Preview({ taskId, hasData = true }) {
  const [src, setSrc] = useState('');
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (!hasData) return undefined;
    let url = '';
    let live = true;
    const t = api.token();
    fetch(`/api/v1/tasks/${taskId}/data?type=preview`, {
      headers: t ? { Authorization: `Token ${t}` } : {},
    })
      .then(async (r) => {
        if (!r.ok) throw new Error(String(r.status));
        const blob = await r.blob();
        if (!live) return;
        url = URL.createObjectURL(blob);
        setSrc(url);
      })
      .catch(() => { if (live) setFailed(true); });
    return () => { live = false; if (url) URL.revokeObjectURL(url); };
  }, [taskId, hasData]);
  if (src) return html`<img class="preview" src=${src} alt="Preview" data-testid="task-preview" />`;
  return html`<div class="preview empty">${failed || !hasData ? 'No preview' : ''}</div>`;
}
