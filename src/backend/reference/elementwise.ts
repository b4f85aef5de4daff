// Reference (pure TypeScript) elementwise kernels: data movement, unary/binary math,
// reductions, embedding and AdamW. Short and obviously correct: the oracle for the native ones.
import { dtypeBytes, isQuantDType, plainDType, type DType, type PlainDType } from '../../tensor/dtype.js';
import type { AdamWStep, BinaryOp, ElementwiseKernels, Ptr, ReduceOp, StridedRef, UnaryOp } from '../types.js';
import type { RefMemory } from './memory.js';
import { dequantizeAt, interleaveInto, quantizeInto } from './quant.js';
import { binaryValue, unaryDerivative, unaryValue } from './elementwiseMath.js';
import {
  F32_VIEW,
  bitsKind,
  checkShape,
  elementCount,
  forEachOffset,
  readValues,
  stridedArray,
  writeValues,
} from './elementwiseViews.js';

/**
 * The reference elementwise family over `mem`. Choices the interface leaves open, shared with
 * the native kernels: f32 math in float64 then rounded; sums accumulate in float64; NaN wins
 * in max/min/argmax/topk; float -> i32 truncates, saturates, and maps NaN to 0.
 */
export function referenceElementwise(mem: RefMemory): ElementwiseKernels {
  return {
    copy: (dtype, shape, src, dst) => copy(mem, plainDType('copy', dtype), shape, src, dst),
    cast: (n, src, srcDtype, dst, dstDtype) => cast(mem, n, src, srcDtype, dst, dstDtype),
    quantize: (n, src, dst, dtype) => quantizeInto(mem, n, src, dst, dtype),
    interleaveQ4_0: (rows, k, src, dst) => interleaveInto(mem, rows, k, src, dst),
    fill: (dtype, n, dst, value) => writeValues(mem, plainDType('fill', dtype), dst, new Float64Array(n).fill(value)),
    unary: (op, n, x, y, alpha, beta) => unary(mem, op, n, x, y, alpha, beta),
    unaryBackward: (op, n, x, dy, dx, alpha, beta) => unaryBackward(mem, op, n, x, dy, dx, alpha, beta),
    binary: (op, shape, a, b, out) => binary(mem, op, shape, a, b, out),
    where: (shape, cond, a, b, out) => where(mem, shape, cond, a, b, out),
    reduce: (op, outer, r, inner, x, out) => reduce(mem, op, outer, r, inner, x, out),
    argmax: (outer, r, inner, x, out) => argmax(mem, outer, r, inner, x, out),
    topk: (rows, cols, k, x, values, indices) => topk(mem, rows, cols, k, x, values, indices),
    embedding: (n, dim, vocab, weight, weightDtype, ids, out) => embedding(mem, n, dim, vocab, weight, weightDtype, ids, out),
    embeddingBackward: (n, dim, ids, dy, dweight) => embeddingBackward(mem, n, dim, ids, dy, dweight),
    adamw: (n, p, g, m, v, o) => adamw(mem, n, p, g, m, v, o),
  };
}

function copy(mem: RefMemory, dtype: PlainDType, shape: readonly number[], src: StridedRef, dst: StridedRef): void {
  checkShape('copy', shape, { src, dst });
  // Raw bits, so NaN payloads and -0 move unchanged.
  const kind = bitsKind(dtype);
  const s = stridedArray<Int32Array | Uint16Array>(mem, kind, src, shape);
  const d = stridedArray<Int32Array | Uint16Array>(mem, kind, dst, shape);
  forEachOffset(shape, [src.strides, dst.strides], (_, [so, doff]) => {
    d.data[d.base + doff!] = s.data[s.base + so!]!;
  });
}

