// CLIPImageProcessor (and llava-hf's LlavaImageProcessor padding) driven by preprocessor_config.json.
// Turns a decoded RGB image into the float32 CHW pixel values the vision tower sees, equal to transformers' output.
//
// Order, as in transformers: [pad to square with the mean colour] -> resize (Pillow) -> center
// crop -> rescale (float64 product cast to float32) -> normalise (float32 arithmetic) -> CHW.

import { readFileSync, existsSync } from 'node:fs';
import { CLIP_MEAN, CLIP_STD, PIL_BICUBIC, PIL_BILINEAR } from './constants.js';
import { decodeImage, type ImageDecodeOptions, type RgbImage } from './image.js';
import { pillowResize, type ResampleFilter } from './pillowResize.js';

/** Target of the resize step: the shortest edge, or an exact size. */
export type ResizeTarget = { readonly shortestEdge: number } | { readonly height: number; readonly width: number };

/** What preprocessor_config.json says, in our names. */
export interface ImageProcessorConfig {
  /** Resize before cropping. */
  readonly doResize: boolean;
  readonly size: ResizeTarget;
  /** Pillow filter of the resize (config `resample`: 3 bicubic, 2 bilinear). */
  readonly resample: ResampleFilter;
  /** Crop the centre to cropSize after resizing. */
  readonly doCenterCrop: boolean;
  readonly cropSize: { readonly height: number; readonly width: number };
  /** Multiply by rescaleFactor (1/255). */
  readonly doRescale: boolean;
  readonly rescaleFactor: number;
  /** Subtract imageMean and divide by imageStd per channel. */
  readonly doNormalize: boolean;
  readonly imageMean: readonly [number, number, number];
  readonly imageStd: readonly [number, number, number];
  /** LLaVA-1.5 "pad" aspect ratio: centre on a square of the mean colour before resizing. */
  readonly doPad: boolean;
}

/** CLIP ViT-L/14-336 as used by LLaVA-1.5 (openai/clip-vit-large-patch14-336), without padding. */
export const CLIP_336_PROCESSOR: ImageProcessorConfig = {
  doResize: true,
  size: { shortestEdge: 336 },
  resample: 'bicubic',
  doCenterCrop: true,
  cropSize: { height: 336, width: 336 },
  doRescale: true,
  rescaleFactor: 1 / 255,
  doNormalize: true,
  imageMean: CLIP_MEAN,
  imageStd: CLIP_STD,
  doPad: false,
};

/** Float32 pixel values, channels first: data[c * height * width + y * width + x]. */
export interface PixelValues {
  readonly channels: 3;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

/** Thrown for a preprocessor config that is missing or malformed; the message names the file and field. */
export class ImageProcessorConfigError extends Error {
  override readonly name = 'ImageProcessorConfigError';
}

type Json = Record<string, unknown>;

function positiveInt(source: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ImageProcessorConfigError(`${source}: ${field} = ${JSON.stringify(v)} is not a positive integer`);
  }
  return v;
}

