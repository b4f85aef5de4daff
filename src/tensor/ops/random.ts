// Random tensor factories drawn from the seeded Rng in TypeScript, so a seed gives the
// same values on every backend and thread count.
import { Tensor, tensor, type TensorOptions } from '../tensor.js';
import type { Rng } from '../random.js';
import { numel, type Shape } from '../shape.js';

/** Normal(mean, std) values. */
export function randn(shape: Shape, rng: Rng, std = 1, mean = 0, opts: TensorOptions = {}): Tensor {
  return tensor(rng.normalArray(numel(shape), mean, std), shape, opts);
}

/** Uniform [lo, hi) values. */
export function rand(shape: Shape, rng: Rng, lo = 0, hi = 1, opts: TensorOptions = {}): Tensor {
  return tensor(rng.uniformArray(numel(shape), lo, hi), shape, opts);
}

/** 0, 1, ..., n-1 as i32 (or f32). */
export function arange(n: number, opts: TensorOptions = {}): Tensor {
  return tensor(Array.from({ length: n }, (_, i) => i), [n], { dtype: 'i32', ...opts });
}
