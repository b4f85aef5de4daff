// Element types of tensors: f32 for compute, bf16/f16 for stored weights, i32 for ids, and
// llama.cpp's block formats (q8_0 ... q6_k) for quantised weights. One table per fact: bytes,
// blocks and the numeric code the native kernels use.

/** Element types stored one value per element. */
export type PlainDType = 'f32' | 'bf16' | 'f16' | 'i32';

/**
 * Quantised weight types: ggml's block formats (lowercase of the GGUF type name), each row cut
 * into blocks of `QUANT_BLOCKS[d].elements` values stored in `QUANT_BLOCKS[d].bytes` bytes.
 */
export type QuantDType = GgmlQuantDType | 'q4_0x8';

/** ggml's own block formats, the ones GGUF files store. */
export type GgmlQuantDType = 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0' | 'q4_k' | 'q5_k' | 'q6_k';

/**
 * q4_0 with the blocks of each 8 consecutive rows interleaved (native/quant.h's layout), so the
 * quantised GEMM's vector lanes are rows: made at load from q4_0 linear weights (interleaveQ4_0),
 * read only by linear. Same bytes per row as q4_0; the row count must be a multiple of 8.
 */
export const Q4_0_X8 = 'q4_0x8' as const;
/** Rows per interleaved group of q4_0x8. */
export const X8_ROWS = 8;

/** Element type of a tensor's storage. */
export type DType = PlainDType | QuantDType;

/** Bytes per element of the plain dtypes (quantised ones have no per-element size: see dtypeBytes). */
export const DTYPE_BYTES: { readonly [D in PlainDType]: number } = { f32: 4, bf16: 2, f16: 2, i32: 4 };

/** Elements of the super-blocks of the K formats (ggml's QK_K). */
const QK_K = 256;

/** Block of a quantised dtype: elements per block and bytes per block (ggml-common.h's layouts). */
export interface QuantBlock {
  readonly elements: number;
  readonly bytes: number;
}

/** The block of each quantised dtype (equal to src/gguf/ggmlTypes.ts's GGML_TYPES entries). */
export const QUANT_BLOCKS: { readonly [D in QuantDType]: QuantBlock } = {
  q4_0: { elements: 32, bytes: 2 + 16 },
  q4_1: { elements: 32, bytes: 2 + 2 + 16 },
  q5_0: { elements: 32, bytes: 2 + 4 + 16 },
  q5_1: { elements: 32, bytes: 2 + 2 + 4 + 16 },
  q8_0: { elements: 32, bytes: 2 + 32 },
  q4_k: { elements: QK_K, bytes: 2 + 2 + 12 + QK_K / 2 },
  q5_k: { elements: QK_K, bytes: 2 + 2 + 12 + QK_K / 8 + QK_K / 2 },
  q6_k: { elements: QK_K, bytes: QK_K / 2 + QK_K / 4 + QK_K / 16 + 2 },
  q4_0x8: { elements: 32, bytes: 2 + 16 },
};

/** Every ggml block dtype, in DTYPE_CODE order (q4_0x8, a layout of q4_0 for the GEMM, is not one). */
export const QUANT_DTYPES: readonly GgmlQuantDType[] = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q4_k', 'q5_k', 'q6_k'];

/** Quantised dtypes the quantisers write (backend.quantize, quantizeWeight); the others are read only. */
export const QUANTIZABLE_DTYPES: readonly QuantDType[] = ['q8_0', 'q4_0', 'q4_1'];

/** Numeric code passed to native kernels (matches `enum DType` in native/common.h). */
export const DTYPE_CODE: { readonly [D in DType]: number } = {
  f32: 0,
  bf16: 1,
  f16: 2,
  i32: 3,
  q4_0: 10,
  q4_1: 11,
  q5_0: 12,
  q5_1: 13,
  q8_0: 14,
  q4_k: 15,
  q5_k: 16,
  q6_k: 17,
  q4_0x8: 18,
};

/** Floating-point dtypes a weight may be stored in. */
export const FLOAT_DTYPES: readonly DType[] = ['f32', 'bf16', 'f16'];

/** True for the plain dtypes (f32, bf16, f16, i32); quantised ones are not. */
export function isDType(s: string): s is PlainDType {
  return s === 'f32' || s === 'bf16' || s === 'f16' || s === 'i32';
}

/** True for the quantised block dtypes (q4_0 ... q6_k). */
export function isQuantDType(s: string): s is QuantDType {
  return Object.hasOwn(QUANT_BLOCKS, s);
}

/**
 * Bytes of `elements` values of a dtype. For a quantised dtype the count must fill whole blocks
 * (a quantised tensor's rows do, so any whole number of rows does).
 */
export function dtypeBytes(dtype: DType, elements: number): number {
  if (!isQuantDType(dtype)) return elements * DTYPE_BYTES[dtype];
  const { elements: per, bytes } = QUANT_BLOCKS[dtype];
  if (elements % per !== 0) throw new Error(`${dtype}: ${elements} elements do not fill whole blocks of ${per}`);
  return (elements / per) * bytes;
}

/** The error every op other than linear, embedding and cast throws for a quantised tensor (q4_0x8: other than linear). */
export function quantisedMisuse(op: string, dtype: QuantDType): Error {
  if (dtype === Q4_0_X8) return new Error(`${op}: ${dtype} (q4_0 rows interleaved for the GEMM) serves only as a linear weight`);
  return new Error(`${op}: quantised tensors (${dtype}) serve only as weights of linear, embedding and cast`);
}

/** The dtype when plain; quantisedMisuse otherwise (for ops that read elements one by one). */
export function plainDType(op: string, dtype: DType): PlainDType {
  if (isQuantDType(dtype)) throw quantisedMisuse(op, dtype);
  return dtype;
}

/** Throws quantisedMisuse when any of the tensors is quantised. */
export function rejectQuantised(op: string, ...tensors: readonly { readonly dtype: DType }[]): void {
  for (const t of tensors) if (isQuantDType(t.dtype)) throw quantisedMisuse(op, t.dtype);
}

/** Rounds an f32 to the nearest bf16 (ties to even) and returns the 16 bits. */
export function f32ToBf16Bits(x: number): number {
  F32[0] = x;
  const u = U32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Widens bf16 bits to an f32 value. */
export function bf16BitsToF32(h: number): number {
  U32[0] = (h & 0xffff) << 16;
  return F32[0]!;
}

/** Widens IEEE half bits to an f32 value. */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Rounds an f32 to the nearest IEEE half (ties to even) and returns the 16 bits. */
export function f32ToF16Bits(x: number): number {
  F32[0] = x;
  const u = U32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
