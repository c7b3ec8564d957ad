// @ts-check
/**
 * One task: details and their edits (§6.6), labels, jobs (§8), export/import of
 * annotations (§10.2, §10.3), deletion (§6.7).
 */
import { html, useEffect, useState } from '../lib.js';
import * as api from '../api.js';
import {
  ConfirmDialog, Preview, formatDate, otherErrors, saveBlob, useId, useUsers, userName,
} from './common.js';
import { LabelsEditor, labelsPayload, validateLabels } from './labels.js';

const JOB_STATUSES = ['annotation', 'validation', 'completed'];

/**
 * A value shown as text with an Edit button that turns it into an input.
 * @param {{label: string, value: string, onSave: (v: string) => Promise<void>, placeholder?: string,
 *   render?: (v: string) => any, required?: boolean}} props
 */
function EditableText({ label, value, onSave, placeholder = '', render, required = false }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(value);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const id = useId('edit');
  const save = async (/** @type {Event} */ e) => {
    e.preventDefault();
    if (required && !text.trim()) { setError('This field may not be blank.'); return; }
    setBusy(true);
    setError('');
    try {
      await onSave(text.trim());
      setEditing(false);
    } catch (err) {
      setError(otherErrors(err));
    } finally {
      setBusy(false);
    }
  };
  if (!editing) {
    return html`
      <span class="editable">
        ${value ? (render ? render(value) : value) : html`<span class="muted">${placeholder || 'not set'}</span>`}
        <button type="button" class="link" aria-label=${`Edit ${label.toLowerCase()}`}
          onClick=${() => { setText(value); setEditing(true); setError(''); }}>Edit</button>
      </span>`;
  }
  return html`
    <form class="inline-edit" onSubmit=${save}>
      <label for=${id} class="visually-hidden">${label}</label>
      <input id=${id} value=${text} autofocus placeholder=${placeholder} disabled=${busy}
        onInput=${(/** @type {any} */ e) => setText(e.target.value)}
        onKeyDown=${(/** @type {KeyboardEvent} */ e) => { if (e.key === 'Escape') setEditing(false); }} />
      <button type="submit" class="primary" disabled=${busy}>${busy ? 'Saving…' : 'Save'}</button>
      <button type="button" onClick=${() => setEditing(false)} disabled=${busy}>Cancel</button>
      ${error ? html`<div class="error" role="alert">${error}</div>` : null}
    </form>`;
}

/**
 * A select of users (with "none"), saving on change.
 * @param {{id?: string, label?: string, users: any[], value: number | null, onSave: (v: number | null) => Promise<void>, testid?: string}} props
 */
