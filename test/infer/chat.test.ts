// Chat sessions and the CLI: stop-string holdback while streaming, history and /reset,
// image errors (non-image file, over 50 megapixels), and `llava generate|chat|info` run as
// processes on the tiny fixture (JSON output, logits dump, piped chat, context overflow).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { ChatSession, StopStringHoldback } from '../../src/infer/chat.js';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { readNpy } from '../../src/data/npy.js';
import { ImageDecodeError } from '../../src/data/image.js';
import { PARITY_BOUND, TINY_CASES, readGolden, relativeMaxDiff, tinyModel } from '../model/fixtures.js';

const fixture = tinyModel('f32-v4');
const shapesCase = TINY_CASES.find((c) => c.name === 'shapes')!;
const golden = readGolden(fixture.golden, 'shapes');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-chat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function llava(args: readonly string[], input?: string) {
  const r = spawnSync(process.execPath, ['bin/llava.js', ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A PNG with only a valid header claiming width x height (no pixel data worth decoding). */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type, 'ascii'), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0))]);
}

test('holdback never shows a stop string, even split across pieces, and releases innocent tails', () => {
  const h = new StopStringHoldback(['USER:']);
  assert.equal(h.push('Hel'), 'Hel');
  assert.equal(h.push('lo US'), 'lo ');
  assert.equal(h.push('ER: more'), '');
  assert.equal(h.push('after'), '');
  assert.equal(h.flush(), '');
  const g = new StopStringHoldback(['USER:', '</s>']);
  assert.equal(g.push('a <'), 'a ');
  assert.equal(g.push('b'), '<b');
  assert.equal(g.push(' U'), ' ');
  assert.equal(g.flush(), 'U');
});

test('a chat session keeps history in the template, /reset clears it, images errors are clear', async (t) => {
  const pipeline = LlavaPipeline.load(fixture.dir);
  const session = new ChatSession(pipeline, { maxNewTokens: 4 });
  await session.setImage(shapesCase.image);
  assert.deepEqual(session.promptIds(shapesCase.prompt), golden.inputIds, 'first turn is the llava-hf prompt with the image expanded');
  let streamed = '';
  const first = session.reply('Hello there', (s) => (streamed += s));
  assert.equal(streamed, first.text);
  assert.equal(session.history.length, 2);
  const second = session.promptIds('And then?');
  const expect = pipeline.promptIds([...session.history, { role: 'user', text: 'And then?' }], { withImage: true });
  assert.deepEqual(second, expect);
  assert.ok(pipeline.promptText(session.history.concat({ role: 'user', text: 'x' })).includes('Hello there'));
  session.reset();
  assert.equal(session.history.length, 0);
  assert.throws(() => session.reply('<image> again'), /while an image is set; use \/image PATH/);

  const dir = tempDir(t);
  const notImage = join(dir, 'notes.png');
  writeFileSync(notImage, 'this is text, not a picture');
  await assert.rejects(session.setImage(notImage), (e: Error) => e instanceof ImageDecodeError && e.message.includes('notes.png'));
  const huge = join(dir, 'huge.png');
  writeFileSync(huge, pngHeaderOnly(10000, 6000));
  await assert.rejects(session.setImage(huge), /huge\.png: 10000x6000 = 60000000 pixels exceeds the limit of 50000000/);
  assert.equal(session.image, shapesCase.image, 'a failed switch keeps the current image');
  session.dispose();
  pipeline.dispose();
});

test('llava generate --json prints the golden ids, and --logits-out writes the prompt logits [T, V]', (t) => {
  const out = join(tempDir(t), 'logits.npy');
  const r = llava(['generate', '--model', fixture.dir, '--image', shapesCase.image, '--prompt', shapesCase.prompt, '--max-new-tokens', '8', '--temperature', '0', '--json', '--logits-out', out]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { text: string; token_ids: number[]; prompt_ids: number[] };
  assert.deepEqual(json.prompt_ids, golden.inputIds);
  assert.deepEqual(json.token_ids, golden.generatedIds);
  assert.equal(typeof json.text, 'string');
  const logits = readNpy(out);
  assert.deepEqual(logits.shape, golden.logitsShape);
  assert.ok(relativeMaxDiff(logits.data as Float32Array, golden.logits) <= PARITY_BOUND);
});

test('llava generate refuses a prompt longer than the context and a non-image file, exit code 1', (t) => {
  const long = llava(['generate', '--model', fixture.dir, '--image', shapesCase.image, '--prompt', 'word '.repeat(150), '--max-new-tokens', '2']);
  assert.equal(long.code, 1);
  assert.match(long.stderr, /exceeds the model's context of 128/);
  const bad = join(tempDir(t), 'x.jpg');
  writeFileSync(bad, 'nope');
  const r = llava(['generate', '--model', fixture.dir, '--image', bad, '--prompt', 'hi']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /x\.jpg: not a supported image/);
  const noModel = llava(['generate', '--model', 'no/such/dir', '--prompt', 'hi']);
  assert.equal(noModel.code, 1);
  assert.match(noModel.stderr, /no\/such\/dir: model directory not found/);
});

test('llava chat through a pipe: streamed answers, /reset, /image, errors that do not end the session', () => {
  const script = ['What is this?', '/reset', `/image ${TINY_CASES[2]!.image}`, 'And now?', '/image missing.png', '/bogus', '/quit', 'never read'].join('\n') + '\n';
  const r = llava(['chat', '--model', fixture.dir, '--image', shapesCase.image, '--max-new-tokens', '3'], script);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.match(/^ASSISTANT: /gm)?.length, 2);
  assert.match(r.stderr, /\[history cleared\]/);
  assert.match(r.stderr, /\[image: .*square\.png; history cleared\]/);
  assert.match(r.stderr, /error: missing\.png: file not found/);
  assert.match(r.stderr, /error: unknown command \/bogus/);
});

test('llava info --json describes the checkpoint', () => {
  const r = llava(['info', '--model', tinyModel('bf16-v5').dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(info.layout, 'transformers-5');
  assert.deepEqual(info.storedDtypes, { bf16: 80 });
  assert.equal(info.imageTokens, 16);
  assert.equal(info.projector, 'mlp2x_gelu');
});
