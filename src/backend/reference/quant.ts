// Reference quantised blocks: dequantise and quantise through src/gguf's reference code (ggml's
// block layouts and quantize_row_*_ref rounding), the oracle of the native block kernels.
import { QUANTIZABLE_DTYPES, QUANT_BLOCKS, dtypeBytes, type QuantDType } from '../../tensor/dtype.js';
import { dequantize } from '../../gguf/dequantize.js';
import { quantize } from '../../gguf/quantize.js';
import { ggmlTypeOfDtype } from '../../gguf/dtypes.js';
import type { Ptr } from '../types.js';
import type { RefMemory } from './memory.js';

/** `elements` values (whole blocks) of a quantised dtype at ptr, dequantised to f32. */
export function dequantizeAt(mem: RefMemory, dtype: QuantDType, ptr: Ptr, elements: number): Float32Array {
  return dequantize(ggmlTypeOfDtype(dtype), mem.bytes(ptr, dtypeBytes(dtype, elements)), elements);
}

/** Throws unless n values of dtype can be quantised: a dtype the quantisers write, whole blocks. Both backends check this. */
export function checkQuantize(n: number, dtype: QuantDType): void {
  if (!QUANTIZABLE_DTYPES.includes(dtype)) throw new Error(`quantize: cannot write ${dtype}; supported: ${QUANTIZABLE_DTYPES.join(', ')}`);
  const block = QUANT_BLOCKS[dtype].elements;
  if (!Number.isSafeInteger(n) || n < 0 || n % block !== 0) throw new Error(`quantize: ${n} values do not fill whole ${dtype} blocks of ${block}`);
}

/** Quantises n f32 values (whole blocks) at src into the blocks of dtype at dst. */
export function quantizeInto(mem: RefMemory, n: number, src: Ptr, dst: Ptr, dtype: QuantDType): void {
  checkQuantize(n, dtype);
  mem.bytes(dst, dtypeBytes(dtype, n)).set(quantize(ggmlTypeOfDtype(dtype), mem.f32(src, n)));
}
