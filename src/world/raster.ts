// The world's rasteriser: draws a scene into an RGB buffer at any size, anti-aliased by
// supersampling each edge pixel. Hand-written because the shapes must match the boxes exactly.

import { insideShape, nearOutline } from './geometry.js';
import type { Scene, SceneObject } from './scene.js';
import { objectBox } from './scene.js';
import type { Rgb } from './vocabulary.js';

/** Largest image side the world renders (CLIP ViT-L/14-336's input). */
export const MAX_IMAGE_SIZE = 336;
/** Smallest side at which the smallest shapes still cover a few pixels. */
export const MIN_IMAGE_SIZE = 16;
/** Subsamples per pixel along each axis; coverage is counted over SUPERSAMPLE^2 points. */
const SUPERSAMPLE = 4;

/** An 8-bit RGB image, rows top to bottom, 3 bytes per pixel. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Throws unless `size` is an integer side the world supports. */
export function checkImageSize(size: number): void {
  if (!Number.isInteger(size) || size < MIN_IMAGE_SIZE || size > MAX_IMAGE_SIZE) {
    throw new Error(`image size must be an integer from ${MIN_IMAGE_SIZE} to ${MAX_IMAGE_SIZE} px, got ${size}`);
  }
}

/** Pixel weights (ax, ay) of a gradient: its parameter grows with ax * x + ay * y. */
function gradientAxes(direction: Scene['background']['direction']): readonly [number, number] {
  switch (direction) {
    case 'vertical':
      return [0, 1];
    case 'horizontal':
      return [1, 0];
    case 'diagonal':
      return [1, 1];
    default:
      return direction satisfies never;
  }
}

/** Square images only: every pixel's colour is one of (ax + ay) * size palette entries, so compute those once. */
function paintBackground(img: RgbImage, bg: Scene['background']): void {
  const { width: size, data } = img;
  const [ax, ay] = gradientAxes(bg.direction);
  const steps = (ax + ay) * size;
  const palette = new Uint8Array(3 * steps);
  for (let k = 0; k < steps; k++) {
    // Pixel centres: t runs from half a step to 1 minus half a step.
    const t = (k + (ax + ay) / 2) / steps;
    for (let c = 0; c < 3; c++) palette[3 * k + c] = Math.round(bg.from[c]! + (bg.to[c]! - bg.from[c]!) * t);
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const k = 3 * (ax * x + ay * y);
      const p = 3 * (y * size + x);
      data[p] = palette[k]!;
      data[p + 1] = palette[k + 1]!;
      data[p + 2] = palette[k + 2]!;
    }
  }
}

/** Half the diagonal of a pixel: a pixel whose centre is farther than this from an edge lies wholly on one side. */
const HALF_PIXEL_DIAGONAL = Math.SQRT1_2;

/**
 * Share (0..1) of pixel (px, py) the object covers, counted on a SUPERSAMPLE x SUPERSAMPLE
 * grid; pixels wholly inside or outside skip the grid (same result, several times faster).
 */
function coverage(o: SceneObject, size: number, px: number, py: number): number {
  const inv = 1 / (o.scale * size);
  const ux = (px + 0.5 - o.cx * size) * inv;
  const uy = (py + 0.5 - o.cy * size) * inv;
  if (!nearOutline(o.shape, ux, uy, HALF_PIXEL_DIAGONAL * inv)) return insideShape(o.shape, ux, uy) ? 1 : 0;
  return supersampledCoverage(o, size, px, py, inv);
}

function supersampledCoverage(o: SceneObject, size: number, px: number, py: number, inv: number): number {
  let hits = 0;
  for (let sy = 0; sy < SUPERSAMPLE; sy++) {
    const uy = ((py + (sy + 0.5) / SUPERSAMPLE) - o.cy * size) * inv;
    for (let sx = 0; sx < SUPERSAMPLE; sx++) {
      const ux = ((px + (sx + 0.5) / SUPERSAMPLE) - o.cx * size) * inv;
      if (insideShape(o.shape, ux, uy)) hits++;
    }
  }
  return hits / (SUPERSAMPLE * SUPERSAMPLE);
}

function blend(data: Uint8Array, p: number, rgb: Rgb, a: number): void {
  for (let c = 0; c < 3; c++) data[p + c] = Math.round(data[p + c]! * (1 - a) + rgb[c]! * a);
}

function paintObject(img: RgbImage, o: SceneObject): void {
  const size = img.width;
  const b = objectBox(o);
  const x0 = Math.max(0, Math.floor(b.x0 * size));
  const y0 = Math.max(0, Math.floor(b.y0 * size));
  const x1 = Math.min(size, Math.ceil(b.x1 * size));
  const y1 = Math.min(size, Math.ceil(b.y1 * size));
  for (let py = y0; py < y1; py++) {
    for (let px = x0; px < x1; px++) {
      const a = coverage(o, size, px, py);
      if (a > 0) blend(img.data, 3 * (py * size + px), o.rgb, a);
    }
  }
}

/** Renders a scene to a square RGB image of side `size` (16..336 px). */
export function renderScene(scene: Scene, size: number): RgbImage {
  checkImageSize(size);
  const img: RgbImage = { width: size, height: size, data: new Uint8Array(size * size * 3) };
  paintBackground(img, scene.background);
  for (const o of scene.objects) paintObject(img, o);
  return img;
}
