// Tests of the typed LLaVA configs: llava-hf config.json parsing (4.x and 5.x dialects, transformers defaults),
// writing and re-reading, our named configs, and the errors bad configs get.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  DEFAULT_TEXT_CONFIG,
  type HfLayout,
  LLAVA_DEFAULT_VISION_CONFIG,
  featureLayerIndex,
  imageTokenCount,
  parseLlavaHfConfig,
  parseProjectorType,
  projectorTypeName,
  readLlavaHfConfig,
  validateLlavaConfig,
  visionLayersUsed,
  type LlavaConfig,
} from '../../src/model/config.js';
import { toLlavaHfConfig } from '../../src/model/configWrite.js';
import { NAMED_CONFIGS, namedConfig } from '../../src/model/namedConfigs.js';

const FIXTURES = 'test/fixtures/llava-tiny';

interface Manifest {
  models: { name: string; dir: string; layout: HfLayout; golden: string }[];
  goldens: Record<string, { case: string; image_tokens: number; num_tokens: number }[]>;
}
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Manifest;

/** llava-hf/llava-1.5-7b-hf's config.json as published: only non-default fields. */
const LLAVA_15_7B_HF = {
  architectures: ['LlavaForConditionalGeneration'],
  ignore_index: -100,
  image_token_index: 32000,
  model_type: 'llava',
  pad_token_id: 32001,
  projector_hidden_act: 'gelu',
  text_config: {
    _name_or_path: 'lmsys/vicuna-7b-v1.5',
    architectures: ['LlamaForCausalLM'],
    max_position_embeddings: 4096,
    model_type: 'llama',
    rms_norm_eps: 1e-5,
    torch_dtype: 'float16',
    vocab_size: 32064,
  },
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  transformers_version: '4.36.0.dev0',
  vision_config: {
    hidden_size: 1024,
    image_size: 336,
    intermediate_size: 4096,
    model_type: 'clip_vision_model',
    num_attention_heads: 16,
    num_hidden_layers: 24,
    patch_size: 14,
    projection_dim: 768,
    vocab_size: 32000,
  },
  vision_feature_layer: -2,
  vision_feature_select_strategy: 'default',
  vocab_size: 32064,
};

/** A deep copy of the 7B config with one field path set (undefined deletes it). */
function edited(path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(LLAVA_15_7B_HF) as Record<string, unknown>;
  const keys = path.split('.');
  let obj = copy;
  for (const k of keys.slice(0, -1)) obj = obj[k] as Record<string, unknown>;
  if (value === undefined) delete obj[keys.at(-1)!];
  else obj[keys.at(-1)!] = value;
  return copy;
}

test('fixture configs (4.x and 5.x, f32, bf16 and f16, tied) parse to the tiny named config', () => {
  for (const m of manifest.models) {
    const parsed = readLlavaHfConfig(join(FIXTURES, m.dir));
    if (m.name === 'full-v4') {
      assert.deepEqual(parsed, { ...NAMED_CONFIGS.tiny, visionFeatureLayer: -1, visionFeatureSelectStrategy: 'full' });
    } else if (m.name === 'tied-v4') {
      assert.deepEqual(parsed, { ...NAMED_CONFIGS.tiny, text: { ...NAMED_CONFIGS.tiny.text, tieWordEmbeddings: true } });
    } else {
      assert.deepEqual(parsed, NAMED_CONFIGS.tiny, m.name);
    }
    assert.equal(visionLayersUsed(parsed), m.name === 'full-v4' ? 3 : 2, 'layers run for the features');
    const golden = manifest.goldens[m.golden.replace('golden/', '')]!;
    for (const c of golden) assert.equal(imageTokenCount(parsed), c.image_tokens, `${m.name}/${c.case} image tokens`);
  }
});

