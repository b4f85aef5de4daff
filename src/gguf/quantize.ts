// Reference quantisers with ggml's published rounding (quantize_row_*_ref): f32 values to the
// bytes of Q8_0, Q4_0 and Q4_1 blocks. Arithmetic runs in f32 (Math.fround at each step), as the C
// reference does, so boundary cases round the same way.
import { f32ToF16Bits } from '../tensor/dtype.js';
import { GGML_TYPES, ggmlBytes, type GgmlType } from './ggmlTypes.js';

const f = Math.fround;

/** C's roundf: halves away from zero. */
function roundf(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/** C's (int8_t) cast of a float in range: toward zero. */
function truncate(x: number): number {
  return Math.trunc(x);
}

type Quantizer = (x: Float32Array, at: number, out: DataView) => void;

/** Q8_0: d = max|x| / 127, q = roundf(x / d). */
const q8_0: Quantizer = (x, at, out) => {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[at + j]!));
  const d = f(amax / 127);
  const id = d !== 0 ? f(1 / d) : 0;
  out.setUint16(0, f32ToF16Bits(d), true);
  for (let j = 0; j < 32; j++) out.setInt8(2 + j, roundf(f(x[at + j]! * id)));
};

/** Q4_0: d = (the value of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)). */
const q4_0: Quantizer = (x, at, out) => {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[at + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = f(max / -8);
  const id = d !== 0 ? f(1 / d) : 0;
  out.setUint16(0, f32ToF16Bits(d), true);
  for (let j = 0; j < 16; j++) {
    const lo = Math.min(15, truncate(f(f(x[at + j]! * id) + 8.5)));
    const hi = Math.min(15, truncate(f(f(x[at + 16 + j]! * id) + 8.5)));
    out.setUint8(2 + j, lo | (hi << 4));
  }
};

/** Q4_1: m = min, d = (max - min) / 15, q = min(15, trunc((x - m) / d + 0.5)). */
const q4_1: Quantizer = (x, at, out) => {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    min = Math.min(min, x[at + j]!);
    max = Math.max(max, x[at + j]!);
  }
  const d = f(f(max - min) / 15);
  const id = d !== 0 ? f(1 / d) : 0;
  out.setUint16(0, f32ToF16Bits(d), true);
  out.setUint16(2, f32ToF16Bits(min), true);
  for (let j = 0; j < 16; j++) {
    const lo = Math.min(15, truncate(f(f(f(x[at + j]! - min) * id) + 0.5)));
    const hi = Math.min(15, truncate(f(f(f(x[at + 16 + j]! - min) * id) + 0.5)));
    out.setUint8(4 + j, lo | (hi << 4));
  }
};

const QUANTIZERS: Partial<Record<GgmlType, Quantizer>> = { Q8_0: q8_0, Q4_0: q4_0, Q4_1: q4_1 };

/** The types this module can write. */
export const QUANTIZABLE: readonly GgmlType[] = Object.keys(QUANTIZERS) as GgmlType[];

/** f32 values as the bytes of a quantised type (their count must fill whole blocks). */
export function quantize(type: GgmlType, x: Float32Array): Uint8Array {
  const quantizer = QUANTIZERS[type];
  if (!quantizer) throw new Error(`cannot quantize to ${type}; supported: ${QUANTIZABLE.join(', ')}`);
  const { blockElems, blockBytes } = GGML_TYPES[type];
  const out = new Uint8Array(ggmlBytes(type, x.length));
  for (let k = 0; k < x.length / blockElems; k++) quantizer(x, k * blockElems, new DataView(out.buffer, k * blockBytes, blockBytes));
  return out;
}
