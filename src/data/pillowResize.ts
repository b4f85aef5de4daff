// Pillow's uint8 convolution resize (Image.resize with BICUBIC or BILINEAR, reducing_gap=None), reproduced bit for bit.
// CLIP checkpoints were trained on Pillow-resized pixels; sharp/libvips resample differently, so this is written by hand.
//
// The algorithm: a separable two-pass convolution, horizontal first, each pass rounding to
// uint8. For each output pixel the filter is centred on the source position, stretched by the
// scale when shrinking (so it averages every covered pixel: antialiasing), its taps normalised
// to sum 1, then turned into integers with PRECISION_BITS fractional bits. Sums start at one
// half (rounding) and are shifted back and clamped to 0..255.

/** An interleaved (HWC) uint8 image with any number of channels. */
export interface PixelBuffer {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** width * height * channels bytes, row-major, channels interleaved. */
  readonly data: Uint8Array;
}

/** Resampling filters we reproduce (Pillow's names). */
export type ResampleFilter = 'bicubic' | 'bilinear';

/** Fractional bits of the fixed-point taps: 32-bit sums, 8 bits of pixel, 2 bits of headroom for lobes over 1. */
const PRECISION_BITS = 32 - 8 - 2;
const FIXED_ONE = 2 ** PRECISION_BITS;
const ROUNDING_HALF = 2 ** (PRECISION_BITS - 1);
const UINT8_MAX = 255;

/** Pillow's bicubic uses the Keys kernel with a = -0.5 (Catmull-Rom). */
const BICUBIC_A = -0.5;

interface FilterKernel {
  /** Half-width of the kernel at scale 1, in source pixels. */
  readonly support: number;
  readonly weight: (x: number) => number;
}

function bicubicWeight(x: number): number {
  const t = Math.abs(x);
  if (t < 1) return ((BICUBIC_A + 2) * t - (BICUBIC_A + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * BICUBIC_A;
  return 0;
}

function bilinearWeight(x: number): number {
  const t = Math.abs(x);
  return t < 1 ? 1 - t : 0;
}

function kernelOf(filter: ResampleFilter): FilterKernel {
  switch (filter) {
    case 'bicubic':
      return { support: 2, weight: bicubicWeight };
    case 'bilinear':
      return { support: 1, weight: bilinearWeight };
    default:
      return filter satisfies never;
  }
}

/** Fixed-point taps of one pass: output i reads `count[i]` source pixels from `first[i]` with `taps[i*stride ..]`. */
export interface ResampleTaps {
  readonly first: Int32Array;
  readonly count: Int32Array;
  readonly stride: number;
  readonly taps: Int32Array;
}

/** C's (int) cast of a double: truncation toward zero. */
function toIntTruncating(x: number): number {
  return Math.trunc(x);
}

/** Rounds a normalised tap to fixed point, half away from zero, as Pillow does. */
function toFixed(w: number): number {
  return toIntTruncating(w < 0 ? -0.5 + w * FIXED_ONE : 0.5 + w * FIXED_ONE);
}

/** Computes the taps that resample `inSize` source pixels to `outSize` (the whole extent, no box). */
export function computeTaps(inSize: number, outSize: number, filter: ResampleFilter): ResampleTaps {
  const kernel = kernelOf(filter);
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const taps = new Int32Array(outSize * stride);
  const weights = new Float64Array(stride);
  const invFilterScale = 1 / filterScale;
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, toIntTruncating(center - support + 0.5));
    const hi = Math.min(inSize, toIntTruncating(center + support + 0.5));
    const n = hi - lo;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const w = kernel.weight((k + lo - center + 0.5) * invFilterScale);
      weights[k] = w;
      sum += w;
    }
    for (let k = 0; k < n; k++) {
      const w = sum !== 0 ? weights[k]! / sum : weights[k]!;
      taps[i * stride + k] = toFixed(w);
    }
    first[i] = lo;
    count[i] = n;
  }
  return { first, count, stride, taps };
}

/** Shifts a fixed-point sum back to a byte, clamping (the sum fits int32, so `>>` floors like C's). */
function clipToByte(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > UINT8_MAX ? UINT8_MAX : v;
}

