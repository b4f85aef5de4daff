// The chat page in a real browser (Debian's chromium driven by playwright-core): drop an image,
// ask, and the streamed answer is what `llava generate` gives; regenerate, stop, clear, the
// settings, markdown without HTML injection, and phone width. Screenshots go to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { createServer, DEFAULT_SERVE_OPTIONS } from '../../src/serve/server.js';
import { TINY_CASES, tinyModel } from '../model/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium; .ci/run installs it)`;
const MODEL = tinyModel('f32-v4').dir;
const IMAGE = resolve(TINY_CASES[0]!.image);
const ARTIFACTS = resolve('test-artifacts');

/** What `llava generate` answers. */
async function expected(question: string, maxTokens: number, withImage: boolean): Promise<string> {
  const p = LlavaPipeline.load(MODEL);
  try {
    const pixels = withImage ? await p.pixelValues(IMAGE) : undefined;
    const ids = p.promptIds([{ role: 'user', text: withImage ? `<image>\n${question}` : question }], { withImage });
    const text = p.generate(ids, pixels, { maxNewTokens: maxTokens }).text!;
    pixels?.dispose();
    return text;
  } finally {
    p.dispose();
  }
}

async function lastAnswer(page: Page): Promise<string> {
  return page.$$eval('.msg.assistant', (els) => (els.at(-1) as HTMLElement).dataset.text ?? '');
}

test('the chat page: drop an image, ask, regenerate, stop, clear; safe markdown; phone width', { skip: SKIP, timeout: 180_000 }, async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = createServer({ ...DEFAULT_SERVE_OPTIONS, modelId: 'tiny', parallel: 2 });
  const pipeline = LlavaPipeline.load(MODEL);
  server.attach(pipeline);
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('model')?.textContent === 'tiny');
    await page.fill('#max-tokens', '8');

    // A real drop event carrying the file, as dragging it onto the page makes.
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
    await page.waitForSelector('.msg.assistant[data-done="true"]');
    const want = await expected('What is in the picture?', 8, true);
    assert.equal(await lastAnswer(page), want);
    assert.ok(await page.isVisible('.msg.user img'), 'the question shows its image');
    await page.screenshot({ path: `${ARTIFACTS}/chat-page.png` });

    // Regenerate replaces the answer with a new one (greedy: the same text).
    await page.click('#regenerate');
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant[data-done="true"]').length === 1 && !document.querySelector('#stop:not([disabled])'));
    assert.equal(await page.locator('.msg.assistant').count(), 1);
    assert.equal(await lastAnswer(page), want);

    // Stop: a slowed model, a long answer, stopped after its first text arrives.
    const forward = pipeline.model.text.forward.bind(pipeline.model.text);
    pipeline.model.text.forward = ((...args: Parameters<typeof forward>) => {
      const until = Date.now() + 15;
      while (Date.now() < until);
      return forward(...args);
    }) as typeof forward;
    await page.click('#clear');
    assert.equal(await page.locator('.msg').count(), 0, 'clear empties the transcript');
    await page.fill('#max-tokens', '100');
    await page.fill('#question', 'Tell me a long story');
    await page.click('#send');
    await page.waitForFunction(() => (document.querySelector('.msg.assistant .body')?.textContent ?? '').length > 0);
    await page.click('#stop');
    await page.waitForSelector('.msg.assistant[data-stopped="true"]');
    let metrics = '';
    for (let i = 0; i < 50 && !/llava_busy_slots 0/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 100));
      metrics = await (await fetch(`${url}/metrics`)).text();
    }
    assert.match(metrics, /llava_busy_slots 0/, 'the stopped generation freed its slot');
    pipeline.model.text.forward = forward;

    // Markdown: constructs render, HTML never does.
    const html = await page.evaluate(() => (window as unknown as { renderMarkdown: (s: string) => string }).renderMarkdown('<img src=x onerror="window.pwned=1"> **bold** `code`\n\n- a\n- b'));
    assert.doesNotMatch(html, /<img/);
    assert.match(html, /&lt;img/);
    assert.match(html, /<strong>bold<\/strong>/);
    assert.match(html, /<ul><li>a<\/li><li>b<\/li><\/ul>/);

    // Errors show as an error line, not as an answer.
    await page.fill('#question', 'x'.repeat(3000));
    await page.click('#send');
    await page.waitForSelector('.msg.error');
    assert.match((await page.textContent('.msg.error')) ?? '', /context|prompt/);

    // Phone width: nothing overflows sideways.
    await page.setViewportSize({ width: 375, height: 700 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'fits 375 px');
    await page.screenshot({ path: `${ARTIFACTS}/chat-page-phone.png` });
  } finally {
    await browser.close();
    await server.shutdown(1000);
  }
});
