// `llava eval probe`: how much of what the world's objects are a vision tower's patch tokens
// hold, read linearly. Each object's feature is the mean of the patch tokens inside its box (the
// hidden state LLaVA's projector reads); a ridge least-squares classifier per label (shape, colour,
// size, and the third of the image across and down the object lies in) is fitted on train-split
// objects and scored on test-split objects. It measures the tower alone, before any projector or
// language model can help or hide it.
import { join } from 'node:path';
import { loadLlava } from '../model/checkpoint.js';
import { featureLayerIndex, patchesPerSide } from '../model/config.js';
import type { LlavaModel } from '../model/llava.js';
import { readImageRecords } from '../datagen/inputs.js';
import type { ImageRecord } from '../datagen/types.js';
import { loadImageProcessorConfig, preprocessImage, stackPixelValues, type ImageProcessorConfig } from '../data/preprocess.js';
import { patchesInBox } from '../train/contrastive.js';
import { tensor } from '../tensor/index.js';

/**
 * The object labels probed: the category, the world's two attributes, and where the object lies
 * (the third of the image its box centre falls in, across and down), which relative-position
 * questions need.
 */
export const PROBE_LABELS = ['shape', 'color', 'size', 'column', 'row'] as const;
export type ProbeLabel = (typeof PROBE_LABELS)[number];

export interface TowerProbeOptions {
  /** A llava-hf model directory (a CLIP tower alone: `llava build` it first). */
  readonly modelDir: string;
  readonly worldDir: string;
  /** Hidden state probed (0 = embeddings); default the one LLaVA reads (vision_feature_layer). */
  readonly layer?: number;
  /** Train-split images the classifiers are fitted on (the first ones). */
  readonly trainImages?: number;
  /** Test-split images they are scored on. */
  readonly testImages?: number;
  /** Ridge strength, per fitted object. */
  readonly ridge?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** One label's score on the test objects. */
export interface ProbeScore {
  readonly accuracy: number;
  /** The most common test class's share: what a constant guess gets. */
  readonly majority: number;
  readonly classes: readonly string[];
  /** counts[truth][predicted], indices into classes. */
  readonly confusion: readonly (readonly number[])[];
}

export interface TowerProbeReport {
  readonly modelDir: string;
  readonly layer: number;
  readonly trainObjects: number;
  readonly testObjects: number;
  readonly labels: { readonly [L in ProbeLabel]: ProbeScore };
  /** Shape accuracy among the test objects of each size. */
  readonly shapeBySize: Readonly<Record<string, number>>;
}

/** One object: its pooled feature and its labels. */
interface ProbedObject {
  readonly feature: Float32Array;
  readonly labels: { readonly [L in ProbeLabel]: string };
}

/** Images fitted on and scored on, and the ridge strength, when the options leave them out. */
export const PROBE_DEFAULTS = { trainImages: 1500, testImages: 500, ridge: 1e-3 } as const;
const BATCH = 32;

/** Probes the model's vision tower on the world's objects. */
export async function probeVisionTower(o: TowerProbeOptions): Promise<TowerProbeReport> {
  const { model, config } = loadLlava(o.modelDir);
  const layer = o.layer ?? featureLayerIndex(config);
  if (!Number.isInteger(layer) || layer < 0 || layer > config.vision.numLayers) throw new Error(`--layer must be one of 0..${config.vision.numLayers} (the tower's hidden states), got ${layer}`);
  const processor = loadImageProcessorConfig(join(o.modelDir, 'preprocessor_config.json'));
  const train = worldSplit(o.worldDir, 'train', o.trainImages ?? PROBE_DEFAULTS.trainImages);
  const test = worldSplit(o.worldDir, 'test', o.testImages ?? PROBE_DEFAULTS.testImages);
  const total = train.length + test.length;
  const progress = (done: number) => o.onProgress?.(done, total);
  const trainObjects = await pooledObjects(model, layer, processor, o.worldDir, train, progress);
  const testObjects = await pooledObjects(model, layer, processor, o.worldDir, test, (d) => progress(train.length + d));
  if (trainObjects.length === 0 || testObjects.length === 0) throw new Error(`${o.worldDir}: the probe needs objects in both the train and the test split`);
  const ridge = o.ridge ?? PROBE_DEFAULTS.ridge;
  const scored = Object.fromEntries(PROBE_LABELS.map((l) => [l, scoreLabel(trainObjects, testObjects, l, ridge)])) as { [L in ProbeLabel]: ScoredLabel };
  const labels = Object.fromEntries(PROBE_LABELS.map((l) => [l, scored[l].score])) as TowerProbeReport['labels'];
  return { modelDir: o.modelDir, layer, trainObjects: trainObjects.length, testObjects: testObjects.length, labels, shapeBySize: shapeBySize(testObjects, scored.shape) };
}

/** Shape accuracy among the test objects of each size, from the shape classifier's predictions. */
function shapeBySize(test: readonly ProbedObject[], shape: ScoredLabel): Record<string, number> {
  const out: Record<string, number> = {};
  for (const size of [...new Set(test.map((x) => x.labels.size))].sort()) {
    const rows = test.map((x, i) => i).filter((i) => test[i]!.labels.size === size);
    out[size] = rows.filter((i) => shape.predicted[i] === shape.score.classes.indexOf(test[i]!.labels.shape)).length / rows.length;
  }
  return out;
}

function worldSplit(worldDir: string, split: 'train' | 'test', limit: number): ImageRecord[] {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`the probe's ${split} image count must be a positive integer, got ${limit}`);
  const records = readImageRecords({ format: 'world', files: [worldDir], split }).slice(0, limit);
  if (records.length === 0) throw new Error(`${worldDir}: the ${split} split has no images`);
  return records;
}

