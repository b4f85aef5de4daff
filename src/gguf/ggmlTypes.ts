// ggml's tensor types as GGUF stores them: the type codes, and for each the block a row is cut
// into (elements per block and bytes per block). Codes and layouts are ggml's (ggml.h /
// ggml-common.h); only the types LLaVA GGUFs use are listed.

/** A GGUF tensor type. */
export type GgmlType = 'F32' | 'F16' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q8_0' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'BF16';

/** Elements per super-block of the K-quants. */
export const QK_K = 256;

interface TypeInfo {
  readonly code: number;
  /** Elements per block (1 for plain floats). */
  readonly blockElems: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

export const GGML_TYPES: Readonly<Record<GgmlType, TypeInfo>> = {
  F32: { code: 0, blockElems: 1, blockBytes: 4 },
  F16: { code: 1, blockElems: 1, blockBytes: 2 },
  Q4_0: { code: 2, blockElems: 32, blockBytes: 2 + 16 },
  Q4_1: { code: 3, blockElems: 32, blockBytes: 2 + 2 + 16 },
  Q5_0: { code: 6, blockElems: 32, blockBytes: 2 + 4 + 16 },
  Q5_1: { code: 7, blockElems: 32, blockBytes: 2 + 2 + 4 + 16 },
  Q8_0: { code: 8, blockElems: 32, blockBytes: 2 + 32 },
  Q4_K: { code: 12, blockElems: QK_K, blockBytes: 2 + 2 + 12 + QK_K / 2 },
  Q5_K: { code: 13, blockElems: QK_K, blockBytes: 2 + 2 + 12 + QK_K / 8 + QK_K / 2 },
  Q6_K: { code: 14, blockElems: QK_K, blockBytes: QK_K / 2 + QK_K / 4 + QK_K / 16 + 2 },
  BF16: { code: 30, blockElems: 1, blockBytes: 2 },
};

const BY_CODE = new Map(Object.entries(GGML_TYPES).map(([name, t]) => [t.code, name as GgmlType]));

/** The type of a code, or undefined for one this reader does not know. */
export function ggmlTypeOfCode(code: number): GgmlType | undefined {
  return BY_CODE.get(code);
}

/** Bytes of `elements` values of a type; throws when a row does not fill whole blocks. */
export function ggmlBytes(type: GgmlType, elements: number): number {
  const t = GGML_TYPES[type];
  if (elements % t.blockElems !== 0) throw new Error(`${type}: ${elements} elements do not fill whole blocks of ${t.blockElems}`);
  return (elements / t.blockElems) * t.blockBytes;
}
