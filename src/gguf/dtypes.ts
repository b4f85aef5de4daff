// GGUF tensor types and tensor dtypes, one from the other: a quantised dtype is ggml's block type
// of the same name in lowercase (Q4_K <-> q4_k); the plain floats map to F32, F16 and BF16.
import type { DType } from '../tensor/dtype.js';
import type { GgmlType } from './ggmlTypes.js';

const DTYPE_OF: { readonly [G in GgmlType]: DType } = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  Q4_0: 'q4_0',
  Q4_1: 'q4_1',
  Q5_0: 'q5_0',
  Q5_1: 'q5_1',
  Q8_0: 'q8_0',
  Q4_K: 'q4_k',
  Q5_K: 'q5_k',
  Q6_K: 'q6_k',
};

const GGML_OF = new Map<DType, GgmlType>(Object.entries(DTYPE_OF).map(([g, d]) => [d, g as GgmlType]));

/** The tensor dtype that holds a GGUF tensor type's data as it is stored. */
export function dtypeOfGgmlType(type: GgmlType): DType {
  return DTYPE_OF[type];
}

/** The GGUF tensor type storing a dtype's data as it is (i32 has none: it throws). */
export function ggmlTypeOfDtype(dtype: DType): GgmlType {
  const t = GGML_OF.get(dtype);
  if (t === undefined) throw new Error(`${dtype} has no GGUF tensor type`);
  return t;
}
