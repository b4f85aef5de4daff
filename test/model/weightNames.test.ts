// Tests of checkpoint weight naming: layout detection, 4.x/5.x <-> canonical mapping on the fixture checkpoints,
// the expected tensor list and shapes per config, and the errors for foreign or mismatched checkpoints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLlavaHfConfig, type HfLayout, type LlavaConfig } from '../../src/model/config.js';
import { NAMED_CONFIGS } from '../../src/model/namedConfigs.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import {
  HF_LAYOUTS,
  WeightNameError,
  canonicalizeNames,
  checkWeightShapes,
  detectLayout,
  expectedWeights,
  fromCanonicalName,
  parameterCount,
  toCanonicalName,
} from '../../src/model/weightNames.js';

const FIXTURES = 'test/fixtures/llava-tiny';
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as {
  models: { name: string; dir: string; layout: HfLayout }[];
};

function fixtureShapes(dir: string): Map<string, readonly number[]> {
  const file = readSafetensorsHeader(join(FIXTURES, dir, 'model.safetensors'));
  return new Map([...file.tensors.values()].map((t) => [t.name, t.shape]));
}

test('fixture checkpoints: layout detected, every tensor canonical, shapes match the config', () => {
  for (const m of manifest.models) {
    const shapes = fixtureShapes(m.dir);
    const config = readLlavaHfConfig(join(FIXTURES, m.dir));
    assert.equal(detectLayout(shapes.keys()), m.layout, m.name);
    const names = canonicalizeNames(shapes.keys(), m.name);
    assert.equal(names.layout, m.layout);
    assert.deepEqual(names.ignored, []);
    const canonicalShapes = new Map([...names.toCheckpoint].map(([canonical, original]) => [canonical, shapes.get(original)!]));
    assert.deepEqual([...canonicalShapes.keys()].sort(), expectedWeights(config).map((s) => s.name).sort(), m.name);
    checkWeightShapes(config, canonicalShapes, m.name);
    for (const [canonical, original] of names.toCheckpoint) assert.equal(fromCanonicalName(canonical, m.layout), original);
  }
});

test('the 4.x and 5.x fixtures hold the same canonical tensors', () => {
  const v4 = canonicalizeNames(fixtureShapes('models/f32-v4').keys());
  const v5 = canonicalizeNames(fixtureShapes('models/f32-v5').keys());
  assert.deepEqual([...v4.toCheckpoint.keys()].sort(), [...v5.toCheckpoint.keys()].sort());
});

test('known names map both ways', () => {
  const pairs: [string, string, string][] = [
    ['text.lm_head.weight', 'language_model.lm_head.weight', 'lm_head.weight'],
    ['text.embed_tokens.weight', 'language_model.model.embed_tokens.weight', 'model.language_model.embed_tokens.weight'],
    ['text.layers.31.self_attn.k_proj.weight', 'language_model.model.layers.31.self_attn.k_proj.weight', 'model.language_model.layers.31.self_attn.k_proj.weight'],
    ['text.norm.weight', 'language_model.model.norm.weight', 'model.language_model.norm.weight'],
    ['projector.linear_2.bias', 'multi_modal_projector.linear_2.bias', 'model.multi_modal_projector.linear_2.bias'],
    ['vision.pre_layrnorm.weight', 'vision_tower.vision_model.pre_layrnorm.weight', 'model.vision_tower.vision_model.pre_layrnorm.weight'],
    [
      'vision.encoder.layers.0.mlp.fc1.bias',
      'vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias',
      'model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias',
    ],
  ];
  for (const [canonical, v4, v5] of pairs) {
    assert.equal(toCanonicalName(v4, 'transformers-4'), canonical);
    assert.equal(toCanonicalName(v5, 'transformers-5'), canonical);
    assert.equal(fromCanonicalName(canonical, 'transformers-4'), v4);
    assert.equal(fromCanonicalName(canonical, 'transformers-5'), v5);
  }
});

test('every expected name of every named config round-trips through both layouts', () => {
  for (const config of Object.values(NAMED_CONFIGS)) {
    for (const spec of expectedWeights(config)) {
      for (const layout of HF_LAYOUTS) assert.equal(toCanonicalName(fromCanonicalName(spec.name, layout), layout), spec.name);
    }
  }
});

