// @ts-check
/**
 * Task creation (§6.4, §7.1, §7.3): name, labels, data from the computer / the
 * server share / URLs, advanced options; then create, upload, and follow the
 * processing until the task is ready.
 */
import { html, useEffect, useRef, useState } from '../lib.js';
import * as api from '../api.js';
import { Field, fieldError, formatBytes, otherErrors } from './common.js';
import { LabelsEditor, labelsPayload, validateLabels } from './labels.js';

/**
 * POSTs `form` with XMLHttpRequest to report upload progress.
 * @param {string} path
 * @param {FormData} form
 * @param {(loaded: number, total: number) => void} onProgress
 * @returns {Promise<any>}
 */
export function uploadWithProgress(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1${path}`);
    const t = api.token();
    if (t) xhr.setRequestHeader('Authorization', `Token ${t}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      let body = null;
      if (xhr.responseText) {
        try { body = JSON.parse(xhr.responseText); } catch { body = xhr.responseText; }
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new api.ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new Error('The upload failed (network error).'));
    xhr.onabort = () => reject(new Error('The upload was cancelled.'));
    xhr.send(form);
  });
}

/**
 * One folder or file of the server share; folders load their entries when opened.
 * @param {{entry: {name: string, type: string}, path: string, selected: Set<string>,
 *   inherited: boolean, toggle: (path: string) => void}} props
 */
function ShareNode({ entry, path, selected, inherited, toggle }) {
  const dir = entry.type === 'DIR';
  const full = dir ? `${path}${entry.name}/` : `${path}${entry.name}`;
  const checked = inherited || selected.has(full);
  const [open, setOpen] = useState(false);
  return html`
    <li class=${dir ? 'dir' : 'file'}>
      <div class="share-row">
        ${dir ? html`<button type="button" class="link twisty" aria-expanded=${open}
          aria-label=${`${open ? 'Collapse' : 'Expand'} ${entry.name}`}
          onClick=${() => setOpen(!open)}>${open ? '▾' : '▸'}</button>` : html`<span class="twisty"></span>`}
        <label>
          <input type="checkbox" checked=${checked} disabled=${inherited}
            onChange=${() => toggle(full)} data-path=${full} />
          <span class=${`icon ${dir ? 'folder' : 'file'}`} aria-hidden="true"></span>${entry.name}
        </label>
      </div>
      ${dir && open ? html`<${ShareDir} path=${full} selected=${selected} inherited=${checked} toggle=${toggle} />` : null}
    </li>`;
}

/**
 * The entries of one share directory.
 * @param {{path: string, selected: Set<string>, inherited: boolean, toggle: (path: string) => void}} props
 */
function ShareDir({ path, selected, inherited, toggle }) {
  const [entries, setEntries] = useState(/** @type {any[] | null} */ (null));
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    api.get(`/server/share?directory=${encodeURIComponent(path)}`)
      .then((r) => {
        if (!live) return;
        const list = [...r].sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'DIR' ? -1 : 1));
        setEntries(list);
      })
      .catch((e) => { if (live) setError(otherErrors(e)); });
    return () => { live = false; };
  }, [path]);
  if (error) return html`<div class="error">${error}</div>`;
  if (!entries) return html`<div class="muted share-loading">Loading…</div>`;
  if (!entries.length) return html`<div class="muted share-empty">Empty folder</div>`;
  return html`
    <ul class="share-tree">
      ${entries.map((e) => html`
        <${ShareNode} key=${e.name} entry=${e} path=${path} selected=${selected} inherited=${inherited} toggle=${toggle} />`)}
    </ul>`;
}

const ADVANCED = [
  { key: 'image_quality', label: 'Image quality', hint: '0–100: JPEG quality of the compressed chunks', min: 0, max: 100 },
  { key: 'overlap', label: 'Overlap size', hint: 'Frames shared by consecutive segments', min: 0 },
  { key: 'segment_size', label: 'Segment size', hint: 'Frames per job (empty: one job)', min: 0 },
  { key: 'start_frame', label: 'Start frame', min: 0 },
  { key: 'stop_frame', label: 'Stop frame', min: 0 },
  { key: 'frame_step', label: 'Frame step', hint: 'Take every N-th frame', min: 1 },
  { key: 'chunk_size', label: 'Chunk size', hint: 'Frames per chunk (empty: automatic)', min: 1 },
];