function cast(mem: RefMemory, n: number, src: Ptr, srcDtype: DType, dst: Ptr, dstDtype: PlainDType): void {
  if (isQuantDType(srcDtype)) {
    if (dstDtype !== 'f32') throw new Error(`cast: quantised ${srcDtype} converts to f32 only, not ${dstDtype}`);
    mem.f32(dst, n).set(dequantizeAt(mem, srcDtype, src, n));
    return;
  }
  if (srcDtype === dstDtype) {
    const kind = bitsKind(srcDtype);
    kind.make(mem, dst, n).set(kind.make(mem, src, n));
    return;
  }
  writeValues(mem, dstDtype, dst, readValues(mem, srcDtype, src, n));
}

function unary(mem: RefMemory, op: UnaryOp, n: number, x: Ptr, y: Ptr, alpha: number, beta: number): void {
  const xs = mem.f32(x, n);
  const ys = mem.f32(y, n);
  for (let i = 0; i < n; i++) ys[i] = unaryValue(op, xs[i]!, alpha, beta);
}

function unaryBackward(mem: RefMemory, op: UnaryOp, n: number, x: Ptr, dy: Ptr, dx: Ptr, alpha: number, beta: number): void {
  const xs = mem.f32(x, n);
  const dys = mem.f32(dy, n);
  const dxs = mem.f32(dx, n);
  for (let i = 0; i < n; i++) dxs[i] = dys[i]! * unaryDerivative(op, xs[i]!, alpha, beta);
}

function binary(mem: RefMemory, op: BinaryOp, shape: readonly number[], a: StridedRef, b: StridedRef, out: Ptr): void {
  checkShape('binary', shape, { a, b });
  const av = stridedArray(mem, F32_VIEW, a, shape);
  const bv = stridedArray(mem, F32_VIEW, b, shape);
  const o = mem.f32(out, elementCount(shape));
  forEachOffset(shape, [a.strides, b.strides], (i, [ao, bo]) => {
    o[i] = binaryValue(op, av.data[av.base + ao!]!, bv.data[bv.base + bo!]!);
  });
}

function where(mem: RefMemory, shape: readonly number[], cond: StridedRef, a: StridedRef, b: StridedRef, out: Ptr): void {
  checkShape('where', shape, { cond, a, b });
  const cv = stridedArray(mem, F32_VIEW, cond, shape);
  const av = stridedArray(mem, F32_VIEW, a, shape);
  const bv = stridedArray(mem, F32_VIEW, b, shape);
  const o = mem.f32(out, elementCount(shape));
  forEachOffset(shape, [cond.strides, a.strides, b.strides], (i, [co, ao, bo]) => {
    o[i] = cv.data[cv.base + co!] !== 0 ? av.data[av.base + ao!]! : bv.data[bv.base + bo!]!;
  });
}

/** Start value and step of each reduction; sums accumulate in float64 (the oracle's answer). */
function reduceStep(op: ReduceOp): { readonly init: number; readonly step: (acc: number, x: number) => number } {
  switch (op) {
    case 'sum':
      return { init: 0, step: (acc, x) => acc + x };
    case 'sumsq':
      return { init: 0, step: (acc, x) => acc + x * x };
    case 'max': // NaN wins, as in torch.amax
      return { init: -Infinity, step: (acc, x) => (x > acc || Number.isNaN(x) ? x : acc) };
    case 'min':
      return { init: Infinity, step: (acc, x) => (x < acc || Number.isNaN(x) ? x : acc) };
    default:
      return op satisfies never;
  }
}

function reduce(mem: RefMemory, op: ReduceOp, outer: number, r: number, inner: number, x: Ptr, out: Ptr): void {
  const { init, step } = reduceStep(op);
  const xs = mem.f32(x, outer * r * inner); // (outer, r, inner)
  const os = mem.f32(out, outer * inner); // (outer, inner)
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = init;
      for (let k = 0; k < r; k++) {
        const v = xs[(o * r + k) * inner + i]!;
        acc = Number.isNaN(acc) ? acc : step(acc, v);
      }
      os[o * inner + i] = acc;
    }
  }
}

/** True when a ranks above b for argmax/topk: NaN above every number (as in PyTorch), else larger. */
function ranksAbove(a: number, b: number): boolean {
  if (Number.isNaN(a)) return !Number.isNaN(b);
  return a > b;
}

