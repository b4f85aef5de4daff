// Reductions: sum / mean / max over axes, sumTo (undoing a broadcast), argmax and top-k.
// The kernel reduces the middle axis of an (outer, r, inner) block; other cases compose.
import type { ReduceOp } from '../../backend/types.js';
import { record } from '../../autograd/tape.js';
import { Tensor, empty } from '../tensor.js';
import { formatShape, normDim, numel, shapesEqual, type Shape } from '../shape.js';
import { contiguous, reshape } from './view.js';
import { affine } from './elementwise.js';
import { rejectQuantised } from '../dtype.js';

function normAxes(x: Tensor, axes: number | readonly number[] | undefined): number[] {
  if (axes === undefined) return [...x.shape.keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => normDim(a, x.ndim, 'axis')))].sort((a, b) => a - b);
}

/** Reduces a contiguous x over one run of adjacent axes [first, last]; keeps dims as size 1. */
function reduceRun(x: Tensor, op: ReduceOp, first: number, last: number): Tensor {
  const outer = numel(x.shape.slice(0, first));
  const r = numel(x.shape.slice(first, last + 1));
  const inner = numel(x.shape.slice(last + 1));
  const shape = x.shape.map((d, i) => (i >= first && i <= last ? 1 : d));
  const out = empty(shape, { backend: x.backend });
  x.backend.reduce(op, outer, r, inner, x.ptr, out.ptr);
  return out;
}

/** Reduction over axes (all by default), without recording. */
function reduceRaw(x: Tensor, op: ReduceOp, axes: readonly number[], keepdim: boolean): Tensor {
  const xc = x.isContiguous ? x : contiguous(x);
  let cur = xc.view(xc.shape, xc.strides);
  if (xc !== x) xc.dispose();
  // Reduce runs of adjacent axes from the last run to the first.
  let i = axes.length - 1;
  while (i >= 0) {
    let j = i;
    while (j > 0 && axes[j - 1] === axes[j]! - 1) j--;
    const next = reduceRun(cur, op, axes[j]!, axes[i]!);
    cur.dispose();
    cur = next;
    i = j - 1;
  }
  if (keepdim) return cur;
  const shape = x.shape.filter((_, k) => !axes.includes(k));
  const out = cur.view(shape, shape.map((_, k) => numel(shape.slice(k + 1))));
  cur.dispose();
  return out;
}

function reduceOp(x: Tensor, op: ReduceOp, axes: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  rejectQuantised(op, x);
  if (x.dtype !== 'f32') throw new Error(`${op} needs f32, got ${x.dtype}`);
  const ax = normAxes(x, axes);
  const out = reduceRaw(x, op, ax, keepdim);
  const saved = op === 'max' || op === 'min' ? [x, out] : op === 'sumsq' ? [x] : [];
  return record('reduce', out, [x], { op, axes: ax, keepdim }, saved);
}

export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp(x, 'sum', axes, keepdim);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = normAxes(x, axes);
  const n = ax.reduce((acc, a) => acc * x.shape[a]!, 1);
  const s = sum(x, ax, keepdim);
  const out = affine(s, 1 / n);
  s.dispose();
  return out;
}

export function max(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp(x, 'max', axes, keepdim);
}

export function min(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp(x, 'min', axes, keepdim);
}

/** Sum of squares over axes (all by default). */
export function sumSquares(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return reduceOp(x, 'sumsq', axes, keepdim);
}

/**
 * Sums g down to `shape` (the inverse of broadcasting shape up to g.shape). Returns a
 * view of g when no reduction is needed.
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g.view(g.shape, g.strides);
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new Error(`sumTo: cannot reduce ${formatShape(g.shape)} to ${formatShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = sum(g, axes, true);
  const out = reshape(s, shape);
  s.dispose();
  return out;
}

/** Index of the max along an axis (first on ties), as i32; no gradient. */
export function argmax(x: Tensor, axis = -1, keepdim = false): Tensor {
  rejectQuantised('argmax', x);
  const a = normDim(axis, x.ndim);
  const xc = x.isContiguous ? x : contiguous(x);
  const outer = numel(x.shape.slice(0, a));
  const inner = numel(x.shape.slice(a + 1));
  const shape = keepdim ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  const out = empty(shape, { dtype: 'i32', backend: x.backend });
  x.backend.argmax(outer, x.shape[a]!, inner, xc.ptr, out.ptr);
  if (xc !== x) xc.dispose();
  return out;
}

/** The k largest values along the last dim (descending) and their i32 indices; no gradient. */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  const cols = x.dim(-1);
  rejectQuantised('topk', x);
  if (!Number.isInteger(k) || k < 1 || k > cols) throw new Error(`topk: k=${k} out of range for last dim ${cols}`);
  const xc = x.isContiguous ? x : contiguous(x);
  const shape = [...x.shape.slice(0, -1), k];
  const values = empty(shape, { backend: x.backend });
  const indices = empty(shape, { dtype: 'i32', backend: x.backend });
  x.backend.topk(x.size / cols, cols, k, xc.ptr, values.ptr, indices.ptr);
  if (xc !== x) xc.dispose();
  return { values, indices };
}
