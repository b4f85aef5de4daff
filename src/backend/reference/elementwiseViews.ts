// Memory plumbing for the reference elementwise kernels: typed views over strided
// tensors, an odometer over N-d indices, and dtype-aware element reads and writes.
import type { PlainDType } from '../../tensor/dtype.js';
import { DTYPE_BYTES, bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../tensor/dtype.js';
import type { Ptr, StridedRef } from '../types.js';
import type { RefMemory } from './memory.js';

/** Any typed view the reference backend reads elements through. */
export type ElementArray = Float32Array | Int32Array | Uint16Array;

/** A typed array covering every element a strided view touches; element at offset o is data[base + o]. */
export interface StridedArray<T extends ElementArray> {
  readonly data: T;
  readonly base: number;
}

/** Product of the dims (1 for a scalar shape). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws unless shape holds non-negative integers and every ref has one stride per dim. */
export function checkShape(kernel: string, shape: readonly number[], refs: Readonly<Record<string, StridedRef>>): void {
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${kernel}: shape[${i}] = ${d} is not a non-negative integer`);
  });
  for (const [name, ref] of Object.entries(refs)) {
    if (ref.strides.length !== shape.length) {
      throw new Error(`${kernel}: ${name}.strides has ${ref.strides.length} entries for a ${shape.length}-d shape`);
    }
  }
}

/** How to make a typed view of n items of one kind at an address. */
export interface ViewKind<T extends ElementArray> {
  readonly itemBytes: number;
  make(mem: RefMemory, ptr: Ptr, n: number): T;
}

export const F32_VIEW: ViewKind<Float32Array> = { itemBytes: 4, make: (mem, ptr, n) => mem.f32(ptr, n) };
export const I32_VIEW: ViewKind<Int32Array> = { itemBytes: 4, make: (mem, ptr, n) => mem.i32(ptr, n) };
export const U16_VIEW: ViewKind<Uint16Array> = { itemBytes: 2, make: (mem, ptr, n) => mem.u16(ptr, n) };

/** The view over the span a strided ref touches (negative strides allowed). Empty shapes give an empty view. */
export function stridedArray<T extends ElementArray>(
  mem: RefMemory,
  kind: ViewKind<T>,
  ref: StridedRef,
  shape: readonly number[],
): StridedArray<T> {
  if (elementCount(shape) === 0) return { data: kind.make(mem, ref.ptr, 0), base: 0 };
  let lo = 0;
  let hi = 0;
  shape.forEach((d, i) => {
    const reach = ref.strides[i]! * (d - 1);
    if (reach < 0) lo += reach;
    else hi += reach;
  });
  return { data: kind.make(mem, ref.ptr + lo * kind.itemBytes, hi - lo + 1), base: -lo };
}

/**
 * Calls fn(flat, offsets) for every index of shape in row-major order, where offsets[k]
 * is the element offset of that index under stridesList[k]. offsets is reused between calls.
 */
export function forEachOffset(
  shape: readonly number[],
  stridesList: readonly (readonly number[])[],
  fn: (flat: number, offsets: readonly number[]) => void,
): void {
  const n = elementCount(shape);
  if (n === 0) return;
  const index = new Array<number>(shape.length).fill(0);
  const offsets = new Array<number>(stridesList.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(flat, offsets);
    // Odometer step: bump the last dim, carrying into earlier ones.
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]!++;
      for (let k = 0; k < stridesList.length; k++) offsets[k]! += stridesList[k]![d]!;
      if (index[d]! < shape[d]!) break;
      for (let k = 0; k < stridesList.length; k++) offsets[k]! -= stridesList[k]![d]! * shape[d]!;
      index[d] = 0;
    }
  }
}

/** The raw-bits view used to move elements of a dtype without touching their values. */
export function bitsKind(dtype: PlainDType): ViewKind<Int32Array> | ViewKind<Uint16Array> {
  return DTYPE_BYTES[dtype] === 2 ? U16_VIEW : I32_VIEW;
}

/**
 * Float to i32 "by value": truncation toward zero, NaN to 0, saturating at the i32 range.
 * Pinned down here because C++ leaves out-of-range conversions undefined.
 */
export function toInt32(v: number): number {
  if (Number.isNaN(v)) return 0;
  if (v >= 2147483647) return 2147483647;
  if (v <= -2147483648) return -2147483648;
  return Math.trunc(v);
}

/** Reads n contiguous elements of a dtype as numbers (floats widened, ints as is). */
export function readValues(mem: RefMemory, dtype: PlainDType, ptr: Ptr, n: number): Float64Array {
  const out = new Float64Array(n);
  switch (dtype) {
    case 'f32':
      out.set(mem.f32(ptr, n));
      break;
    case 'i32':
      out.set(mem.i32(ptr, n));
      break;
    case 'bf16': {
      const src = mem.u16(ptr, n);
      for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(src[i]!);
      break;
    }
    case 'f16': {
      const src = mem.u16(ptr, n);
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(src[i]!);
      break;
    }
    default:
      dtype satisfies never;
  }
  return out;
}

/** Writes numbers as n contiguous elements of a dtype (floats rounded to nearest even, ints via toInt32). */
export function writeValues(mem: RefMemory, dtype: PlainDType, ptr: Ptr, values: ArrayLike<number>): void {
  const n = values.length;
  switch (dtype) {
    case 'f32':
      mem.f32(ptr, n).set(values);
      break;
    case 'i32': {
      const dst = mem.i32(ptr, n);
      for (let i = 0; i < n; i++) dst[i] = toInt32(values[i]!);
      break;
    }
    case 'bf16': {
      const dst = mem.u16(ptr, n);
      for (let i = 0; i < n; i++) dst[i] = f32ToBf16Bits(values[i]!);
      break;
    }
    case 'f16': {
      const dst = mem.u16(ptr, n);
      for (let i = 0; i < n; i++) dst[i] = f32ToF16Bits(values[i]!);
      break;
    }
    default:
      dtype satisfies never;
  }
}
