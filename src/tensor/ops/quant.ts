// Quantising weights: a (rows, cols) float matrix to one of ggml's block formats (q8_0, q4_0, q4_1)
// through the backend's quantiser, for linear layers and embedding tables that read the blocks.
import { noGrad } from '../../autograd/tape.js';
import { Tensor, empty } from '../tensor.js';
import { Q4_0_X8, QUANTIZABLE_DTYPES, QUANT_BLOCKS, X8_ROWS, type QuantDType } from '../dtype.js';
import { formatShape } from '../shape.js';
import { cast } from './elementwise.js';

/**
 * A weight w (rows, cols) in f32, bf16 or f16 as a quantised tensor of `dtype` (ggml's reference
 * rounding); cols must be a multiple of the block (32). The result carries no gradient.
 */
export function quantizeWeight(w: Tensor, dtype: QuantDType): Tensor {
  if (!QUANTIZABLE_DTYPES.includes(dtype)) throw new Error(`quantizeWeight: cannot write ${dtype}; supported: ${QUANTIZABLE_DTYPES.join(', ')}`);
  if (w.dtype !== 'f32' && w.dtype !== 'bf16' && w.dtype !== 'f16') throw new Error(`quantizeWeight: weights must be f32, bf16 or f16, got ${w.dtype}`);
  const block = QUANT_BLOCKS[dtype].elements;
  if (w.ndim !== 2 || w.dim(1) % block !== 0) {
    throw new Error(`quantizeWeight: a ${dtype} weight is (rows, cols) with cols a multiple of ${block}, got ${formatShape(w.shape)}`);
  }
  const wide = w.dtype === 'f32' && w.isContiguous ? w : noGrad(() => cast(w, 'f32'));
  const out = empty(w.shape, { dtype, backend: w.backend });
  try {
    w.backend.quantize(w.size, wide.ptr, out.ptr, dtype);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    if (wide !== w) wide.dispose();
  }
  return out;
}

/**
 * A q4_0 weight (rows, cols), rows a multiple of 8, as q4_0x8: the same blocks with each 8 rows
 * interleaved, the layout the quantised GEMM reads fastest (its vector lanes are rows). A new
 * owned tensor (a mapped original stays as it is); only linear reads the result.
 */
export function interleaveQ4_0(w: Tensor): Tensor {
  if (w.dtype !== 'q4_0' || w.ndim !== 2 || w.dim(0) % X8_ROWS !== 0 || !w.isContiguous) {
    throw new Error(`interleaveQ4_0: needs a contiguous q4_0 weight (rows, cols) with rows a multiple of ${X8_ROWS}, got ${w.dtype} ${formatShape(w.shape)}`);
  }
  const out = empty(w.shape, { dtype: Q4_0_X8, backend: w.backend });
  try {
    w.backend.interleaveQ4_0(w.dim(0), w.dim(1), w.ptr, out.ptr);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/**
 * A loaded linear weight in the layout the GEMM reads best: a q4_0 matrix of whole 8-row groups
 * interleaved (the original released) when `interleave` is on; anything else as it is.
 */
export function forLinear(w: Tensor, interleave: boolean): Tensor {
  if (!interleave || w.dtype !== 'q4_0' || w.ndim !== 2 || w.dim(0) % X8_ROWS !== 0) return w;
  try {
    return interleaveQ4_0(w);
  } finally {
    w.dispose();
  }
}
