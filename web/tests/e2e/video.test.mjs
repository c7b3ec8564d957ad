// A video task as a user makes it: the create form with an mp4 (ffmpeg makes one),
// processing to Finished, then the workbench shows its frames from the task's zip
// chunks, and a box drawn on a later frame is saved there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withApp, api, signIn } from './harness.mjs';

const W = 320, H = 240, FRAMES = 30;

/** An H.264 mp4 of `testsrc2` made by ffmpeg. */
function mp4() {
  const dir = mkdtempSync(join(tmpdir(), 'ferrocat-video-'));
  try {
    const out = join(dir, 'street.mp4');
    execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=25`,
      '-frames:v', String(FRAMES), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('create a task from a video in the browser and annotate its frames', async (t) => {
  await withApp(t, async ({ base, page }) => {
    await signIn(page, base);
    await page.goto(`${base}/#/tasks/create`);
    await page.getByTestId('create-task-form').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('street video');
    await page.getByRole('button', { name: 'Add label' }).click();
    await page.getByTestId('label-editor').nth(0).getByLabel('Label name').fill('car');
    await page.getByTestId('file-input').setInputFiles([{ name: 'street.mp4', mimeType: 'video/mp4', buffer: mp4() }]);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/#\/tasks\/\d+$/, { timeout: 60_000 });
    const id = Number(/#\/tasks\/(\d+)$/.exec(page.url())[1]);
    const task = (await api(base, 'GET', `/tasks/${id}`)).body;
    assert.equal(task.mode, 'interpolation');
    assert.equal(task.size, FRAMES);
    assert.equal(task.data_compressed_chunk_type, 'imageset');
    const meta = (await api(base, 'GET', `/tasks/${id}/data/meta`)).body;
    assert.deepEqual(meta.frames, [{ width: W, height: H, name: 'street.mp4' }]);

    const jobId = task.segments[0].jobs[0].id;
    await page.goto(`${base}/#/jobs/${jobId}`);
    await page.locator('[data-testid="frame-canvas"][data-frame="0"]').waitFor();
    await page.keyboard.press('End');
    await page.locator(`[data-testid="frame-canvas"][data-frame="${FRAMES - 1}"]`).waitFor();
    // the frame is drawn: the canvas holds the video's size and is not blank
    const drawn = await page.evaluate(() => {
      const c = /** @type {HTMLCanvasElement} */ (document.querySelector('[data-testid="frame-canvas"]'));
      const ctx = c.getContext('2d');
      if (!ctx || !c.width) return { w: 0, h: 0, colours: 0 };
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < px.length; i += 4 * 97) seen.add(`${px[i] >> 5},${px[i + 1] >> 5},${px[i + 2] >> 5}`);
      return { w: c.width, h: c.height, colours: seen.size };
    });
    assert.ok(drawn.colours > 5, `frame ${FRAMES - 1} looks blank: ${JSON.stringify(drawn)}`);

    const box = await page.getByTestId('frame-canvas').boundingBox();
    const at = (x, y) => [box.x + (x * box.width) / W, box.y + (y * box.height) / H];
    await page.getByTestId('draw-rectangle').click();
    await page.mouse.move(...at(40, 40));
    await page.mouse.down();
    await page.mouse.move(...at(100, 90), { steps: 4 });
    await page.mouse.move(...at(160, 140), { steps: 4 });
    await page.mouse.up();
    await page.getByTestId('object-item').first().waitFor();
    await page.keyboard.press('Control+s');
    await page.getByTestId('save-state').filter({ hasText: 'All changes saved' }).waitFor();
    const saved = (await api(base, 'GET', `/jobs/${jobId}/annotations`)).body;
    assert.equal(saved.shapes.length, 1);
    assert.equal(saved.shapes[0].frame, FRAMES - 1);
    assert.ok(saved.shapes[0].points.every((v, i) => Math.abs(v - [40, 40, 160, 140][i]) <= 1), String(saved.shapes[0].points));
  });
});
