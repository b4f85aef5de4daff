// Generates a whole world on disk: rendered PNGs, COCO annotations with captions, and
// train/val/test splits. Same seed and options, byte-identical directory.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildAnnotations, imageFileName, makeSplits, type WorldAnnotations, type WorldSplits } from './annotations.js';
import { encodePng } from './png.js';
import { checkImageSize, renderScene } from './raster.js';
import { DEFAULT_SCENE_CONFIG, generateScene, type Scene, type SceneConfig } from './scene.js';

/** Options of `generateWorld`. */
export interface WorldOptions {
  /** Number of scenes (images). */
  readonly n: number;
  /** Image side in pixels, 16..336. */
  readonly size: number;
  /** World seed: scenes, captions and splits all follow from it. */
  readonly seed: number;
  /** Output directory (created if missing). */
  readonly out: string;
  readonly scene?: SceneConfig;
}

export const DEFAULT_IMAGE_SIZE = 64;

/** What `generateWorld` wrote. */
export interface WorldSummary {
  readonly dir: string;
  readonly images: number;
  readonly objects: number;
  readonly splits: { readonly train: number; readonly val: number; readonly test: number };
  readonly pngBytes: number;
}

/** Writes a file through a temporary name, so a reader never sees half of it. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Scenes 1..n of the world with this seed (in memory, nothing rendered). */
export function generateScenes(n: number, seed: number, cfg: SceneConfig = DEFAULT_SCENE_CONFIG): Scene[] {
  return Array.from({ length: n }, (_, i) => generateScene(seed, i + 1, cfg));
}

/** A world in memory: scenes, their annotations and splits (no pixels). */
export function describeWorld(
  n: number,
  size: number,
  seed: number,
  cfg: SceneConfig = DEFAULT_SCENE_CONFIG,
): { scenes: Scene[]; annotations: WorldAnnotations; splits: WorldSplits } {
  const scenes = generateScenes(n, seed, cfg);
  return { scenes, annotations: buildAnnotations(scenes, size, seed), splits: makeSplits(scenes.map((s) => s.id), seed) };
}

function checkOptions(o: WorldOptions): void {
  if (!Number.isInteger(o.n) || o.n < 1) throw new Error(`--n must be a positive integer, got ${o.n}`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new Error(`--seed must be an integer from 0 to 2^32-1, got ${o.seed}`);
  checkImageSize(o.size);
}

/** Generates the world into `out`: images/*.png, annotations.json, splits.json. */
export function generateWorld(options: WorldOptions): WorldSummary {
  checkOptions(options);
  const { scenes, annotations, splits } = describeWorld(options.n, options.size, options.seed, options.scene);
  mkdirSync(join(options.out, 'images'), { recursive: true });
  let pngBytes = 0;
  for (const scene of scenes) {
    const png = encodePng(renderScene(scene, options.size));
    pngBytes += png.length;
    writeFileAtomic(join(options.out, imageFileName(scene.id)), png);
  }
  writeFileAtomic(join(options.out, 'splits.json'), JSON.stringify(splits) + '\n');
  // Written last: its presence means the images are all there.
  writeFileAtomic(join(options.out, 'annotations.json'), JSON.stringify(annotations) + '\n');
  return {
    dir: options.out,
    images: scenes.length,
    objects: annotations.annotations.length,
    splits: { train: splits.train.length, val: splits.val.length, test: splits.test.length },
    pngBytes,
  };
}
