// Stage 0a: CLIP-style contrastive pretraining of a small vision tower from scratch, against a
// text tower trained with it, on image-caption pairs; the vision half is saved as a HF CLIPVisionModel.
// Images are decoded once up front into one array; each step copies its batch's rows out of it.
import { setImmediate } from 'node:timers/promises';
import type { Backend } from '../backend/types.js';
import { withBackend } from '../backend/index.js';
import { Rng } from '../tensor/random.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { argmax } from '../tensor/ops/reduce.js';
import { backward } from '../autograd/backward.js';
import { AdamW } from '../nn/optim/adamw.js';
import type { ParamGroup } from '../nn/optim/optimizer.js';
import { clipGradNorm } from '../nn/clip.js';
import { cosineWithWarmup } from '../nn/schedule.js';
import { parseImageProcessorConfig, preprocessImage, type ImageProcessorConfig } from '../data/preprocess.js';
import type { LlavaTokenizer } from '../data/tokenizer.js';
import type { VisionConfig } from '../model/config.js';
import { clipPreprocessorJson } from '../model/compose.js';
import { ClipModel, clipInitWeights, type ClipModelConfig, type ClipOutput, type RegionBatch } from '../model/clipModel.js';
import { add, mul } from '../tensor/ops/elementwise.js';
import { CLIP_TEXT_DEFAULTS, padRows, type ClipTextConfig, type TextBatch } from '../model/clipText.js';
import { saveClipVisionModel, type SaveDtype } from '../model/hfStandalone.js';
import { pick, shuffled } from '../world/sampling.js';

/** One training pair: an image file (PNG, absolute path) and a caption of it. */
export interface ImageCaption {
  readonly image: string;
  readonly caption: string;
}

/** A boxed object of an image and the phrase naming it; the box in 0..1 of the image the tower sees whole (square). */
export interface ImageRegion {
  readonly box: readonly [number, number, number, number];
  readonly phrase: string;
}

/** The region-phrase term: boxed objects pooled from the patch tokens, matched to their phrases. */
export interface RegionTermOptions {
  /** Regions of each image path (images without an entry have none). */
  readonly byImage: ReadonlyMap<string, readonly ImageRegion[]>;
  /** Weight of the region loss beside the image-caption loss. */
  readonly weight: number;
  /** Hidden state the regions are pooled from (1..numLayers): the one LLaVA's projector will read. */
  readonly layer: number;
}

/** What each step reports. */
export interface ContrastiveStepMetrics {
  /** 1-based step. */
  readonly step: number;
  /** Symmetric InfoNCE of the batch. */
  readonly loss: number;
  readonly lr: number;
  /** Wall time of the step. */
  readonly seconds: number;
  /** Share of the batch's images whose most similar caption is their own (chance: 1 / batch). */
  readonly accuracy: number;
  /** With a region term: its loss and the share of regions whose nearest phrase is their own. */
  readonly regionLoss?: number;
  readonly regionAccuracy?: number;
}

/** The text tower's shape; the vocabulary defaults to the tokenizer's, norm and activation to CLIP's. */
export type ClipTextOptions = Omit<ClipTextConfig, 'vocabSize' | 'layerNormEps' | 'hiddenAct'> & Partial<ClipTextConfig>;

/** Everything a stage-0a run is configured by. */
export interface ClipTrainOptions {
  readonly pairs: readonly ImageCaption[];
  /** Tokenizes the captions (no special tokens; its EOS closes each one). */
  readonly tokenizer: LlavaTokenizer;
  readonly vision: VisionConfig;
  readonly text: ClipTextOptions;
  /** Width of the shared embedding space. */
  readonly projectionDim: number;
  readonly steps: number;
  /** Pairs per step; every other pair of the batch is a negative. */
  readonly batchSize: number;
  /** Peak learning rate of the cosine schedule. */
  readonly lr: number;
  readonly warmupSteps: number;
  /** AdamW decay of the matrices (norms, biases, class embedding and logit scale are not decayed). */
  readonly weightDecay: number;
  /** Global gradient-norm clip (default 1). */
  readonly maxGradNorm?: number;
  /** Adds the region-phrase term (boxes pooled from patch tokens against phrases of the text tower). */
  readonly regions?: RegionTermOptions;
  /** Seeds the weights, the epoch order and the caption picked per image. */
  readonly seed: number;
  /** The CLIPVisionModel directory written at the end (replaced if present). */
  readonly outDir: string;
  /** Stored dtype of the saved tower (default f32). */
  readonly saveDtype?: SaveDtype;
  readonly backend?: Backend;
  readonly onStep?: (m: ContrastiveStepMetrics) => void;
  /** Messages for the person running it (plan, decode time, save). */
  readonly log?: (line: string) => void;
}

