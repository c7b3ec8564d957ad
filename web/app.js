// @ts-check
/**
 * The application shell: hash routes, the signed-in user, the top bar.
 *
 * Routes: #/login, #/register, #/projects, #/projects/<id>, #/tasks, #/tasks/create[?project=<id>],
 * #/tasks/<id>, #/jobs/<id>.
 * Every page talks to the public API only (api.js).
 */
import { html, render, useEffect, useState } from './lib.js';
import * as api from './api.js';
import { SignIn, Register } from './pages/auth.js';
import { TasksPage } from './pages/tasks.js';
import { CreateTaskPage } from './pages/create.js';
import { TaskPage } from './pages/task.js';
import { ProjectPage, ProjectsPage } from './pages/projects.js';
import { Workbench } from './workbench/workbench.js';

/** The current route: path segments and query of the hash. */
function route() {
  const raw = location.hash.replace(/^#/, '') || '/tasks';
  const [path, qs] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(qs || '') };
}

/** @type {(() => string | null | undefined) | null} */
let leaveGuard = null;
/** The address of the page shown, to go back to when leaving it is cancelled. */
let shownHref = location.href;

/**
 * Guards in-app navigation (a changed hash: the browser's back button, an edited
 * address, a link) away from a page with unsaved work: before the route changes, `fn`
 * is asked and, when it returns a message, the user confirms it; cancelling puts the
 * address back and the page stays as it is. Returns the function that removes the guard.
 * @param {() => string | null | undefined} fn
 */
export function setLeaveGuard(fn) {
  leaveGuard = fn;
  return () => { if (leaveGuard === fn) leaveGuard = null; };
}

/** @param {string} to  e.g. `/tasks/3` */
export function navigate(to) {
  location.hash = to;
}

function App() {
  const [r, setRoute] = useState(route());
  const [user, setUser] = useState(/** @type {any} */ (null));
  const [checked, setChecked] = useState(false);

  useEffect(() => {
    const onHash = () => {
      if (location.href === shownHref) return;
      const question = leaveGuard?.();
      if (question && !confirm(question)) {
        // back where we were, as a new entry (the page was never left)
        history.pushState(null, '', shownHref);
        return;
      }
      shownHref = location.href;
      setRoute(route());
    };
    const onOut = () => setUser(null);
    window.addEventListener('hashchange', onHash);
    window.addEventListener('ferrocat:signed-out', onOut);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('ferrocat:signed-out', onOut);
    };
  }, []);

  useEffect(() => {
    if (!api.token()) { setChecked(true); return; }
    api.get('/users/self')
      .then(setUser)
      .catch(() => api.setToken(''))
      .finally(() => setChecked(true));
  }, []);

  if (!checked) return html`<div class="loading">Loading…</div>`;

  /** @param {string} key */
  const signedIn = async (key) => {
    api.setToken(key);
    setUser(await api.get('/users/self'));
    if (['login', 'register'].includes(r.parts[0])) navigate('/tasks');
  };

  if (!user) {
    return r.parts[0] === 'register'
      ? html`<${Register} onDone=${signedIn} />`
      : html`<${SignIn} onDone=${signedIn} />`;
  }

  const signOut = async () => {
    try { await api.post('/auth/logout', {}); } catch { /* the token is dropped anyway */ }
    api.setToken('');
    setUser(null);
    navigate('/login');
  };

  const [section, id, sub] = r.parts;
  let page;
  if (section === 'jobs' && id) {
    // the workbench takes the whole window
    return html`<${Workbench} key=${id} jobId=${Number(id)} user=${user} navigate=${navigate} />`;
  } else if (section === 'projects' && id) {
    page = html`<${ProjectPage} key=${id} id=${Number(id)} navigate=${navigate} />`;
  } else if (section === 'projects') {
    page = html`<${ProjectsPage} navigate=${navigate} query=${r.query} />`;
  } else if (section === 'tasks' && id === 'create') {
    page = html`<${CreateTaskPage} navigate=${navigate} user=${user} query=${r.query} />`;
  } else if (section === 'tasks' && id) {
    page = html`<${TaskPage} key=${id} id=${Number(id)} sub=${sub} navigate=${navigate} user=${user} />`;
  } else {
    page = html`<${TasksPage} navigate=${navigate} query=${r.query} user=${user} />`;
  }
  return html`
    <header class="topbar">
      <a class="brand" href="#/tasks">ferrocat</a>
      <nav>
        <a href="#/projects" class=${section === 'projects' ? 'active' : ''}>Projects</a>
        <a href="#/tasks" class=${section === 'tasks' || !section ? 'active' : ''}>Tasks</a>
      </nav>
      <span class="spacer"></span>
      <span class="user" data-testid="current-user">${user.username}</span>
      <button class="link" onClick=${signOut}>Sign out</button>
    </header>
    <main class="page">${page}</main>`;
}

render(html`<${App} />`, /** @type {HTMLElement} */ (document.getElementById('app')));
