// Matrix products: batched matmul with broadcast batch dims, transposed operands passed to
// the GEMM without copies, bf16/f16 and quantised right-hand operands (weights), and linear layers.
import type { MatmulParams } from '../../backend/types.js';
import { record } from '../../autograd/tape.js';
import { Tensor, contiguousCopy, empty } from '../tensor.js';
import { broadcastShapes, formatShape, numel, viewStrides } from '../shape.js';
import { add } from './elementwise.js';
import { transpose } from './view.js';
import { isQuantDType, quantisedMisuse, rejectQuantised, type QuantDType } from '../dtype.js';

/** How a (rows, cols) matrix view is handed to the GEMM. */
interface MatrixLayout {
  trans: boolean;
  ld: number;
}

/** GEMM layout of the last two dims, or undefined when a copy is needed. */
function matrixLayout(rows: number, cols: number, rowStride: number, colStride: number): MatrixLayout | undefined {
  if (colStride === 1 || cols === 1) {
    const ld = rows === 1 ? Math.max(cols, 1) : rowStride;
    if (ld >= cols) return { trans: false, ld };
  }
  if (rowStride === 1 || rows === 1) {
    const ld = cols === 1 ? Math.max(rows, 1) : colStride;
    if (ld >= rows) return { trans: true, ld };
  }
  return undefined;
}

/** Stride between batch items when the batch dims of x collapse to one, else undefined. */
function batchStride(x: Tensor, batchShape: readonly number[]): number | undefined {
  const lead = x.ndim - 2;
  if (lead === 0 || numel(batchShape) === 1) return 0;
  const own = x.shape.slice(0, lead);
  if (numel(own) === 1) return 0; // broadcast over the batch
  if (own.length !== batchShape.length || own.some((d, i) => d !== batchShape[i])) return undefined;
  const s = viewStrides(own, x.strides.slice(0, lead), [numel(own)]);
  return s?.[0];
}

/**
 * a @ b over the last two dims, batch dims broadcast: a (..., m, k), b (..., k, n).
 * b may be bf16/f16 (weights, no gradient to b then) or quantised (only as linear's transposed
 * weight, see quantisedMatmul); a must be f32.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim < 2 || b.ndim < 2) throw new Error(`matmul needs >= 2-d operands, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  rejectQuantised('matmul (left operand)', a);
  if (a.dtype !== 'f32') throw new Error(`matmul: left operand must be f32, got ${a.dtype}`);
  if (b.dtype === 'i32') throw new Error('matmul: right operand must be a float dtype');
  if (b.dtype !== 'f32' && b.requiresGrad) throw new Error(`matmul: gradients to ${b.dtype} weights are not supported (train in f32)`);
  const m = a.dim(-2);
  const k = a.dim(-1);
  const n = b.dim(-1);
  if (b.dim(-2) !== k) throw new Error(`matmul: inner dims differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)}`);
  if (isQuantDType(b.dtype)) return quantisedMatmul(a, b, b.dtype);
  // Fold a's batch dims into m when b is a plain matrix and a's rows are evenly spaced.
  if (b.ndim === 2 && a.ndim > 2) {
    const flatStrides = viewStrides(a.shape, a.strides, [a.size / k, k]);
    if (flatStrides && flatStrides[1] === 1) {
      const out = gemm(a, b, a.size / k, n, k, 1, { trans: false, ld: flatStrides[0]! }, 0);
      return record('matmul', out.reshaped([...a.shape.slice(0, -1), n]), [a, b], {}, [a, b]);
    }
  }
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = numel(batchShape);
  let ac = a;
  let bc = b;
  let la = matrixLayout(m, k, a.strides[a.ndim - 2]!, a.strides[a.ndim - 1]!);
  let sa = batchStride(a, batchShape);
  if (!la || sa === undefined) {
    ac = contiguousCopy(a);
    la = { trans: false, ld: k };
    sa = batchStride(ac, batchShape)!;
  }
  let lb = matrixLayout(k, n, b.strides[b.ndim - 2]!, b.strides[b.ndim - 1]!);
  let sb = batchStride(b, batchShape);
  if (!lb || sb === undefined) {
    bc = contiguousCopy(b);
    lb = { trans: false, ld: n };
    sb = batchStride(bc, batchShape)!;
  }
  const out = empty([...batchShape, m, n], { backend: a.backend });
  a.backend.matmul({
    batch,
    m,
    n,
    k,
    a: ac.ptr,
    transA: la.trans,
    lda: la.ld,
    strideA: sa,
    b: bc.ptr,
    bDtype: bc.dtype,
    transB: lb.trans,
    ldb: lb.ld,
    strideB: sb,
    c: out.ptr,
    ldc: n,
    strideC: m * n,
    alpha: 1,
    beta: 0,
  } satisfies MatmulParams);
  if (ac !== a) ac.dispose();
  if (bc !== b) bc.dispose();
  return record('matmul', out, [a, b], {}, [a, b]);
}

/**
 * a (..., m, k) @ b, b (k, n) the transposed view of a quantised weight W (n, k) that linear(x, w)
 * passes: the GEMM reads W's rows of blocks as they are stored. a's leading dims fold into m.
 */
