// End-to-end tests of the pages (everything but the annotation workbench):
// registration and sign-out, task creation through the UI, the task list,
// export of annotations, deletion. Each test runs against a fresh real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { api, pngImage, signIn, withApp } from './harness.mjs';

/** Creates a task with `n` PNG frames through the API and waits for its data. */
async function makeTask(base, name, n = 3, labels = [{ name: 'car', attributes: [] }]) {
  const created = await api(base, 'POST', '/tasks', { name, labels });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  const form = new FormData();
  form.append('image_quality', '70');
  for (let i = 0; i < n; i++) {
    form.append(`client_files[${i}]`, new Blob([pngImage(64, 48, i)], { type: 'image/png' }), `img${i}.png`);
  }
  const data = await api(base, 'POST', `/tasks/${id}/data`, form);
  assert.equal(data.status, 202, JSON.stringify(data.body));
  for (let i = 0; ; i++) {
    const st = await api(base, 'GET', `/tasks/${id}/status`);
    if (st.body.state === 'Finished') break;
    assert.notEqual(st.body.state, 'Failed', st.body.message);
    if (i > 300) throw new Error('task processing did not finish');
    await new Promise((r) => setTimeout(r, 100));
  }
  return (await api(base, 'GET', `/tasks/${id}`)).body;
}