/** Every object of the records as the mean of its box's patch tokens at hidden state `layer`. */
async function pooledObjects(model: LlavaModel, layer: number, processor: ImageProcessorConfig, worldDir: string, records: readonly ImageRecord[], progress: (done: number) => void): Promise<ProbedObject[]> {
  const grid = patchesPerSide(model.config.vision);
  const C = model.config.vision.hiddenSize;
  const S = grid * grid + 1;
  const out: ProbedObject[] = [];
  for (let start = 0; start < records.length; start += BATCH) {
    const batch = records.slice(start, start + BATCH);
    const pixels = stackPixelValues(await Promise.all(batch.map((r) => preprocessImage(join(worldDir, r.image), processor))));
    const input = tensor(pixels.data, pixels.shape);
    const hidden = model.vision.hiddenState(input, layer);
    const h = hidden.toArray() as Float32Array;
    hidden.dispose();
    input.dispose();
    batch.forEach((r, image) => {
      for (const inst of r.instances) {
        const patches = patchesInBox(inst.bbox, grid);
        const feature = new Float32Array(C);
        for (const t of patches) for (let c = 0; c < C; c++) feature[c] += h[(image * S + t) * C + c]! / patches.length;
        const [x0, y0, x1, y1] = inst.bbox;
        const labels = { shape: inst.category, color: inst.attributes?.color ?? '?', size: inst.attributes?.size ?? '?', column: third((x0 + x1) / 2, COLUMNS), row: third((y0 + y1) / 2, ROWS) };
        out.push({ feature, labels });
      }
    });
    progress(start + batch.length);
  }
  return out;
}

const COLUMNS = ['left', 'middle', 'right'] as const;
const ROWS = ['top', 'middle', 'bottom'] as const;

/** The name of the third of [0, 1] that `v` falls in. */
function third(v: number, names: readonly [string, string, string]): string {
  return names[Math.min(2, Math.max(0, Math.floor(v * 3)))]!;
}

/** A label's score with the class index predicted for each test object. */
interface ScoredLabel {
  readonly score: ProbeScore;
  readonly predicted: readonly number[];
}

function scoreLabel(train: readonly ProbedObject[], test: readonly ProbedObject[], label: ProbeLabel, ridge: number): ScoredLabel {
  const classes = [...new Set(train.map((x) => x.labels[label]))].sort();
  const predicted = predictLabel(train, test, label, ridge, classes);
  const confusion = classes.map(() => classes.map(() => 0));
  let hits = 0;
  const seen = new Map<string, number>();
  test.forEach((x, i) => {
    const truth = classes.indexOf(x.labels[label]);
    seen.set(x.labels[label], (seen.get(x.labels[label]) ?? 0) + 1);
    if (truth < 0) return; // a class the train objects never had: counted wrong
    confusion[truth]![predicted[i]!]!++;
    if (predicted[i] === truth) hits++;
  });
  return { score: { accuracy: hits / test.length, majority: Math.max(...seen.values()) / test.length, classes, confusion }, predicted };
}

