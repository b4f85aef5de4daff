// `llava build` on a CLIP and a LLaMA checkpoint cut out of the tiny fixture: weights carried
// over byte for byte, <image>/<pad> added, rows grown to a multiple of 64 with the mean, and the
// result loads, answers and trains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorAsF32, readTensorBytes, type TensorEntry } from '../../src/model/safetensors.js';
import { writeSafetensors } from '../../src/model/safetensorsWriter.js';
import { composeLlava } from '../../src/model/compose.js';
import { parseProjectorType, readLlavaHfConfig } from '../../src/model/config.js';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { tinyModel } from './fixtures.js';

const FIXTURE = tinyModel('f32-v4').dir;
/** Tokens of the fixture's tokenizer before llava added <image> (379) and <pad> (380). */
const BASE_TOKENS = 379;

type Json = Record<string, unknown>;

function fixtureTensors(): Map<string, TensorEntry> {
  return new Map(readSafetensorsHeader(join(FIXTURE, 'model.safetensors')).tensors);
}

async function writeDir(dir: string, tensors: { name: string; entry: TensorEntry; rows?: number }[], files: Record<string, unknown>): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await writeSafetensors(
    join(dir, 'model.safetensors'),
    tensors.map(({ name, entry, rows }) => {
      const bytes = readTensorBytes(entry);
      const shape = rows === undefined ? entry.shape : [rows, ...entry.shape.slice(1)];
      const n = rows === undefined ? bytes.length : (bytes.length / entry.shape[0]!) * rows;
      return { name, dtype: entry.dtype, shape, data: () => bytes.subarray(0, n) };
    }),
  );
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), JSON.stringify(v));
}

/** A CLIPVisionModel (or CLIPModel with a text half) and a LlamaForCausalLM directory made from the fixture. */
async function sources(root: string, clipModel: boolean): Promise<{ vision: string; language: string }> {
  const config = JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8')) as Json;
  const all = fixtureTensors();
  const vision = join(root, 'clip');
  const visionTensors = [...all.values()].filter((e) => e.name.startsWith('vision_tower.')).map((e) => ({ name: e.name.slice('vision_tower.'.length), entry: e }));
  if (clipModel) {
    const someText = all.get('language_model.model.norm.weight')!;
    visionTensors.push({ name: 'text_model.final_layer_norm.weight', entry: someText }, { name: 'logit_scale', entry: someText });
  }
  const visionConfig = clipModel ? { model_type: 'clip', vision_config: config.vision_config, text_config: {} } : config.vision_config;
  await writeDir(vision, visionTensors, { 'config.json': visionConfig });
  const language = join(root, 'llama');
  const languageTensors = [...all.values()]
    .filter((e) => e.name.startsWith('language_model.'))
    .map((e) => {
      const name = e.name === 'language_model.lm_head.weight' ? 'lm_head.weight' : e.name.slice('language_model.'.length);
      const rows = name === 'model.embed_tokens.weight' || name === 'lm_head.weight' ? BASE_TOKENS : undefined;
      return { name, entry: e, rows };
    });
  const tokenizer = JSON.parse(readFileSync(join(FIXTURE, 'tokenizer.json'), 'utf8')) as { added_tokens: { content: string }[] };
  tokenizer.added_tokens = tokenizer.added_tokens.filter((t) => t.content !== '<image>' && t.content !== '<pad>');
  const tokConfig = JSON.parse(readFileSync(join(FIXTURE, 'tokenizer_config.json'), 'utf8')) as Json;
  delete tokConfig.chat_template;
  delete tokConfig.pad_token;
  await writeDir(language, languageTensors, {
    'config.json': { ...(config.text_config as Json), model_type: 'llama', vocab_size: BASE_TOKENS },
    'tokenizer.json': tokenizer,
    'tokenizer_config.json': tokConfig,
  });
  return { vision, language };
}

