// Gradient clipping by global L2 norm over a set of parameters (one sum-of-squares
// kernel per gradient, one scalar read each, then an in-place scale).
import type { Parameter } from './parameter.js';
import { empty } from '../tensor/tensor.js';

/** Scales all gradients so their global norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Parameter[], maxNorm: number): number {
  let total = 0;
  for (const p of params) {
    const g = p.grad;
    if (!g) continue;
    const s = empty([], { backend: g.backend });
    g.backend.reduce('sumsq', 1, g.size, 1, g.ptr, s.ptr);
    total += s.item();
    s.dispose();
  }
  const norm = Math.sqrt(total);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const p of params) {
      const g = p.grad;
      if (g) g.backend.unary('affine', g.size, g.ptr, g.ptr, scale, 0);
    }
  }
  return norm;
}
