// @ts-check
/** Sign-in and registration pages (§3.2, §3.4). */
import { html, useEffect, useState } from '../lib.js';
import * as api from '../api.js';
import { Field, fieldError, otherErrors } from './common.js';

/**
 * @param {{title: string, children?: any}} props
 */
function AuthCard({ title, children }) {
  return html`
    <div class="auth-page">
      <div class="card auth-card">
        <div class="auth-brand">ferrocat</div>
        <h1>${title}</h1>
        ${children}
      </div>
    </div>`;
}

/**
 * @param {{onDone: (key: string) => Promise<void> | void}} props
 */
export function SignIn({ onDone }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {any} */ (null));

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api.post('/auth/login', { username, password });
      await onDone(r.key);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const other = otherErrors(error, ['username', 'password']);
  return html`
    <${AuthCard} title="Sign in">
      <form onSubmit=${submit} data-testid="signin-form">
        <${Field} label="Username" error=${fieldError(error, 'username')} render=${(/** @type {string} */ id) => html`
          <input id=${id} name="username" autocomplete="username" autofocus
            value=${username} onInput=${(/** @type {any} */ e) => setUsername(e.target.value)} />`} />
        <${Field} label="Password" error=${fieldError(error, 'password')} render=${(/** @type {string} */ id) => html`
          <input id=${id} name="password" type="password" autocomplete="current-password"
            value=${password} onInput=${(/** @type {any} */ e) => setPassword(e.target.value)} />`} />
        ${other ? html`<div class="error form-error" role="alert" data-testid="form-error">${other}</div>` : null}
        <button type="submit" class="primary wide" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <p class="auth-switch">New to ferrocat? <a href="#/register">Create an account</a></p>
    <//>`;
}

/**
 * @param {{onDone: (key: string) => Promise<void> | void}} props
 */
export function Register({ onDone }) {
  /** @typedef {'username' | 'first_name' | 'last_name' | 'email' | 'password1' | 'password2'} Key */
  const [form, setForm] = useState(/** @type {Record<Key, string>} */ ({
    username: '', first_name: '', last_name: '', email: '', password1: '', password2: '',
  }));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {any} */ (null));
  /** Errors found before sending (field → message). */
  const [local, setLocal] = useState(/** @type {Record<string, string>} */ ({}));
  /** The server's user agreements (§3.8) and whether each is accepted. */
  const [agreements, setAgreements] = useState(/** @type {any[]} */ ([]));
  useEffect(() => {
    api.get('/restrictions/user-agreements')
      .then((list) => setAgreements((Array.isArray(list) ? list : []).map((a) => ({ ...a, value: false }))))
      .catch(() => {});
  }, []);

  /** @param {Key} k */
  const bind = (k) => (/** @type {any} */ e) => {
    setForm({ ...form, [k]: e.target.value });
    if (local[k]) setLocal({ ...local, [k]: '' });
  };

  /** @param {Event} e */
  const submit = async (e) => {
    e.preventDefault();
    /** @type {Record<string, string>} */
    const errs = {};
    if (!form.username.trim()) errs.username = 'This field is required.';
    if (!form.password1) errs.password1 = 'This field is required.';
    if (form.password1 && form.password2 !== form.password1) {
      errs.password2 = "The two password fields didn't match.";
    }
    const missing = agreements.find((a) => a.required && !a.value);
    if (missing) errs.confirmations = `Please accept: ${missing.displayText || missing.name}`;
    setLocal(errs);
    setError(null);
    if (Object.values(errs).some(Boolean)) return;
    setBusy(true);
    /** @type {Record<string, any>} */
    const body = { username: form.username.trim(), password1: form.password1, password2: form.password2 };
    // first/last name and e-mail must not be blank when present: only send them when given
    for (const k of /** @type {const} */ (['first_name', 'last_name', 'email'])) {
      if (form[k].trim()) body[k] = form[k].trim();
    }
    if (agreements.length) {
      body.confirmations = agreements.map((a) => ({ name: a.name, value: a.value }));
    }
    try {
      const r = await api.post('/auth/register', body);
      await onDone(r.key);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const fields = ['username', 'first_name', 'last_name', 'email', 'password1', 'password2'];
  /** @param {string} k */
  const err = (k) => local[k] || fieldError(error, k);
  const other = otherErrors(error, fields);
  /**
   * @param {string} label
   * @param {Key} k
   * @param {string} type
   * @param {string} auto
   */
  const input = (label, k, type, auto) => html`
    <${Field} label=${label} error=${err(k)} render=${(/** @type {string} */ id) => html`
      <input id=${id} name=${k} type=${type} autocomplete=${auto}
        value=${form[k]} onInput=${bind(k)} />`} />`;
  return html`
    <${AuthCard} title="Create an account">
      <form onSubmit=${submit} data-testid="register-form">
        ${input('Username', 'username', 'text', 'username')}
        <div class="row2">
          ${input('First name', 'first_name', 'text', 'given-name')}
          ${input('Last name', 'last_name', 'text', 'family-name')}
        </div>
        ${input('Email', 'email', 'email', 'email')}
        ${input('Password', 'password1', 'password', 'new-password')}
        ${input('Confirm password', 'password2', 'password', 'new-password')}
        ${agreements.map((a, i) => html`
          <label class="agreement" key=${a.name}>
            <input type="checkbox" checked=${a.value}
              onChange=${(/** @type {any} */ e) => {
                setAgreements(agreements.map((x, j) => (j === i ? { ...x, value: e.target.checked } : x)));
                setLocal({ ...local, confirmations: '' });
              }} />
            <span>${a.url ? html`<a href=${a.url} target="_blank" rel="noopener">${a.displayText || a.name}</a>` : (a.displayText || a.name)}</span>
          </label>`)}
        ${local.confirmations ? html`<div class="error field-error" role="alert">${local.confirmations}</div>` : null}
        ${other ? html`<div class="error form-error" role="alert" data-testid="form-error">${other}</div>` : null}
        <button type="submit" class="primary wide" disabled=${busy}>${busy ? 'Creating…' : 'Create account'}</button>
      </form>
      <p class="auth-switch">Already have an account? <a href="#/login">Sign in</a></p>
    <//>`;
}
