// Quantising weights: a (rows, cols) float matrix to one of ggml's block formats (q8_0, q4_0, q4_1)
// through the backend's quantiser, for linear layers and embedding tables that read the blocks.
import { noGrad } from '../../autograd/tape.js';
import { Tensor, empty } from '../tensor.js';
import { QUANTIZABLE_DTYPES, QUANT_BLOCKS, type QuantDType } from '../dtype.js';
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
