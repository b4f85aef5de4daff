// LLaMA decoder on random weights: KV-cached decoding (prefill, then one token at a time)
// reproduces the full forward; grouped-query and multi-head variants; cache overflow is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, tensor, tidy, noGrad } from '../../src/tensor/index.js';
import { DEFAULT_TEXT_CONFIG, type TextConfig } from '../../src/model/config.js';
import { LlamaForCausalLM } from '../../src/model/llama.js';
import { KvCache } from '../../src/model/kvCache.js';
import { randomWeights } from '../../src/nn/layers.js';
import { relativeMaxDiff } from './fixtures.js';

const SMALL: TextConfig = { ...DEFAULT_TEXT_CONFIG, vocabSize: 50, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, maxPositionEmbeddings: 64 };

function positions(start: number, n: number) {
  return tensor(Array.from({ length: n }, (_, i) => start + i), [1, n], { dtype: 'i32' });
}

function cachedMatchesFull(config: TextConfig): void {
  const lm = new LlamaForCausalLM(randomWeights(new Rng(7), 0.2), 'text', config);
  const ids = [3, 17, 9, 42, 5, 11, 30, 2];
  noGrad(() => {
    const full = tidy(() => lm.logits(lm.forward(lm.embed(tensor(ids, [1, ids.length], { dtype: 'i32' })), { positions: positions(0, ids.length) })).toArray());
    const cache = new KvCache({ batch: 1, layers: config.numLayers, kvHeads: config.numKvHeads, headDim: config.headDim, capacity: ids.length });
    const prefix = 5;
    const pieces: Float32Array[] = [];
    pieces.push(tidy(() => lm.logits(lm.forward(lm.embed(tensor(ids.slice(0, prefix), [1, prefix], { dtype: 'i32' })), { positions: positions(0, prefix), cache })).toArray() as Float32Array));
    for (let t = prefix; t < ids.length; t++) {
      pieces.push(tidy(() => lm.logits(lm.forward(lm.embed(tensor([ids[t]!], [1, 1], { dtype: 'i32' })), { positions: positions(t, 1), cache })).toArray() as Float32Array));
    }
    assert.equal(cache.length, ids.length);
    const stepped = new Float32Array(pieces.flatMap((p) => [...p]));
    assert.ok(relativeMaxDiff(stepped, full) < 1e-5, `cached decoding differs: ${relativeMaxDiff(stepped, full)}`);
    assert.throws(() => lm.forward(lm.embed(tensor([1], [1, 1], { dtype: 'i32' })), { positions: positions(ids.length, 1), cache }), /KV cache full: 8 cached \+ 1 new positions exceed its capacity of 8/);
    cache.dispose();
  });
  lm.dispose();
}

test('KV-cached decoding equals the full forward (grouped-query attention, 4 heads / 2 kv heads)', () => cachedMatchesFull(SMALL));
test('KV-cached decoding equals the full forward (multi-head, tied embeddings)', () => cachedMatchesFull({ ...SMALL, numKvHeads: 4, tieWordEmbeddings: true }));

test('parameter names follow the HF Llama layout under the given prefix', () => {
  const lm = new LlamaForCausalLM(randomWeights(new Rng(1)), 'text', SMALL);
  const names = lm.namedParameters().map(([n]) => n);
  for (const want of ['embed_tokens.weight', 'layers.1.self_attn.k_proj.weight', 'layers.0.mlp.down_proj.weight', 'layers.0.post_attention_layernorm.weight', 'norm.weight', 'lm_head.weight']) {
    assert.ok(names.includes(want), `missing ${want}`);
  }
  assert.deepEqual(lm.layers.items[1]!.attn.k.weightParam.value.shape, [2 * 8, 32]);
  lm.dispose();
});