test('the published llava-1.5-7b config fills omitted fields with transformers defaults', () => {
  const c = parseLlavaHfConfig(LLAVA_15_7B_HF);
  assert.deepEqual(c, NAMED_CONFIGS['llava-1.5-7b']);
  assert.equal(c.vision.hiddenAct, 'quick_gelu');
  assert.equal(c.vision.layerNormEps, 1e-5);
  assert.equal(c.text.hiddenSize, 4096);
  assert.equal(c.text.numKvHeads, 32, 'num_key_value_heads defaults to num_attention_heads');
  assert.equal(c.text.headDim, 128);
  assert.equal(c.text.ropeTheta, 10000);
  assert.equal(imageTokenCount(c), 576);
  assert.equal(featureLayerIndex(c), 23, 'hidden_states[-2] of 25 = output of layer 23');
});

test('absent sub-configs take LlavaConfig defaults (CLIP-L/336 vision, LLaMA-7B text)', () => {
  // transformers' own defaults put <image> (32000) outside LLaMA's 32000 rows, so name a valid id.
  const c = parseLlavaHfConfig({ model_type: 'llava', image_token_index: 31999 });
  assert.deepEqual(c.vision, LLAVA_DEFAULT_VISION_CONFIG);
  assert.deepEqual(c.text, DEFAULT_TEXT_CONFIG);
  assert.equal(c.visionFeatureLayer, -2);
  assert.equal(c.visionFeatureSelectStrategy, 'default');
  assert.deepEqual(c.projector, { depth: 2, hiddenAct: 'gelu', bias: true });
});

test('tie_word_embeddings ties the LM head when either the top level or text_config says so', () => {
  assert.equal(parseLlavaHfConfig(LLAVA_15_7B_HF).text.tieWordEmbeddings, false);
  assert.equal(parseLlavaHfConfig(edited('tie_word_embeddings', true)).text.tieWordEmbeddings, true, 'top level');
  assert.equal(parseLlavaHfConfig(edited('text_config.tie_word_embeddings', true)).text.tieWordEmbeddings, true, 'text_config');
  const both = edited('tie_word_embeddings', false);
  (both.text_config as Record<string, unknown>).tie_word_embeddings = true;
  assert.equal(parseLlavaHfConfig(both).text.tieWordEmbeddings, true, 'a false top level does not untie text_config');
});

test('5.x rope_parameters and image_token_id are read', () => {
  const v5 = edited('text_config.rope_parameters', { rope_type: 'default', rope_theta: 500000 });
  delete v5['image_token_index'];
  v5['image_token_id'] = 32001;
  v5['pad_token_id'] = 32000;
  const c = parseLlavaHfConfig(v5);
  assert.equal(c.text.ropeTheta, 500000);
  assert.equal(c.imageTokenId, 32001);
});

test('every named config writes and re-reads unchanged in both layouts', () => {
  const linear: LlavaConfig = { ...NAMED_CONFIGS.tiny, projector: parseProjectorType('linear') };
  const deep: LlavaConfig = { ...NAMED_CONFIGS.tiny, projector: parseProjectorType('mlp3x_gelu', false) };
  const configs: [string, LlavaConfig][] = [...Object.entries(NAMED_CONFIGS), ['linear', linear], ['mlp3x', deep]];
  for (const [name, c] of configs) {
    validateLlavaConfig(c, name);
    for (const layout of ['transformers-4', 'transformers-5'] as const) {
      const json = JSON.parse(JSON.stringify(toLlavaHfConfig(c, layout, 'bfloat16')));
      assert.deepEqual(parseLlavaHfConfig(json, `${name}/${layout}`), c, `${name} ${layout}`);
      const text = json.text_config as Record<string, unknown>;
      assert.equal(layout === 'transformers-5' ? 'rope_parameters' in text : 'rope_theta' in text, true);
      assert.equal(json[layout === 'transformers-5' ? 'dtype' : 'torch_dtype'], 'bfloat16');
    }
  }
});

test('projector type names', () => {
  assert.deepEqual(parseProjectorType('linear'), { depth: 1, hiddenAct: 'gelu', bias: true });
  assert.deepEqual(parseProjectorType('mlp2x_gelu'), { depth: 2, hiddenAct: 'gelu', bias: true });
  assert.equal(projectorTypeName(parseProjectorType('mlp4x_gelu')), 'mlp4x_gelu');
  assert.equal(projectorTypeName(parseProjectorType('linear')), 'linear');
  assert.throws(() => parseProjectorType('mlp1x_gelu'), ConfigError);
  assert.throws(() => parseProjectorType('mlp2x_tanh'), /projector type "mlp2x_tanh"/);
  assert.throws(() => parseProjectorType('identity'), ConfigError);
});