function bool(source: string, json: Json, field: string, fallback: boolean): boolean {
  const v = json[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new ImageProcessorConfigError(`${source}: ${field} = ${JSON.stringify(v)} is not a boolean`);
  return v;
}

function triple(source: string, json: Json, field: string, fallback: readonly [number, number, number]): readonly [number, number, number] {
  const v = json[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number') return [v, v, v];
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new ImageProcessorConfigError(`${source}: ${field} = ${JSON.stringify(v)} is not 3 numbers`);
  }
  return [v[0], v[1], v[2]];
}

/** `size` as transformers reads it for CLIP: an int means the shortest edge. */
function parseSize(source: string, v: unknown): ResizeTarget {
  if (v === undefined || v === null) return CLIP_336_PROCESSOR.size;
  if (typeof v === 'number') return { shortestEdge: positiveInt(source, 'size', v) };
  const o = v as Json;
  if (typeof o === 'object' && o.shortest_edge !== undefined) return { shortestEdge: positiveInt(source, 'size.shortest_edge', o.shortest_edge) };
  if (typeof o === 'object' && o.height !== undefined && o.width !== undefined) {
    return { height: positiveInt(source, 'size.height', o.height), width: positiveInt(source, 'size.width', o.width) };
  }
  throw new ImageProcessorConfigError(`${source}: size = ${JSON.stringify(v)} is neither {shortest_edge} nor {height, width}`);
}

/** `crop_size`: an int means a square. */
function parseCropSize(source: string, v: unknown): { height: number; width: number } {
  if (v === undefined || v === null) return CLIP_336_PROCESSOR.cropSize;
  if (typeof v === 'number') return { height: positiveInt(source, 'crop_size', v), width: v };
  const o = v as Json;
  if (typeof o === 'object' && o.height !== undefined && o.width !== undefined) {
    return { height: positiveInt(source, 'crop_size.height', o.height), width: positiveInt(source, 'crop_size.width', o.width) };
  }
  throw new ImageProcessorConfigError(`${source}: crop_size = ${JSON.stringify(v)} is not {height, width}`);
}

function parseResample(source: string, v: unknown): ResampleFilter {
  if (v === undefined || v === null || v === PIL_BICUBIC) return 'bicubic';
  if (v === PIL_BILINEAR) return 'bilinear';
  throw new ImageProcessorConfigError(`${source}: resample = ${JSON.stringify(v)} is not supported (3 bicubic, 2 bilinear)`);
}

/** Reads a parsed preprocessor_config.json; absent fields take CLIPImageProcessor's defaults. */
export function parseImageProcessorConfig(json: unknown, source = 'preprocessor_config.json'): ImageProcessorConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ImageProcessorConfigError(`${source}: not a JSON object`);
  const j = json as Json;
  const rescale = j.rescale_factor ?? CLIP_336_PROCESSOR.rescaleFactor;
  if (typeof rescale !== 'number' || !Number.isFinite(rescale)) throw new ImageProcessorConfigError(`${source}: rescale_factor = ${JSON.stringify(rescale)} is not a number`);
  const imageStd = triple(source, j, 'image_std', CLIP_STD);
  if (imageStd.some((s) => s === 0)) throw new ImageProcessorConfigError(`${source}: image_std has a zero`);
  return {
    doResize: bool(source, j, 'do_resize', true),
    size: parseSize(source, j.size),
    resample: parseResample(source, j.resample),
    doCenterCrop: bool(source, j, 'do_center_crop', true),
    cropSize: parseCropSize(source, j.crop_size),
    doRescale: bool(source, j, 'do_rescale', true),
    rescaleFactor: rescale,
    doNormalize: bool(source, j, 'do_normalize', true),
    imageMean: triple(source, j, 'image_mean', CLIP_MEAN),
    imageStd,
    doPad: bool(source, j, 'do_pad', false),
  };
}

/** Loads preprocessor_config.json from a file path. */
export function loadImageProcessorConfig(path: string): ImageProcessorConfig {
  if (!existsSync(path)) throw new ImageProcessorConfigError(`${path}: file not found`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ImageProcessorConfigError(`${path}: invalid JSON (${(e as Error).message})`);
  }
  return parseImageProcessorConfig(json, path);
}

/**
 * Output size of a shortest-edge resize as transformers computes it: the short side becomes
 * `shortest`, the long side int(shortest * long / short), truncated.
 */
export function shortestEdgeSize(width: number, height: number, shortest: number): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((shortest * long) / short);
  return width <= height ? { width: shortest, height: newLong } : { width: newLong, height: shortest };
}

/** The mean colour as bytes, truncated as LLaVA's expand2square does: (122, 116, 104) for CLIP. */
export function meanColour(mean: readonly [number, number, number]): [number, number, number] {
  return [Math.trunc(mean[0] * 255), Math.trunc(mean[1] * 255), Math.trunc(mean[2] * 255)];
}

/** Centres the image on a square canvas of `colour` (offsets floor((side - size) / 2)). */
export function padToSquare(img: RgbImage, colour: readonly [number, number, number]): RgbImage {
  if (img.width === img.height) return img;
  const side = Math.max(img.width, img.height);
  const out = new Uint8Array(side * side * 3);
  for (let p = 0; p < side * side; p++) out.set(colour, p * 3);
  const left = Math.floor((side - img.width) / 2);
  const top = Math.floor((side - img.height) / 2);
  const rowBytes = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    out.set(img.data.subarray(y * rowBytes, (y + 1) * rowBytes), ((y + top) * side + left) * 3);
  }
  return { width: side, height: side, channels: 3, data: out };
}

/**
 * transformers' center_crop: top = floor((H - h) / 2), left = floor((W - w) / 2); where the crop
 * is larger than the image, the image is first centred on zeros (padding ceil((h - H) / 2) on top).
 */
