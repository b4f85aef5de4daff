// LoRA in stage 2: the PEFT adapter directory (config and tensor names), adapters merged and not
// giving the same logits (in memory, through --merge and through --adapter), exact resume with dropout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import type { LlavaModel } from '../../src/model/llava.js';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { adaptedLayers, mergeLora, LLAVA_LORA } from '../../src/nn/lora.js';
import { STAGES } from '../../src/train/stages.js';
import { TRAIN_DEFAULTS, train, type TrainOptions } from '../../src/train/trainer.js';
import { readMetrics } from '../../src/train/metrics.js';
import { pixelTensor, readGolden, relativeMaxDiff, tinyModel, TINY_ROOT } from '../model/fixtures.js';

const IMAGES = join(TINY_ROOT, 'images');
const golden = readGolden(tinyModel('f32-v4').golden, 'shapes');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-lora-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function data(dir: string): string {
  const files = ['shapes.png', 'portrait.png', 'square.png'];
  const records = Array.from({ length: 9 }, (_, i) => ({
    id: `c${i}`,
    image: files[i % 3],
    conversations: [
      { from: 'human', value: '<image>\nWhat is it?' },
      { from: 'gpt', value: ['a red shape', 'a tall blue picture', 'a green square'][i % 3] },
    ],
  }));
  const path = join(dir, 'chat.json');
  writeFileSync(path, JSON.stringify(records));
  return path;
}

function options(dir: string, out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...TRAIN_DEFAULTS,
    stage: STAGES[2],
    modelDir: tinyModel('f32-v4').dir,
    dataPath: data(dir),
    imageFolder: IMAGES,
    outDir: out,
    groupByLength: false,
    trainVision: false,
    skipBad: false,
    resume: false,
    imageAspect: 'auto',
    batchSize: 3,
    maxLength: 128,
    template: 'vicuna_nosys',
    maxSteps: 6,
    lr: 5e-3,
    projectorLr: 5e-3,
    lora: { ...LLAVA_LORA, r: 4, alpha: 8, dropout: 0.1 },
    ...over,
  };
}

function logitsOf(model: LlavaModel): Float32Array {
  const px = pixelTensor(golden);
  const { logits } = model.forward({ inputIds: [golden.inputIds], pixelValues: px });
  const out = logits.toArray() as Float32Array;
  logits.dispose();
  px.dispose();
  return out;
}

test('a LoRA run writes a PEFT adapter directory: PEFT config and tensor names, projector as modules_to_save', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'run');
  await train(options(dir, out));
  const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.r, 4);
  assert.equal(config.lora_alpha, 8);
  assert.equal(config.lora_dropout, 0.1);
  assert.equal(config.bias, 'none');
  assert.deepEqual(config.modules_to_save, ['multi_modal_projector']);
  const targets = new RegExp(`^(?:${config.target_modules as string})$`);
  assert.ok(targets.test('language_model.model.layers.0.self_attn.q_proj'));
  assert.ok(targets.test('language_model.model.layers.1.mlp.down_proj'));
  assert.ok(!targets.test('vision_tower.vision_model.encoder.layers.0.self_attn.q_proj'), 'the vision tower is not targeted');
  assert.ok(!targets.test('language_model.lm_head'));
  const tensors = readSafetensorsHeader(join(out, 'adapter_model.safetensors')).tensors;
  const names = [...tensors.keys()];
  const lora = names.filter((n) => /\.lora_[AB]\.weight$/.test(n));
  assert.equal(lora.length, 2 * 2 * 7, '2 layers x 7 linears x (A, B)');
  for (const n of lora) assert.match(n, /^base_model\.model\.language_model\.model\.layers\.[01]\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.lora_[AB]\.weight$/);
  assert.deepEqual(tensors.get('base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [4, 64], 'A is (r, in)');
  assert.deepEqual(tensors.get('base_model.model.language_model.model.layers.0.mlp.down_proj.lora_B.weight')!.shape, [64, 4], 'B is (out, r)');
  assert.deepEqual(names.filter((n) => !lora.includes(n)).sort(), ['linear_1.bias', 'linear_1.weight', 'linear_2.bias', 'linear_2.weight'].map((s) => `base_model.model.multi_modal_projector.${s}`));
});

