// How a llava-hf directory behaves as in transformers beyond the model maths: padded vocabularies,
// generation_config.json, --image-aspect, a literal <image> without an image, and BOS from templates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatSession } from '../../src/infer/chat.js';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { parseGenerationConfig, resolveGenerateOptions, GenerationConfigError, TRANSFORMERS_DEFAULT_TOP_K } from '../../src/infer/generationConfig.js';
import { DEFAULT_MAX_NEW_TOKENS } from '../../src/infer/generate.js';
import { readSafetensorsHeader, readTensorBytes } from '../../src/model/safetensors.js';
import { writeSafetensors } from '../../src/model/safetensorsWriter.js';
import { tensor } from '../../src/tensor/tensor.js';
import { TINY_CASES, readGolden, tinyModel } from '../model/fixtures.js';

const f32 = tinyModel('f32-v4');
const full = tinyModel('full-v4');
const shapesCase = TINY_CASES.find((c) => c.name === 'shapes')!;
const golden = readGolden(f32.golden, 'shapes');

type Json = Record<string, unknown>;

function tempCopy(t: { after: (fn: () => void) => void }, dir: string): string {
  const out = mkdtempSync(join(tmpdir(), 'llava-ckpt-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  cpSync(dir, out, { recursive: true });
  return out;
}

function editJson(path: string, edit: (j: Json) => void): void {
  const j = JSON.parse(readFileSync(path, 'utf8')) as Json;
  edit(j);
  writeFileSync(path, JSON.stringify(j, null, 2));
}

function llava(args: readonly string[], input?: string) {
  const r = spawnSync(process.execPath, ['bin/llava.js', ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The tiny f32 checkpoint with embedding and LM-head rows padded with zeros to `rows` (as llava-1.5-hf pads 32002 to 32064). */
async function paddedVocabCopy(t: { after: (fn: () => void) => void }, rows: number): Promise<string> {
  const dir = tempCopy(t, f32.dir);
  const file = join(dir, 'model.safetensors');
  const header = readSafetensorsHeader(file);
  const tensors = [...header.tensors.values()].map((e) => {
    const bytes = readTensorBytes(e);
    const padded = e.name.endsWith('embed_tokens.weight') || e.name.endsWith('lm_head.weight');
    if (!padded) return { name: e.name, dtype: e.dtype, shape: e.shape, data: () => bytes };
    const grown = new Uint8Array((bytes.length / e.shape[0]!) * rows);
    grown.set(bytes);
    return { name: e.name, dtype: e.dtype, shape: [rows, e.shape[1]!], data: () => grown };
  });
  rmSync(file);
  await writeSafetensors(file, tensors, { metadata: { format: 'pt' } });
  editJson(join(dir, 'config.json'), (j) => ((j.text_config as Json).vocab_size = rows));
  return dir;
}

test('ids past the tokenizer (padded vocabulary rows) are sampled and dropped from text, streaming, stop strings and chat', async (t) => {
  const dir = await paddedVocabCopy(t, 400);
  const pipeline = LlavaPipeline.load(dir);
  t.after(() => pipeline.dispose());
  const tokens = pipeline.tokenizer.vocabSize;
  assert.equal(tokens, 381);
  assert.equal(pipeline.loaded.config.text.vocabSize, 400);
  const pixels = await pipeline.pixelValues(shapesCase.image);
  t.after(() => pixels.dispose());
  const sampling = { temperature: 1000, topK: 0, maxNewTokens: 40, seed: 3, eosTokenIds: [] };
  const stream = pipeline.tokenizer.createStreamDecoder();
  let streamed = '';
  const r = pipeline.generate(golden.inputIds, pixels, { ...sampling, onToken: (id) => (streamed += stream.push(id)) });
  streamed += stream.flush();
  assert.ok(r.tokenIds.some((id) => id >= tokens), `some of ${JSON.stringify(r.tokenIds)} lie past the tokenizer's ${tokens} ids`);
  const known = r.tokenIds.filter((id) => id < tokens);
  assert.equal(r.text, pipeline.decode(known));
  assert.equal(streamed, r.text);
  const withStop = pipeline.generate(golden.inputIds, pixels, { ...sampling, stopStrings: ['never appears'] });
  assert.deepEqual(withStop.tokenIds, r.tokenIds, 'stop strings are checked on the decoded text without error');
  const session = new ChatSession(pipeline, sampling);
  t.after(() => session.dispose());
  await session.setImage(shapesCase.image);
  let chatStreamed = '';
  const reply = session.reply(shapesCase.prompt, (s) => (chatStreamed += s));
  assert.ok(reply.tokenIds.some((id) => id >= tokens));
  assert.equal(chatStreamed.trim(), reply.reply);
});

test('generation_config.json: fields parsed, eos as int or list, bad fields named', () => {
  const g = parseGenerationConfig({ eos_token_id: [2, 7], pad_token_id: 380, do_sample: true, temperature: 0.6, top_p: 0.9, top_k: 20, repetition_penalty: 1.1, max_new_tokens: 12, max_length: 99, _from_model_config: true });
  assert.deepEqual(g, { eosTokenIds: [2, 7], padTokenId: 380, doSample: true, temperature: 0.6, topP: 0.9, topK: 20, repetitionPenalty: 1.1, maxNewTokens: 12, maxLength: 99 });
  assert.deepEqual(parseGenerationConfig({ eos_token_id: 2 }).eosTokenIds, [2]);
  assert.throws(() => parseGenerationConfig({ eos_token_id: 'x' }, 'g.json'), (e: Error) => e instanceof GenerationConfigError && /g\.json: eos_token_id = "x" is not a token id or a list/.test(e.message));
  assert.throws(() => parseGenerationConfig({ do_sample: 'yes' }, 'g.json'), /g\.json: do_sample = "yes" is not true or false/);
});

test('generation defaults: the file over transformers defaults, the user over the file', () => {
  // No file: greedy; sampling when asked gets top_k 50 unless the user turns it off.
  assert.deepEqual(resolveGenerateOptions(undefined, {}, 10), { temperature: 0, topK: undefined, topP: undefined, repetitionPenalty: undefined, maxNewTokens: DEFAULT_MAX_NEW_TOKENS, eosTokenIds: undefined });
  assert.equal(resolveGenerateOptions(undefined, { temperature: 0.7 }, 10).topK, TRANSFORMERS_DEFAULT_TOP_K);
  assert.equal(resolveGenerateOptions(undefined, { temperature: 0.7, topK: 0 }, 10).topK, 0);
  const file = parseGenerationConfig({ do_sample: true, temperature: 0.6, top_p: 0.9, top_k: 20, repetition_penalty: 1.1, max_length: 30, eos_token_id: [2, 7] });
  const fromFile = resolveGenerateOptions(file, {}, 10);
  assert.deepEqual(fromFile, { temperature: 0.6, topK: 20, topP: 0.9, repetitionPenalty: 1.1, maxNewTokens: 20, eosTokenIds: [2, 7] });
  const user = resolveGenerateOptions(file, { temperature: 0, topP: 1, repetitionPenalty: 1, maxNewTokens: 3, eosTokenIds: [5] }, 10);
  assert.deepEqual(user, { temperature: 0, topK: undefined, topP: 1, repetitionPenalty: 1, maxNewTokens: 3, eosTokenIds: [5] });
  assert.equal(resolveGenerateOptions(parseGenerationConfig({ temperature: 0.6 }), {}, 10).temperature, 0, 'do_sample off: greedy whatever the temperature');
  assert.equal(resolveGenerateOptions(parseGenerationConfig({ do_sample: true }), {}, 10).temperature, 1, 'do_sample on: temperature 1 by default');
  assert.equal(resolveGenerateOptions(parseGenerationConfig({ max_new_tokens: 4, max_length: 30 }), {}, 10).maxNewTokens, 4, 'max_new_tokens wins over max_length');
});

test('a checkpoint generation_config.json is read: any id of its eos list stops, max_new_tokens caps; flags override', async (t) => {
  const dir = tempCopy(t, f32.dir);
  const g = golden.generatedIds;
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [g[5], g[3]], max_new_tokens: 2, pad_token_id: 380 }));
  const pipeline = LlavaPipeline.load(dir);
  t.after(() => pipeline.dispose());
  assert.equal(pipeline.generationConfig?.padTokenId, 380);
  const pixels = await pipeline.pixelValues(shapesCase.image);
  t.after(() => pixels.dispose());
  const capped = pipeline.generate(golden.inputIds, pixels);
  assert.deepEqual(capped.tokenIds, g.slice(0, 2), 'max_new_tokens from the file');
  const stopped = pipeline.generate(golden.inputIds, pixels, { maxNewTokens: 8 });
  assert.deepEqual(stopped.tokenIds, g.slice(0, 3), 'the second eos id of the list stops');
  assert.equal(stopped.stopReason, 'eos');
  const r = llava(['generate', '--model', dir, '--image', shapesCase.image, '--prompt', shapesCase.prompt, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { token_ids: number[] }).token_ids, g.slice(0, 2), 'the CLI reads the file');
  const flag = llava(['generate', '--model', dir, '--image', shapesCase.image, '--prompt', shapesCase.prompt, '--json', '--max-new-tokens', '3']);
  assert.deepEqual((JSON.parse(flag.stdout) as { token_ids: number[] }).token_ids, g.slice(0, 3), 'a flag overrides the file');
  writeFileSync(join(dir, 'generation_config.json'), '{"top_k": -1}');
  assert.throws(() => LlavaPipeline.load(dir), /generation_config\.json: top_k = -1 is not a non-negative integer/);
});

test('--image-aspect: pad squares with the mean colour, crop centre-crops, auto follows the processor config', async (t) => {
  const padGolden = readGolden(full.golden, 'shapes').pixels; // full-v4's processor pads
  const cropGolden = golden.pixels; // f32-v4's crops
  const cases = [
    { dir: f32.dir, aspect: 'auto', want: cropGolden },
    { dir: f32.dir, aspect: 'pad', want: padGolden },
    { dir: full.dir, aspect: 'auto', want: padGolden },
    { dir: full.dir, aspect: 'crop', want: cropGolden },
  ] as const;
  for (const c of cases) {
    const pipeline = LlavaPipeline.load(c.dir, { imageAspect: c.aspect });
    const px = await pipeline.pixelValues(shapesCase.image);
    const got = px.toArray() as Float32Array;
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - c.want[i]!));
    assert.ok(worst <= 1e-6, `${c.dir} ${c.aspect}: max |pixel diff| ${worst}`);
    px.dispose();
    pipeline.dispose();
  }
  assert.notDeepEqual(padGolden, cropGolden, 'the two goldens differ, so the choice is seen');
  const r = llava(['generate', '--model', f32.dir, '--image', shapesCase.image, '--prompt', 'x', '--image-aspect', 'stretch']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--image-aspect must be one of pad, crop, auto, got 'stretch'/);
  const padded = llava(['generate', '--model', f32.dir, '--image', shapesCase.image, '--prompt', shapesCase.prompt, '--json', '--max-new-tokens', '8', '--image-aspect', 'pad']);
  assert.equal(padded.code, 0, padded.stderr);
});

