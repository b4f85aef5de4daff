// Worker thread for `generateWorld`: renders, encodes and writes one contiguous range of
// scene ids, so generation uses every core. Output does not depend on how ids are split.

import { parentPort, workerData } from 'node:worker_threads';
import { join } from 'node:path';
import { imageFileName } from './annotations.js';
import { encodePng } from './png.js';
import { renderScene } from './raster.js';
import { generateScene, type SceneConfig } from './scene.js';
import { writeFileAtomic } from './fileIo.js';

/** What the parent sends: the ids [first, last] of one world to render into `out`. */
export interface RenderJob {
  readonly seed: number;
  readonly size: number;
  readonly out: string;
  readonly first: number;
  readonly last: number;
  readonly scene: SceneConfig;
}

/** Renders scenes `first..last` to their PNG files; returns the bytes written. */
export function renderRange(job: RenderJob): number {
  let bytes = 0;
  for (let id = job.first; id <= job.last; id++) {
    const png = encodePng(renderScene(generateScene(job.seed, id, job.scene), job.size));
    bytes += png.length;
    writeFileAtomic(join(job.out, imageFileName(id)), png);
  }
  return bytes;
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'first' in workerData) {
  parentPort.postMessage(renderRange(workerData as RenderJob));
}
