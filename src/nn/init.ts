// Weight initialisers (seeded): normal, uniform, zeros/ones, and PyTorch's defaults for
// Linear and Embedding, so small models train like their PyTorch counterparts.
import { Tensor, full } from '../tensor/tensor.js';
import { rand, randn } from '../tensor/ops/random.js';
import type { Rng } from '../tensor/random.js';
import type { Shape } from '../tensor/shape.js';

export const initNormal = (shape: Shape, rng: Rng, std = 0.02): Tensor => randn(shape, rng, std);
export const initUniform = (shape: Shape, rng: Rng, bound: number): Tensor => rand(shape, rng, -bound, bound);
export const initZeros = (shape: Shape): Tensor => full(shape, 0);
export const initOnes = (shape: Shape): Tensor => full(shape, 1);

/** PyTorch nn.Linear default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weight and bias. */
export function linearBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}