export function centerCrop(img: RgbImage, height: number, width: number): RgbImage {
  const paddedH = Math.max(height, img.height);
  const paddedW = Math.max(width, img.width);
  const padTop = Math.ceil((paddedH - img.height) / 2);
  const padLeft = Math.ceil((paddedW - img.width) / 2);
  const top = Math.floor((img.height - height) / 2) + padTop;
  const left = Math.floor((img.width - width) / 2) + padLeft;
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const sy = y + top - padTop;
    if (sy < 0 || sy >= img.height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x + left - padLeft;
      if (sx < 0 || sx >= img.width) continue;
      const s = (sy * img.width + sx) * 3;
      const o = (y * width + x) * 3;
      out[o] = img.data[s]!;
      out[o + 1] = img.data[s + 1]!;
      out[o + 2] = img.data[s + 2]!;
    }
  }
  return { width, height, channels: 3, data: out };
}

/** The resize step alone: target size from the config, then Pillow's resize. */
export function resizeForProcessor(img: RgbImage, cfg: ImageProcessorConfig): RgbImage {
  const target = 'shortestEdge' in cfg.size ? shortestEdgeSize(img.width, img.height, cfg.size.shortestEdge) : cfg.size;
  if (target.width === img.width && target.height === img.height) return img;
  const out = pillowResize(img, target.width, target.height, cfg.resample);
  return { width: out.width, height: out.height, channels: 3, data: out.data };
}

/** Rescale and normalise with transformers' float precision, transposing HWC bytes to CHW floats. */
function toPixelValues(img: RgbImage, cfg: ImageProcessorConfig): PixelValues {
  const plane = img.width * img.height;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(cfg.imageMean[c]!);
    const std = Math.fround(cfg.imageStd[c]!);
    for (let p = 0; p < plane; p++) {
      const byte = img.data[p * 3 + c]!;
      let v = cfg.doRescale ? Math.fround(byte * cfg.rescaleFactor) : byte;
      if (cfg.doNormalize) v = Math.fround(Math.fround(v - mean) / std);
      data[c * plane + p] = v;
    }
  }
  return { channels: 3, height: img.height, width: img.width, data };
}

/** How a non-square image becomes square: LLaVA's pad, llava-hf's crop, or what the processor config says. */
export type ImageAspect = 'pad' | 'crop' | 'auto';

/** The accepted values of ImageAspect, for flag validation. */
export const IMAGE_ASPECTS: readonly ImageAspect[] = ['pad', 'crop', 'auto'];

/**
 * The processor config for an aspect choice: `pad` is original LLaVA's expand-to-square with the
 * mean colour before the resize and centre crop; `crop` is the plain shortest-edge resize and
 * centre crop; `auto` leaves preprocessor_config.json's own choice.
 */
export function withImageAspect(cfg: ImageProcessorConfig, aspect: ImageAspect): ImageProcessorConfig {
  switch (aspect) {
    case 'auto':
      return cfg;
    case 'pad':
      return { ...cfg, doPad: true };
    case 'crop':
      return { ...cfg, doPad: false };
    default:
      return aspect satisfies never;
  }
}

/** Checks a user-given aspect name. */
export function parseImageAspect(name: string): ImageAspect {
  if (!(IMAGE_ASPECTS as readonly string[]).includes(name)) throw new Error(`--image-aspect must be one of ${IMAGE_ASPECTS.join(', ')}, got '${name}'`);
  return name as ImageAspect;
}

/** Runs every enabled step on a decoded RGB image. */
export function preprocessRgb(img: RgbImage, cfg: ImageProcessorConfig): PixelValues {
  let current = img;
  if (cfg.doPad) current = padToSquare(current, meanColour(cfg.imageMean));
  if (cfg.doResize) current = resizeForProcessor(current, cfg);
  if (cfg.doCenterCrop) current = centerCrop(current, cfg.cropSize.height, cfg.cropSize.width);
  return toPixelValues(current, cfg);
}

/** Decodes an image file or buffer and preprocesses it. */
export async function preprocessImage(input: string | Uint8Array, cfg: ImageProcessorConfig, options: ImageDecodeOptions = {}): Promise<PixelValues> {
  return preprocessRgb(await decodeImage(input, options), cfg);
}

/** Stacks images of one size into a [B, 3, H, W] float32 batch (what the vision tower takes). */
export function stackPixelValues(images: readonly PixelValues[]): { readonly shape: [number, number, number, number]; readonly data: Float32Array } {
  const first = images[0];
  if (!first) throw new RangeError('stackPixelValues: no images');
  const plane = first.channels * first.height * first.width;
  const data = new Float32Array(images.length * plane);
  images.forEach((img, i) => {
    if (img.height !== first.height || img.width !== first.width) {
      throw new RangeError(`stackPixelValues: image ${i} is ${img.width}x${img.height}, image 0 is ${first.width}x${first.height}`);
    }
    data.set(img.data, i * plane);
  });
  return { shape: [images.length, first.channels, first.height, first.width], data };
}
