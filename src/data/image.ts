// Image decoding to the RGB bytes Pillow would produce: sharp decodes, we flatten alpha the way transformers does.
// Rejects non-images and oversized images (from the header, before decoding pixels); never rotates by EXIF, as CLIPImageProcessor does not.

import { existsSync, readFileSync } from 'node:fs';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { MAX_IMAGE_PIXELS } from './constants.js';
import type { PixelBuffer } from './pillowResize.js';

/** A decoded RGB image: interleaved uint8, row-major (HWC). */
export interface RgbImage extends PixelBuffer {
  readonly channels: 3;
}

/** Options of decodeImage. */
export interface ImageDecodeOptions {
  /** Reject images with more pixels than this (default MAX_IMAGE_PIXELS). */
  readonly maxPixels?: number;
  /** Name used in errors when the input is a buffer. */
  readonly label?: string;
}

/** Thrown for inputs that are not decodable images or are too large; the message names the file. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
}

const OPAQUE = 255;
const WHITE = 255;
/** Fixed-point fraction bits of Pillow's alpha_composite. */
const COMPOSITE_BITS = 7;

/**
 * Composites one channel over opaque white as Pillow's Image.alpha_composite computes it
 * (transformers' convert_to_rgb), so RGBA inputs give the same bytes as in Python. With an opaque
 * destination Pillow's blend weights reduce to alpha*2^7 and (255-alpha)*2^7, then it divides by
 * 255 with its shift-add approximation.
 */
function overWhite(value: number, alpha: number): number {
  if (alpha === 0) return WHITE;
  const scaled = (value * alpha + WHITE * (OPAQUE - alpha)) << COMPOSITE_BITS;
  const t = scaled + (0x80 << COMPOSITE_BITS);
  return (((t >> 8) + t) >> 8) >> COMPOSITE_BITS;
}

/** Expands 1-4 channel decoder output (grey, grey+alpha, RGB, RGBA) to RGB over white. */
function toRgb(data: Uint8Array, pixels: number, channels: number, label: string): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const s = p * channels;
    const o = p * 3;
    switch (channels) {
      case 1:
        out[o] = out[o + 1] = out[o + 2] = data[s]!;
        break;
      case 2:
        out[o] = out[o + 1] = out[o + 2] = overWhite(data[s]!, data[s + 1]!);
        break;
      case 3:
        out[o] = data[s]!;
        out[o + 1] = data[s + 1]!;
        out[o + 2] = data[s + 2]!;
        break;
      case 4:
        out[o] = overWhite(data[s]!, data[s + 3]!);
        out[o + 1] = overWhite(data[s + 1]!, data[s + 3]!);
        out[o + 2] = overWhite(data[s + 2]!, data[s + 3]!);
        break;
      default:
        throw new ImageDecodeError(`${label}: decoder returned ${channels} channels, expected 1 to 4`);
    }
  }
  return out;
}

function readInput(input: string | Uint8Array, label: string): Uint8Array {
  if (typeof input !== 'string') return input;
  if (!existsSync(input)) throw new ImageDecodeError(`${label}: file not found`);
  return readFileSync(input);
}

/** Reads only the header: width and height, or a clear error for a non-image. */
export async function readImageSize(input: string | Uint8Array, label = typeof input === 'string' ? input : 'image'): Promise<{ width: number; height: number }> {
  const bytes = readInput(input, label);
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (e) {
    throw new ImageDecodeError(`${label}: not a supported image (${(e as Error).message})`);
  }
  if (!meta.width || !meta.height) throw new ImageDecodeError(`${label}: image header has no dimensions`);
  return { width: meta.width, height: meta.height };
}

/**
 * Decodes a file or an in-memory image to RGB bytes equal to Pillow's `Image.open(p)` followed by
 * transformers' convert_to_rgb: no EXIF rotation, no colour-profile conversion (Pillow applies
 * none), alpha composited over white. Images over `maxPixels` are refused from the header alone.
 * Known gap: CMYK JPEGs are converted by libvips, not by Pillow's formula.
 */
export async function decodeImage(input: string | Uint8Array, options: ImageDecodeOptions = {}): Promise<RgbImage> {
  const label = options.label ?? (typeof input === 'string' ? input : 'image');
  const maxPixels = options.maxPixels ?? MAX_IMAGE_PIXELS;
  const bytes = readInput(input, label);
  const { width, height } = await readImageSize(bytes, label);
  if (width * height > maxPixels) {
    throw new ImageDecodeError(`${label}: ${width}x${height} = ${width * height} pixels exceeds the limit of ${maxPixels}`);
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' })
      .keepIccProfile()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageDecodeError(`${label}: cannot decode image (${(e as Error).message})`);
  }
  const { info, data } = decoded;
  const rgb = toRgb(new Uint8Array(data.buffer, data.byteOffset, data.length), info.width * info.height, info.channels, label);
  return { width: info.width, height: info.height, channels: 3, data: rgb };
}
