// @ts-check
/**
 * Client events for `POST /server/logs` (§11.4), as CVAT's UI sends them: a batch
 * of `{client_id, name, time, job_id, task_id, is_active, payload}` sent on save and
 * every 30 s, plus "Send user activity" with the working time.
 */
import { post } from '../api.js';

const CLIENT_KEY = 'ferrocat.client_id';

function clientId() {
  let id = localStorage.getItem(CLIENT_KEY);
  if (!id) {
    id = String(Math.floor(Math.random() * 900000) + 100000);
    localStorage.setItem(CLIENT_KEY, id);
  }
  return id;
}

export class Logger {
  /** @param {{jobId: number, taskId: number}} o */
  constructor({ jobId, taskId }) {
    this.jobId = jobId;
    this.taskId = taskId;
    this.clientId = clientId();
    /** @type {any[]} */
    this.queue = [];
    this.lastActive = Date.now();
    this.workingTime = 0;
    this.lastTick = Date.now();
    this.timer = setInterval(() => { this.flush().catch(() => {}); }, 30000);
    this.onActivity = () => this.activity();
    for (const ev of ['mousemove', 'keydown', 'mousedown', 'wheel']) window.addEventListener(ev, this.onActivity, { passive: true });
  }

  /** Counts time as working while the user acted within the last 60 s. */
  activity() {
    const now = Date.now();
    if (now - this.lastActive < 60000) this.workingTime += now - this.lastTick;
    this.lastTick = now;
    this.lastActive = now;
  }

  get active() { return Date.now() - this.lastActive < 60000; }

  /** @param {string} name @param {Record<string, any>} [payload] */
  log(name, payload = {}) {
    this.queue.push({
      name, time: new Date().toISOString(), client_id: this.clientId,
      job_id: this.jobId, task_id: this.taskId, is_active: this.active, payload,
    });
  }

  /** Sends the batch with a "Send user activity" event. */
  async flush() {
    this.activity();
    const events = this.queue.splice(0);
    events.push({
      name: 'Send user activity', time: new Date().toISOString(), client_id: this.clientId,
      is_active: this.active, payload: { working_time: this.workingTime },
    });
    this.workingTime = 0;
    try {
      await post('/server/logs', events);
    } catch (e) {
      // keep them for the next attempt (bounded)
      this.queue.unshift(...events.slice(0, -1).slice(-1000));
      throw e;
    }
  }

  close() {
    clearInterval(this.timer);
    for (const ev of ['mousemove', 'keydown', 'mousedown', 'wheel']) window.removeEventListener(ev, this.onActivity);
  }
}
