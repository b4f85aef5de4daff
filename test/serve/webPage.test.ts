// The chat page in a real browser (Debian's chromium driven by playwright-core): drop an image,
// ask, and the streamed answer is what `llava generate` gives for the same image and question.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { createServer, DEFAULT_SERVE_OPTIONS } from '../../src/serve/server.js';
import { TINY_CASES, tinyModel } from '../model/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium; .ci/run installs it)`;
const MODEL = tinyModel('f32-v4').dir;
const IMAGE = resolve(TINY_CASES[0]!.image);

test('the chat page: drop an image, ask, read the streamed answer', { skip: SKIP, timeout: 120_000 }, async () => {
  const server = createServer({ ...DEFAULT_SERVE_OPTIONS, modelId: 'tiny' });
  server.attach(LlavaPipeline.load(MODEL));
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('model')?.textContent === 'tiny');
    // A real drop event carrying the file, as a user dragging it onto the page makes.
    const bytes = readFileSync(IMAGE).toString('base64');
    await page.evaluate(async (b64) => {
      const blob = await (await fetch(`data:image/png;base64,${b64}`)).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'scene.png', { type: 'image/png' }));
      document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await page.waitForSelector('#drop img');
    await page.fill('#question', 'What is in the picture?');
    await page.click('#send');
    await page.waitForSelector('.msg.assistant[data-done="true"]', { timeout: 60_000 });
    const answer = await page.textContent('.msg.assistant span');
    assert.ok(await page.isVisible('.msg.user img'), 'the question shows its image');

    const reference = LlavaPipeline.load(MODEL);
    try {
      const pixels = await reference.pixelValues(IMAGE);
      const ids = reference.promptIds([{ role: 'user', text: '<image>\nWhat is in the picture?' }], { withImage: true });
      const expected = reference.generate(ids, pixels, {}).text;
      pixels.dispose();
      assert.equal(answer, expected);
    } finally {
      reference.dispose();
    }

    // A server error shows as an error line, not as an answer.
    await page.fill('#question', 'x'.repeat(2000));
    await page.click('#send');
    await page.waitForSelector('.msg.error');
    assert.match((await page.textContent('.msg.error')) ?? '', /context|prompt/);
  } finally {
    await browser.close();
    await server.shutdown(1000);
  }
});
