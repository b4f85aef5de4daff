// Reference quantisers with ggml's published rounding (quantize_row_*_ref): f32 values to the
// bytes of Q8_0, Q4_0, Q4_1 and Q4_K blocks. Arithmetic runs in f32 (Math.fround at each step), as the C
// reference does, so boundary cases round the same way.
import { f16BitsToF32, f32ToF16Bits } from '../tensor/dtype.js';
import { GGML_TYPES, QK_K, ggmlBytes, type GgmlType } from './ggmlTypes.js';
import { scaleMinK4 } from './dequantize.js';

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

/** ggml's nearest_int: round half to even, through the f32 addition of 1.5 * 2^23 as the C code does. */
function nearestInt(x: number): number {
  return f(x + 12582912) - 12582912;
}

/** One sub-block's fit: scale and the (positive) offset subtracted; the levels go to the caller's array. */
interface SubBlockFit {
  readonly scale: number;
  readonly min: number;
}

/** make_qkx2_quants' trial numerators rmin + rdelta * step + nmax for Q4_K (rmin -1, rdelta 0.1f, 20 steps, nmax 15), in f32. */
const Q4K_STEPS = Float32Array.from({ length: 21 }, (_, step) => f(f(-1 + f(f(0.1) * step)) + 15));

/** Levels of x - min at inverse scale `iscale`, clamped to [0, 15], into `out`. */
function levelsAt(x: Float32Array, min: number, iscale: number, out: Uint8Array): void {
  for (let i = 0; i < x.length; i++) {
    const l = nearestInt(f(iscale * f(x[i]! - min)));
    out[i] = l < 0 ? 0 : l > 15 ? 15 : l;
  }
}

/** The weighted squared error of levels L against x ~ scale l + min, accumulated in f32. */
function fitError(x: Float32Array, w: Float32Array, L: Uint8Array, scale: number, min: number): number {
  let error = 0;
  for (let i = 0; i < x.length; i++) {
    const diff = f(f(f(scale * L[i]!) + min) - x[i]!);
    error = f(error + f(w[i]! * f(diff * diff)));
  }
  return error;
}

/**
 * ggml's make_qkx2_quants for Q4_K (nmax 15, rmin -1, rdelta 0.1, 20 steps, squared error):
 * levels l in [0, nmax] with x ~ scale l - min, the weighted least-squares fit over a sweep of
 * trial scales, keeping the best (a better fit also moves the min the next trials start from,
 * as in the C code). Runs in f32 like the C code; `levels` receives the chosen levels.
 */
function fitSubBlock(x: Float32Array, w: Float32Array, levels: Uint8Array, trial: Uint8Array): SubBlockFit {
  let min = x[0]!;
  let max = x[0]!;
  let sumW = w[0]!;
  let sumX = f(sumW * x[0]!);
  for (let i = 1; i < x.length; i++) {
    const v = x[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = f(sumW + w[i]!);
    sumX = f(sumX + f(w[i]! * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    levels.fill(0);
    return { scale: 0, min: -min };
  }
  let iscale = f(15 / f(max - min));
  let scale = f(1 / iscale);
  levelsAt(x, min, iscale, levels);
  let bestError = fitError(x, w, levels, scale, min);
  for (const numerator of Q4K_STEPS) {
    iscale = f(numerator / f(max - min));
    levelsAt(x, min, iscale, trial);
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < x.length; i++) {
      const wl = f(w[i]! * trial[i]!);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * trial[i]!));
      sumXL = f(sumXL + f(wl * x[i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
    let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = f(sumXL / sumL2);
    }
    const error = fitError(x, w, trial, thisScale, thisMin);
    if (error < bestError) {
      levels.set(trial);
      bestError = error;
      scale = thisScale;
      min = thisMin;
    }
  }
  return { scale, min: -min };
}

/** Packs 6-bit scale `ls` and min `lm` of sub-block j into the 12 scale bytes (ggml's get_scale_min_k4 layout). */
function packScaleMinK4(out: DataView, byte: number, j: number, ls: number, lm: number): void {
  if (j < 4) {
    out.setUint8(byte + j, ls);
    out.setUint8(byte + j + 4, lm);
    return;
  }
  out.setUint8(byte + j + 4, (ls & 0x0f) | ((lm & 0x0f) << 4));
  out.setUint8(byte + j - 4, out.getUint8(byte + j - 4) | ((ls >> 4) << 6));
  out.setUint8(byte + j, out.getUint8(byte + j) | ((lm >> 4) << 6));
}

/**
 * Q4_K (quantize_row_q4_K_ref): per 32-value sub-block a weighted fit (weights |x| + rms) of scale
 * and min; the 8 scales and 8 mins become 6-bit multiples of the super-block's d = max scale / 63
 * and dmin = max min / 63 (f16); levels are then recomputed against those rounded values.
 */
const q4_K: Quantizer = (x, at, out) => {
  const subBlocks = QK_K / 32;
  const fits: SubBlockFit[] = [];
  const weights = new Float32Array(32);
  const levels = new Uint8Array(QK_K);
  const trial = new Uint8Array(32);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < subBlocks; j++) {
    const xs = x.subarray(at + 32 * j, at + 32 * j + 32);
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(xs[l]! * xs[l]!));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(xs[l]!));
    const fit = fitSubBlock(xs, weights, levels.subarray(32 * j, 32 * j + 32), trial);
    fits.push(fit);
    if (fit.scale > maxScale) maxScale = fit.scale;
    if (fit.min > maxMin) maxMin = fit.min;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  for (let j = 0; j < subBlocks; j++) {
    const ls = Math.min(63, nearestInt(f(invScale * fits[j]!.scale)) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * fits[j]!.min)) & 0xff);
    packScaleMinK4(out, 4, j, ls, lm);
  }
  const dBits = f32ToF16Bits(f(maxScale / 63));
  const dminBits = f32ToF16Bits(f(maxMin / 63));
  out.setUint16(0, dBits, true);
  out.setUint16(2, dminBits, true);
  for (let j = 0; j < subBlocks; j++) {
    const [sc, m] = scaleMinK4(out, 4, j);
    const d = f(f16BitsToF32(dBits) * sc);
    if (d === 0) continue;
    const dm = f(f16BitsToF32(dminBits) * m);
    for (let i = 0; i < 32; i++) {
      const l = nearestInt(f(f(x[at + 32 * j + i]! + dm) / d));
      levels[32 * j + i] = l < 0 ? 0 : l > 15 ? 15 : l;
    }
  }
  for (let g = 0; g < QK_K / 64; g++)
    for (let l = 0; l < 32; l++) out.setUint8(16 + 32 * g + l, levels[64 * g + l]! | (levels[64 * g + 32 + l]! << 4));
};

const QUANTIZERS: Partial<Record<GgmlType, Quantizer>> = { Q8_0: q8_0, Q4_0: q4_0, Q4_1: q4_1, Q4_K: q4_K };

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
