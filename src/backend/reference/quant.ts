// Reference quantised blocks: dequantise and quantise through src/gguf's reference code (ggml's
// block layouts and quantize_row_*_ref rounding), the oracle of the native block kernels.
import { Q4_0_X8, QUANTIZABLE_DTYPES, QUANT_BLOCKS, dtypeBytes, quantisedMisuse, type QuantDType } from '../../tensor/dtype.js';
import { dequantize } from '../../gguf/dequantize.js';
import { quantize } from '../../gguf/quantize.js';
import { ggmlTypeOfDtype } from '../../gguf/dtypes.js';
import type { Ptr } from '../types.js';
import type { RefMemory } from './memory.js';
import { deinterleaveQ4_0, interleaveQ4_0 } from './interleave.js';

/** `elements` values (whole blocks) of a quantised dtype at ptr, dequantised to f32. */
export function dequantizeAt(mem: RefMemory, dtype: QuantDType, ptr: Ptr, elements: number): Float32Array {
  if (dtype === Q4_0_X8) throw quantisedMisuse('dequantize', dtype);
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

/** A weight (rows, k) of q4_0 or q4_0x8 at ptr as f32 rows (q4_0x8 deinterleaved first). */
export function dequantizeWeightAt(mem: RefMemory, dtype: QuantDType, ptr: Ptr, rows: number, k: number): Float32Array {
  if (dtype !== Q4_0_X8) return dequantizeAt(mem, dtype, ptr, rows * k);
  const plain = deinterleaveQ4_0(mem.bytes(ptr, dtypeBytes(dtype, rows * k)), rows, k);
  return dequantize(ggmlTypeOfDtype('q4_0'), plain, rows * k);
}

/** rows q4_0 rows of k values at src, interleaved into q4_0x8 at dst. */
export function interleaveInto(mem: RefMemory, rows: number, k: number, src: Ptr, dst: Ptr): void {
  const bytes = dtypeBytes('q4_0', rows * k);
  mem.bytes(dst, bytes).set(interleaveQ4_0(mem.bytes(src, bytes), rows, k));
}