/** What a finished run reports. */
export interface ClipTrainResult {
  readonly losses: readonly number[];
  /** In-batch image->text accuracy of every step. */
  readonly accuracies: readonly number[];
  /** The last step's in-batch accuracy. */
  readonly finalAccuracy: number;
  /** Distinct images trained on. */
  readonly images: number;
  readonly outDir: string;
}

/** Images decoded at once (sharp decodes on libuv's threads). */
const DECODE_CONCURRENCY = 8;
/** CLIP's gradient clip when none is given. */
const DEFAULT_MAX_GRAD_NORM = 1;
/** CLIP's AdamW moments: beta2 0.98 and eps 1e-6 keep large-batch contrastive training stable. */
const ADAM_BETA2 = 0.98;
const ADAM_EPS = 1e-6;

/** The pairs grouped by image: distinct image paths and the captions of each. */
interface CaptionedImages {
  readonly paths: readonly string[];
  readonly captions: readonly (readonly string[])[];
}

function groupPairs(pairs: readonly ImageCaption[]): CaptionedImages {
  const byPath = new Map<string, string[]>();
  for (const { image, caption } of pairs) {
    let list = byPath.get(image);
    if (!list) byPath.set(image, (list = []));
    list.push(caption);
  }
  return { paths: [...byPath.keys()], captions: [...byPath.values()] };
}

/**
 * Captions as token rows: no special tokens, cut to leave room for the EOS that ends every row.
 * Tokenized when first drawn (a short run sees a fraction of 40,000 captions), then cached.
 */
class CaptionRows {
  private readonly cache = new Map<string, readonly number[]>();

  constructor(
    private readonly tokenizer: LlavaTokenizer,
    private readonly maxPositions: number,
    private readonly eosId: number,
  ) {}

  row(caption: string): readonly number[] {
    let ids = this.cache.get(caption);
    if (!ids) {
      ids = [...this.tokenizer.encode(caption, { addSpecialTokens: false }).slice(0, this.maxPositions - 1), this.eosId];
      if (!ids.every(Number.isInteger)) throw new Error(`stage 0a: the tokenizer gave no id for part of the caption ${JSON.stringify(caption)}`);
      this.cache.set(caption, ids);
    }
    return ids;
  }
}

/** Every image preprocessed as CLIP does, one (3, S, S) row after another. */
async function decodeAll(paths: readonly string[], processor: ImageProcessorConfig, side: number): Promise<Float32Array> {
  const plane = 3 * side * side;
  const out = new Float32Array(paths.length * plane);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < paths.length; i = next++) {
      const px = await preprocessImage(paths[i]!, processor);
      if (px.height !== side || px.width !== side) throw new Error(`${paths[i]}: preprocessed to ${px.width}x${px.height}, the tower takes ${side}x${side}`);
      out.set(px.data, i * plane);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, paths.length) }, worker));
  return out;
}

/** Batches of distinct images in a seeded order per epoch (the last partial batch is dropped), each with a caption picked at random. */
class PairSampler {
  private order: number[] = [];
  private at = 0;

  constructor(
    private readonly data: CaptionedImages,
    private readonly batchSize: number,
    private readonly rng: Rng,
  ) {}

  /** Image indices of the next batch and the caption drawn for each. */
  next(): { images: number[]; captions: string[] } {
    if (this.at + this.batchSize > this.order.length) {
      this.order = shuffled(this.rng, this.data.paths.map((_, i) => i));
      this.at = 0;
    }
    const images = this.order.slice(this.at, (this.at += this.batchSize));
    return { images, captions: images.map((i) => pick(this.rng, this.data.captions[i]!)) };
  }
}

/** Decay for matrices and embedding tables only (CLIP's split). */
function decayGroups(model: ClipModel, weightDecay: number): ParamGroup[] {
  const params = model.trainableParameters();
  return [{ params: params.filter((p) => p.value.ndim >= 2), weightDecay }, { params: params.filter((p) => p.value.ndim < 2), weightDecay: 0 }];
}

