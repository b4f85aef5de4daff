// Finite-difference checks of every differentiable op's gradient rule, on the reference
// backend and (when built) the native one: views, elementwise, reductions, matmul, fused ops.
import { describe, test } from 'node:test';
import { getBackend } from '../../src/backend/index.js';
import { addonAvailable } from '../../src/backend/native/addon.js';
import type { Backend, UnaryOp } from '../../src/backend/types.js';
import * as T from '../../src/tensor/index.js';
import { Rng } from '../../src/tensor/index.js';
import { gradcheck, leaf } from './gradcheck.js';

const backends: Backend[] = [getBackend('reference'), ...(addonAvailable() ? [getBackend('native')] : [])];
if (!addonAvailable()) test('gradients on native', { skip: 'native addon not built: gradient checks ran on the reference backend only' }, () => {});

function rnd(b: Backend, shape: number[], rng: Rng, lo = -1, hi = 1): T.Tensor {
  return leaf(b, rng.uniformArray(shape.reduce((a, c) => a * c, 1), lo, hi), shape);
}

for (const b of backends) {
  describe(`gradients on ${b.name}`, () => {
    const rng = new Rng(7);

    test('views: reshape, permute, narrow, expand, contiguous, select', () => {
      const x = rnd(b, [2, 3, 4], rng);
      gradcheck('reshape', [x], (a) => T.reshape(a, [4, 6]));
      gradcheck('permute', [x], (a) => T.contiguous(T.permute(a, [2, 0, 1])));
      gradcheck('narrow', [x], (a) => T.narrow(a, 2, 1, 2));
      gradcheck('select', [x], (a) => T.select(a, 1, 2));
      const v = rnd(b, [3, 1], rng);
      gradcheck('expand', [v], (a) => T.expand(a, [2, 3, 5]));
      gradcheck('split+concat', [x], (a) => {
        const [p, q] = T.split(a, [1, 3], -1);
        return T.concat([q!, p!, q!], -1);
      });
      gradcheck('stack', [x], (a) => T.stack([a, T.mul(a, 2)], 1));
    });

    test('unary ops', () => {
      const ops: [UnaryOp, number, number, number, number][] = [
        ['affine', 1.5, -0.3, -1, 1],
        ['exp', 0, 0, -1, 1],
        ['log', 0, 0, 0.5, 2],
        ['sqrt', 0, 0, 0.5, 2],
        ['rsqrt', 0, 0, 0.5, 2],
        ['tanh', 0, 0, -1, 1],
        ['sigmoid', 0, 0, -2, 2],
        ['relu', 0, 0, -1, 1],
        ['gelu', 0, 0, -2, 2],
        ['gelu_tanh', 0, 0, -2, 2],
        ['quick_gelu', 0, 0, -2, 2],
        ['silu', 0, 0, -2, 2],
        ['abs', 0, 0, -1, 1],
        ['square', 0, 0, -1, 1],
        ['pow', 3, 0, 0.5, 1.5],
        ['sin', 0, 0, -2, 2],
        ['cos', 0, 0, -2, 2],
      ];
      for (const [op, alpha, beta, lo, hi] of ops) {
        const x = rnd(b, [3, 5], rng, lo, hi);
        // Keep relu/abs away from their kink, where central differences are meaningless.
        if (op === 'relu' || op === 'abs') {
          const d = x.toArray();
          for (let i = 0; i < d.length; i++) if (Math.abs(d[i]!) < 0.05) d[i] = 0.3;
          b.write(x.ptr, d);
        }
        gradcheck(op, [x], (a) => T.unary(a, op, alpha, beta));
      }
    });

    test('binary ops with broadcasting, where', () => {
      const a = rnd(b, [2, 3, 4], rng);
      const c = rnd(b, [3, 1], rng, 0.5, 1.5);
      gradcheck('add', [a, c], (x, y) => T.add(x, y));
      gradcheck('sub', [a, c], (x, y) => T.sub(x, y));
      gradcheck('mul', [a, c], (x, y) => T.mul(x, y));
      gradcheck('div', [a, c], (x, y) => T.div(x, y));
      const d = rnd(b, [4], rng);
      gradcheck('maximum', [a, d], (x, y) => T.maximum(x, y));
      gradcheck('minimum', [a, d], (x, y) => T.minimum(x, y));
      const cond = T.tensor(Float32Array.from({ length: 12 }, (_, i) => i % 3 === 0 ? 1 : 0), [3, 4], { backend: b });
      gradcheck('where', [a, d], (x, y) => T.where(cond, x, y));
      gradcheck('maskedFill', [a], (x) => T.maskedFill(x, cond, -2));
      gradcheck('same input twice', [a], (x) => T.mul(x, x));
    });

    test('reductions', () => {
      const x = rnd(b, [3, 4, 5], rng);
      gradcheck('sum all', [x], (a) => T.sum(a));
      gradcheck('sum axis 1', [x], (a) => T.sum(a, 1));
      gradcheck('sum axes 0,2 keepdim', [x], (a) => T.sum(a, [0, 2], true));
      gradcheck('mean', [x], (a) => T.mean(a, -1));
      gradcheck('max', [x], (a) => T.max(a, 1));
      gradcheck('min', [x], (a) => T.min(a, [0, 2]));
      gradcheck('sumSquares', [x], (a) => T.sumSquares(a, 2));
      gradcheck('sum of permuted', [x], (a) => T.sum(T.permute(a, [2, 1, 0]), 0));
    });

    test('matmul: 2-d, batched, broadcast, transposed, linear', () => {
      const a = rnd(b, [3, 4], rng);
      const w = rnd(b, [4, 5], rng);
      gradcheck('matmul 2d', [a, w], (x, y) => T.matmul(x, y));
      const ab = rnd(b, [2, 3, 4], rng);
      gradcheck('matmul batched x matrix', [ab, w], (x, y) => T.matmul(x, y));
      const bb = rnd(b, [2, 4, 5], rng);
      gradcheck('matmul batched', [ab, bb], (x, y) => T.matmul(x, y));
      gradcheck('matmul matrix x batched', [a, bb], (x, y) => T.matmul(x, y));
      const at = rnd(b, [4, 3], rng);
      const bt = rnd(b, [2, 5, 4], rng);
      gradcheck('matmul transposed operands', [at, bt], (x, y) => T.matmul(T.transpose(x), T.transpose(y, 1, 2)));
      const lw = rnd(b, [6, 4], rng);
      const lb = rnd(b, [6], rng);
      gradcheck('linear', [ab, lw, lb], (x, y, z) => T.linear(x, y, z));
    });

    test('softmax, logSoftmax, layerNorm, rmsNorm', () => {
      const x = rnd(b, [3, 7], rng, -2, 2);
      gradcheck('softmax', [x], (a) => T.softmax(a));
      gradcheck('logSoftmax', [x], (a) => T.logSoftmax(a));
      const w = rnd(b, [7], rng, 0.5, 1.5);
      const bias = rnd(b, [7], rng);
      gradcheck('layerNorm', [x, w, bias], (a, g, h) => T.layerNorm(a, g, h, 1e-5), 3, { eps: 5e-3 });
      gradcheck('layerNorm no affine', [x], (a) => T.layerNorm(a, undefined, undefined, 1e-5), 3, { eps: 5e-3 });
      gradcheck('rmsNorm', [x, w], (a, g) => T.rmsNorm(a, g, 1e-6), 3, { eps: 5e-3 });
    });

    test('rope on a (B, T, H, D) memory layout', () => {
      const x = rnd(b, [2, 3, 2, 8], rng); // (B, T, H, D)
      const pos = T.tensor([0, 1, 2, 5, 6, 7], [2, 3], { dtype: 'i32', backend: b });
      gradcheck('rope', [x], (a) => T.rope(T.permute(a, [0, 2, 1, 3]), pos, 10000));
      gradcheck('rope partial', [x], (a) => T.rope(T.permute(a, [0, 2, 1, 3]), pos, 100, 4));
    });

    test('attention: causal, GQA, KV-cache length, padding mask', () => {
      const q = rnd(b, [2, 3, 4, 8], rng); // (B, T, Hq, D) memory
      const k = rnd(b, [2, 5, 2, 8], rng); // (B, Tk, Hkv, D)
      const v = rnd(b, [2, 5, 2, 8], rng);
      const heads = (t: T.Tensor) => T.permute(t, [0, 2, 1, 3]);
      gradcheck('attention causal gqa tq<tk', [q, k, v], (a, c, d) => T.attention(heads(a), heads(c), heads(d), { causal: true }));
      const mask = T.tensor([1, 1, 1, 1, 0, 0, 1, 1, 1, 1], [2, 5], { backend: b });
      gradcheck('attention masked', [q, k, v], (a, c, d) => T.attention(heads(a), heads(c), heads(d), { keyMask: mask }));
    });

    test('crossEntropy with ignored targets, embedding, patchEmbed, cast', () => {
      const logits = rnd(b, [5, 7], rng, -2, 2);
      const targets = T.tensor([1, -100, 6, 0, 3], [5], { dtype: 'i32', backend: b });
      gradcheck('crossEntropy', [logits], (a) => T.crossEntropy(a, targets));
      const weights = Float32Array.of(0.5, 3, 0.25, 0, 1.5);
      gradcheck('crossEntropy, row weights', [logits], (a) => T.crossEntropy(a, targets, -100, weights));
      const table = rnd(b, [6, 4], rng);
      const ids = T.tensor([0, 5, 2, 2, 1, 5], [2, 3], { dtype: 'i32', backend: b });
      gradcheck('embedding (repeated ids)', [table], (w) => T.embedding(w, ids));
      const img = rnd(b, [1, 2, 4, 6], rng);
      const kernel = rnd(b, [3, 2, 2, 2], rng);
      const kb = rnd(b, [3], rng);
      gradcheck('patchEmbed', [img, kernel, kb], (x, w, c) => T.patchEmbed(x, w, c));
      const x = rnd(b, [4], rng);
      gradcheck('cast round trip', [x], (a) => T.cast(T.cast(a, 'f16'), 'f32'), 1, { eps: 5e-2, rtol: 5e-2, atol: 5e-3 });
    });
  });
}
