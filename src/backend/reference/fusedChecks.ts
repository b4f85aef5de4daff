// Argument checks for the fused kernels, shared by the reference and native backends so
// both reject the same bad calls with the same messages before touching memory.
import type { AttentionParams, HeadLayout } from '../types.js';

function requireCount(kernel: string, name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${kernel}: ${name} must be an integer >= ${min}, got ${value}`);
  }
}

function requireLayout(kernel: string, name: string, l: HeadLayout): void {
  for (const field of ['strideB', 'strideH', 'strideT'] as const) {
    if (!Number.isInteger(l[field]) || l[field] < 0) {
      throw new Error(`${kernel}: ${name}.${field} must be a non-negative integer, got ${l[field]}`);
    }
  }
}

/** Rows/cols of a row-wise kernel. */
export function checkRows(kernel: string, rows: number, cols: number): void {
  requireCount(kernel, 'rows', rows, 0);
  requireCount(kernel, 'cols', cols, 1);
}

/** Shape arguments of rope. */
export function checkRope(batch: number, heads: number, t: number, headDim: number, rotDim: number, x: HeadLayout, y: HeadLayout, theta: number): void {
  const k = 'rope';
  requireCount(k, 'batch', batch, 0);
  requireCount(k, 'heads', heads, 0);
  requireCount(k, 't', t, 0);
  requireCount(k, 'headDim', headDim, 1);
  requireCount(k, 'rotDim', rotDim, 0);
  if (rotDim % 2 !== 0 || rotDim > headDim) {
    throw new Error(`rope: rotDim must be even and <= headDim (${headDim}), got ${rotDim}`);
  }
  if (!(theta > 0)) throw new Error(`rope: theta must be > 0, got ${theta}`);
  requireLayout(k, 'x', x);
  requireLayout(k, 'y', y);
}

/** Shape arguments of attention (forward or backward). */
export function checkAttention(kernel: string, p: AttentionParams, extra: Readonly<Record<string, HeadLayout>> = {}): void {
  requireCount(kernel, 'batch', p.batch, 0);
  requireCount(kernel, 'headsQ', p.headsQ, 1);
  requireCount(kernel, 'headsKV', p.headsKV, 1);
  requireCount(kernel, 'tq', p.tq, 0);
  requireCount(kernel, 'tk', p.tk, 0);
  requireCount(kernel, 'headDim', p.headDim, 1);
  if (p.headsQ % p.headsKV !== 0) {
    throw new Error(`${kernel}: headsQ (${p.headsQ}) must be a multiple of headsKV (${p.headsKV})`);
  }
  if (!Number.isFinite(p.scale)) throw new Error(`${kernel}: scale must be finite, got ${p.scale}`);
  const layouts: Record<string, HeadLayout> = { q: p.q, k: p.k, v: p.v, out: p.out, ...extra };
  for (const [name, l] of Object.entries(layouts)) requireLayout(kernel, name, l);
}

/** Element count spanned by a (batch, heads, t, dim) strided view (0 when empty). */
export function headExtent(l: HeadLayout, batch: number, heads: number, t: number, dim: number): number {
  if (batch === 0 || heads === 0 || t === 0 || dim === 0) return 0;
  return (batch - 1) * l.strideB + (heads - 1) * l.strideH + (t - 1) * l.strideT + dim;
}