test('saved position_ids buffers are ignored, not errors', () => {
  const names = ['language_model.model.norm.weight', 'vision_tower.vision_model.embeddings.position_ids'];
  assert.equal(toCanonicalName(names[1]!, 'transformers-4'), null);
  const r = canonicalizeNames(names);
  assert.deepEqual(r.ignored, [names[1]]);
  assert.deepEqual([...r.toCheckpoint.keys()], ['text.norm.weight']);
});

test('checkpoints that are not llava-hf, or mix layouts, are refused with the names', () => {
  const llama = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'lm_head.weight'];
  assert.throws(() => detectLayout(llama, 'llama-dir'), /llama-dir: no llava-hf language model tensors .*"model\.embed_tokens\.weight"/);
  const mixed = ['language_model.model.norm.weight', 'model.language_model.norm.weight'];
  assert.throws(() => detectLayout(mixed, 'mixed'), /mixed: tensor names mix the transformers 4\.x and 5\.x layouts/);
  const foreign = ['language_model.model.norm.weight', 'model.vision_tower.vision_model.pre_layrnorm.weight', 'extra.weight'];
  assert.throws(
    () => canonicalizeNames(foreign, 'ckpt'),
    /ckpt: 2 tensor\(s\) outside the transformers-4 llava layout: "model\.vision_tower\.vision_model\.pre_layrnorm\.weight", "extra\.weight"/,
  );
  assert.throws(() => toCanonicalName('lm_head.weight', 'transformers-4'), WeightNameError);
  assert.throws(() => fromCanonicalName('language_model.model.norm.weight', 'transformers-5'), /not a canonical weight name/);
});

test('shape checks report missing, mis-shaped and unexpected tensors together', () => {
  const config = NAMED_CONFIGS.tiny;
  const shapes = new Map(expectedWeights(config).map((s) => [s.name, s.shape]));
  checkWeightShapes(config, shapes);
  shapes.delete('vision.post_layernorm.weight');
  shapes.delete('vision.post_layernorm.bias');
  checkWeightShapes(config, shapes); // post_layernorm is never used: optional
  shapes.delete('text.layers.1.mlp.up_proj.weight');
  shapes.set('text.layers.0.self_attn.k_proj.weight', [64, 64]);
  shapes.set('text.layers.2.mlp.up_proj.weight', [128, 64]);
  assert.throws(
    () => checkWeightShapes(config, shapes, 'tiny.safetensors'),
    (e: unknown) =>
      e instanceof WeightNameError &&
      e.message.startsWith('tiny.safetensors: weights do not match the config') &&
      e.message.includes('missing text.layers.1.mlp.up_proj.weight [128, 64]') &&
      e.message.includes('text.layers.0.self_attn.k_proj.weight: shape [64, 64], config needs [32, 64]') &&
      e.message.includes('unexpected tensor text.layers.2.mlp.up_proj.weight'),
  );
});

test('grouped-query, tied and biased variants change the expected tensors', () => {
  const tiny = NAMED_CONFIGS.tiny;
  const byName = (c: LlavaConfig) => new Map(expectedWeights(c).map((s) => [s.name, s.shape]));
  assert.deepEqual(byName(tiny).get('text.layers.0.self_attn.k_proj.weight'), [32, 64], '2 kv heads x 16');
  assert.deepEqual(byName(tiny).get('vision.embeddings.position_embedding.weight'), [17, 32]);
  const tied = byName({ ...tiny, text: { ...tiny.text, tieWordEmbeddings: true } });
  assert.equal(tied.has('text.lm_head.weight'), false);
  const biased = byName({ ...tiny, text: { ...tiny.text, attentionBias: true }, projector: { ...tiny.projector, bias: false } });
  assert.deepEqual(biased.get('text.layers.1.self_attn.q_proj.bias'), [64]);
  assert.equal(biased.has('projector.linear_1.bias'), false);
  const linear = byName({ ...tiny, projector: { depth: 1, hiddenAct: 'gelu', bias: true } });
  assert.deepEqual(linear.get('projector.linear_1.weight'), [64, 32]);
  assert.equal(linear.has('projector.linear_2.weight'), false);
});

test('llava-1.5-7b has the published 7,063,427,072 parameters', () => {
  // LLaMA-2-7B 6,738,415,616 + 64 padded vocab rows x 4096 x 2 + CLIP-L/336 vision 303,507,456 + projector 20,979,712
  assert.equal(parameterCount(NAMED_CONFIGS['llava-1.5-7b']), 6_738_415_616 + 64 * 4096 * 2 + 303_507_456 + 20_979_712);
  assert.equal(parameterCount(NAMED_CONFIGS['llava-1.5-7b']), 7_063_427_072);
});