function quantisedMatmul(a: Tensor, b: Tensor, dtype: QuantDType): Tensor {
  const [k, n] = b.shape as [number, number];
  if (b.ndim !== 2 || b.strides[0] !== 1 || (n > 1 && b.strides[1] !== k)) {
    throw new Error(`${quantisedMisuse('matmul', dtype).message}: the right operand must be linear's transposed weight, got ${formatShape(b.shape)} with strides [${b.strides}]`);
  }
  const rows = numel(a.shape.slice(0, -1));
  const flat = viewStrides(a.shape, a.strides, [rows, k]);
  const ac = flat && flat[1] === 1 ? a : contiguousCopy(a);
  const lda = ac === a ? (rows === 1 ? k : flat![0]!) : k;
  const out = empty([rows, n], { backend: a.backend });
  a.backend.matmul({
    batch: 1, m: rows, n, k,
    a: ac.ptr, transA: false, lda, strideA: 0,
    b: b.ptr, bDtype: dtype, transB: true, ldb: k, strideB: 0,
    c: out.ptr, ldc: n, strideC: 0,
    alpha: 1, beta: 0,
  });
  if (ac !== a) ac.dispose();
  const shaped = new Reshapable(out).reshaped([...a.shape.slice(0, -1), n]);
  return record('matmul', shaped, [a, b], {}, [a, b]);
}

/** One 2-d GEMM of a viewed as (rows, k) with the given layout, b as a matrix. */
function gemm(a: Tensor, b: Tensor, rows: number, n: number, k: number, alpha: number, la: MatrixLayout, beta: number): Reshapable {
  let bc = b;
  let lb = matrixLayout(k, n, b.strides[0]!, b.strides[1]!);
  if (!lb) {
    bc = contiguousCopy(b);
    lb = { trans: false, ld: n };
  }
  const out = empty([rows, n], { backend: a.backend });
  a.backend.matmul({
    batch: 1,
    m: rows,
    n,
    k,
    a: a.ptr,
    transA: la.trans,
    lda: la.ld,
    strideA: 0,
    b: bc.ptr,
    bDtype: bc.dtype,
    transB: lb.trans,
    ldb: lb.ld,
    strideB: 0,
    c: out.ptr,
    ldc: n,
    strideC: 0,
    alpha,
    beta,
  });
  if (bc !== b) bc.dispose();
  return new Reshapable(out);
}

/** A freshly computed result that is given its final shape without recording a reshape. */
class Reshapable {
  constructor(private readonly t: Tensor) {}
  reshaped(shape: readonly number[]): Tensor {
    const out = this.t.view(shape, shape.map((_, i) => numel(shape.slice(i + 1))));
    this.t.dispose();
    return out;
  }
}

/** x @ weight^T (+ bias): weight (out, in) as stored by PyTorch / HF checkpoints. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const wt = transpose(weight);
  const y = matmul(x, wt);
  wt.dispose();
  if (!bias) return y;
  const out = add(y, bias);
  y.dispose();
  return out;
}