test('llava build composes CLIP + LLaMA into a llava-hf directory that loads and answers', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'llava-build-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { vision, language } = await sources(root, false);
  const out = join(root, 'llava');
  const config = await composeLlava({ visionDir: vision, languageDir: language, projector: parseProjectorType('mlp2x_gelu'), outDir: out, seed: 3 });
  assert.equal(config.imageTokenId, 379);
  assert.equal(config.padTokenId, 380);
  assert.equal(config.text.vocabSize, 384, '381 tokens padded to a multiple of 64');
  assert.deepEqual(readLlavaHfConfig(out), config);
  const built = readSafetensorsHeader(join(out, 'model.safetensors')).tensors;
  const original = fixtureTensors();
  for (const [name, e] of original) {
    if (name.startsWith('multi_modal_projector.')) continue;
    const b = built.get(name)!;
    assert.ok(b, name);
    if (name.endsWith('embed_tokens.weight') || name.endsWith('lm_head.weight')) {
      const got = readTensorAsF32(b);
      const want = readTensorAsF32(e);
      const C = e.shape[1]!;
      assert.deepEqual(got.subarray(0, BASE_TOKENS * C), want.subarray(0, BASE_TOKENS * C), `${name}: old rows kept`);
      for (let c = 0; c < C; c += 7) {
        let mean = 0;
        for (let r = 0; r < BASE_TOKENS; r++) mean += want[r * C + c]!;
        assert.ok(Math.abs(got[383 * C + c]! - mean / BASE_TOKENS) < 1e-6, `${name}: new rows are the mean`);
      }
    } else assert.ok(Buffer.from(readTensorBytes(b)).equals(Buffer.from(readTensorBytes(e))), `${name} carried over byte for byte`);
  }
  const tok = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')) as Json;
  assert.match(String(tok.chat_template), /ASSISTANT:/);
  assert.equal(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')).pad_token_id, 380);
  const pipeline = LlavaPipeline.load(out);
  t.after(() => pipeline.dispose());
  assert.equal(pipeline.tokenizer.imageTokenId, 379);
  const r = spawnSync(process.execPath, ['bin/llava.js', 'generate', '--model', out, '--image', 'test/fixtures/llava-tiny/images/shapes.png', '--prompt', 'What is it?', '--max-new-tokens', '3', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).prompt_ids.filter((id: number) => id === 379).length, 16);
  const again = await composeLlava({ visionDir: vision, languageDir: language, projector: parseProjectorType('mlp2x_gelu'), outDir: join(root, 'again'), seed: 3 });
  assert.deepEqual(again, config);
  assert.ok(readFileSync(join(root, 'again', 'model.safetensors')).equals(readFileSync(join(out, 'model.safetensors'))), 'the same seed gives the same files');
  await assert.rejects(composeLlava({ visionDir: vision, languageDir: language, projector: parseProjectorType('linear'), outDir: out, seed: 0 }), /already exists and is not empty/);
});

test('llava build takes a CLIPModel (text half dropped) and a linear projector; wrong checkpoints are named', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'llava-build-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { vision, language } = await sources(root, true);
  const out = join(root, 'llava');
  const r = spawnSync(process.execPath, ['bin/llava.js', 'build', '--vision', vision, '--language', language, '--projector', 'linear', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const names = [...readSafetensorsHeader(join(out, 'model.safetensors')).tensors.keys()];
  assert.ok(!names.some((n) => n.includes('text_model') || n.includes('logit_scale')), 'the CLIP text half is dropped');
  assert.deepEqual(names.filter((n) => n.startsWith('multi_modal_projector.')).sort(), ['multi_modal_projector.linear_1.bias', 'multi_modal_projector.linear_1.weight']);
  assert.equal(readLlavaHfConfig(out).projector.depth, 1);
  const train = spawnSync(process.execPath, ['bin/llava.js', 'train', '--stage', '1', '--model', out, '--data', '/dev/null', '--out', join(root, 'run'), '--dry-run'], { encoding: 'utf8' });
  assert.equal(train.status, 1);
  assert.match(train.stderr, /\/dev\/null: not valid JSON/);
  const swapped = spawnSync(process.execPath, ['bin/llava.js', 'build', '--vision', language, '--language', vision, '--out', join(root, 'x')], { encoding: 'utf8' });
  assert.equal(swapped.status, 1);
  assert.match(swapped.stderr, /config\.json: model_type "llama" is not a CLIP vision checkpoint/);
});