/**
 * `query`'s `project`: the task is made in that project and takes its labels.
 * @param {{navigate: (to: string) => void, user: any, query?: URLSearchParams}} props
 */
export function CreateTaskPage({ navigate, query }) {
  const projectId = query?.get('project') ? Number(query.get('project')) : null;
  const [project, setProject] = useState(/** @type {any} */ (null));
  const [repo, setRepo] = useState('');
  const [lfs, setLfs] = useState(false);
  const [name, setName] = useState('');
  const [labels, setLabels] = useState(/** @type {import('./labels.js').Label[]} */ ([]));
  const [source, setSource] = useState(/** @type {'local' | 'share' | 'remote'} */ ('local'));
  const [files, setFiles] = useState(/** @type {File[]} */ ([]));
  const [dragging, setDragging] = useState(false);
  const [shared, setShared] = useState(/** @type {Set<string>} */ (new Set()));
  const [urls, setUrls] = useState('');
  const [adv, setAdv] = useState(/** @type {Record<string, string>} */ ({
    image_quality: '70', overlap: '', segment_size: '', start_frame: '', stop_frame: '', frame_step: '', chunk_size: '',
  }));
  const [local, setLocal] = useState(/** @type {Record<string, string>} */ ({}));
  const [error, setError] = useState(/** @type {any} */ (null));
  const [phase, setPhase] = useState(/** @type {'idle'|'creating'|'uploading'|'processing'|'done'} */ ('idle'));
  const [upload, setUpload] = useState({ loaded: 0, total: 0 });
  const [status, setStatus] = useState({ state: '', message: '' });
  const [showAdv, setShowAdv] = useState(false);
  const alive = useRef(true);
  const fileInput = useRef(/** @type {HTMLInputElement | null} */ (null));
  const folderInput = useRef(/** @type {HTMLInputElement | null} */ (null));
  useEffect(() => () => { alive.current = false; }, []);
  useEffect(() => {
    if (projectId != null) api.get(`/projects/${projectId}`).then(setProject).catch(setError);
  }, [projectId]);

  const busy = phase !== 'idle';

  /** @param {Iterable<File>} list */
  const addFiles = (list) => {
    const added = [...list].filter((f) => !f.name.startsWith('.'));
    setFiles((old) => {
      const byName = new Map(old.map((f) => [f.name, f]));
      for (const f of added) byName.set(f.name, f);
      return [...byName.values()];
    });
    setLocal((old) => ({ ...old, files: '' }));
  };

  /** @param {string} path */
  const toggleShared = (path) => {
    const next = new Set(shared);
    if (next.has(path)) next.delete(path);
    else {
      next.add(path);
      // a folder covers what is inside it
      if (path.endsWith('/')) for (const p of [...next]) if (p !== path && p.startsWith(path)) next.delete(p);
    }
    setShared(next);
    setLocal({ ...local, files: '' });
  };

  const remoteList = () => urls.split('\n').map((s) => s.trim()).filter(Boolean);

  /** @returns {Record<string, string>} */
  const check = () => {
    /** @type {Record<string, string>} */
    const errs = {};
    if (!name.trim()) errs.name = 'This field is required.';
    if (projectId == null) {
      const le = validateLabels(labels);
      if (le) errs.labels = le;
      else if (!labels.length) errs.labels = 'Add at least one label.';
    }
    const count = source === 'local' ? files.length : source === 'share' ? shared.size : remoteList().length;
    if (!count) errs.files = 'Select the data of the task.';
    if (source === 'remote') {
      const bad = remoteList().find((u) => !/^https?:\/\/\S+$/i.test(u));
      if (bad) errs.files = `Not an http(s) URL: ${bad}`;
    }
    for (const { key, label, min, max } of ADVANCED) {
      const v = adv[key].trim();
      if (!v) {
        if (key === 'image_quality') errs[key] = 'This field is required.';
        continue;
      }
      const n = Number(v);
      if (!Number.isInteger(n)) errs[key] = `${label} must be an integer.`;
      else if (min != null && n < min) errs[key] = `Ensure this value is greater than or equal to ${min}.`;
      else if (max != null && n > max) errs[key] = `Ensure this value is less than or equal to ${max}.`;
    }
    if (!errs.start_frame && !errs.stop_frame && adv.start_frame.trim() && adv.stop_frame.trim()
      && Number(adv.start_frame) > Number(adv.stop_frame)) {
      errs.stop_frame = 'Stop frame must be more or equal start frame.';
    }
    return errs;
  };

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    const errs = check();
    setLocal(errs);
    setError(null);
    if (ADVANCED.some(({ key }) => errs[key])) setShowAdv(true);
    if (Object.keys(errs).length) return;

    /** @type {Record<string, any>} */
    const task = projectId != null
      ? { name: name.trim(), project: projectId }
      : { name: name.trim(), labels: labelsPayload(labels) };
    if (adv.overlap.trim()) task.overlap = Number(adv.overlap);
    if (adv.segment_size.trim()) task.segment_size = Number(adv.segment_size);

    const form = new FormData();
    form.append('image_quality', adv.image_quality.trim());
    // Compressed chunks of a video as zips of JPEGs, which the workbench reads; image tasks
    // ignore it (and which a share path or URL is, only the server knows).
    form.append('use_zip_chunks', 'true');
    for (const k of ['start_frame', 'stop_frame', 'chunk_size']) if (adv[k].trim()) form.append(k, adv[k].trim());
    if (adv.frame_step.trim()) form.append('frame_filter', `step=${adv.frame_step.trim()}`);
    if (source === 'local') files.forEach((f, i) => form.append(`client_files[${i}]`, f, f.name));
    else if (source === 'share') [...shared].forEach((p, i) => form.append(`server_files[${i}]`, p));
    else remoteList().forEach((u, i) => form.append(`remote_files[${i}]`, u));

    setPhase('creating');
    setStatus({ state: '', message: '' });
    /** @type {any} */
    let created = null;
    try {
      created = await api.post('/tasks', task);
      if (repo.trim()) {
        // the dataset repository (api-v1 §12); a refused one removes the task again
        await api.post(`/git/repository/create/${created.id}`, { path: repo.trim(), lfs, tid: created.id });
      }
      setPhase('uploading');
      setUpload({ loaded: 0, total: 0 });
      await uploadWithProgress(`/tasks/${created.id}/data`, form, (loaded, total) => {
        if (alive.current) setUpload({ loaded, total });
      });
      setPhase('processing');
      for (;;) {
        const st = await api.get(`/tasks/${created.id}/status`);
        if (!alive.current) return;
        setStatus(st);
        if (st.state === 'Finished') break;
        if (st.state === 'Failed') {
          throw new Error(`Could not create the task on the server. ${String(st.message || '').trim()}`);
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      setPhase('done');
      navigate(`/tasks/${created.id}`);
    } catch (err) {
      // like CVAT: a task whose data could not be attached is removed again
      if (created) await api.del(`/tasks/${created.id}`).catch(() => {});
      if (!alive.current) return;
      setError(err);
      if (err instanceof api.ApiError && ['image_quality', 'overlap', 'segment_size', 'start_frame', 'stop_frame',
        'chunk_size', 'frame_filter'].some((k) => err.field(k))) setShowAdv(true);
      setPhase('idle');
    }
  };

  /** @param {string} k */
  const err = (k) => local[k] || fieldError(error, k);
  const filesError = local.files || fieldError(error, 'client_files') || fieldError(error, 'server_files')
    || fieldError(error, 'remote_files');
  const advErrorKeys = ['image_quality', 'overlap', 'segment_size', 'start_frame', 'stop_frame', 'chunk_size', 'frame_filter'];
  const other = otherErrors(error, ['name', 'labels', 'client_files', 'server_files', 'remote_files', ...advErrorKeys]);
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  const pct = upload.total ? Math.round((upload.loaded / upload.total) * 100) : 0;
  const compress = /(\d+(?:\.\d+)?)\s*%/.exec(status.message || '');

  return html`
    <div class="create-page">
      <div class="page-head">
        ${projectId != null
          ? html`<a href=${`#/projects/${projectId}`} class="back">‹ Project</a>`
          : html`<a href="#/tasks" class="back">‹ Tasks</a>`}
        <h1>Create a new task${project ? html` in <span data-testid="create-project">${project.name}</span>` : null}</h1>
      </div>
      <form class="card create-form" onSubmit=${submit} data-testid="create-task-form">
        <fieldset disabled=${busy}>
          <section>
            <${Field} label="Name" error=${err('name')} render=${(/** @type {string} */ id) => html`
              <input id=${id} name="name" value=${name} maxlength="256" autofocus data-testid="task-name"
                onInput=${(/** @type {any} */ e) => { setName(e.target.value); setLocal({ ...local, name: '' }); }} />`} />
          </section>
          <section>
            <h2>Labels</h2>
            ${projectId != null ? html`
              <div class="label-chips" data-testid="project-labels">
                <span class="muted">The project's labels:</span>
                ${(project?.labels || []).map((/** @type {any} */ l) => html`<span class="label-chip" key=${l.id}>${l.name}</span>`)}
              </div>` : html`
              <${LabelsEditor} labels=${labels} error=${err('labels')}
                onChange=${(/** @type {any[]} */ l) => { setLabels(l); setLocal({ ...local, labels: '' }); }} />`}
          </section>
          <section>
            <h2>Select files</h2>
            <div class="tabs" role="tablist">
              ${[['local', 'My computer'], ['share', 'Connected file share'], ['remote', 'Remote sources']].map(([k, t]) => html`
                <button type="button" role="tab" aria-selected=${source === k} class=${source === k ? 'active' : ''}
                  onClick=${() => { setSource(/** @type {any} */ (k)); setLocal({ ...local, files: '' }); }}>${t}</button>`)}
            </div>
            ${source === 'local' ? html`
              <label class=${`dropzone ${dragging ? 'over' : ''}`} data-testid="dropzone"
                onDragOver=${(/** @type {DragEvent} */ e) => { e.preventDefault(); setDragging(true); }}
                onDragLeave=${() => setDragging(false)}
                onDrop=${(/** @type {DragEvent} */ e) => {
                  e.preventDefault();
                  setDragging(false);
                  // folders dropped whole are read through (their files, not the folder)
                  if (e.dataTransfer) droppedFiles(e.dataTransfer).then(addFiles);
                }}>
                <input type="file" multiple ref=${fileInput} class="visually-hidden" aria-label="Files"
                  data-testid="file-input"
                  onChange=${(/** @type {any} */ e) => { addFiles(e.target.files); e.target.value = ''; }} />
                <span class="dz-icon">⇪</span>
                <span><b>Click or drag files to this area</b></span>
                <span class="muted">Images, a video, an archive, a zip or a PDF — or a whole folder</span>
              </label>
              <div class="folder-pick">
                <button type="button" onClick=${() => folderInput.current?.click()}>Select a folder…</button>
                <input type="file" multiple webkitdirectory=${true} ref=${folderInput} class="visually-hidden"
                  aria-label="Folder" data-testid="folder-input"
                  onChange=${(/** @type {any} */ e) => { addFiles(e.target.files); e.target.value = ''; }} />
              </div>
              ${files.length ? html`
                <div class="file-list" data-testid="file-list">
                  <div class="muted">${files.length} file${files.length === 1 ? '' : 's'}, ${formatBytes(totalBytes)}
                    <button type="button" class="link" onClick=${() => setFiles([])}>Clear</button></div>
                  <ul>
                    ${files.map((f) => html`<li key=${f.name}>
                      <span>${f.name}</span><span class="muted">${formatBytes(f.size)}</span>
                      <button type="button" class="link danger" aria-label=${`Remove ${f.name}`}
                        onClick=${() => setFiles(files.filter((x) => x !== f))}>✕</button></li>`)}
                  </ul>
                </div>` : null}` : null}
            ${source === 'share' ? html`
              <div class="share-box" data-testid="share-tree">
                <${ShareDir} path="/" selected=${shared} inherited=${false} toggle=${toggleShared} />
              </div>
              ${shared.size ? html`<div class="muted">Selected: ${[...shared].join(', ')}</div>` : null}` : null}
            ${source === 'remote' ? html`
              <${Field} label="URLs (one per line)" render=${(/** @type {string} */ id) => html`
                <textarea id=${id} rows="5" value=${urls} placeholder="https://example.com/image.jpg"
                  onInput=${(/** @type {any} */ e) => { setUrls(e.target.value); setLocal({ ...local, files: '' }); }}></textarea>`} />` : null}
            ${filesError ? html`<div class="error field-error" role="alert">${filesError}</div>` : null}
          </section>
          <section>
            <${Field} label="Dataset repository" hint="Optional: https://host/org/repo.git or git@host:org/repo.git, then [path/in/repo.xml|.zip]"
              render=${(/** @type {string} */ id) => html`
                <input id=${id} value=${repo} data-testid="task-repository-url" placeholder="https://github.com/org/labels.git [annotation/task.zip]"
                  onInput=${(/** @type {any} */ e) => setRepo(e.target.value)} />`} />
            <label class="check"><input type="checkbox" checked=${lfs} onChange=${(/** @type {any} */ e) => setLfs(e.target.checked)} /> Use Git LFS for the annotation file</label>
          </section>
          <details class="advanced" open=${showAdv}
            onToggle=${(/** @type {any} */ e) => setShowAdv(e.target.open)}>
            <summary>Advanced configuration</summary>
            <div class="adv-grid">
              ${ADVANCED.map(({ key, label, hint, min, max }) => html`
                <${Field} key=${key} label=${label} hint=${hint}
                  error=${key === 'frame_step' ? (local.frame_step || fieldError(error, 'frame_filter')) : err(key)}
                  render=${(/** @type {string} */ id) => html`
                    <input id=${id} type="number" min=${min} max=${max} value=${adv[key]}
                      onInput=${(/** @type {any} */ e) => { setAdv({ ...adv, [key]: e.target.value }); setLocal({ ...local, [key]: '' }); }} />`} />`)}
            </div>
          </details>
        </fieldset>
        ${phase === 'uploading' ? html`
          <div class="submit-progress" data-testid="upload-progress">
            <div>Uploading data… ${formatBytes(upload.loaded)} of ${formatBytes(upload.total)} (${pct}%)</div>
            <div class="progress"><div style=${`width:${pct}%`}></div></div>
          </div>` : null}
        ${phase === 'creating' ? html`<div class="submit-progress muted">Creating the task…</div>` : null}
        ${phase === 'processing' || phase === 'done' ? html`
          <div class="submit-progress" data-testid="task-status">
            <div><b>${status.state || 'Queued'}</b>${status.message ? `: ${status.message}` : ''}</div>
            <div class="progress">${compress
              ? html`<div style=${`width:${compress[1]}%`}></div>`
              : html`<div class="indeterminate"></div>`}</div>
          </div>` : null}
        ${other ? html`<div class="error form-error" role="alert" data-testid="form-error">${other}</div>` : null}
        <div class="actions">
          <button type="button" onClick=${() => navigate('/tasks')} disabled=${busy}>Cancel</button>
          <button type="submit" class="primary" disabled=${busy}>${busy ? 'Submitting…' : 'Submit'}</button>
        </div>
      </form>
    </div>`;
}

/**
 * The files of a drop: plain files as they are, folders read through recursively
 * (the File System Entry API, as Chromium and Firefox offer it on drops).
 * @param {DataTransfer} dt
 * @returns {Promise<File[]>}
 */
async function droppedFiles(dt) {
  const entries = [...dt.items || []]
    .map((it) => (it.kind === 'file' && it.webkitGetAsEntry ? it.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (!entries.length) return [...dt.files];
  /** @type {File[]} */
  const out = [];
  /** @param {any} entry */
  const walk = async (entry) => {
    if (entry.isFile) {
      out.push(await new Promise((res, rej) => entry.file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        // readEntries answers in batches until an empty one
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}
