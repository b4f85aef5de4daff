// Native elementwise kernels: thin forwarders to the addon's copy/cast/quantize/unary/binary/reduce/
// embedding/adamw exports (native/elementwise.cpp, cast.cpp, quant.cpp, reduce.cpp, embedding.cpp, optim.cpp).
import { DTYPE_CODE, plainDType } from '../../tensor/dtype.js';
import type { BinaryOp, ElementwiseKernels, ReduceOp, StridedRef, UnaryOp } from '../types.js';
import type { NativeAddon } from './addon.js';
import { checkQuantize } from '../reference/quant.js';

/** Op codes the addon switches on; the order matches `enum UnaryCode` in native/elementwise_math.h. */
const UNARY_CODE = {
  affine: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  rsqrt: 4,
  tanh: 5,
  sigmoid: 6,
  relu: 7,
  gelu: 8,
  gelu_tanh: 9,
  quick_gelu: 10,
  silu: 11,
  abs: 12,
  square: 13,
  pow: 14,
  sin: 15,
  cos: 16,
} as const satisfies { readonly [O in UnaryOp]: number };

/** Matches `enum BinaryCode` in native/elementwise_math.h. */
const BINARY_CODE = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, eq: 6, lt: 7, gt: 8 } as const satisfies {
  readonly [O in BinaryOp]: number;
};

/** Matches `enum ReduceCode` in native/reduce.cpp. */
const REDUCE_CODE = { sum: 0, max: 1, min: 2, sumsq: 3 } as const satisfies { readonly [O in ReduceOp]: number };

/** Most dims a strided kernel takes (kMaxDims in native/elementwise.cpp). */
const MAX_DIMS = 16;
/** Most strided operands of one kernel (where: cond, a, b). */
const MAX_OPERANDS = 3;
/** Reused for every call (kernels run synchronously), so packing allocates nothing. */
const LAYOUT = new Float64Array(1 + MAX_DIMS * (1 + MAX_OPERANDS));

/**
 * Packs shape and operand strides as [ndim, shape, strides of each operand] into one
 * Float64Array: the addon reads it directly instead of walking JS arrays element by element.
 */
function packLayout(kernel: string, shape: readonly number[], names: readonly string[], ...refs: StridedRef[]): Float64Array {
  const nd = shape.length;
  if (nd > MAX_DIMS) throw new Error(`${kernel}: ${nd}-d shape exceeds the native limit of ${MAX_DIMS} dims`);
  LAYOUT[0] = nd;
  // Plain loops: TypedArray.set from a JS array is several times slower for these few items.
  for (let d = 0; d < nd; d++) LAYOUT[1 + d] = shape[d]!;
  for (let k = 0; k < refs.length; k++) {
    const strides = refs[k]!.strides;
    if (strides.length !== nd) throw new Error(`${kernel}: ${names[k]}.strides has ${strides.length} entries for a ${nd}-d shape`);
    for (let d = 0; d < nd; d++) LAYOUT[1 + nd * (k + 1) + d] = strides[d]!;
  }
  return LAYOUT;
}

const COPY_OPERANDS = ['src', 'dst'] as const;
const BINARY_OPERANDS = ['a', 'b'] as const;
const WHERE_OPERANDS = ['cond', 'a', 'b'] as const;

/** The addon export of that name, looked up once so each kernel call is a direct call. */
function exported(addon: NativeAddon, name: string): NativeAddon[string] & {} {
  const fn = addon[name];
  if (!fn) throw new Error(`native addon has no '${name}' export: rebuild it (npm run install)`);
  return fn;
}

/**
 * The native elementwise family: each kernel forwards to one addon export. Strided kernels
 * (copy, binary, where) take at most 16 dims; shape/stride mismatches throw before the call.
 */
export function nativeElementwise(addon: NativeAddon): ElementwiseKernels {
  const copy = exported(addon, 'copy');
  const cast = exported(addon, 'cast');
  const fill = exported(addon, 'fill');
  const quantize = exported(addon, 'quantize');
  const repackQ4_0x8 = exported(addon, 'repackQ4_0x8');
  const unary = exported(addon, 'unary');
  const unaryBackward = exported(addon, 'unaryBackward');
  const binary = exported(addon, 'binary');
  const where = exported(addon, 'where');
  const reduce = exported(addon, 'reduce');
  const argmax = exported(addon, 'argmax');
  const topk = exported(addon, 'topk');
  const embedding = exported(addon, 'embedding');
  const embeddingBackward = exported(addon, 'embeddingBackward');
  const adamw = exported(addon, 'adamw');
  return {
    copy: (dtype, shape, src, dst) =>
      copy(DTYPE_CODE[plainDType('copy', dtype)], packLayout('copy', shape, COPY_OPERANDS, src, dst), src.ptr, dst.ptr),
    cast: (n, src, srcDtype, dst, dstDtype) => cast(n, src, DTYPE_CODE[srcDtype], dst, DTYPE_CODE[dstDtype]),
    interleaveQ4_0: (rows, k, src, dst) => repackQ4_0x8(src, dst, rows, k),
    quantize: (n, src, dst, dtype) => {
      checkQuantize(n, dtype);
      quantize(n, src, dst, DTYPE_CODE[dtype]);
    },
    fill: (dtype, n, dst, value) => fill(DTYPE_CODE[plainDType('fill', dtype)], n, dst, value),
    unary: (op, n, x, y, alpha, beta) => unary(UNARY_CODE[op], n, x, y, alpha, beta),
    unaryBackward: (op, n, x, dy, dx, alpha, beta) => unaryBackward(UNARY_CODE[op], n, x, dy, dx, alpha, beta),
    binary: (op, shape, a, b, out) =>
      binary(BINARY_CODE[op], packLayout('binary', shape, BINARY_OPERANDS, a, b), a.ptr, b.ptr, out),
    where: (shape, cond, a, b, out) =>
      where(packLayout('where', shape, WHERE_OPERANDS, cond, a, b), cond.ptr, a.ptr, b.ptr, out),
    reduce: (op, outer, r, inner, x, out) => reduce(REDUCE_CODE[op], outer, r, inner, x, out),
    argmax: (outer, r, inner, x, out) => argmax(outer, r, inner, x, out),
    topk: (rows, cols, k, x, values, indices) => {
      if (!Number.isInteger(k)) throw new Error(`topk: k = ${k} must be an integer in [0, cols = ${cols}]`);
      topk(rows, cols, k, x, values, indices);
    },
    embedding: (n, dim, vocab, weight, weightDtype, ids, out) =>
      embedding(n, dim, vocab, weight, DTYPE_CODE[weightDtype], ids, out),
    embeddingBackward: (n, dim, ids, dy, dweight) => embeddingBackward(n, dim, ids, dy, dweight),
    adamw: (n, p, g, m, v, o) =>
      adamw(n, p, g, m, v, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.biasCorrection1, o.biasCorrection2),
  };
}
