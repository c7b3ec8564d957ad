// @ts-check
/** The task list: search, pages, previews, delete (§6.3). */
import { html, useEffect, useState } from '../lib.js';
import * as api from '../api.js';
import {
  ConfirmDialog, Preview, formatDate, otherErrors, useUsers, userName,
} from './common.js';

const PAGE_SIZE = 10;

/**
 * @param {{navigate: (to: string) => void, query: URLSearchParams, user: any}} props
 */
export function TasksPage({ navigate, query }) {
  const page = Math.max(1, Number(query.get('page')) || 1);
  const search = query.get('search') || '';
  const [text, setText] = useState(search);
  const [data, setData] = useState(/** @type {{count: number, results: any[]} | null} */ (null));
  const [error, setError] = useState('');
  const [reload, setReload] = useState(0);
  const [deleting, setDeleting] = useState(/** @type {any} */ (null));
  const users = useUsers();

  useEffect(() => { setText(search); }, [search]);

  useEffect(() => {
    let live = true;
    setError('');
    const qs = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE) });
    if (search) qs.set('search', search);
    api.get(`/tasks?${qs}`)
      .then((r) => { if (live) setData(r); })
      .catch((e) => {
        if (!live) return;
        // a page beyond the end (e.g. after deleting its last task): go back to page 1
        if (e instanceof api.ApiError && e.status === 404 && page > 1) go(1, search);
        else setError(otherErrors(e));
      });
    return () => { live = false; };
  }, [page, search, reload]);

  /** @param {number} p @param {string} s */
  function go(p, s) {
    const qs = new URLSearchParams();
    if (p > 1) qs.set('page', String(p));
    if (s) qs.set('search', s);
    const q = qs.toString();
    navigate(q ? `/tasks?${q}` : '/tasks');
  }

  /** @param {Event} e */
  const submitSearch = (e) => {
    e.preventDefault();
    go(1, text.trim());
  };

  const pages = data ? Math.max(1, Math.ceil(data.count / PAGE_SIZE)) : 1;

  return html`
    <div class="tasks-page">
      <div class="page-head">
        <h1>Tasks</h1>
        <form class="search" onSubmit=${submitSearch} role="search">
          <input type="search" aria-label="Search tasks" placeholder="Search by name, owner, mode, status"
            value=${text} onInput=${(/** @type {any} */ e) => setText(e.target.value)} data-testid="task-search" />
          <button type="submit">Search</button>
          ${search ? html`<button type="button" class="link" onClick=${() => go(1, '')}>Clear</button>` : null}
        </form>
        <span class="spacer"></span>
        <button class="primary" onClick=${() => navigate('/tasks/create')}>+ Create task</button>
      </div>
      ${error ? html`<div class="error form-error" role="alert">${error}</div>` : null}
      ${!data && !error ? html`<div class="loading">Loading…</div>` : null}
      ${data && data.results.length === 0 ? html`
        <div class="card empty-state" data-testid="tasks-empty">
          ${search ? html`No task matches “${search}”.` : html`No tasks yet. <a href="#/tasks/create">Create a task</a> to start annotating.`}
        </div>` : null}
      ${data && data.results.length > 0 ? html`
        <div class="task-list" data-testid="task-list">
          ${data.results.map((t) => html`
            <div class="card task-row" key=${t.id} data-testid="task-row" data-task-id=${t.id}>
              <a href=${`#/tasks/${t.id}`} class="thumb-link" tabindex="-1">
                <${Preview} taskId=${t.id} hasData=${t.data != null} />
              </a>
              <div class="task-main">
                <div class="task-title">
                  <a href=${`#/tasks/${t.id}`} class="task-name">${t.name}</a>
                  <span class="muted">#${t.id}</span>
                </div>
                <div class="task-meta muted">
                  Created by ${userName(users, t.owner) || '—'} on ${formatDate(t.created_date)}
                  ${t.assignee != null ? html` · Assigned to ${userName(users, t.assignee)}` : null}
                </div>
              </div>
              <div class="task-status">
                <span class=${`badge ${t.status}`}>${t.status}</span>
                <span class="muted mode">${t.mode || 'no data'}${t.size != null ? ` · ${t.size} frames` : ''}</span>
              </div>
              <div class="task-actions">
                <button class="primary" onClick=${() => navigate(`/tasks/${t.id}`)}>Open</button>
                <button class="danger" onClick=${() => setDeleting(t)} aria-label=${`Delete task ${t.name}`}>Delete</button>
              </div>
            </div>`)}
        </div>
        <div class="pager" data-testid="pager">
          <button onClick=${() => go(page - 1, search)} disabled=${page <= 1}>‹ Previous</button>
          <span>Page ${page} of ${pages} · ${data.count} task${data.count === 1 ? '' : 's'}</span>
          <button onClick=${() => go(page + 1, search)} disabled=${page >= pages}>Next ›</button>
        </div>` : null}
      ${deleting ? html`
        <${ConfirmDialog} title="Delete the task?" confirmLabel="Delete"
          onCancel=${() => setDeleting(null)}
          onConfirm=${async () => {
            await api.del(`/tasks/${deleting.id}`);
            setDeleting(null);
            setReload(reload + 1);
          }}>
          The task <b>${deleting.name}</b> and all its annotations will be deleted. This cannot be undone.
        <//>` : null}
    </div>`;
}