test('a literal <image> in a text-only prompt is one ordinary token embedded from its own row', async (t) => {
  const pipeline = LlavaPipeline.load(f32.dir);
  t.after(() => pipeline.dispose());
  const imageId = pipeline.tokenizer.imageTokenId!;
  const ids = pipeline.promptIds([{ role: 'user', text: 'What is <image> here?' }], { withImage: false });
  assert.equal(ids.filter((id) => id === imageId).length, 1, 'not expanded without an image');
  const r = pipeline.generate(ids, undefined, { maxNewTokens: 3, eosTokenIds: [] });
  assert.equal(r.tokenIds.length, 3);
  // The same position embedded from row 379 directly: identical to the model's text-only forward.
  const { logits } = pipeline.model.forward({ inputIds: [ids] });
  const text = pipeline.model.text;
  const positions = tensor(ids.map((_, i) => i), [1, ids.length], { dtype: 'i32' });
  const viaRow = text.logits(text.forward(text.embed(tensor(ids, [1, ids.length], { dtype: 'i32' })), { positions }));
  assert.deepEqual([...(logits.toArray() as Float32Array)], [...(viaRow.toArray() as Float32Array)]);
  logits.dispose();
  viaRow.dispose();
  const session = new ChatSession(pipeline, { maxNewTokens: 2 });
  t.after(() => session.dispose());
  assert.equal(session.reply('Is <image> a token?').tokenIds.length, 2, 'chat without an image accepts it');
  await session.setImage(shapesCase.image);
  assert.throws(() => session.reply('<image> again'), /while an image is set; use \/image PATH/);
  const cli = llava(['generate', '--model', f32.dir, '--prompt', 'a <image> b', '--json', '--max-new-tokens', '2']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal((JSON.parse(cli.stdout) as { prompt_ids: number[] }).prompt_ids.filter((id) => id === imageId).length, 1);
});

test('no second BOS when the rendered chat template already starts with it', (t) => {
  const dir = tempCopy(t, f32.dir);
  editJson(join(dir, 'tokenizer_config.json'), (j) => (j.chat_template = "{{ bos_token }}{% for m in messages %}{{ m.role | upper }}: {% for p in m.content %}{% if p.type == 'image' %}<image>\n{% else %}{{ p.text }} {% endif %}{% endfor %}{% endfor %}ASSISTANT:"));
  const pipeline = LlavaPipeline.load(dir);
  t.after(() => pipeline.dispose());
  const bos = pipeline.tokenizer.bosId!;
  const turns = [{ role: 'user' as const, text: '<image>\nWhat is this?' }];
  assert.ok(pipeline.promptText(turns).startsWith('<s>'));
  const ids = pipeline.promptIds(turns, { withImage: true });
  assert.equal(ids[0], bos);
  assert.notEqual(ids[1], bos, 'one BOS only');
  const builtin = LlavaPipeline.load(f32.dir);
  t.after(() => builtin.dispose());
  assert.deepEqual(builtin.promptIds(turns, { withImage: true }), ids, 'same ids as the template without bos_token plus the added BOS');
});