/** Horizontal pass over source rows [rowStart, rowStart + rows). */
function resampleRows(src: PixelBuffer, outWidth: number, rowStart: number, rows: number, t: ResampleTaps): PixelBuffer {
  const c = src.channels;
  if (c === 3) return resampleRowsRgb(src, outWidth, rowStart, rows, t);
  const out = new Uint8Array(outWidth * rows * c);
  const inRow = src.width * c;
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + rowStart) * inRow;
    for (let x = 0; x < outWidth; x++) {
      const tapBase = x * t.stride;
      const n = t.count[x]!;
      const pixBase = rowBase + t.first[x]! * c;
      for (let ch = 0; ch < c; ch++) {
        let sum = ROUNDING_HALF;
        for (let k = 0; k < n; k++) sum += src.data[pixBase + k * c + ch]! * t.taps[tapBase + k]!;
        out[(y * outWidth + x) * c + ch] = clipToByte(sum);
      }
    }
  }
  return { width: outWidth, height: rows, channels: c, data: out };
}

/** The horizontal pass for RGB, three sums per tap walk (the hot loop: a large photo shrinks here). */
function resampleRowsRgb(src: PixelBuffer, outWidth: number, rowStart: number, rows: number, t: ResampleTaps): PixelBuffer {
  const out = new Uint8Array(outWidth * rows * 3);
  const data = src.data;
  const taps = t.taps;
  const inRow = src.width * 3;
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + rowStart) * inRow;
    for (let x = 0; x < outWidth; x++) {
      const tapBase = x * t.stride;
      const n = t.count[x]!;
      let p = rowBase + t.first[x]! * 3;
      let r = ROUNDING_HALF;
      let g = ROUNDING_HALF;
      let b = ROUNDING_HALF;
      for (let k = 0; k < n; k++, p += 3) {
        const w = taps[tapBase + k]!;
        r += data[p]! * w;
        g += data[p + 1]! * w;
        b += data[p + 2]! * w;
      }
      const o = (y * outWidth + x) * 3;
      out[o] = clipToByte(r);
      out[o + 1] = clipToByte(g);
      out[o + 2] = clipToByte(b);
    }
  }
  return { width: outWidth, height: rows, channels: 3, data: out };
}

/** Vertical pass; `rowShift` is the first source row the buffer holds. */
function resampleColumns(src: PixelBuffer, outHeight: number, rowShift: number, t: ResampleTaps): PixelBuffer {
  const c = src.channels;
  const rowLen = src.width * c;
  const out = new Uint8Array(outHeight * rowLen);
  for (let y = 0; y < outHeight; y++) {
    const tapBase = y * t.stride;
    const n = t.count[y]!;
    const srcBase = (t.first[y]! - rowShift) * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let sum = ROUNDING_HALF;
      for (let k = 0; k < n; k++) sum += src.data[srcBase + k * rowLen + i]! * t.taps[tapBase + k]!;
      out[y * rowLen + i] = clipToByte(sum);
    }
  }
  return { width: src.width, height: outHeight, channels: c, data: out };
}

/**
 * Resizes exactly as Pillow's `Image.resize((width, height), resample, reducing_gap=None)` does
 * for 8-bit images: horizontal pass (only over the source rows the vertical pass will read),
 * then vertical pass; a dimension that does not change is not resampled.
 */
export function pillowResize(src: PixelBuffer, width: number, height: number, filter: ResampleFilter = 'bicubic'): PixelBuffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`pillowResize: target size ${width}x${height} must be positive integers`);
  }
  if (src.data.length !== src.width * src.height * src.channels) {
    throw new RangeError(`pillowResize: ${src.data.length} bytes do not hold ${src.width}x${src.height}x${src.channels}`);
  }
  if (width === src.width && height === src.height) return { ...src, data: src.data.slice() };
  const needHorizontal = width !== src.width;
  const needVertical = height !== src.height;
  const vertical = needVertical ? computeTaps(src.height, height, filter) : undefined;
  let current = src;
  let rowShift = 0;
  if (needHorizontal) {
    // Only rows some output row reads: from the first tap of the first row to the end of the last.
    const firstRow = vertical ? vertical.first[0]! : 0;
    const endRow = vertical ? vertical.first[height - 1]! + vertical.count[height - 1]! : src.height;
    current = resampleRows(src, width, firstRow, endRow - firstRow, computeTaps(src.width, width, filter));
    rowShift = firstRow;
  }
  if (vertical) current = resampleColumns(current, height, rowShift, vertical);
  return current;
}
