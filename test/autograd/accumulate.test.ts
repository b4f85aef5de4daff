// Gradient accumulation and tape behaviour: two backward passes add up, split views route
// into one buffer, noGrad records nothing, and a disposed intermediate still routes gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/backend/index.js';
import * as T from '../../src/tensor/index.js';

const b = getBackend('reference');

test('two backward passes accumulate, including through split views', () => {
  const x = T.tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend: b, requiresGrad: true });
  const run = (scale: number) => {
    const loss = T.tidy(() => {
      const [p, q] = T.split(x, [1, 2], 1);
      return T.sum(T.add(T.mul(p!, scale), T.mul(q!, q!)));
    });
    T.backward(loss);
    loss.dispose();
  };
  // p (2, 1) broadcasts over q's two columns, so its gradient is 2 * scale.
  run(3);
  assert.deepEqual(Array.from(x.grad!.toArray()), [6, 4, 6, 6, 10, 12]);
  run(1);
  assert.deepEqual(Array.from(x.grad!.toArray()), [8, 8, 12, 8, 20, 24]);
});

test('noGrad records nothing and backward refuses a graph without parameters', () => {
  const x = T.tensor([1, 2], [2], { backend: b, requiresGrad: true });
  const y = T.noGrad(() => T.sum(T.mul(x, x)));
  assert.equal(y.requiresGrad, false);
  assert.throws(() => T.backward(y), /does not require grad/);
});

test('intermediates disposed by tidy still route gradients', () => {
  const x = T.tensor([0.5, -1], [2], { backend: b, requiresGrad: true });
  const loss = T.tidy(() => T.sum(T.exp(T.mul(x, 2))));
  T.backward(loss);
  const g = x.grad!.toArray();
  assert.ok(Math.abs(g[0]! - 2 * Math.exp(1)) < 1e-5 && Math.abs(g[1]! - 2 * Math.exp(-2)) < 1e-5);
});

test('non-scalar backward needs an explicit gradient', () => {
  const x = T.tensor([1, 2], [2], { backend: b, requiresGrad: true });
  const y = T.mul(x, 3);
  assert.throws(() => T.backward(y), /needs an explicit grad/);
  T.backward(y, { grad: T.tensor([1, 10], [2], { backend: b }) });
  assert.deepEqual(Array.from(x.grad!.toArray()), [3, 30]);
});
