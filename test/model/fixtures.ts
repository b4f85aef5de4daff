// Shared access to the llava-tiny golden fixtures for the model and inference tests:
// the manifest, each case's goldens as typed arrays, and a relative-error helper.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { npyToInt32, readNpy } from '../../src/data/npy.js';
import { tensor, type Tensor } from '../../src/tensor/index.js';
import type { Backend } from '../../src/backend/types.js';

export const TINY_ROOT = 'test/fixtures/llava-tiny';

export interface TinyModel {
  readonly name: string;
  readonly dir: string;
  readonly golden: string;
  readonly layout: string;
  readonly dtype: string;
}

interface Manifest {
  readonly models: readonly { name: string; dir: string; golden: string; layout: string; dtype: string }[];
  readonly cases: readonly { name: string; image: string; prompt: string }[];
}

const manifest = JSON.parse(readFileSync(join(TINY_ROOT, 'manifest.json'), 'utf8')) as Manifest;

/** The fixture models with absolute-from-root directories. */
export const TINY_MODELS: readonly TinyModel[] = manifest.models.map((m) => ({ ...m, dir: join(TINY_ROOT, m.dir), golden: join(TINY_ROOT, m.golden) }));
export const TINY_CASES = manifest.cases.map((c) => ({ ...c, image: join(TINY_ROOT, c.image) }));

export function tinyModel(name: string): TinyModel {
  const m = TINY_MODELS.find((x) => x.name === name);
  if (!m) throw new Error(`no fixture model ${name}`);
  return m;
}

/** One golden case of one golden set. */
export interface Golden {
  readonly inputIds: number[];
  readonly pixelShape: readonly number[];
  readonly pixels: Float32Array;
  readonly visionFeatures: Float32Array;
  readonly imageFeatures: Float32Array;
  readonly logits: Float32Array;
  readonly logitsShape: readonly number[];
  readonly generatedIds: number[];
  readonly generatedLogits: Float32Array;
}

function f32(path: string): { data: Float32Array; shape: readonly number[] } {
  const a = readNpy(path);
  if (a.dtype !== 'float32') throw new Error(`${path}: expected float32`);
  return { data: a.data, shape: a.shape };
}

export function readGolden(goldenDir: string, caseName: string): Golden {
  const d = join(goldenDir, caseName);
  const px = f32(join(d, 'pixel_values.npy'));
  const logits = f32(join(d, 'logits.npy'));
  return {
    inputIds: [...npyToInt32(readNpy(join(d, 'input_ids.npy')))],
    pixelShape: px.shape,
    pixels: px.data,
    visionFeatures: f32(join(d, 'vision_features.npy')).data,
    imageFeatures: f32(join(d, 'image_features.npy')).data,
    logits: logits.data,
    logitsShape: logits.shape,
    generatedIds: [...npyToInt32(readNpy(join(d, 'generated_ids.npy')))],
    generatedLogits: f32(join(d, 'generated_logits.npy')).data,
  };
}

export function pixelTensor(g: Golden, backend?: Backend): Tensor {
  return tensor(g.pixels, g.pixelShape, { backend });
}

/** max |got - want| / max |want|. */
export function relativeMaxDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs golden ${want.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return diff / scale;
}

/**
 * Parity bounds per stored weight dtype (manifest `dtype`): max |got - golden| <= bound x max |golden|,
 * for vision features, image features, prompt logits and KV-cached step logits alike. Goldens are
 * float64 forwards over the weights as stored, so every bound covers float32 compute error only.
 *
 * Worst relative errors measured (all models x 3 cases x 4 quantities; native with OpenBLAS or
 * LLAVA_BLAS=off, LLAVA_THREADS=1/7/default; reference backend):
 *   float32   native 1.14e-6 (full-v4 logits, 7 threads; 1.08e-6 by default), reference 2.1e-7
 *   bfloat16  native 6.98e-7 (bf16-v4/v5 logits),                             reference 2.0e-7
 *   float16   native 6.83e-7 (f16-v5 image features),                         reference 1.5e-7
 * float32 is the fixed 2e-6 (>= 1.75x the worst measured); it still rejects an RMSNorm eps of
 * 1e-6 instead of 1e-5 (logits off by 7e-6 to 1.1e-5, see parity.test.ts). bfloat16 and float16 are
 * 3x their worst measured figure (3 x 6.98e-7 and 3 x 6.83e-7, rounded up to 2.1e-6).
 * For scale: the bf16 and f32 goldens (same draw, rounded weights) differ by 7e-3 to 1e-2.
 */
export const PARITY_BOUNDS: Readonly<Record<string, number>> = {
  float32: 2e-6,
  bfloat16: 2.1e-6,
  float16: 2.1e-6,
};

/** The bound for a fixture model's stored dtype. */
export function parityBound(dtype: string): number {
  const b = PARITY_BOUNDS[dtype];
  if (b === undefined) throw new Error(`no parity bound for stored dtype ${dtype}`);
  return b;
}

/** The float32 parity bound (what tests on the f32 fixtures use). */
export const PARITY_BOUND = PARITY_BOUNDS.float32!;