/** Class indices predicted for `test` by a ridge classifier fitted on `train`. */
function predictLabel(train: readonly ProbedObject[], test: readonly ProbedObject[], label: ProbeLabel, ridge: number, classes: readonly string[]): number[] {
  const w = fitRidgeClassifier(train.map((x) => x.feature), train.map((x) => classes.indexOf(x.labels[label])), classes.length, ridge);
  return test.map((x) => argmaxScore(w, x.feature, classes.length));
}

/**
 * Ridge least squares onto one-hot targets: W (D+1, K) minimising |[X 1] W - Y|^2 + ridge * n * |W|^2,
 * solved by Cholesky on the normal equations (D is the tower width, small).
 */
export function fitRidgeClassifier(features: readonly Float32Array[], targets: readonly number[], classes: number, ridge: number): Float64Array {
  const D = features[0]!.length + 1;
  const A = new Float64Array(D * D);
  const B = new Float64Array(D * classes);
  const x = new Float64Array(D);
  features.forEach((f, n) => {
    x.set(f);
    x[D - 1] = 1;
    for (let i = 0; i < D; i++) {
      const xi = x[i]!;
      for (let j = 0; j <= i; j++) A[i * D + j] += xi * x[j]!;
      B[i * classes + targets[n]!] += xi;
    }
  });
  for (let i = 0; i < D; i++) {
    for (let j = 0; j < i; j++) A[j * D + i] = A[i * D + j]!;
    A[i * D + i] += ridge * features.length;
  }
  return choleskySolve(A, B, D, classes);
}

/** Solves A X = B for symmetric positive definite A (D, D) and B (D, K), in place of copies. */
function choleskySolve(A: Float64Array, B: Float64Array, D: number, K: number): Float64Array {
  const L = new Float64Array(D * D);
  for (let i = 0; i < D; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * D + j]!;
      for (let k = 0; k < j; k++) s -= L[i * D + k]! * L[j * D + k]!;
      if (i === j) {
        if (!(s > 0)) throw new Error('probe: the ridge system is not positive definite (raise the ridge strength)');
        L[i * D + i] = Math.sqrt(s);
      } else L[i * D + j] = s / L[j * D + j]!;
    }
  }
  const X = Float64Array.from(B);
  for (let c = 0; c < K; c++) {
    for (let i = 0; i < D; i++) {
      let s = X[i * K + c]!;
      for (let k = 0; k < i; k++) s -= L[i * D + k]! * X[k * K + c]!;
      X[i * K + c] = s / L[i * D + i]!;
    }
    for (let i = D - 1; i >= 0; i--) {
      let s = X[i * K + c]!;
      for (let k = i + 1; k < D; k++) s -= L[k * D + i]! * X[k * K + c]!;
      X[i * K + c] = s / L[i * D + i]!;
    }
  }
  return X;
}

/** The class whose score [f 1] W[:, k] is highest. */
export function argmaxScore(w: Float64Array, feature: Float32Array, classes: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let k = 0; k < classes; k++) {
    let s = w[feature.length * classes + k]!;
    for (let d = 0; d < feature.length; d++) s += w[d * classes + k]! * feature[d]!;
    if (s > bestScore) {
      bestScore = s;
      best = k;
    }
  }
  return best;
}

/** The report as a table for the terminal. */
export function formatTowerProbe(r: TowerProbeReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [`linear probe of ${r.modelDir}, hidden state ${r.layer}: ${r.trainObjects} train objects, ${r.testObjects} test objects`, 'label   classes  accuracy  majority'];
  for (const l of PROBE_LABELS) {
    const s = r.labels[l];
    lines.push(`${l.padEnd(7)} ${String(s.classes.length).padStart(7)}  ${pct(s.accuracy).padStart(8)}  ${pct(s.majority).padStart(8)}`);
  }
  lines.push(`shape by size: ${Object.entries(r.shapeBySize).map(([size, a]) => `${size} ${pct(a)}`).join(', ')}`);
  const shape = r.labels.shape;
  lines.push(`shape confusion (rows truth, columns predicted): ${shape.classes.join(' ')}`);
  shape.confusion.forEach((row, i) => lines.push(`  ${shape.classes[i]!.padEnd(9)} ${row.map((n) => String(n).padStart(5)).join('')}`));
  return lines.join('\n');
}
