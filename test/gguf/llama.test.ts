// The llama side of GGUF conversion: names, the rope row permutation (checked against both rope
// conventions written out here), the metadata as llama.cpp names it, and a model written and read back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/tensor/random.js';
import { namedConfig } from '../../src/model/namedConfigs.js';
import { expectedWeights } from '../../src/model/weightNames.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlava } from '../../src/model/checkpoint.js';
import { writeGguf } from '../../src/gguf/writer.js';
import { readGgufHeader, readGgufTensorBytes } from '../../src/gguf/reader.js';
import { dequantize } from '../../src/gguf/dequantize.js';
import { ggufLlamaName, isRopePermuted, llamaMetadata, llamaTensors, permuteRopeRows } from '../../src/gguf/llama.js';
import { tinyModel } from '../model/fixtures.js';

test('every canonical language-model weight has one llama.cpp name', () => {
  const config = namedConfig('world-small');
  const text = expectedWeights(config).map((w) => w.name).filter((n) => n.startsWith('text.'));
  const names = text.map((n) => ggufLlamaName(n));
  assert.ok(names.every((n) => n !== undefined), `unmapped: ${text.filter((n) => !ggufLlamaName(n)).join(', ')}`);
  assert.equal(new Set(names).size, names.length);
  assert.equal(ggufLlamaName('text.embed_tokens.weight'), 'token_embd.weight');
  assert.equal(ggufLlamaName('text.layers.3.self_attn.k_proj.weight'), 'blk.3.attn_k.weight');
  assert.equal(ggufLlamaName('text.layers.0.mlp.down_proj.weight'), 'blk.0.ffn_down.weight');
  assert.equal(ggufLlamaName('text.layers.1.post_attention_layernorm.weight'), 'blk.1.ffn_norm.weight');
  assert.equal(ggufLlamaName('text.lm_head.weight'), 'output.weight');
  assert.equal(ggufLlamaName('vision.embeddings.patch_embedding.weight'), undefined);
  assert.deepEqual(text.filter(isRopePermuted).length, 2 * config.text.numLayers);
});

test('the rope permutation moves row s * D/2 + p of each head to 2p + s, and back', () => {
  assert.deepEqual([...permuteRopeRows(Float32Array.from([0, 1, 2, 3]), 1, 1)], [0, 2, 1, 3]);
  assert.deepEqual([...permuteRopeRows(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 2, 1)], [0, 2, 1, 3, 4, 6, 5, 7]);
  const w = new Rng(5).normalArray(6 * 8 * 3);
  assert.deepEqual(permuteRopeRows(permuteRopeRows(w, 6, 3), 6, 3, true), w);
  assert.throws(() => permuteRopeRows(new Float32Array(9), 3, 1), /do not split into 3 heads of even size/);
});

/** HF's rope: dim i pairs with i + D/2 in each head. */
function ropeRotateHalf(q: Float32Array, heads: number, pos: number, base: number): Float32Array {
  const D = q.length / heads;
  const out = new Float32Array(q.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < D / 2; i++) {
      const a = pos * base ** ((-2 * i) / D);
      const [x, y] = [q[h * D + i]!, q[h * D + i + D / 2]!];
      out[h * D + i] = x * Math.cos(a) - y * Math.sin(a);
      out[h * D + i + D / 2] = y * Math.cos(a) + x * Math.sin(a);
    }
  return out;
}

/** llama.cpp's llama rope: dims 2i and 2i + 1 pair in each head. */
function ropeAdjacent(q: Float32Array, heads: number, pos: number, base: number): Float32Array {
  const D = q.length / heads;
  const out = new Float32Array(q.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < D / 2; i++) {
      const a = pos * base ** ((-2 * i) / D);
      const [x, y] = [q[h * D + 2 * i]!, q[h * D + 2 * i + 1]!];
      out[h * D + 2 * i] = x * Math.cos(a) - y * Math.sin(a);
      out[h * D + 2 * i + 1] = y * Math.cos(a) + x * Math.sin(a);
    }
  return out;
}

