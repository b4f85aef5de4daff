// Generates a whole world on disk: rendered PNGs, COCO annotations with captions, and
// train/val/test splits. Same seed and options, byte-identical directory.

import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/moduleWorker.js';
import { buildAnnotations, makeSplits, type WorldAnnotations, type WorldSplits } from './annotations.js';
import { writeFileAtomic } from './fileIo.js';
import { checkImageSize } from './raster.js';
import { renderRange, type RenderJob } from './renderWorker.js';
import { DEFAULT_SCENE_CONFIG, generateScene, type Scene, type SceneConfig } from './scene.js';

export { writeFileAtomic, writeFileAtomicMkdir } from './fileIo.js';

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
  /** Worker threads rendering images; 0 renders in this thread. Default: one per core for worlds of 100 M pixels or more. */
  readonly workers?: number;
}

/**
 * Below this many pixels, worker threads cost more (each starts its own module graph) than
 * they save: measured at 5000 scenes of 64 px (20 M pixels), one thread took 7.0 s and two
 * workers 9.5 s on the shared 2-core machine.
 */
const MIN_PIXELS_FOR_WORKERS = 100_000_000;
/** Most worker threads used by default. */
const MAX_DEFAULT_WORKERS = 8;

export const DEFAULT_IMAGE_SIZE = 64;

/** What `generateWorld` wrote. */
export interface WorldSummary {
  readonly dir: string;
  readonly images: number;
  readonly objects: number;
  readonly splits: { readonly train: number; readonly val: number; readonly test: number };
  readonly pngBytes: number;
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

function defaultWorkers(n: number, size: number): number {
  return n * size * size < MIN_PIXELS_FOR_WORKERS ? 0 : Math.min(availableParallelism(), MAX_DEFAULT_WORKERS);
}

/** Starts a render worker (renderWorker.js compiled, renderWorker.ts from the sources). */
function startWorker(job: RenderJob): Worker {
  return startModuleWorker(import.meta.url, 'renderWorker', job);
}

function runWorker(job: RenderJob): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(job);
    worker.once('message', (bytes: number) => resolve(bytes));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`world render worker for scenes ${job.first}..${job.last} exited with code ${code}`));
    });
  });
}

/** Renders scenes 1..n into out/images, split into contiguous ranges over `workers` threads. */
async function renderImages(n: number, workers: number, base: Omit<RenderJob, 'first' | 'last'>): Promise<number> {
  if (workers <= 1) return renderRange({ ...base, first: 1, last: n });
  const per = Math.ceil(n / workers);
  const jobs: RenderJob[] = [];
  for (let first = 1; first <= n; first += per) jobs.push({ ...base, first, last: Math.min(n, first + per - 1) });
  const bytes = await Promise.all(jobs.map(runWorker));
  return bytes.reduce((a, b) => a + b, 0);
}

/** Generates the world into `out`: images/*.png, annotations.json, splits.json. */
export async function generateWorld(options: WorldOptions): Promise<WorldSummary> {
  checkOptions(options);
  const cfg = options.scene ?? DEFAULT_SCENE_CONFIG;
  const { scenes, annotations, splits } = describeWorld(options.n, options.size, options.seed, cfg);
  mkdirSync(join(options.out, 'images'), { recursive: true });
  const workers = options.workers ?? defaultWorkers(options.n, options.size);
  const pngBytes = await renderImages(options.n, workers, { seed: options.seed, size: options.size, out: options.out, scene: cfg });
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
