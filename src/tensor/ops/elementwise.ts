// Elementwise ops: unary functions (activations, exp/log, affine), broadcasting binary
// arithmetic and comparisons, where / maskedFill, and dtype casts (quantised weights to f32).
import type { BinaryOp, UnaryOp } from '../../backend/types.js';
import { record } from '../../autograd/tape.js';
import { Tensor, empty, full } from '../tensor.js';
import { broadcastShapes, broadcastStrides, formatShape } from '../shape.js';
import { isQuantDType, plainDType, rejectQuantised, type DType } from '../dtype.js';
import { contiguous } from './view.js';

function assertF32(x: Tensor, what: string): void {
  rejectQuantised(what, x);
  if (x.dtype !== 'f32') throw new Error(`${what} needs f32 tensors, got ${x.dtype} ${formatShape(x.shape)} (cast first)`);
}

/** y = op(x; alpha, beta) elementwise. */
export function unary(x: Tensor, op: UnaryOp, alpha = 0, beta = 0): Tensor {
  assertF32(x, op);
  const xc = x.isContiguous ? x : contiguous(x);
  const out = empty(x.shape, { backend: x.backend });
  x.backend.unary(op, x.size, xc.ptr, out.ptr, alpha, beta);
  const saved = op === 'affine' ? [] : [xc];
  const r = record('unary', out, [xc], { op, alpha, beta }, saved);
  if (xc !== x) xc.dispose();
  return r;
}

export const exp = (x: Tensor): Tensor => unary(x, 'exp');
export const log = (x: Tensor): Tensor => unary(x, 'log');
export const sqrt = (x: Tensor): Tensor => unary(x, 'sqrt');
export const rsqrt = (x: Tensor): Tensor => unary(x, 'rsqrt');
export const tanh = (x: Tensor): Tensor => unary(x, 'tanh');
export const sigmoid = (x: Tensor): Tensor => unary(x, 'sigmoid');
export const relu = (x: Tensor): Tensor => unary(x, 'relu');
/** Exact GELU (erf). */
export const gelu = (x: Tensor): Tensor => unary(x, 'gelu');
/** GELU, tanh approximation. */
export const geluTanh = (x: Tensor): Tensor => unary(x, 'gelu_tanh');
/** x * sigmoid(1.702 x), CLIP's activation. */
export const quickGelu = (x: Tensor): Tensor => unary(x, 'quick_gelu');
export const silu = (x: Tensor): Tensor => unary(x, 'silu');
export const abs = (x: Tensor): Tensor => unary(x, 'abs');
export const square = (x: Tensor): Tensor => unary(x, 'square');
export const sin = (x: Tensor): Tensor => unary(x, 'sin');
export const cos = (x: Tensor): Tensor => unary(x, 'cos');
export const pow = (x: Tensor, p: number): Tensor => unary(x, 'pow', p);
export const neg = (x: Tensor): Tensor => unary(x, 'affine', -1, 0);
/** alpha * x + beta. */
export const affine = (x: Tensor, alpha: number, beta = 0): Tensor => unary(x, 'affine', alpha, beta);

/** a op b with NumPy broadcasting. Comparisons (eq, lt, gt) give 1/0 and carry no gradient. */
export function binary(a: Tensor, b: Tensor, op: BinaryOp): Tensor {
  assertF32(a, op);
  assertF32(b, op);
  if (a.backend !== b.backend) throw new Error(`${op}: tensors live on different backends`);
  const shape = broadcastShapes(a.shape, b.shape);
  const out = empty(shape, { backend: a.backend });
  a.backend.binary(
    op,
    shape,
    { ptr: a.ptr, strides: broadcastStrides(a.shape, a.strides, shape) },
    { ptr: b.ptr, strides: broadcastStrides(b.shape, b.strides, shape) },
    out.ptr,
  );
  if (op === 'eq' || op === 'lt' || op === 'gt') return out;
  const saved = op === 'add' || op === 'sub' ? [] : [a, b];
  return record('binary', out, [a, b], { op }, saved);
}

type Operand = Tensor | number;

function scalarLike(x: Tensor, v: number): Tensor {
  return full([], v, { backend: x.backend });
}

export function add(a: Tensor, b: Operand): Tensor {
  return typeof b === 'number' ? affine(a, 1, b) : binary(a, b, 'add');
}
export function sub(a: Tensor, b: Operand): Tensor {
  return typeof b === 'number' ? affine(a, 1, -b) : binary(a, b, 'sub');
}
export function mul(a: Tensor, b: Operand): Tensor {
  return typeof b === 'number' ? affine(a, b, 0) : binary(a, b, 'mul');
}
export function div(a: Tensor, b: Operand): Tensor {
  return typeof b === 'number' ? affine(a, 1 / b, 0) : binary(a, b, 'div');
}
export function maximum(a: Tensor, b: Operand): Tensor {
  return withScalar(a, b, 'max');
}
export function minimum(a: Tensor, b: Operand): Tensor {
  return withScalar(a, b, 'min');
}
export function eq(a: Tensor, b: Operand): Tensor {
  return withScalar(a, b, 'eq');
}
export function lt(a: Tensor, b: Operand): Tensor {
  return withScalar(a, b, 'lt');
}
export function gt(a: Tensor, b: Operand): Tensor {
  return withScalar(a, b, 'gt');
}

function withScalar(a: Tensor, b: Operand, op: BinaryOp): Tensor {
  if (typeof b !== 'number') return binary(a, b, op);
  const s = scalarLike(a, b);
  const out = binary(a, s, op);
  s.dispose();
  return out;
}

/** cond != 0 ? a : b, broadcasting all three; cond carries no gradient. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  assertF32(cond, 'where (condition)');
  assertF32(a, 'where');
  assertF32(b, 'where');
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const out = empty(shape, { backend: a.backend });
  const ref = (t: Tensor) => ({ ptr: t.ptr, strides: broadcastStrides(t.shape, t.strides, shape) });
  a.backend.where(shape, ref(cond), ref(a), ref(b), out.ptr);
  return record('where', out, [a, b], {}, [cond]);
}

/** x with positions where mask != 0 replaced by value. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const v = scalarLike(x, value);
  const out = where(mask, v, x);
  v.dispose();
  return out;
}

/**
 * Converts to another dtype (float <-> float keeps gradients; to or from i32 does not). A
 * quantised weight converts to f32 only (dequantised, no gradient); quantizeWeight goes the other way.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return contiguous(x);
  if (isQuantDType(x.dtype)) return dequantize(x, dtype);
  const to = plainDType(`cast (quantise with quantizeWeight(x, '${dtype}'))`, dtype);
  const xc = x.isContiguous ? x : contiguous(x);
  const out = empty(x.shape, { dtype: to, backend: x.backend });
  x.backend.cast(x.size, xc.ptr, x.dtype, out.ptr, to);
  if (xc !== x) xc.dispose();
  if (dtype === 'i32' || x.dtype === 'i32') return out;
  return record('cast', out, [x], { from: x.dtype });
}

/** A quantised weight's values as f32 (its rows' blocks dequantised by the backend). */
function dequantize(x: Tensor, dtype: DType): Tensor {
  if (dtype !== 'f32') throw new Error(`cast: quantised tensors (${x.dtype}) convert to f32 only, not ${dtype}`);
  if (!x.isContiguous) throw new Error(`cast: a quantised (${x.dtype}) view must be contiguous, got ${x}`);
  const out = empty(x.shape, { backend: x.backend });
  x.backend.cast(x.size, x.ptr, x.dtype, out.ptr, 'f32');
  return out;
}
