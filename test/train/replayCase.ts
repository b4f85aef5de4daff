// A training-replay case (test/fixtures/train-replay/CASE): its options as the trainer takes them, and the
// micro-batches it trains on in order. tools/make_train_goldens.ts dumps these for tools/train_replay.py (PyTorch);
// replay.test.ts trains the same run and compares with torch's numbers.
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { prepareRun, TRAIN_DEFAULTS, type TrainOptions } from '../../src/train/trainer.js';
import { STAGES } from '../../src/train/stages.js';
import { epochBatches } from '../../src/train/batches.js';
import type { TrainSample } from '../../src/train/dataset.js';
import type { TemplateName } from '../../src/data/templates.js';
import type { ImageProcessorConfig } from '../../src/data/preprocess.js';

export const REPLAY_DIR = resolve(import.meta.dirname, '../fixtures/train-replay');
export const REPLAY_CASES = ['stage1', 'stage2-accum', 'stage2-vision'] as const;

interface CaseFile {
  readonly model: string;
  readonly imageFolder: string;
  readonly data: string;
  readonly stage: 1 | 2;
  readonly batchSize: number;
  readonly gradAccum: number;
  readonly steps: number;
  readonly lr: number;
  readonly warmupRatio: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number;
  readonly trainVision: boolean;
  readonly template?: TemplateName;
  readonly maxLength?: number;
}

/** The trainer's options for a case (a name under REPLAY_DIR, or a directory holding case.json), writing to outDir. */
export function replayOptions(name: string, outDir: string): TrainOptions {
  const dir = resolve(REPLAY_DIR, name);
  const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as CaseFile;
  return {
    ...TRAIN_DEFAULTS,
    stage: STAGES[c.stage],
    modelDir: resolve(dir, c.model),
    dataPath: resolve(dir, c.data),
    imageFolder: resolve(dir, c.imageFolder),
    outDir,
    batchSize: c.batchSize,
    gradAccum: c.gradAccum,
    maxSteps: c.steps,
    lr: c.lr,
    warmupRatio: c.warmupRatio,
    weightDecay: c.weightDecay,
    maxGradNorm: c.maxGradNorm,
    trainVision: c.trainVision,
    ...(c.template ? { template: c.template } : {}),
    ...(c.maxLength ? { maxLength: c.maxLength } : {}),
    groupByLength: false,
    skipBad: false,
    resume: false,
    imageAspect: 'auto',
    dataWorkers: 0,
  };
}

/** What the run trains on: its samples and the micro-batches (sample indices) in training order. */
export interface ReplayBatches {
  readonly imageTokenId: number;
  readonly samples: readonly { ids: readonly number[]; labels: readonly number[]; image: string | null }[];
  readonly micro: readonly (readonly number[])[];
  /** The model's image preprocessing (the dump's pixel values come from it). */
  readonly processor: ImageProcessorConfig;
}

/** Builds the case's dataset and order as the trainer does (the trainer's own order: epochBatches by seed). */
export function replayBatches(o: TrainOptions): ReplayBatches {
  const run = prepareRun(o);
  try {
    const samples: readonly TrainSample[] = run.dataset.samples;
    const items = samples.map((s) => ({ length: s.inputIds.length, hasImage: s.image !== undefined }));
    const micro: number[][] = [];
    for (let epoch = 0; micro.length < run.totalSteps * o.gradAccum; epoch++) micro.push(...epochBatches(items, o.batchSize, o.seed, epoch, o.groupByLength));
    return {
      imageTokenId: run.pipeline.tokenizer.imageTokenId!,
      samples: samples.map((s) => ({ ids: s.inputIds, labels: s.labels, image: s.image === undefined ? null : relative(o.imageFolder, s.image) })),
      micro: micro.slice(0, run.totalSteps * o.gradAccum),
      processor: run.pipeline.processor,
    };
  } finally {
    run.pipeline.dispose();
  }
}