/** Polls `fn` until it returns a truthy value (or fails after `ms`). */
async function eventually(fn, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('register a new user, stay signed in across a reload, sign out', async (t) => {
  await withApp(t, async ({ base, page }) => {
    await page.goto(`${base}/#/login`);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('button', { name: 'Create account' }).waitFor();

    const form = page.getByTestId('register-form');
    await page.getByLabel('Username').fill('annotator1');
    await page.getByLabel('First name').fill('Ann');
    await page.getByLabel('Last name').fill('Otator');
    await page.getByLabel('Email').fill('ann@example.com');
    await page.getByLabel('Password', { exact: true }).fill('Str0ng-pass-123');
    await page.getByLabel('Confirm password').fill('Str0ng-pass-124');
    await page.getByRole('button', { name: 'Create account' }).click();
    // the mismatch is shown next to the confirmation field, nothing was sent
    const mismatch = form.locator('.form-field', { has: page.getByLabel('Confirm password') }).locator('.field-error');
    await mismatch.waitFor();
    assert.match(await mismatch.textContent(), /didn't match/);
    assert.equal((await api(base, 'GET', '/users?page_size=all')).body.count, 1);

    // a server-side field error (taken username) is shown next to the username
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Confirm password').fill('Str0ng-pass-123');
    assert.equal(await mismatch.count(), 0, 'the error goes away when the field is edited');
    await page.getByRole('button', { name: 'Create account' }).click();
    const taken = form.locator('.form-field', { has: page.getByLabel('Username') }).locator('.field-error');
    await taken.waitFor();
    assert.match(await taken.textContent(), /already exists/);

    await page.getByLabel('Username').fill('annotator1');
    await page.getByRole('button', { name: 'Create account' }).click();
    const current = page.getByTestId('current-user');
    await current.waitFor();
    assert.equal(await current.textContent(), 'annotator1');
    assert.match(page.url(), /#\/tasks$/);

    await page.reload();
    await current.waitFor();
    assert.equal(await current.textContent(), 'annotator1');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.match(page.url(), /#\/login$/);
    assert.equal(await page.evaluate(() => localStorage.getItem('ferrocat.token')), null);
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await current.count(), 0);

    // a wrong password shows the server's message above the button
    await page.getByLabel('Username').fill('annotator1');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('form-error').waitFor();
    assert.match(await page.getByTestId('form-error').textContent(), /Unable to log in/);
  });
});

test('create a task through the UI, land on it, assign it', async (t) => {
  await withApp(t, async ({ base, page }) => {
    await signIn(page, base);
    await page.getByRole('button', { name: 'Create task' }).click();
    await page.getByTestId('create-task-form').waitFor();

    // submitting an empty form shows the errors next to the fields
    await page.getByRole('button', { name: 'Submit' }).click();
    const nameField = page.locator('.form-field', { has: page.getByLabel('Name', { exact: true }) });
    await nameField.locator('.field-error').waitFor();

    await page.getByLabel('Name', { exact: true }).fill('UI task');
    await page.getByRole('button', { name: 'Add label' }).click();
    const first = page.getByTestId('label-editor').nth(0);
    await first.getByLabel('Label name').fill('car');
    await first.getByRole('button', { name: 'Add attribute' }).click();
    await first.getByLabel('Attribute name').fill('color');
    await first.getByLabel('Input type').selectOption('select');
    await first.getByLabel('Values').fill('red, green, blue');
    await first.getByLabel('Default').selectOption('green');
    await page.getByRole('button', { name: 'Add label' }).click();
    await page.getByTestId('label-editor').nth(1).getByLabel('Label name').fill('person');

    // the raw view shows the same labels
    await page.getByRole('button', { name: 'Raw' }).click();
    const raw = JSON.parse(await page.getByLabel('Labels JSON').inputValue());
    assert.deepEqual(raw.map((l) => l.name), ['car', 'person']);
    assert.deepEqual(raw[0].attributes[0], {
      name: 'color', mutable: false, input_type: 'select', default_value: 'green', values: ['red', 'green', 'blue'],
    });
    await page.getByRole('button', { name: 'Constructor' }).click();

    await page.getByTestId('file-input').setInputFiles([0, 1, 2].map((i) => ({
      name: `frame${i}.png`, mimeType: 'image/png', buffer: pngImage(320, 240, i),
    })));
    await page.getByTestId('file-list').getByText('3 files').waitFor();
    await page.getByRole('button', { name: 'Submit' }).click();

    await page.waitForURL(/#\/tasks\/\d+$/, { timeout: 60_000 });
    const id = Number(/#\/tasks\/(\d+)$/.exec(page.url())[1]);
    await page.getByTestId('jobs-table').waitFor();
    assert.equal(await page.getByTestId('job-row').count(), 1);
    const row = page.getByTestId('job-row').first();
    assert.match(await row.textContent(), /0–2/);
    assert.equal(await row.getByRole('link', { name: 'Annotate' }).getAttribute('href'),
      `#/jobs/${(await row.getAttribute('data-job-id'))}`);

    const task = (await api(base, 'GET', `/tasks/${id}`)).body;
    assert.equal(task.name, 'UI task');
    assert.equal(task.size, 3);
    assert.deepEqual(task.labels.map((l) => l.name), ['car', 'person']);
    assert.deepEqual(task.labels[0].attributes[0].values, ['red', 'green', 'blue']);
    assert.equal(task.labels[0].attributes[0].default_value, 'green');

    const admin = (await api(base, 'GET', '/users/self')).body;
    await page.getByLabel('Assignee', { exact: true }).selectOption({ label: 'admin' });
    await eventually(async () => (await api(base, 'GET', `/tasks/${id}`)).body.assignee === admin.id);

    // the task name can be edited in place
    await page.getByRole('button', { name: 'Edit name' }).click();
    await page.getByLabel('Name', { exact: true }).fill('UI task renamed');
    await page.getByRole('button', { name: 'Save' }).click();
    await eventually(async () => (await api(base, 'GET', `/tasks/${id}`)).body.name === 'UI task renamed');
  });
});

test('the task list shows previews and searches', async (t) => {
  await withApp(t, async ({ base, page }) => {
    await makeTask(base, 'alpha cars');
    await makeTask(base, 'beta people');
    await signIn(page, base);
    await page.goto(`${base}/#/tasks`);
    const rows = page.getByTestId('task-row');
    await eventually(async () => (await rows.count()) === 2);
    const alpha = rows.filter({ hasText: 'alpha cars' });
    const img = alpha.getByTestId('task-preview');
    await img.waitFor();
    await eventually(() => img.evaluate((el) => el.complete && el.naturalWidth > 0));
    assert.match(await img.getAttribute('src'), /^blob:/);
    const box = await img.boundingBox();
    assert.equal(Math.round(box.width), 96);
    assert.equal(Math.round(box.height), 64);

    await page.getByTestId('task-search').fill('alpha');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await eventually(async () => (await rows.count()) === 1);
    assert.match(await rows.first().textContent(), /alpha cars/);
    assert.match(page.url(), /search=alpha/);

    await page.reload();
    await page.getByTestId('task-list').waitFor();
    assert.equal(await rows.count(), 1);
    assert.equal(await page.getByTestId('task-search').inputValue(), 'alpha');

    await page.getByTestId('task-search').fill('nothing-like-this');
    await page.getByTestId('task-search').press('Enter');
    await page.getByTestId('tasks-empty').waitFor();

    // the name links to the task page
    await page.getByRole('button', { name: 'Clear' }).click();
    await eventually(async () => (await rows.count()) === 2);
    await page.getByRole('link', { name: 'beta people' }).click();
    await page.getByTestId('task-page').waitFor();
  });
});

test('export COCO 1.0 annotations from the task page', async (t) => {
  await withApp(t, async ({ base, page }) => {
    const task = await makeTask(base, 'export me');
    const shape = {
      type: 'rectangle', frame: 0, label_id: task.labels[0].id, group: 0, occluded: false,
      z_order: 0, points: [2, 3, 30, 20], attributes: [],
    };
    const saved = await api(base, 'PATCH', `/tasks/${task.id}/annotations?action=create`,
      { version: 0, tags: [], shapes: [shape], tracks: [] });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));

    await signIn(page, base);
    await page.goto(`${base}/#/tasks/${task.id}`);
    await page.getByTestId('task-page').waitFor();
    await page.getByLabel('Export format').selectOption('COCO 1.0');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      page.getByRole('button', { name: 'Export annotations' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /\.zip$/);
    const file = await download.path();
    const listing = execFileSync('unzip', ['-l', file]).toString();
    assert.match(listing, /annotations\/instances_default\.json/);
    const json = JSON.parse(execFileSync('unzip', ['-p', file, 'annotations/instances_default.json']).toString());
    assert.equal(json.annotations.length, 1);
    assert.ok(readFileSync(file).length > 0);
    await page.getByTestId('export-ok').waitFor();
  });
});

test('delete tasks with a confirmation', async (t) => {
  await withApp(t, async ({ base, page }) => {
    const a = await makeTask(base, 'to delete from the page', 1);
    const b = await makeTask(base, 'to delete from the list', 1);
    await signIn(page, base);

    await page.goto(`${base}/#/tasks/${a.id}`);
    await page.getByTestId('task-page').waitFor();
    await page.getByRole('button', { name: 'Delete task' }).click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await api(base, 'GET', `/tasks/${a.id}`)).status, 200);

    await page.getByRole('button', { name: 'Delete task' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(/#\/tasks$/);
    assert.equal((await api(base, 'GET', `/tasks/${a.id}`)).status, 404);

    const rows = page.getByTestId('task-row');
    await eventually(async () => (await rows.count()) === 1);
    await rows.first().getByRole('button', { name: `Delete task ${b.name}` }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.getByTestId('tasks-empty').waitFor();
    assert.equal((await api(base, 'GET', `/tasks/${b.id}`)).status, 404);
  });
});

test('create a task from a folder of photos', async (t) => {
  const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'ferrocat-photos-'));
  mkdirSync(join(dir, 'more'));
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `photo${i}.png`), pngImage(160, 120, i));
  writeFileSync(join(dir, 'more', 'photo3.png'), pngImage(160, 120, 3));
  writeFileSync(join(dir, '.DS_Store'), 'finder metadata');
  await withApp(t, async ({ base, page }) => {
    await signIn(page, base);
    await page.goto(`${base}/#/tasks/create`);
    await page.getByTestId('create-task-form').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('from a folder');
    await page.getByRole('button', { name: 'Add label' }).click();
    await page.getByTestId('label-editor').nth(0).getByLabel('Label name').fill('car');
    // the folder's files, sub-folders included, without the dotfile
    await page.getByTestId('folder-input').setInputFiles(dir);
    await page.getByTestId('file-list').getByText('4 files').waitFor();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/#\/tasks\/\d+$/, { timeout: 60_000 });
    const id = Number(/#\/tasks\/(\d+)$/.exec(page.url())[1]);
    const task = (await api(base, 'GET', `/tasks/${id}`)).body;
    assert.equal(task.size, 4);
  });
});
