// Reference dequantisation of every GGUF tensor type this project reads: blocks to f32, written
// from ggml's block layouts (ggml-common.h) to be obviously right rather than fast. The native
// kernels are tested against these.
import { bf16BitsToF32, f16BitsToF32 } from '../tensor/dtype.js';
import { GGML_TYPES, QK_K, ggmlBytes, type GgmlType } from './ggmlTypes.js';

type Dequantizer = (block: DataView, out: Float32Array, at: number) => void;

const f16 = (v: DataView, byte: number): number => f16BitsToF32(v.getUint16(byte, true));

/** Q4_0: d (f16), 16 bytes of nibbles; x[j] = (lo - 8) d, x[j + 16] = (hi - 8) d. */
const q4_0: Dequantizer = (b, out, at) => {
  const d = f16(b, 0);
  for (let j = 0; j < 16; j++) {
    const q = b.getUint8(2 + j);
    out[at + j] = ((q & 0x0f) - 8) * d;
    out[at + j + 16] = ((q >> 4) - 8) * d;
  }
};

/** Q4_1: d, m (f16), nibbles; x = q d + m. */
const q4_1: Dequantizer = (b, out, at) => {
  const d = f16(b, 0);
  const m = f16(b, 2);
  for (let j = 0; j < 16; j++) {
    const q = b.getUint8(4 + j);
    out[at + j] = (q & 0x0f) * d + m;
    out[at + j + 16] = (q >> 4) * d + m;
  }
};

/** The fifth bits of Q5 blocks: bit j of qh for element j, bit j + 16 for element j + 16. */
function fifthBits(b: DataView, byte: number, j: number): [number, number] {
  const qh = b.getUint32(byte, true);
  return [((qh >> j) & 1) << 4, ((qh >> (j + 16)) & 1) << 4];
}

/** Q5_0: d (f16), qh (32 bits), nibbles; x = (q5 - 16) d. */
const q5_0: Dequantizer = (b, out, at) => {
  const d = f16(b, 0);
  for (let j = 0; j < 16; j++) {
    const q = b.getUint8(6 + j);
    const [h0, h1] = fifthBits(b, 2, j);
    out[at + j] = (((q & 0x0f) | h0) - 16) * d;
    out[at + j + 16] = (((q >> 4) | h1) - 16) * d;
  }
};

/** Q5_1: d, m (f16), qh, nibbles; x = q5 d + m. */
const q5_1: Dequantizer = (b, out, at) => {
  const d = f16(b, 0);
  const m = f16(b, 2);
  for (let j = 0; j < 16; j++) {
    const q = b.getUint8(8 + j);
    const [h0, h1] = fifthBits(b, 4, j);
    out[at + j] = ((q & 0x0f) | h0) * d + m;
    out[at + j + 16] = ((q >> 4) | h1) * d + m;
  }
};

/** Q8_0: d (f16), 32 int8; x = q d. */
const q8_0: Dequantizer = (b, out, at) => {
  const d = f16(b, 0);
  for (let j = 0; j < 32; j++) out[at + j] = b.getInt8(2 + j) * d;
};

/** The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (12 packed bytes at `byte`). */
export function scaleMinK4(b: DataView, byte: number, j: number): [number, number] {
  const q = (i: number) => b.getUint8(byte + i);
  if (j < 4) return [q(j) & 63, q(j + 4) & 63];
  return [(q(j + 4) & 0x0f) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4)];
}

/**
 * Q4_K and Q5_K: d, dmin (f16), 12 bytes of 6-bit scales and mins, then (Q5_K only) 32 bytes of
 * fifth bits, then 128 bytes of nibbles; 8 sub-blocks of 32. Each group g of 64 elements takes the
 * low nibbles of 32 bytes (sub-block 2g), then their high nibbles (2g + 1); bit 2g of fifth-bit
 * byte l belongs to element 64g + l, bit 2g + 1 to element 64g + 32 + l.
 */
function kQuant(fifthBits: boolean): Dequantizer {
  const quants = fifthBits ? 48 : 16;
  return (b, out, at) => {
    const d = f16(b, 0);
    const dmin = f16(b, 2);
    for (let g = 0; g < 4; g++) {
      const [s0, m0] = scaleMinK4(b, 4, 2 * g);
      const [s1, m1] = scaleMinK4(b, 4, 2 * g + 1);
      for (let l = 0; l < 32; l++) {
        const q = b.getUint8(quants + 32 * g + l);
        const h = fifthBits ? b.getUint8(16 + l) : 0;
        out[at + 64 * g + l] = d * s0 * ((q & 0x0f) + (((h >> (2 * g)) & 1) << 4)) - dmin * m0;
        out[at + 64 * g + 32 + l] = d * s1 * ((q >> 4) + (((h >> (2 * g + 1)) & 1) << 4)) - dmin * m1;
      }
    }
  };
}
const q4_K = kQuant(false);
const q5_K = kQuant(true);

/** Q6_K: 128 bytes of low nibbles, 64 of 2-bit highs, 16 int8 scales, d (f16); x = d scale (q6 - 32). */
const q6_K: Dequantizer = (b, out, at) => {
  const d = f16(b, QK_K / 2 + QK_K / 4 + QK_K / 16);
  const sc = (i: number) => b.getInt8(QK_K / 2 + QK_K / 4 + i);
  for (let half = 0; half < 2; half++) {
    const ql = 64 * half;
    const qh = QK_K / 2 + 32 * half;
    const s = 8 * half;
    for (let l = 0; l < 32; l++) {
      const lo0 = b.getUint8(ql + l);
      const lo1 = b.getUint8(ql + l + 32);
      const hi = b.getUint8(qh + l);
      const is = s + (l >> 4);
      const base = at + 128 * half + l;
      out[base] = d * sc(is) * (((lo0 & 0x0f) | ((hi & 3) << 4)) - 32);
      out[base + 32] = d * sc(is + 2) * (((lo1 & 0x0f) | (((hi >> 2) & 3) << 4)) - 32);
      out[base + 64] = d * sc(is + 4) * (((lo0 >> 4) | (((hi >> 4) & 3) << 4)) - 32);
      out[base + 96] = d * sc(is + 6) * (((lo1 >> 4) | (((hi >> 6) & 3) << 4)) - 32);
    }
  }
};

const BLOCKS: Partial<Record<GgmlType, Dequantizer>> = { Q4_0: q4_0, Q4_1: q4_1, Q5_0: q5_0, Q5_1: q5_1, Q8_0: q8_0, Q4_K: q4_K, Q5_K: q5_K, Q6_K: q6_K };

/** `elements` values of a type from their bytes, as f32. */
export function dequantize(type: GgmlType, bytes: Uint8Array, elements: number): Float32Array {
  const need = ggmlBytes(type, elements);
  if (bytes.byteLength < need) throw new Error(`${type}: ${elements} elements need ${need} bytes, got ${bytes.byteLength}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, need);
  const out = new Float32Array(elements);
  switch (type) {
    case 'F32':
      for (let i = 0; i < elements; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case 'F16':
      for (let i = 0; i < elements; i++) out[i] = f16(view, 2 * i);
      return out;
    case 'BF16':
      for (let i = 0; i < elements; i++) out[i] = bf16BitsToF32(view.getUint16(2 * i, true));
      return out;
    default: {
      const { blockElems, blockBytes } = GGML_TYPES[type];
      const block = BLOCKS[type]!;
      for (let k = 0; k < elements / blockElems; k++) block(new DataView(bytes.buffer, bytes.byteOffset + k * blockBytes, blockBytes), out, k * blockElems);
      return out;
    }
  }
}