test('named configs are looked up by name; unknown names list the known ones', () => {
  assert.equal(namedConfig('tiny'), NAMED_CONFIGS.tiny);
  assert.equal(imageTokenCount(namedConfig('world-small')), 64);
  assert.throws(() => namedConfig('llava-70b'), /unknown model config "llava-70b"; known: tiny, world-small, llava-1\.5-7b, llava-1\.5-13b/);
});

test('bad configs get errors naming the file and field', () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2], /cfg\.json: expected a JSON object/],
    [edited('model_type', 'llama'), /cfg\.json: model_type: expected "llava", got "llama"/],
    [edited('text_config.hidden_size', '4096'), /cfg\.json: text_config\.hidden_size: expected a positive integer, got "4096"/],
    [edited('vision_config.patch_size', 0), /vision_config\.patch_size: expected a positive integer, got 0/],
    [edited('vision_config.model_type', 'siglip_vision_model'), /vision_config\.model_type: expected one of "clip_vision_model"/],
    [edited('text_config.model_type', 'qwen2'), /text_config\.model_type: expected one of "llama"/],
    [edited('vision_feature_select_strategy', 'cls'), /vision_feature_select_strategy: expected one of "default", "full", got "cls"/],
    [edited('vision_feature_layer', 25), /vision_feature_layer: 25 is outside \[-25, 24\] for 24 vision layers/],
    [edited('vision_feature_layer', [-2, -5]), /vision_feature_layer: a list of layers \(\[-2,-5\]\) is not supported/],
    [edited('text_config.num_key_value_heads', 5), /text_config\.num_key_value_heads: 5 does not divide num_attention_heads 32/],
    [edited('text_config.rope_scaling', { type: 'linear', factor: 2 }), /text_config\.rope_scaling: scaled rotary embeddings \("linear"\)/],
    [edited('text_config.rope_parameters', { rope_type: 'yarn', factor: 4 }), /text_config\.rope_parameters\.rope_type: expected one of "default", got "yarn"/],
    [edited('text_config.hidden_act', 'gelu'), /text_config\.hidden_act: expected one of "silu", got "gelu"/],
    [edited('text_config.rms_norm_eps', -1), /text_config\.rms_norm_eps: expected a positive number, got -1/],
    [edited('image_token_index', 32064), /image_token_index: 32064 is outside the vocabulary \(size 32064\)/],
    [edited('vision_config.image_size', 330), /vision_config\.image_size: 330 is not a multiple of patch_size 14/],
    [edited('text_config.hidden_size', 4001), /text_config\.hidden_size: 4001 is not a multiple of num_attention_heads 32/],
    [edited('text_config.hidden_size', 4000), /text_config\.head_dim: 125 is odd/],
    [edited('multimodal_projector_bias', 'yes'), /multimodal_projector_bias: expected true or false, got "yes"/],
    [edited('mm_projector_type', 'resampler'), /cfg\.json: mm_projector_type: projector type "resampler"/],
  ];
  for (const [json, message] of cases) {
    assert.throws(() => parseLlavaHfConfig(json, 'cfg.json'), (e: unknown) => e instanceof ConfigError && message.test(e.message), String(message));
  }
});

test('readLlavaHfConfig reports missing files and invalid JSON with their path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-config-'));
  try {
    assert.throws(() => readLlavaHfConfig(dir), new RegExp(`${join(dir, 'config.json')}: not found`));
    writeFileSync(join(dir, 'config.json'), '{"model_type": "llava",');
    assert.throws(() => readLlavaHfConfig(dir), /config\.json: not valid JSON/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(LLAVA_15_7B_HF));
    assert.deepEqual(readLlavaHfConfig(join(dir, 'config.json')), NAMED_CONFIGS['llava-1.5-7b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
