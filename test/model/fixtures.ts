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

/** The parity bound of the fixtures' README. */
export const PARITY_BOUND = 1e-4;