function checkOptions(o: ClipTrainOptions, text: ClipTextConfig, images: number): void {
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`stage 0a: steps must be a positive integer, got ${o.steps}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 2) throw new Error(`stage 0a: batch size must be at least 2 (the other pairs are the negatives), got ${o.batchSize}`);
  if (images < o.batchSize) throw new Error(`stage 0a: ${images} distinct images cannot fill a batch of ${o.batchSize}`);
  if (o.tokenizer.vocabSize > text.vocabSize) throw new Error(`stage 0a: the tokenizer has ${o.tokenizer.vocabSize} ids, the text tower embeds ${text.vocabSize}`);
  if (text.maxPositions < 2) throw new Error(`stage 0a: text maxPositions ${text.maxPositions} leaves no room for a caption and its EOS`);
  const r = o.regions;
  if (r && !(r.weight >= 0)) throw new Error(`stage 0a: the region weight must be a number >= 0, got ${r.weight}`);
  if (r && (!Number.isInteger(r.layer) || r.layer < 1 || r.layer > o.vision.numLayers)) throw new Error(`stage 0a: the region layer must be one of 1..${o.vision.numLayers}, got ${r.layer}`);
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** The model's config from the options: vocabulary from the tokenizer, CLIP's defaults. */
function modelConfig(o: Pick<ClipTrainOptions, 'tokenizer' | 'vision' | 'text' | 'projectionDim'>): ClipModelConfig {
  const text: ClipTextConfig = { vocabSize: o.tokenizer.vocabSize, ...CLIP_TEXT_DEFAULTS, ...o.text };
  return { vision: o.vision, text, projectionDim: o.projectionDim };
}

/** What one step's forward and backward measured. */
type StepLoss = Pick<ContrastiveStepMetrics, 'loss' | 'accuracy' | 'regionLoss' | 'regionAccuracy'>;

/** One optimiser step's forward and backward: the losses and the in-batch accuracies. */
function lossAndGrads(model: ClipModel, pixels: Tensor, text: TextBatch, term?: RegionTermOptions, regions?: RegionBatch): StepLoss {
  return tidy(() => {
    if (!term || !regions || regions.targets.length === 0) {
      const out = model.forward(pixels, text);
      backward(out.loss);
      return pairMetrics(out);
    }
    const out = model.forwardWithRegions(pixels, text, regions, term.layer);
    backward(add(out.loss, mul(out.regionLoss, term.weight)));
    const nearest = argmax(out.regionLogits, -1).toArray();
    const hits = regions.targets.filter((t, r) => nearest[r] === t).length;
    return { ...pairMetrics(out), regionLoss: out.regionLoss.item(), regionAccuracy: hits / regions.targets.length };
  });
}

/** The image-caption loss and the share of images whose nearest caption is their own. */
function pairMetrics(out: ClipOutput): StepLoss {
  const best = argmax(out.logitsPerImage, -1).toArray();
  return { loss: out.loss.item(), accuracy: diagonalHits(best) / best.length };
}

/** Token indices (CLS at 0) of the patches whose centres lie in the box, or the one holding its centre. */
export function patchesInBox(box: ImageRegion['box'], grid: number): number[] {
  const [x0, y0, x1, y1] = box;
  const out: number[] = [];
  for (let gy = 0; gy < grid; gy++) {
    const cy = (gy + 0.5) / grid;
    if (cy < y0 || cy > y1) continue;
    for (let gx = 0; gx < grid; gx++) {
      const cx = (gx + 0.5) / grid;
      if (cx >= x0 && cx <= x1) out.push(1 + gy * grid + gx);
    }
  }
  if (out.length > 0) return out;
  const clampCell = (v: number): number => Math.min(grid - 1, Math.max(0, Math.floor(v * grid)));
  return [1 + clampCell((y0 + y1) / 2) * grid + clampCell((x0 + x1) / 2)];
}

/** The batch's regions: their pooling rows over the (N, S) tokens and their phrases, deduplicated. */
function regionBatch(regions: readonly (readonly ImageRegion[])[], grid: number, rows: CaptionRows, padId: number): RegionBatch {
  const tokens = 1 + grid * grid;
  const all = regions.flatMap((list, image) => list.map((r) => ({ image, r })));
  const pooling = new Float32Array(all.length * regions.length * tokens);
  const phraseIndex = new Map<string, number>();
  const targets = all.map(({ image, r }, k) => {
    const patches = patchesInBox(r.box, grid);
    for (const t of patches) pooling[k * regions.length * tokens + image * tokens + t] = 1 / patches.length;
    let index = phraseIndex.get(r.phrase);
    if (index === undefined) phraseIndex.set(r.phrase, (index = phraseIndex.size));
    return index;
  });
  return { pooling, phrases: padRows([...phraseIndex.keys()].map((p) => rows.row(p)), padId), targets };
}

/** Trains a CLIP model from scratch on the pairs and saves its vision tower to outDir. */
export async function trainClip(o: ClipTrainOptions): Promise<ClipTrainResult> {
  const log = o.log ?? (() => undefined);
  const eosId = o.tokenizer.eosId;
  if (eosId === undefined) throw new Error('stage 0a: the tokenizer has no EOS token to end captions with');
  const config = modelConfig(o);
  const data = groupPairs(o.pairs);
  checkOptions(o, config.text, data.paths.length);
  const rows = new CaptionRows(o.tokenizer, config.text.maxPositions, eosId);
  const side = o.vision.imageSize;
  const grid = side / o.vision.patchSize;
  const t0 = now();
  const pixels = await decodeAll(data.paths, parseImageProcessorConfig(clipPreprocessorJson(side)), side);
  log(`stage 0a: ${data.paths.length} images (${o.pairs.length} captions) decoded in ${(now() - t0).toFixed(1)} s`);

  const rng = new Rng(o.seed);
  const initRng = rng.fork();
  const sampler = new PairSampler(data, o.batchSize, rng.fork());
  const model = withBackend(o.backend, () => new ClipModel(clipInitWeights(initRng, config), config));
  const backend = model.logitScale.value.backend;
  const params = model.trainableParameters();
  const optimizer = new AdamW(decayGroups(model, o.weightDecay), { lr: o.lr, beta2: ADAM_BETA2, eps: ADAM_EPS });
  const schedule = cosineWithWarmup({ baseLr: o.lr, totalSteps: o.steps, warmupSteps: o.warmupSteps });
  const padId = o.tokenizer.padId ?? eosId;
  const plane = 3 * side * side;
  const batchPixels = new Float32Array(o.batchSize * plane);
  log(`stage 0a: vision ${model.vision.numParameters()} and text ${model.text.numParameters()} parameters, ${o.steps} steps of ${o.batchSize} pairs`);

  const losses: number[] = [];
  const accuracies: number[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      await setImmediate(); // a step runs synchronously; between steps, signals (Ctrl-C) and I/O get their turn
      const start = now();
      const batch = sampler.next();
      batch.images.forEach((img, i) => batchPixels.set(pixels.subarray(img * plane, (img + 1) * plane), i * plane));
      const text = padRows(batch.captions.map((c) => rows.row(c)), padId);
      const term = o.regions;
      const regions = term && regionBatch(batch.images.map((i) => term.byImage.get(data.paths[i]!) ?? []), grid, rows, padId);
      const measured = tidy(() => lossAndGrads(model, tensor(batchPixels, [o.batchSize, 3, side, side], { backend }), text, term, regions));
      const { loss, accuracy } = measured;
      if (!Number.isFinite(loss)) throw new Error(`stage 0a: loss is ${loss} at step ${step + 1}`);
      clipGradNorm(params, o.maxGradNorm ?? DEFAULT_MAX_GRAD_NORM);
      optimizer.lr = schedule(step);
      optimizer.step();
      optimizer.zeroGrad();
      model.clampLogitScale();
      losses.push(loss);
      accuracies.push(accuracy);
      o.onStep?.({ step: step + 1, ...measured, lr: optimizer.lr, seconds: now() - start });
    }
    await saveClipVisionModel(model.vision, o.vision, o.outDir, o.saveDtype);
    log(`stage 0a: saved the vision tower to ${o.outDir}`);
    return { losses, accuracies, finalAccuracy: accuracies.at(-1)!, images: data.paths.length, outDir: o.outDir };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

/**
 * Saves the vision tower stage 0a would start from with these options (same seed, same init),
 * untrained: the "random frozen vision tower" of the demo's ablation.
 */
export async function saveUntrainedVisionTower(o: Pick<ClipTrainOptions, 'tokenizer' | 'vision' | 'text' | 'projectionDim' | 'seed' | 'outDir' | 'saveDtype' | 'backend'>): Promise<void> {
  const config = modelConfig(o);
  const initRng = new Rng(o.seed).fork();
  const model = withBackend(o.backend, () => new ClipModel(clipInitWeights(initRng, config), config));
  try {
    await saveClipVisionModel(model.vision, o.vision, o.outDir, o.saveDtype);
  } finally {
    model.dispose();
  }
}

/** Rows whose best column is their own index. */
function diagonalHits(best: ArrayLike<number>): number {
  let hits = 0;
  for (let i = 0; i < best.length; i++) if (best[i] === i) hits++;
  return hits;
}