function UserSelect({ id, label, users, value, onSave, testid }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const change = async (/** @type {any} */ e) => {
    const v = e.target.value === '' ? null : Number(e.target.value);
    setBusy(true);
    setError('');
    try {
      await onSave(v);
    } catch (err) {
      setError(otherErrors(err));
      e.target.value = value == null ? '' : String(value);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <span class="user-select">
      <select id=${id} aria-label=${label} value=${value == null ? '' : String(value)} disabled=${busy}
        onChange=${change} data-testid=${testid}>
        <option value="">—</option>
        ${users.map((u) => html`<option value=${String(u.id)}>${u.username}</option>`)}
        ${value != null && !users.some((u) => u.id === value) ? html`<option value=${String(value)}>#${value}</option>` : null}
      </select>
      ${error ? html`<div class="error" role="alert">${error}</div>` : null}
    </span>`;
}

/**
 * @param {{task: any, users: any[], onPatch: (body: any) => Promise<void>}} props
 */
function Details({ task, users, onPatch }) {
  const assigneeId = useId('assignee');
  return html`
    <div class="card task-details" data-testid="task-details">
      <${Preview} taskId=${task.id} hasData=${task.data != null} />
      <div class="details-main">
        <h1 class="task-heading">
          <${EditableText} label="Name" value=${task.name} required=${true}
            onSave=${(/** @type {string} */ v) => onPatch({ name: v })} />
        </h1>
        <dl class="details-grid">
          <dt>Status</dt><dd><span class=${`badge ${task.status}`}>${task.status}</span></dd>
          <dt>Owner</dt><dd>${userName(users, task.owner) || '—'}</dd>
          <dt><label for=${assigneeId}>Assignee</label></dt>
          <dd><${UserSelect} id=${assigneeId} users=${users} value=${task.assignee} testid="task-assignee"
            onSave=${(/** @type {number | null} */ v) => onPatch({ assignee: v })} /></dd>
          <dt>Mode</dt><dd>${task.mode || '—'}</dd>
          <dt>Size</dt><dd>${task.size != null ? `${task.size} frames` : 'no data'}</dd>
          <dt>Image quality</dt><dd>${task.image_quality ?? '—'}</dd>
          <dt>Segment size</dt><dd>${task.segment_size || 'whole task'}${task.overlap ? `, overlap ${task.overlap}` : ''}</dd>
          <dt>Created</dt><dd>${formatDate(task.created_date)}</dd>
          <dt>Updated</dt><dd>${formatDate(task.updated_date)}</dd>
          <dt>Bug tracker</dt>
          <dd><${EditableText} label="Bug tracker" value=${task.bug_tracker || ''} placeholder="no issue tracker"
            render=${(/** @type {string} */ v) => (/^https?:\/\//i.test(v)
              ? html`<a href=${v} target="_blank" rel="noopener noreferrer">${v}</a>` : v)}
            onSave=${(/** @type {string} */ v) => onPatch({ bug_tracker: v })} /></dd>
        </dl>
      </div>
    </div>`;
}

/** @param {any} a */
function attrSummary(a) {
  const v = a.input_type === 'number' ? `${a.values[0]}…${a.values[1]} step ${a.values[2]}` : a.values.join(', ');
  return `${a.name} (${a.input_type}${a.mutable ? ', mutable' : ''}${v ? `: ${v}` : ''})`;
}

/**
 * The labels of a task or a project, with "+ Add labels" (merged by name). `note`
 * replaces the button where labels cannot be added here (a task in a project).
 * @param {{task: any, onPatch: (body: any) => Promise<void>, note?: any}} props
 */
export function Labels({ task, onPatch, note }) {
  const [adding, setAdding] = useState(/** @type {any[] | null} */ (null));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const save = async () => {
    const problem = validateLabels(adding || []) || (adding && adding.length ? '' : 'Add at least one label.');
    if (problem) { setError(problem); return; }
    // merge by name: existing labels (as they are) plus the new ones; a new label with an
    // existing name adds its attributes to that label
    const merged = labelsPayload(task.labels.map((/** @type {any} */ l) => ({ ...l, attributes: [...l.attributes] })));
    for (const nl of labelsPayload(adding || [])) {
      const old = merged.find((l) => l.name === nl.name);
      if (old) old.attributes.push(...nl.attributes.filter((a) => !old.attributes.some((o) => o.name === a.name)));
      else merged.push(nl);
    }
    setBusy(true);
    setError('');
    try {
      await onPatch({ labels: merged });
      setAdding(null);
    } catch (err) {
      setError(otherErrors(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <section class="card task-labels" data-testid="task-labels">
      <div class="section-head">
        <h2>Labels</h2>
        ${note ? html`<span class="muted" data-testid="labels-note">${note}</span>` : null}
        ${adding === null && !note ? html`<button type="button" onClick=${() => { setAdding([]); setError(''); }}>+ Add labels</button>` : null}
      </div>
      <div class="label-chips">
        ${task.labels.length === 0 ? html`<span class="muted">No labels.</span>` : null}
        ${task.labels.map((/** @type {any} */ l) => html`
          <span class="label-chip" key=${l.id} title=${l.attributes.map(attrSummary).join('\n')}>
            ${l.name}${l.attributes.length ? html` <span class="muted">(${l.attributes.length} attr.)</span>` : null}
          </span>`)}
      </div>
      ${adding !== null ? html`
        <div class="add-labels">
          <fieldset disabled=${busy}>
            <${LabelsEditor} labels=${adding} onChange=${(/** @type {any[]} */ l) => { setAdding(l); setError(''); }} error=${error} />
          </fieldset>
          <div class="actions">
            <button type="button" onClick=${() => setAdding(null)} disabled=${busy}>Cancel</button>
            <button type="button" class="primary" onClick=${save} disabled=${busy}>${busy ? 'Saving…' : 'Save labels'}</button>
          </div>
        </div>` : null}
    </section>`;
}

/**
 * @param {{taskId: number, users: any[], onChanged: () => void}} props
 */
function Jobs({ taskId, users, onChanged }) {
  const [jobs, setJobs] = useState(/** @type {any[] | null} */ (null));
  const [error, setError] = useState('');
  const [saving, setSaving] = useState(/** @type {number | null} */ (null));
  useEffect(() => {
    let live = true;
    api.get(`/tasks/${taskId}/jobs`)
      .then((j) => { if (live) setJobs(j); })
      .catch((e) => { if (live) setError(otherErrors(e)); });
    return () => { live = false; };
  }, [taskId]);

  /** @param {any} job @param {any} body */
  const patchJob = async (job, body) => {
    setSaving(job.id);
    setError('');
    try {
      const updated = await api.patch(`/jobs/${job.id}`, body);
      setJobs((jobs || []).map((j) => (j.id === job.id ? { ...j, ...updated } : j)));
      onChanged();
    } catch (e) {
      setError(`Job #${job.id}: ${otherErrors(e)}`);
      throw e;
    } finally {
      setSaving(null);
    }
  };

  return html`
    <section class="card task-jobs">
      <div class="section-head"><h2>Jobs</h2></div>
      ${error ? html`<div class="error form-error" role="alert">${error}</div>` : null}
      ${!jobs && !error ? html`<div class="muted">Loading…</div>` : null}
      ${jobs && jobs.length === 0 ? html`<div class="muted">No jobs: the task has no data.</div>` : null}
      ${jobs && jobs.length ? html`
        <table class="grid jobs" data-testid="jobs-table">
          <thead><tr><th>Job</th><th>Frames</th><th>Status</th><th>Assignee</th><th></th></tr></thead>
          <tbody>
            ${jobs.map((j) => html`
              <tr key=${j.id} data-testid="job-row" data-job-id=${j.id}>
                <td><a href=${`#/jobs/${j.id}`}>Job #${j.id}</a></td>
                <td>${j.start_frame}–${j.stop_frame}</td>
                <td>
                  <select aria-label=${`Status of job ${j.id}`} value=${j.status} disabled=${saving === j.id}
                    class=${`status-select ${j.status}`}
                    onChange=${(/** @type {any} */ e) => patchJob(j, { status: e.target.value })
                      .catch(() => { e.target.value = j.status; })}>
                    ${JOB_STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
                  </select>
                </td>
                <td><${UserSelect} label=${`Assignee of job ${j.id}`} users=${users} value=${j.assignee}
                  onSave=${(/** @type {number | null} */ v) => patchJob(j, { assignee: v })} /></td>
                <td><a class="button primary" href=${`#/jobs/${j.id}`}>Annotate</a></td>
              </tr>`)}
          </tbody>
        </table>` : null}
    </section>`;
}

/** `.json,.zip` from an importer's `ext` ("JSON, ZIP"). @param {string} ext */
function acceptOf(ext) {
  return (ext || '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean).map((s) => `.${s}`).join(',');
}

/**
 * Export of a task's or a project's annotations or dataset (§10.2) in a chosen format.
 * @param {{base: string, formats: {exporters: any[]} | null, preferred: string}} props
 *   `base`: `/tasks/3` or `/projects/2`
 */
export function ExportBlock({ base, formats, preferred }) {
  const [chosen, setExportFormat] = useState('');
  const [exporting, setExporting] = useState(/** @type {string} */ (''));
  const [exportMsg, setExportMsg] = useState({ ok: '', error: '' });
  const expId = useId('export');
  // until the user picks one: the preferred format, or the first enabled one
  const fallback = formats?.exporters.find((/** @type {any} */ x) => x.name === preferred && x.enabled)
    || formats?.exporters.find((/** @type {any} */ x) => x.enabled);
  const exportFormat = chosen || (fallback ? fallback.name : '');

  /** @param {'annotations' | 'dataset'} kind */
  const doExport = async (kind) => {
    setExporting(kind);
    setExportMsg({ ok: '', error: '' });
    try {
      const { blob, name } = await api.exportFile(
        `${base}/${kind}?format=${encodeURIComponent(exportFormat)}`, () => {}, 500,
      );
      saveBlob(blob, name);
      setExportMsg({ ok: `Downloaded ${name}`, error: '' });
    } catch (e) {
      setExportMsg({ ok: '', error: `Could not export ${kind} as ${exportFormat}: ${otherErrors(e)}` });
    } finally {
      setExporting('');
    }
  };

  return html`
        <div class="io-block" data-testid="export-block">
          <label for=${expId}>Export format</label>
          <div class="io-row">
            <select id=${expId} value=${exportFormat} disabled=${!!exporting || !formats}
              onChange=${(/** @type {any} */ e) => setExportFormat(e.target.value)}>
              ${(formats?.exporters || []).map((f) => html`
                <option value=${f.name} disabled=${!f.enabled}>${f.name}${f.enabled ? '' : ' (not available)'}</option>`)}
            </select>
            <button type="button" disabled=${!!exporting || !exportFormat} onClick=${() => doExport('annotations')}>
              ${exporting === 'annotations' ? 'Exporting…' : 'Export annotations'}
            </button>
            <button type="button" disabled=${!!exporting || !exportFormat} onClick=${() => doExport('dataset')}>
              ${exporting === 'dataset' ? 'Exporting…' : 'Export dataset'}
            </button>
          </div>
          ${exporting ? html`
            <div class="io-progress" data-testid="export-progress">
              <span class="muted">Preparing the ${exporting} in ${exportFormat}…</span>
              <div class="progress"><div class="indeterminate"></div></div>
            </div>` : null}
          ${exportMsg.ok ? html`<div class="ok" data-testid="export-ok">${exportMsg.ok}</div>` : null}
          ${exportMsg.error ? html`<div class="error" role="alert">${exportMsg.error}</div>` : null}
        </div>`;
}

/**
 * @param {{task: any, onImported: () => void}} props
 */
function ExportImport({ task, onImported }) {
  const [formats, setFormats] = useState(/** @type {{importers: any[], exporters: any[]} | null} */ (null));
  const [importFormat, setImportFormat] = useState('');
  const [file, setFile] = useState(/** @type {File | null} */ (null));
  const [importing, setImporting] = useState(false);
  const [confirmImport, setConfirmImport] = useState(false);
  const [importMsg, setImportMsg] = useState({ ok: '', error: '' });
  const impId = useId('import');
  const fileId = useId('file');

  useEffect(() => {
    api.get('/server/annotation/formats').then((f) => {
      setFormats(f);
      const im = f.importers.find((/** @type {any} */ x) => x.name === 'CVAT 1.1' && x.enabled)
        || f.importers.find((/** @type {any} */ x) => x.enabled);
      setImportFormat(im ? im.name : '');
    }).catch((e) => setImportMsg({ ok: '', error: otherErrors(e) }));
  }, []);

  const doImport = async () => {
    if (!file) return;
    setImporting(true);
    setImportMsg({ ok: '', error: '' });
    try {
      await api.importFile(`/tasks/${task.id}/annotations?format=${encodeURIComponent(importFormat)}`, file);
      setImportMsg({ ok: `Annotations imported from ${file.name}.`, error: '' });
      setFile(null);
      onImported();
    } catch (e) {
      setImportMsg({ ok: '', error: `Could not import annotations: ${otherErrors(e)}` });
    } finally {
      setImporting(false);
      setConfirmImport(false);
    }
  };

  const importer = formats?.importers.find((x) => x.name === importFormat);
  return html`
    <section class="card task-io">
      <div class="section-head"><h2>Export and import</h2></div>
      <div class="io-grid">
        <${ExportBlock} base=${`/tasks/${task.id}`} formats=${formats}
          preferred=${task.mode === 'interpolation' ? 'CVAT for video 1.1' : 'CVAT for images 1.1'} />
        <div class="io-block" data-testid="import-block">
          <label for=${impId}>Import format</label>
          <div class="io-row">
            <select id=${impId} value=${importFormat} disabled=${importing || !formats}
              onChange=${(/** @type {any} */ e) => setImportFormat(e.target.value)}>
              ${(formats?.importers || []).map((f) => html`
                <option value=${f.name} disabled=${!f.enabled}>${f.name}${f.enabled ? '' : ' (not available)'}</option>`)}
            </select>
            <label for=${fileId} class="visually-hidden">Annotation file</label>
            <input id=${fileId} type="file" accept=${importer ? acceptOf(importer.ext) : ''} disabled=${importing}
              onChange=${(/** @type {any} */ e) => { setFile(e.target.files?.[0] || null); setImportMsg({ ok: '', error: '' }); }} />
            <button type="button" disabled=${importing || !file || !importFormat}
              onClick=${() => setConfirmImport(true)}>${importing ? 'Importing…' : 'Upload annotations'}</button>
          </div>
          ${importing ? html`<div class="progress"><div class="indeterminate"></div></div>` : null}
          ${importMsg.ok ? html`<div class="ok" role="status" data-testid="import-ok">${importMsg.ok}</div>` : null}
          ${importMsg.error ? html`<div class="error" role="alert" data-testid="import-error">${importMsg.error}</div>` : null}
        </div>
      </div>
      ${confirmImport ? html`
        <${ConfirmDialog} title="Replace the annotations?" confirmLabel="Import"
          onCancel=${() => setConfirmImport(false)} onConfirm=${doImport}>
          All current annotations of the task will be deleted and replaced by those of
          <b>${file?.name}</b> (${importFormat}).
        <//>` : null}
    </section>`;
}

/**
 * The task's dataset repository (api-v1 §12), when it has one: where it pushes, whether
 * the repository has the task's current annotations, and a Push button.
 * @param {{taskId: number}} props
 */
function Repository({ taskId }) {
  const [repo, setRepo] = useState(/** @type {any} */ (null));
  const [pushing, setPushing] = useState(false);
  const [error, setError] = useState('');
  const load = () => api.get(`/git/repository/get/${taskId}`).then(setRepo).catch((e) => setError(otherErrors(e)));
  useEffect(() => { load(); }, [taskId]);
  if (!repo?.url?.value) return null;
  const push = async () => {
    setPushing(true);
    setError('');
    try {
      const { rq_id: rq } = await api.get(`/git/repository/push/${taskId}`);
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const c = await api.get(`/git/repository/check/${rq}`);
        if (c.status === 'failed') throw new Error(`The push failed: ${c.stderr || 'no reason given'}`);
        if (c.status === 'finished' || c.status === 'unknown') break;
      }
    } catch (e) {
      setError(otherErrors(e));
    } finally {
      setPushing(false);
      load();
    }
  };
  const status = repo.status.value;
  return html`
    <section class="card task-repo" data-testid="task-repository">
      <div class="section-head">
        <h2>Dataset repository</h2>
        <button type="button" onClick=${push} disabled=${pushing || status === 'syncing'}>
          ${pushing || status === 'syncing' ? 'Pushing…' : 'Push annotations'}</button>
      </div>
      <div><code>${repo.url.value}</code>
        <span class=${`badge ${status === 'sync' ? 'completed' : 'annotation'}`} data-testid="repo-status">
          ${status === 'sync' ? 'synchronized' : status === 'syncing' ? 'synchronizing' : 'not synchronized'}</span></div>
      ${repo.status.error ? html`<div class="error">${repo.status.error}</div>` : null}
      ${error ? html`<div class="error" role="alert">${error}</div>` : null}
    </section>`;
}

/**
 * @param {{id: number, sub?: string, navigate: (to: string) => void, user: any}} props
 */
export function TaskPage({ id, navigate }) {
  const [task, setTask] = useState(/** @type {any} */ (null));
  const [error, setError] = useState(/** @type {any} */ (null));
  const [deleting, setDeleting] = useState(false);
  const [jobsVersion, setJobsVersion] = useState(0);
  const users = useUsers();

  const load = () => api.get(`/tasks/${id}`).then(setTask).catch(setError);
  useEffect(() => { load(); }, [id]);

  /** @param {any} body */
  const patch = async (body) => { setTask(await api.patch(`/tasks/${id}`, body)); };

  if (error && !task) {
    const notFound = error instanceof api.ApiError && error.status === 404;
    return html`
      <div class="card empty-state" data-testid="task-error">
        ${notFound ? `Task #${id} does not exist.` : otherErrors(error)}
        <div><a href="#/tasks">Back to the tasks</a></div>
      </div>`;
  }
  if (!task) return html`<div class="loading">Loading…</div>`;

  return html`
    <div class="task-page" data-testid="task-page" data-task-id=${task.id}>
      <div class="page-head">
        <a href="#/tasks" class="back">‹ Tasks</a>
        ${task.project != null ? html`<a href=${`#/projects/${task.project}`} class="back" data-testid="task-project">‹ Project #${task.project}</a>` : null}
        <span class="spacer"></span>
        <button class="danger" onClick=${() => setDeleting(true)}>Delete task</button>
      </div>
      <${Details} task=${task} users=${users} onPatch=${patch} />
      <${Labels} task=${task} onPatch=${patch}
        note=${task.project != null ? html`The labels of <a href=${`#/projects/${task.project}`}>its project</a>` : null} />
      <${Jobs} key=${jobsVersion} taskId=${task.id} users=${users} onChanged=${load} />
      <${ExportImport} task=${task} onImported=${() => { load(); setJobsVersion(jobsVersion + 1); }} />
      <${Repository} taskId=${task.id} />
      ${deleting ? html`
        <${ConfirmDialog} title="Delete the task?" confirmLabel="Delete"
          onCancel=${() => setDeleting(false)}
          onConfirm=${async () => {
            await api.del(`/tasks/${task.id}`);
            navigate('/tasks');
          }}>
          The task <b>${task.name}</b> (#${task.id}), its jobs and all its annotations will be deleted.
          This cannot be undone.
        <//>` : null}
    </div>`;
}