function matvec(w: Float32Array, x: Float32Array): Float32Array {
  const cols = x.length;
  return Float32Array.from({ length: w.length / cols }, (_, r) => x.reduce((s, v, c) => s + v * w[r * cols + c]!, 0));
}

test('permuted weights under llama.cpp\'s rope give the attention scores of the HF weights under rotate_half', () => {
  const rng = new Rng(9);
  const heads = 2;
  const D = 8;
  const C = 5;
  const wq = rng.normalArray(heads * D * C);
  const wk = rng.normalArray(heads * D * C);
  const x = rng.normalArray(C);
  const y = rng.normalArray(C);
  const scores = (q: Float32Array, k: Float32Array) => Array.from({ length: heads }, (_, h) => q.subarray(h * D, h * D + D).reduce((s, v, i) => s + v * k[h * D + i]!, 0));
  const hf = scores(ropeRotateHalf(matvec(wq, x), heads, 7, 10000), ropeRotateHalf(matvec(wk, y), heads, 3, 10000));
  const cpp = scores(ropeAdjacent(matvec(permuteRopeRows(wq, heads, C), x), heads, 7, 10000), ropeAdjacent(matvec(permuteRopeRows(wk, heads, C), y), heads, 3, 10000));
  hf.forEach((s, h) => assert.ok(Math.abs(s - cpp[h]!) < 1e-4 * Math.max(1, Math.abs(s)), `head ${h}: ${s} vs ${cpp[h]}`));
  // Without the permutation the scores differ: the test can fail.
  const wrong = scores(ropeAdjacent(matvec(wq, x), heads, 7, 10000), ropeAdjacent(matvec(wk, y), heads, 3, 10000));
  assert.ok(wrong.some((s, h) => Math.abs(s - hf[h]!) > 1e-3));
});

test('llama metadata names the shape as llama.cpp reads it', () => {
  const t = namedConfig('world-small').text;
  const m = llamaMetadata(t, 'world-small');
  const value = (k: string) => {
    const v = m.get(k);
    return v && v.type !== 'array' ? v.value : undefined;
  };
  assert.equal(value('general.architecture'), 'llama');
  assert.equal(value('llama.embedding_length'), 256);
  assert.equal(value('llama.block_count'), 4);
  assert.equal(value('llama.attention.head_count'), 8);
  assert.equal(value('llama.attention.head_count_kv'), 4);
  assert.equal(value('llama.rope.dimension_count'), 32);
  assert.equal(value('llama.context_length'), 512);
});

test('a language model written as GGUF reads back to its weights: exactly in F32, within the format\'s bound in F16 and Q8_0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-gguf-llama-'));
  const { model, config } = loadLlava(tinyModel('f32-v4').dir);
  try {
    const weights = model.namedParameters().map(([n, p]) => [n, p.value] as const);
    for (const type of ['F32', 'F16', 'Q8_0'] as const) {
      const path = join(dir, `${type}.gguf`);
      writeGguf(path, llamaMetadata(config.text, 'tiny'), llamaTensors(weights, config.text, type));
      const h = readGgufHeader(path);
      for (const [canonical, tensor] of weights) {
        const name = ggufLlamaName(canonical);
        if (!name) continue;
        const info = h.tensors.find((x) => x.name === name)!;
        assert.deepEqual(info.dims, [...tensor.shape].reverse(), name);
        let back = dequantize(info.type, readGgufTensorBytes(h, name), info.elements);
        if (isRopePermuted(canonical)) back = permuteRopeRows(back, canonical.includes('.q_proj.') ? config.text.numHeads : config.text.numKvHeads, tensor.shape[1]!, true);
        const want = tensor.toArray() as Float32Array;
        const amax = Math.max(...want.map(Math.abs));
        const bound = info.type === 'F32' ? 0 : info.type === 'F16' ? amax * 2 ** -11 : amax / 127 + amax * 2 ** -10;
        let worst = 0;
        want.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - back[i]!))));
        assert.ok(worst <= bound, `${type} ${name}: worst error ${worst} > ${bound}`);
        if (tensor.shape.length === 1) assert.equal(info.type, 'F32', `${name}: norms stay F32`);
      }
    }
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
