// The GGUF container (versions 2 and 3, little-endian): "GGUF", version, tensor count, metadata
// count, metadata key/values, tensor infos, then the tensor data at `general.alignment` (default 32).
// Metadata values are typed; this maps GGUF's value type codes to names both directions.

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml tensors have at most this many dimensions. */
export const GGML_MAX_DIMS = 4;

/** GGUF metadata value types, by their codes. */
export const GGUF_VALUE_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
export type GgufScalarType = Exclude<GgufValueType, 'array'>;

/** A metadata value as read: numbers (64-bit integers beyond 2^53 as bigint), booleans, strings, arrays. */
export type GgufValue = number | bigint | boolean | string | readonly GgufValue[];

/** A metadata value to write, with its GGUF type. */
export type GgufTypedValue =
  | { readonly type: GgufScalarType; readonly value: number | bigint | boolean | string }
  | { readonly type: 'array'; readonly itemType: GgufScalarType; readonly values: readonly (number | bigint | boolean | string)[] };

export class GgufError extends Error {}
