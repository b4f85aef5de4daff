// The train bench's plumbing: GEMM shapes recorded from a forward + backward, and the C
// baseline timing exactly such a list (skipped with its reason where OpenBLAS is absent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultBackend } from '../../src/backend/index.js';
import { tensor } from '../../src/tensor/tensor.js';
import { linear } from '../../src/tensor/ops/matmul.js';
import { sum } from '../../src/tensor/ops/reduce.js';
import { backward } from '../../src/autograd/backward.js';
import { recordGemms } from '../../src/bench/train.js';
import { runSgemmBaseline } from '../../src/bench/baseline.js';

test('recordGemms lists the forward and backward products of a linear layer', () => {
  const backend = defaultBackend();
  const x = tensor(new Float32Array(6 * 4).fill(0.5), [6, 4]);
  const w = tensor(new Float32Array(3 * 4).fill(0.25), [3, 4]);
  w.requiresGrad = true;
  x.requiresGrad = true;
  const before = backend.matmul;
  const shapes = recordGemms(backend, () => {
    const y = sum(linear(x, w));
    backward(y);
  });
  const flops = shapes.reduce((s, g) => s + 2 * g.m * g.n * g.k * g.count, 0);
  // y = x W^T (6x3 from k=4), dx = dy W (6x4 from k=3), dW = dy^T x (3x4 from k=6): 144 multiply-adds each.
  assert.equal(flops, 3 * 2 * 72);
  assert.equal(shapes.reduce((s, g) => s + g.count, 0), 3);
  assert.equal(backend.matmul, before, 'the backend is restored');
});

test('the C baseline times a given list of shapes', async (t) => {
  const r = await runSgemmBaseline({ shapes: [{ m: 64, n: 32, k: 16, transA: false, transB: true, count: 2 }], repeats: 3 });
  if (typeof r.unavailable === 'string') return t.skip(r.unavailable);
  const timings = r as Record<string, { ms: number; gflops: number }>;
  assert.ok(timings.shapes && timings.shapes.ms > 0 && timings.shapes.gflops > 0);
  assert.equal(Object.keys(timings).join(), 'shapes');
});
