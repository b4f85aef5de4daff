// Element types of tensors: f32 for compute, bf16/f16 for stored weights, i32 for ids.
// One table maps each to its byte size and the numeric code the native kernels use.

/** Element type of a tensor's storage. */
export type DType = 'f32' | 'bf16' | 'f16' | 'i32';

/** Bytes per element. */
export const DTYPE_BYTES: { readonly [D in DType]: number } = { f32: 4, bf16: 2, f16: 2, i32: 4 };

/** Numeric code passed to native kernels (matches `enum DType` in native/common.h). */
export const DTYPE_CODE: { readonly [D in DType]: number } = { f32: 0, bf16: 1, f16: 2, i32: 3 };

/** Floating-point dtypes a weight may be stored in. */
export const FLOAT_DTYPES: readonly DType[] = ['f32', 'bf16', 'f16'];

export function isDType(s: string): s is DType {
  return s === 'f32' || s === 'bf16' || s === 'f16' || s === 'i32';
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