test('LoRA merged and unmerged give the same logits: in memory, with --adapter, and from --merge', async (t) => {
  const dir = tempDir(t);
  const adapterDir = join(dir, 'adapter');
  await train(options(dir, adapterDir));
  const base = tinyModel('f32-v4').dir;
  const withAdapter = LlavaPipeline.load(base, { adapter: adapterDir });
  t.after(() => withAdapter.dispose());
  assert.equal(adaptedLayers(withAdapter.model).length, 14);
  const unmerged = logitsOf(withAdapter.model);
  const plain = loadLlava(base).model;
  assert.ok(relativeMaxDiff(logitsOf(plain), unmerged) > 1e-3, 'the adapter changes the logits');
  plain.dispose();
  assert.equal(mergeLora(withAdapter.model), 14);
  assert.equal(adaptedLayers(withAdapter.model).length, 0);
  const merged = logitsOf(withAdapter.model);
  const inMemory = relativeMaxDiff(merged, unmerged);
  assert.ok(inMemory <= 1e-5, `merged vs unmerged in memory: ${inMemory}`);
  const mergedDir = join(dir, 'merged');
  await train(options(dir, mergedDir, { merge: true }));
  const fromDisk = loadLlava(mergedDir).model;
  const diskDiff = relativeMaxDiff(logitsOf(fromDisk), unmerged);
  fromDisk.dispose();
  assert.ok(diskDiff <= 1e-5, `--merge output vs base + adapter: ${diskDiff}`);
  const cli = spawnSync(process.execPath, ['bin/llava.js', 'generate', '--model', base, '--adapter', adapterDir, '--image', join(IMAGES, 'shapes.png'), '--prompt', 'What is it?', '--max-new-tokens', '4', '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const viaMerged = spawnSync(process.execPath, ['bin/llava.js', 'generate', '--model', mergedDir, '--image', join(IMAGES, 'shapes.png'), '--prompt', 'What is it?', '--max-new-tokens', '4', '--json'], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(viaMerged.stdout).token_ids, JSON.parse(cli.stdout).token_ids);
});

test('a LoRA run with dropout resumes bit-identically from a checkpoint', async (t) => {
  const dir = tempDir(t);
  const whole = join(dir, 'whole');
  await train(options(dir, whole, { saveSteps: 3 }));
  const cut = join(dir, 'cut');
  cpSync(whole, cut, { recursive: true });
  // As if the run had died after checkpoint-3: later checkpoints and the final files are gone; metrics ran ahead.
  for (const f of ['checkpoint-6', 'adapter_config.json', 'adapter_model.safetensors']) rmSync(join(cut, f), { recursive: true, force: true });
  await train(options(dir, cut, { saveSteps: 3, resume: true }));
  assert.deepEqual(readMetrics(join(cut, 'metrics.jsonl')).map((m) => m.loss), readMetrics(join(whole, 'metrics.jsonl')).map((m) => m.loss));
  assert.ok(readFileSync(join(cut, 'adapter_model.safetensors')).equals(readFileSync(join(whole, 'adapter_model.safetensors'))));
});

test('LoRA settings that make no sense are refused', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(train(options(dir, join(dir, 'a'), { stage: STAGES[1] })), /LoRA adapts the language model: it belongs to stage 2/);
  await assert.rejects(train(options(dir, join(dir, 'b'), { lora: { ...LLAVA_LORA, r: 0 } })), /LoRA rank r must be a positive integer/);
  await assert.rejects(train(options(dir, join(dir, 'c'), { lora: { ...LLAVA_LORA, r: 2, targets: ['nothing'] } })), /no linear layer matches the targets nothing/);
  await assert.rejects(train(options(dir, join(dir, 'd'), { lora: undefined, merge: true })), /--merge merges LoRA adapters/);
});
