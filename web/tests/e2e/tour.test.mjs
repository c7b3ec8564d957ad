// A tour of the application as a user sees it: the task list, the task page, task
// creation and the workbench with boxes, a polygon and attributes. Each view is
// checked and saved as a screenshot in target/e2e-screenshots/tour/ (the pictures the
// closing notes of this work point to).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, pngImage, signIn, withApp } from './harness.mjs';

const shots = resolve(fileURLToPath(import.meta.url), '../../../../target/e2e-screenshots/tour');

test('tour: tasks, task page, creation, workbench', async (t) => {
  mkdirSync(shots, { recursive: true });
  await withApp(t, async ({ base, page }) => {
    const created = await api(base, 'POST', '/tasks', { name: 'street scenes', labels: [
      { name: 'car', attributes: [{ name: 'color', mutable: true, input_type: 'select', default_value: 'red', values: ['red', 'blue', 'white'] }] },
      { name: 'person', attributes: [] }] });
    assert.equal(created.status, 201);
    const id = created.body.id;
    const form = new FormData();
    form.append('image_quality', '80');
    for (let i = 0; i < 6; i++) {
      form.append(`client_files[${i}]`, new Blob([pngImage(960, 540, i)], { type: 'image/png' }), `img${i}.png`);
    }
    assert.equal((await api(base, 'POST', `/tasks/${id}/data`, form)).status, 202);
    for (let i = 0; ; i++) {
      const s = (await api(base, 'GET', `/tasks/${id}/status`)).body;
      if (s.state === 'Finished') break;
      assert.ok(i < 600 && s.state !== 'Failed', s.message);
      await new Promise((r) => setTimeout(r, 100));
    }
    const task = (await api(base, 'GET', `/tasks/${id}`)).body;
    const job = task.segments[0].jobs[0].id;
    const car = task.labels.find((l) => l.name === 'car');
    const person = task.labels.find((l) => l.name === 'person');
    const put = await api(base, 'PUT', `/jobs/${job}/annotations`, { version: 0, tags: [], tracks: [], shapes: [
      { type: 'rectangle', frame: 0, label_id: car.id, points: [100, 200, 380, 360], occluded: false, z_order: 0, group: 0,
        attributes: [{ spec_id: car.attributes[0].id, value: 'blue' }] },
      { type: 'polygon', frame: 0, label_id: person.id, points: [500, 150, 560, 140, 590, 300, 540, 420, 490, 300],
        occluded: false, z_order: 1, group: 0, attributes: [] },
      { type: 'rectangle', frame: 0, label_id: car.id, points: [620, 260, 900, 420], occluded: true, z_order: 0, group: 0,
        attributes: [] }] });
    assert.equal(put.status, 200);

    await signIn(page, base);
    await page.getByText('street scenes').first().waitFor();
    await page.screenshot({ path: join(shots, '1-tasks.png') });
    await page.goto(`${base}/#/tasks/${id}`);
    await page.getByTestId('jobs-table').waitFor();
    await page.screenshot({ path: join(shots, '2-task.png'), fullPage: true });
    await page.goto(`${base}/#/tasks/create`);
    await page.getByTestId('create-task-form').waitFor();
    await page.screenshot({ path: join(shots, '3-create.png'), fullPage: true });
    await page.goto(`${base}/#/jobs/${job}`);
    await page.getByText('Objects on frame 0').waitFor();
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(shots, '4-workbench.png') });
  });
});
