// End-to-end test of projects in the browser: a project with labels, a task made in it
// (with a dataset repository, pushed to a local bare git repository), the project
// export as COCO, and deleting the project with its task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, pngImage, signIn, withApp } from './harness.mjs';

test('a project: labels, a task in it with a dataset repository, push, export as COCO, delete', async (t) => {
  const remotes = mkdtempSync(join(tmpdir(), 'ferrocat-git-'));
  const bare = join(remotes, 'labels.git');
  execFileSync('git', ['init', '--bare', '--quiet', bare]);
  try {
    await withApp(t, async ({ base, page }) => {
      await signIn(page, base);
      await page.getByRole('link', { name: 'Projects' }).click();
      await page.getByTestId('projects-empty').waitFor();
      await page.getByRole('button', { name: '+ Create project' }).click();
      await page.getByTestId('project-name').fill('Street scenes');
      await page.getByRole('button', { name: 'Add label' }).click();
      await page.getByTestId('label-editor').nth(0).getByLabel('Label name').fill('car');
      await page.getByRole('button', { name: 'Create project' }).click();
      await page.waitForURL(/#\/projects\/\d+$/);
      const pid = Number(/#\/projects\/(\d+)$/.exec(page.url())[1]);
      await page.getByTestId('project-page').waitFor();

      // a task in the project takes its labels; its repository is linked on the way
      await page.getByRole('button', { name: '+ Create task in this project' }).click();
      await page.getByTestId('create-project').getByText('Street scenes').waitFor();
      assert.match(await page.getByTestId('project-labels').textContent(), /car/);
      await page.getByLabel('Name', { exact: true }).fill('Monday');
      await page.getByTestId('task-repository-url').fill(`${bare} [labels/monday.xml]`);
      await page.getByTestId('file-input').setInputFiles([0, 1].map((i) => ({
        name: `f${i}.png`, mimeType: 'image/png', buffer: pngImage(64, 48, i),
      })));
      await page.getByRole('button', { name: 'Submit' }).click();
      await page.waitForURL(/#\/tasks\/\d+$/, { timeout: 60_000 });
      const tid = Number(/#\/tasks\/(\d+)$/.exec(page.url())[1]);
      const task = (await api(base, 'GET', `/tasks/${tid}`)).body;
      assert.equal(task.project, pid);
      assert.deepEqual(task.labels.map((l) => l.name), ['car']);
      await page.getByTestId('labels-note').waitFor();

      // push from the task page
      const status = page.getByTestId('repo-status');
      await status.waitFor();
      assert.equal((await status.textContent()).trim(), 'not synchronized');
      await page.getByRole('button', { name: 'Push annotations' }).click();
      await page.getByTestId('repo-status').getByText('synchronized', { exact: true }).waitFor({ timeout: 30_000 });
      const log = execFileSync('git', ['--git-dir', bare, 'log', '--format=%s', `cvat_${tid}_Monday`]).toString();
      assert.equal(log.trim().split('\n').length, 1, log);
      const xml = execFileSync('git', ['--git-dir', bare, 'show', `cvat_${tid}_Monday:labels/monday.xml`]).toString();
      assert.match(xml, /<annotations>/);

      // the project page lists the task and exports the project
      await page.getByTestId('task-project').click();
      await page.getByTestId('project-task').first().waitFor();
      assert.equal(await page.getByTestId('project-task').count(), 1);
      await page.getByTestId('export-block').locator('select').selectOption('COCO 1.0');
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export annotations' }).click();
      assert.match((await download).suggestedFilename(), /^project_street scenes-.*coco 1\.0\.zip$/);
      await page.getByTestId('export-ok').waitFor();

      // deleting the project deletes its task
      await page.getByRole('button', { name: 'Delete project' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await page.waitForURL(/#\/projects$/);
      await page.getByTestId('projects-empty').waitFor();
      assert.equal((await api(base, 'GET', `/tasks/${tid}`)).status, 404);
    }, { FERROCAT_GIT_ALLOW_LOCAL: 'true' });
  } finally {
    rmSync(remotes, { recursive: true, force: true });
  }
});