function argmax(mem: RefMemory, outer: number, r: number, inner: number, x: Ptr, out: Ptr): void {
  if (r < 1) throw new Error(`argmax: the reduced axis is empty (r = ${r})`);
  const xs = mem.f32(x, outer * r * inner);
  const os = mem.i32(out, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = 0;
      for (let k = 1; k < r; k++) {
        if (ranksAbove(xs[(o * r + k) * inner + i]!, xs[(o * r + best) * inner + i]!)) best = k;
      }
      os[o * inner + i] = best;
    }
  }
}

function topk(mem: RefMemory, rows: number, cols: number, k: number, x: Ptr, values: Ptr, indices: Ptr): void {
  if (!Number.isInteger(k) || k < 0 || k > cols) throw new Error(`topk: k = ${k} must be an integer in [0, cols = ${cols}]`);
  const xs = mem.f32(x, rows * cols);
  const vs = mem.f32(values, rows * k);
  const is = mem.i32(indices, rows * k);
  for (let row = 0; row < rows; row++) {
    const at = (c: number): number => xs[row * cols + c]!;
    const order = Array.from({ length: cols }, (_, c) => c);
    // Stable sort keeps lower indices first among equal values.
    order.sort((p, q) => (ranksAbove(at(p), at(q)) ? -1 : ranksAbove(at(q), at(p)) ? 1 : 0));
    for (let j = 0; j < k; j++) {
      vs[row * k + j] = at(order[j]!);
      is[row * k + j] = order[j]!;
    }
  }
}

function embedding(mem: RefMemory, n: number, dim: number, vocab: number, weight: Ptr, weightDtype: DType, ids: Ptr, out: Ptr): void {
  if (weightDtype === 'i32') throw new Error('embedding: weight dtype must be f32, bf16, f16 or quantised, got i32');
  const idv = mem.i32(ids, n);
  const os = mem.f32(out, n * dim); // (n, dim)
  const rowBytes = dtypeBytes(weightDtype, dim);
  // Every id is checked before anything is written, as the native kernel does.
  idv.forEach((id, t) => {
    if (id < 0 || id >= vocab) throw new Error(`embedding: id ${id} at position ${t} is out of range for vocab size ${vocab}`);
  });
  for (let t = 0; t < n; t++) {
    const row = weight + idv[t]! * rowBytes;
    os.set(isQuantDType(weightDtype) ? dequantizeAt(mem, weightDtype, row, dim) : readValues(mem, weightDtype, row, dim), t * dim);
  }
}

function embeddingBackward(mem: RefMemory, n: number, dim: number, ids: Ptr, dy: Ptr, dweight: Ptr): void {
  const idv = mem.i32(ids, n);
  const dys = mem.f32(dy, n * dim); // (n, dim)
  idv.forEach((id, t) => {
    if (id < 0) throw new Error(`embeddingBackward: id ${id} at position ${t} is negative`);
  });
  for (let t = 0; t < n; t++) {
    const row = mem.f32(dweight + idv[t]! * dim * 4, dim);
    for (let c = 0; c < dim; c++) row[c] = row[c]! + dys[t * dim + c]!;
  }
}

function adamw(mem: RefMemory, n: number, p: Ptr, g: Ptr, m: Ptr, v: Ptr, o: AdamWStep): void {
  const ps = mem.f32(p, n);
  const gs = mem.f32(g, n);
  const ms = mem.f32(m, n);
  const vs = mem.f32(v, n);
  for (let i = 0; i < n; i++) {
    const grad = gs[i]!;
    ms[i] = o.beta1 * ms[i]! + (1 - o.beta1) * grad;
    vs[i] = o.beta2 * vs[i]! + (1 - o.beta2) * grad * grad;
    const decayed = ps[i]! * (1 - o.lr * o.weightDecay);
    ps[i] = decayed - (o.lr * (ms[i]! / o.biasCorrection1)) / (Math.sqrt(vs[i]! / o.biasCorrection2) + o.eps);
  }
}
