// @ts-check
/**
 * Projects (api-v1 §5, with CVAT 2's project labels): the list with search and a
 * create form, and one project's page with its labels, its tasks, a project export
 * and deletion.
 */
import { html, useEffect, useState } from '../lib.js';
import * as api from '../api.js';
import { ConfirmDialog, Field, fieldError, formatDate, otherErrors, useUsers, userName } from './common.js';
import { LabelsEditor, labelsPayload, validateLabels } from './labels.js';
import { ExportBlock, Labels } from './task.js';

const PAGE_SIZE = 10;

/**
 * The new-project form: a name and the labels its tasks will take.
 * @param {{onCreated: (p: any) => void, onCancel: () => void}} props
 */
function NewProject({ onCreated, onCancel }) {
  const [name, setName] = useState('');
  const [labels, setLabels] = useState(/** @type {any[]} */ ([]));
  const [local, setLocal] = useState(/** @type {Record<string, string>} */ ({}));
  const [error, setError] = useState(/** @type {any} */ (null));
  const [busy, setBusy] = useState(false);
  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    /** @type {Record<string, string>} */
    const errs = {};
    if (!name.trim()) errs.name = 'This field is required.';
    const le = validateLabels(labels);
    if (le) errs.labels = le;
    setLocal(errs);
    if (Object.keys(errs).length) return;
    setBusy(true);
    setError(null);
    try {
      onCreated(await api.post('/projects', { name: name.trim(), labels: labelsPayload(labels) }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const other = otherErrors(error, ['name', 'labels']);
  return html`
    <form class="card create-form" onSubmit=${submit} data-testid="create-project-form">
      <fieldset disabled=${busy}>
        <${Field} label="Name" error=${local.name || fieldError(error, 'name')} render=${(/** @type {string} */ id) => html`
          <input id=${id} value=${name} maxlength="256" autofocus data-testid="project-name"
            onInput=${(/** @type {any} */ e) => { setName(e.target.value); setLocal({ ...local, name: '' }); }} />`} />
        <h2>Labels</h2>
        <p class="muted">Every task of the project takes these labels.</p>
        <${LabelsEditor} labels=${labels} error=${local.labels || fieldError(error, 'labels')}
          onChange=${(/** @type {any[]} */ l) => { setLabels(l); setLocal({ ...local, labels: '' }); }} />
      </fieldset>
      ${other ? html`<div class="error form-error" role="alert">${other}</div>` : null}
      <div class="actions">
        <button type="button" onClick=${onCancel} disabled=${busy}>Cancel</button>
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Creating…' : 'Create project'}</button>
      </div>
    </form>`;
}

/**
 * @param {{navigate: (to: string) => void, query: URLSearchParams}} props
 */
export function ProjectsPage({ navigate, query }) {
  const page = Math.max(1, Number(query.get('page')) || 1);
  const search = query.get('search') || '';
  const [text, setText] = useState(search);
  const [data, setData] = useState(/** @type {{count: number, results: any[]} | null} */ (null));
  const [error, setError] = useState('');
  const [creating, setCreating] = useState(false);
  const users = useUsers();

  useEffect(() => { setText(search); }, [search]);
  useEffect(() => {
    let live = true;
    const qs = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE) });
    if (search) qs.set('search', search);
    api.get(`/projects?${qs}`)
      .then((r) => { if (live) setData(r); })
      .catch((e) => { if (live) setError(otherErrors(e)); });
    return () => { live = false; };
  }, [page, search]);

  /** @param {number} p @param {string} s */
  const go = (p, s) => {
    const qs = new URLSearchParams();
    if (p > 1) qs.set('page', String(p));
    if (s) qs.set('search', s);
    navigate(qs.toString() ? `/projects?${qs}` : '/projects');
  };
  const pages = data ? Math.max(1, Math.ceil(data.count / PAGE_SIZE)) : 1;

  return html`
    <div class="tasks-page projects-page">
      <div class="page-head">
        <h1>Projects</h1>
        <form class="search" role="search" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); go(1, text.trim()); }}>
          <input type="search" aria-label="Search projects" placeholder="Search by name, owner, assignee, status"
            value=${text} onInput=${(/** @type {any} */ e) => setText(e.target.value)} />
          <button type="submit">Search</button>
        </form>
        <span class="spacer"></span>
        ${creating ? null : html`<button class="primary" onClick=${() => setCreating(true)}>+ Create project</button>`}
      </div>
      ${creating ? html`<${NewProject} onCancel=${() => setCreating(false)}
        onCreated=${(/** @type {any} */ p) => navigate(`/projects/${p.id}`)} />` : null}
      ${error ? html`<div class="error form-error" role="alert">${error}</div>` : null}
      ${!data && !error ? html`<div class="loading">Loading…</div>` : null}
      ${data && data.results.length === 0 ? html`
        <div class="card empty-state" data-testid="projects-empty">
          ${search ? html`No project matches “${search}”.` : 'No projects yet. A project groups tasks that share labels.'}
        </div>` : null}
      ${data && data.results.length > 0 ? html`
        <div class="task-list" data-testid="project-list">
          ${data.results.map((p) => html`
            <div class="card task-row" key=${p.id} data-testid="project-row" data-project-id=${p.id}>
              <div class="task-main">
                <div class="task-title">
                  <a href=${`#/projects/${p.id}`} class="task-name">${p.name}</a>
                  <span class="muted">#${p.id}</span>
                </div>
                <div class="task-meta muted">
                  Created by ${userName(users, p.owner) || '—'} on ${formatDate(p.created_date)}
                  · ${p.labels.length} label${p.labels.length === 1 ? '' : 's'}
                </div>
              </div>
              <div class="task-actions">
                <button class="primary" onClick=${() => navigate(`/projects/${p.id}`)}>Open</button>
              </div>
            </div>`)}
        </div>
        <div class="pager">
          <button onClick=${() => go(page - 1, search)} disabled=${page <= 1}>‹ Previous</button>
          <span>Page ${page} of ${pages} · ${data.count} project${data.count === 1 ? '' : 's'}</span>
          <button onClick=${() => go(page + 1, search)} disabled=${page >= pages}>Next ›</button>
        </div>` : null}
    </div>`;
}

/**
 * @param {{id: number, navigate: (to: string) => void}} props
 */
export function ProjectPage({ id, navigate }) {
  const [project, setProject] = useState(/** @type {any} */ (null));
  const [tasks, setTasks] = useState(/** @type {any} */ (null));
  const [formats, setFormats] = useState(/** @type {any} */ (null));
  const [error, setError] = useState(/** @type {any} */ (null));
  const [deleting, setDeleting] = useState(false);
  const users = useUsers();

  useEffect(() => {
    api.get(`/projects/${id}`).then(setProject).catch(setError);
    api.get(`/projects/${id}/tasks?page_size=all`).then(setTasks).catch(setError);
    api.get('/server/annotation/formats').then(setFormats).catch(setError);
  }, [id]);

  if (error && !project) {
    const notFound = error instanceof api.ApiError && error.status === 404;
    return html`
      <div class="card empty-state" data-testid="project-error">
        ${notFound ? `Project #${id} does not exist.` : otherErrors(error)}
        <div><a href="#/projects">Back to the projects</a></div>
      </div>`;
  }
  if (!project) return html`<div class="loading">Loading…</div>`;
  /** @param {any} body */
  const patch = async (body) => { setProject(await api.patch(`/projects/${id}`, body)); };

  return html`
    <div class="task-page project-page" data-testid="project-page" data-project-id=${project.id}>
      <div class="page-head">
        <a href="#/projects" class="back">‹ Projects</a>
        <span class="spacer"></span>
        <button class="danger" onClick=${() => setDeleting(true)}>Delete project</button>
      </div>
      <section class="card">
        <h1>${project.name} <span class="muted">#${project.id}</span></h1>
        <div class="muted">Created by ${userName(users, project.owner) || '—'} on ${formatDate(project.created_date)}</div>
      </section>
      <${Labels} task=${project} onPatch=${patch} />
      <section class="card" data-testid="project-tasks">
        <div class="section-head">
          <h2>Tasks</h2>
          <button class="primary" onClick=${() => navigate(`/tasks/create?project=${project.id}`)}>+ Create task in this project</button>
        </div>
        ${!tasks ? html`<div class="loading">Loading…</div>` : null}
        ${tasks && tasks.results.length === 0 ? html`<div class="muted">No tasks yet.</div>` : null}
        ${tasks && tasks.results.length ? html`
          <ul class="project-tasks">
            ${tasks.results.map((/** @type {any} */ t) => html`
              <li key=${t.id} data-testid="project-task">
                <a href=${`#/tasks/${t.id}`}>${t.name}</a> <span class="muted">#${t.id} · ${t.status}${t.size != null ? ` · ${t.size} frames` : ''}</span>
              </li>`)}
          </ul>` : null}
      </section>
      <section class="card task-io">
        <div class="section-head"><h2>Export</h2></div>
        <p class="muted">One file with the frames and annotations of every task of the project.</p>
        <div class="io-grid">
          <${ExportBlock} base=${`/projects/${project.id}`} formats=${formats} preferred="COCO 1.0" />
        </div>
      </section>
      ${deleting ? html`
        <${ConfirmDialog} title="Delete the project?" confirmLabel="Delete"
          onCancel=${() => setDeleting(false)}
          onConfirm=${async () => {
            await api.del(`/projects/${project.id}`);
            navigate('/projects');
          }}>
          The project <b>${project.name}</b>, its ${tasks ? tasks.count : ''} tasks, their media and all
          their annotations will be deleted. This cannot be undone.
        <//>` : null}
    </div>`;
}
