// The LLaVA trainer: one loop for both stages over the same model, tokenizer and kernels as
// inference. Batches -> forward with labels -> backward -> clip -> AdamW, with checkpoints that resume exactly.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { mul } from '../tensor/ops/elementwise.js';
import { tidy } from '../tensor/scope.js';
import { backward } from '../autograd/backward.js';
import { noGrad } from '../autograd/tape.js';
import { AdamW } from '../nn/optim/adamw.js';
import type { ParamGroup } from '../nn/optim/optimizer.js';
import type { Parameter } from '../nn/parameter.js';
import { clipGradNorm } from '../nn/clip.js';
import { cosineWithWarmup } from '../nn/schedule.js';
import type { Backend } from '../backend/types.js';
import { defaultBackend, setDefaultBackend } from '../backend/index.js';
import { stackPixelValues, type ImageAspect } from '../data/preprocess.js';
import { ImageLoader } from './imageLoader.js';
import { templateByName, type TemplateName } from '../data/templates.js';
import { LlavaPipeline } from '../infer/pipeline.js';
import type { LlavaModel, LossAveraging } from '../model/llava.js';
import { buildDataset, readLlavaJson, type TrainDataset, type TrainSample } from './dataset.js';
import { epochBatches } from './batches.js';
import { trainsWeight, type Stage } from './stages.js';
import { checkpointDir, listCheckpoints, restoreCheckpoint, writeCheckpoint, writeModelFiles, type TrainerState } from './checkpoints.js';
import { MetricsLog, readMetrics, writeLossCurve, type StepMetrics } from './metrics.js';
import { loadProjectorWeights } from './projectorInit.js';
import { attachLora, byLastName, mergeLora, type LoraConfig, type LoraRuntime } from '../nn/lora.js';
import type { AdapterInfo } from '../model/peftAdapter.js';

/** Everything a run is configured by (the CLI flags, typed). */
export interface TrainOptions {
  readonly stage: Stage;
  readonly modelDir: string;
  readonly dataPath: string;
  readonly imageFolder: string;
  readonly outDir: string;
  /** Conversation template (default: the stage's). */
  readonly template?: TemplateName;
  readonly batchSize: number;
  readonly gradAccum: number;
  /** Default: the stage's. */
  readonly lr?: number;
  /** Learning rate of the projector (default: lr). */
  readonly projectorLr?: number;
  readonly epochs: number;
  readonly maxSteps?: number;
  readonly warmupRatio: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number;
  readonly maxLength: number;
  readonly seed: number;
  readonly saveSteps?: number;
  readonly keep?: number;
  readonly evalData?: string;
  readonly evalSteps?: number;
  readonly groupByLength: boolean;
  /** How the loss averages over a batch's answers (default 'token', LLaVA's). */
  readonly lossAveraging?: LossAveraging;
  readonly trainVision: boolean;
  readonly skipBad: boolean;
  /** Initial projector weights: a stage-1 output directory or its mm_projector.safetensors. */
  readonly projector?: string;
  readonly resume: boolean;
  readonly imageAspect: ImageAspect;
  /** Train LoRA adapters on the LLM instead of its weights (stage 2); the projector trains whole. */
  readonly lora?: LoraConfig;
  /** With LoRA: write merged full weights instead of an adapter directory. */
  readonly merge?: boolean;
  /** Recompute each decoder layer in backward instead of keeping its activations (same gradients, less memory). */
  readonly gradCheckpoint?: boolean;
  /** Worker threads decoding images ahead of the step (default 1; 0 decodes on the main thread). */
  readonly dataWorkers?: number;
  readonly backend?: Backend;
  /** Called after every optimiser step. */
  readonly onStep?: (m: StepMetrics, totalSteps: number) => void;
  /** Called after each checkpoint is written, with the model as it is in memory. */
  readonly onCheckpoint?: (dir: string, model: LlavaModel) => void;
  /** Messages for the person running it (plan, saves, counts). */
  readonly log?: (line: string) => void;
}

/** Defaults of the numeric options (the paper's, per stage where they differ). */
export const TRAIN_DEFAULTS = {
  batchSize: 8,
  gradAccum: 1,
  epochs: 1,
  warmupRatio: 0.03,
  weightDecay: 0,
  maxGradNorm: 1,
  maxLength: 2048,
  seed: 0,
} as const;

/** Thrown when a run cannot go on; the message says what to do. */
export class TrainError extends Error {
  override readonly name = 'TrainError';
}

/** What a finished run reports. */
export interface TrainResult {
  readonly steps: number;
  readonly losses: readonly number[];
  readonly finalLoss: number;
  readonly dataset: TrainDataset;
  readonly outDir: string;
}

/** The loaded pieces of a run. */
interface Run {
  readonly pipeline: LlavaPipeline;
  readonly dataset: TrainDataset;
  readonly evalSet: TrainDataset | undefined;
  readonly trainable: [string, Parameter][];
  readonly optimizer: AdamW;
  readonly totalSteps: number;
  readonly batchesPerEpoch: number;
  readonly fingerprint: string;
  /** Adapters' dropout state, when training LoRA. */
  readonly lora: LoraRuntime | undefined;
  /** Learning rate after defaults. */
  readonly lr: number;
}

/** One worker decodes ahead: on 2 cores the step's kernels use both, and a 64 px image takes well under a millisecond. */
export const DEFAULT_DATA_WORKERS = 1;

/** LLaVA's LoRA learning rates: 2e-4 for the adapters, 2e-5 for the projector. */
const LORA_LR = 2e-4;
const LORA_PROJECTOR_LR = 2e-5;

function learningRates(o: TrainOptions): { lr: number; projectorLr: number | undefined } {
  if (!o.lora) return { lr: o.lr ?? o.stage.lr, projectorLr: o.projectorLr };
  return { lr: o.lr ?? LORA_LR, projectorLr: o.projectorLr ?? LORA_PROJECTOR_LR };
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** The options that must stay the same for a resume to continue the same run. */
function fingerprintOf(o: TrainOptions): string {
  return JSON.stringify({
    stage: o.stage.stage,
    model: resolve(o.modelDir),
    data: resolve(o.dataPath),
    template: o.template ?? o.stage.template,
    batchSize: o.batchSize,
    gradAccum: o.gradAccum,
    ...learningRates(o),
    lora: o.lora,
    merge: o.merge === true,
    epochs: o.epochs,
    maxSteps: o.maxSteps,
    warmupRatio: o.warmupRatio,
    weightDecay: o.weightDecay,
    maxGradNorm: o.maxGradNorm,
    maxLength: o.maxLength,
    seed: o.seed,
    groupByLength: o.groupByLength,
    ...(o.lossAveraging === 'turn' ? { lossAveraging: o.lossAveraging } : {}),
    trainVision: o.trainVision,
  });
}

function loadSamples(path: string, pipeline: LlavaPipeline, o: TrainOptions): TrainDataset {
  return buildDataset(readLlavaJson(path), {
    template: templateByName(o.template ?? o.stage.template),
    tokenizer: pipeline.tokenizer,
    convention: pipeline.imageConvention,
    imageFolder: o.imageFolder,
    maxLength: o.maxLength,
    skipBad: o.skipBad,
    source: path,
  });
}

function checkModelForStage(pipeline: LlavaPipeline, o: TrainOptions): void {
  const side = pipeline.loaded.config.vision.imageSize;
  const crop = pipeline.processor.cropSize;
  if (pipeline.processor.doCenterCrop && (crop.height !== side || crop.width !== side)) {
    throw new TrainError(`${o.modelDir}: preprocessor_config.json crops to ${crop.width}x${crop.height} but the vision tower takes ${side}x${side} images (a missing file means CLIP's 336)`);
  }
  if (pipeline.tokenizer.imageTokenId === undefined) {
    throw new TrainError(`${o.modelDir}: the tokenizer has no <image> token; build the model with \`llava build\` first`);
  }
  if (o.stage.stage === 2 && o.stage.template !== 'plain' && pipeline.tokenizer.bosId === undefined) {
    throw new TrainError(`${o.modelDir}: stage 2 label masking needs a tokenizer with a BOS token`);
  }
}

function optimizerGroups(trainable: readonly [string, Parameter][], lr: number, projectorLr: number | undefined): ParamGroup[] {
  const projector = trainable.filter(([n]) => n.startsWith('projector.')).map(([, p]) => p);
  const rest = trainable.filter(([n]) => !n.startsWith('projector.')).map(([, p]) => p);
  const groups: ParamGroup[] = [];
  if (projectorLr !== undefined && projectorLr > 0 && !(lr > 0)) throw new TrainError(`--projector-lr ${projectorLr} needs a positive --lr (the schedule scales both), got ${lr}`);
  if (projector.length) groups.push({ params: projector, lrScale: lr > 0 ? (projectorLr ?? lr) / lr : 1 });
  if (rest.length) groups.push({ params: rest });
  return groups;
}

/** Loads model and data, works out the plan; nothing is computed yet. */
export function prepareRun(o: TrainOptions): Run {
  if (o.lora && o.stage.stage !== 2) throw new TrainError('LoRA adapts the language model: it belongs to stage 2 (stage 1 trains the projector only)');
  if (o.merge && !o.lora) throw new TrainError('--merge merges LoRA adapters: give --lora-r too');
  // With LoRA the LLM stays frozen (mapped); its adapters and the projector train.
  const trains = trainsWeight(o.lora ? { ...o.stage, trains: ['projector.'] } : o.stage, o.trainVision);
  const pipeline = LlavaPipeline.load(o.modelDir, { backend: o.backend, imageAspect: o.imageAspect, trainable: trains });
  try {
    checkModelForStage(pipeline, o);
    const model = pipeline.model;
    for (const [name, p] of model.namedParameters()) p.setTrainable(trains(name));
    if (o.projector) loadProjectorWeights(model, o.projector);
    model.text.gradientCheckpointing = o.gradCheckpoint === true;
    const lora = o.lora ? attachLora(model, o.lora, byLastName(o.lora.targets, 'text.layers.'), o.seed).runtime : undefined;
    const dataset = loadSamples(o.dataPath, pipeline, o);
    if (dataset.samples.length === 0) {
      throw new TrainError(`${o.dataPath}: no sample left to train on (${dataset.records} records, ${dataset.bad.length} bad, ${dataset.allMasked} with nothing to learn)`);
    }
    const evalSet = o.evalData ? loadSamples(o.evalData, pipeline, o) : undefined;
    const trainable = model.namedParameters().filter(([, p]) => p.trainable);
    const { lr, projectorLr } = learningRates(o);
    const batchesPerEpoch = Math.ceil(dataset.samples.length / o.batchSize);
    const stepsPerEpoch = Math.max(1, Math.floor(batchesPerEpoch / o.gradAccum));
    const totalSteps = o.maxSteps ?? Math.max(1, Math.round(stepsPerEpoch * o.epochs));
    const optimizer = new AdamW(optimizerGroups(trainable, lr, projectorLr), { lr, weightDecay: o.weightDecay });
    return { pipeline, dataset, evalSet, trainable, optimizer, totalSteps, batchesPerEpoch, fingerprint: fingerprintOf(o), lora, lr };
  } catch (e) {
    pipeline.dispose();
    throw e;
  }
}

/** Loads and stacks the pixel values of the samples that have images. */
async function loadPixels(samples: readonly TrainSample[], loader: ImageLoader): Promise<{ shape: readonly number[]; data: Float32Array } | undefined> {
  const paths = samples.map((s) => s.image).filter((p): p is string => p !== undefined);
  if (paths.length === 0) return undefined;
  const pixels = await Promise.all(
    paths.map((p) =>
      loader.load(p).catch((e: Error) => {
        throw new TrainError(`image ${p}: ${e.message}`);
      }),
    ),
  );
  return stackPixelValues(pixels);
}

/** One micro-batch: samples, their pixels (prefetched), and its position in the data order. */
interface MicroBatch {
  readonly samples: readonly TrainSample[];
  readonly pixels: Promise<{ shape: readonly number[]; data: Float32Array } | undefined>;
}

/** Walks the data order across epochs, prefetching the images of the next micro-batch. */
class BatchStream {
  private order: number[][];
  private ahead: MicroBatch | undefined;

  constructor(
    private readonly run: Run,
    private readonly o: TrainOptions,
    private readonly images: ImageLoader,
    public epoch: number,
    public batchInEpoch: number,
  ) {
    this.order = this.orderOf(epoch);
  }

  private orderOf(epoch: number): number[][] {
    const items = this.run.dataset.samples.map((s) => ({ length: s.inputIds.length, hasImage: s.image !== undefined }));
    return epochBatches(items, this.o.batchSize, this.o.seed, epoch, this.o.groupByLength);
  }

  private take(): MicroBatch {
    if (this.batchInEpoch >= this.order.length) {
      this.epoch++;
      this.batchInEpoch = 0;
      this.order = this.orderOf(this.epoch);
    }
    const samples = this.order[this.batchInEpoch++]!.map((i) => this.run.dataset.samples[i]!);
    const pixels = loadPixels(samples, this.images);
    pixels.catch(() => undefined); // awaited later; avoid an unhandled rejection meanwhile
    return { samples, pixels };
  }

  /** The next micro-batch; the one after it starts loading now. */
  next(): MicroBatch {
    const current = this.ahead ?? this.take();
    this.ahead = this.take();
    return current;
  }

  /** Position of the next micro-batch to train on (for checkpoints). */
  position(): { epoch: number; batchInEpoch: number } {
    // One batch is always prefetched past what was trained.
    const ahead = this.ahead ? 1 : 0;
    let batch = this.batchInEpoch - ahead;
    let epoch = this.epoch;
    if (batch < 0) {
      epoch--;
      batch += this.orderOf(epoch).length;
    }
    return { epoch, batchInEpoch: batch };
  }
}

/** Mean loss of a micro-batch (labels masked to the answers), on the autograd tape. */
function batchLoss(pipeline: LlavaPipeline, samples: readonly TrainSample[], pixels: Tensor | undefined, lossAveraging: LossAveraging = 'token'): Tensor {
  return tidy(() => {
    const out = pipeline.model.forward({ inputIds: samples.map((s) => s.inputIds), labels: samples.map((s) => s.labels), pixelValues: pixels, paddingSide: 'right', lossAveraging });
    return out.loss!;
  });
}

function pixelTensor(p: { shape: readonly number[]; data: Float32Array } | undefined, backend: Backend): Tensor | undefined {
  return p ? tensor(p.data, p.shape, { backend }) : undefined;
}

/** Held-out loss over a whole evaluation set, without gradients. */
async function evaluate(run: Run, set: TrainDataset, batchSize: number, images: ImageLoader): Promise<number> {
  if (run.lora) run.lora.training = false;
  try {
    return await heldOutLoss(run, set, batchSize, images);
  } finally {
    if (run.lora) run.lora.training = true;
  }
}

async function heldOutLoss(run: Run, set: TrainDataset, batchSize: number, images: ImageLoader): Promise<number> {
  let total = 0;
  let n = 0;
  const backend = run.pipeline.model.text.embedTokens.value.backend;
  for (let i = 0; i < set.samples.length; i += batchSize) {
    const samples = set.samples.slice(i, i + batchSize);
    const pixels = pixelTensor(await loadPixels(samples, images), backend);
    const loss = noGrad(() => batchLoss(run.pipeline, samples, pixels));
    total += loss.item() * samples.length;
    n += samples.length;
    loss.dispose();
    pixels?.dispose();
  }
  return total / n;
}

/** Removes what a killed run left half-written: temp checkpoint and final-model folders. */
function removeStaleTemps(outDir: string): void {
  if (!existsSync(outDir)) return;
  for (const n of readdirSync(outDir)) if (/^checkpoint-\d+\.tmp-\d+$/.test(n) || /^\.final-\d+$/.test(n)) rmSync(join(outDir, n), { recursive: true, force: true });
}

/** Refuses to write a fresh run over another one (resume it instead). */
function checkOutDir(o: TrainOptions): void {
  if (!existsSync(o.outDir)) return;
  if (!statSync(o.outDir).isDirectory()) throw new TrainError(`--out ${o.outDir} is a file, not a directory`);
  const held = readdirSync(o.outDir).filter((n) => n === 'metrics.jsonl' || n.startsWith('checkpoint-') || n === 'config.json');
  if (held.length > 0 && !o.resume) throw new TrainError(`--out ${o.outDir} already holds a run (${held.slice(0, 3).join(', ')}); pass --resume to continue it or choose another directory`);
}

function saveDtype(run: Run): 'f32' | 'bf16' | 'f16' {
  const d = run.pipeline.loaded.storedDtypes;
  if ((d.bf16 ?? 0) > 0) return 'bf16';
  if ((d.f16 ?? 0) > 0) return 'f16';
  return 'f32';
}

/** How a LoRA run's adapter directory describes itself (undefined without LoRA). */
function adapterInfo(run: Run, o: TrainOptions): AdapterInfo | undefined {
  return o.lora ? { config: o.lora, baseModel: resolve(o.modelDir), layout: run.pipeline.loaded.layout } : undefined;
}

/** Moves the final model's files into the run folder itself (each rename is atomic). */
async function writeFinalModel(run: Run, o: TrainOptions): Promise<void> {
  const tmp = join(o.outDir, `.final-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  if (o.merge) mergeLora(run.pipeline.model);
  await writeModelFiles(tmp, { model: run.pipeline.model, assetsFrom: o.modelDir, dtype: saveDtype(run), projectorFile: o.stage.stage === 1, adapter: o.merge ? undefined : adapterInfo(run, o) });
  for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(o.outDir, f));
  rmSync(tmp, { recursive: true, force: true });
}

/** Runs (or resumes) a training run to the end; the final model is written to outDir. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  if (!o.backend) return runTraining(o);
  // Tensors made without an explicit backend (inside the model code) must land on the run's.
  const previous = defaultBackend().name;
  setDefaultBackend(o.backend.name);
  try {
    return await runTraining(o);
  } finally {
    setDefaultBackend(previous);
  }
}

async function runTraining(o: TrainOptions): Promise<TrainResult> {
  checkOutDir(o);
  const run = prepareRun(o);
  const log = o.log ?? (() => undefined);
  const { pipeline, optimizer, totalSteps } = run;
  const params = run.trainable.map(([, p]) => p);
  const schedule = cosineWithWarmup({ baseLr: run.lr, totalSteps, warmupSteps: Math.ceil(o.warmupRatio * totalSteps) });
  const backend = pipeline.model.text.embedTokens.value.backend;
  mkdirSync(o.outDir, { recursive: true });
  let start: TrainerState = { step: 0, totalSteps, epoch: 0, batchInEpoch: 0, seed: o.seed, fingerprint: run.fingerprint, lastLoss: NaN, tokensSeen: 0 };
  if (o.resume) removeStaleTemps(o.outDir);
  const saved = o.resume ? listCheckpoints(o.outDir).at(-1) : undefined;
  if (saved !== undefined) {
    start = restoreCheckpoint(checkpointDir(o.outDir, saved), run.trainable, optimizer);
    if (start.fingerprint !== run.fingerprint) {
      pipeline.dispose();
      throw new TrainError(`--resume: ${checkpointDir(o.outDir, saved)} was written with other options (${start.fingerprint}); resume with the same ones`);
    }
    log(`resuming from step ${start.step} (${checkpointDir(o.outDir, saved)})`);
  }
  const metricsPath = join(o.outDir, 'metrics.jsonl');
  const metrics = new MetricsLog(metricsPath, start.step);
  const images = new ImageLoader(pipeline.processor, o.dataWorkers ?? DEFAULT_DATA_WORKERS);
  const stream = new BatchStream(run, o, images, start.epoch, start.batchInEpoch);
  const losses: number[] = [];
  let tokensSeen = start.tokensSeen;
  let lastLoss = start.lastLoss;
  const save = async (step: number) => {
    const position = stream.position();
    const state: TrainerState = { step, totalSteps, epoch: position.epoch, batchInEpoch: position.batchInEpoch, seed: o.seed, fingerprint: run.fingerprint, lastLoss, tokensSeen };
    const dir = await writeCheckpoint(o.outDir, { model: pipeline.model, trainable: run.trainable, optimizer, state, assetsFrom: o.modelDir, dtype: saveDtype(run), projectorFile: o.stage.stage === 1, adapter: adapterInfo(run, o) }, o.keep);
    writeLossCurve(join(o.outDir, 'loss.svg'), readMetrics(metricsPath), `llava train stage ${o.stage.stage}`);
    log(`saved ${dir}`);
    o.onCheckpoint?.(dir, pipeline.model);
  };
  try {
    for (let step = start.step; step < totalSteps; step++) {
      const t0 = now();
      let dataSeconds = 0;
      let loss = 0;
      let tokens = 0;
      for (let micro = 0; micro < o.gradAccum; micro++) {
        // LoRA dropout draws from (seed, step, micro) alone, so a resumed run draws the same masks.
        if (run.lora) run.lora.seed = o.seed * 1_000_003 + step * 64 + micro + 7;
        const batch = stream.next();
        const d0 = now();
        const pixels = pixelTensor(await batch.pixels, backend);
        dataSeconds += now() - d0;
        const scaled = tidy(() => mul(batchLoss(pipeline, batch.samples, pixels, o.lossAveraging), 1 / o.gradAccum));
        backward(scaled);
        loss += scaled.item();
        scaled.dispose();
        pixels?.dispose();
        tokens += batch.samples.reduce((n, s) => n + pipeline.promptPositions(s.inputIds), 0);
      }
      if (!Number.isFinite(loss)) {
        optimizer.zeroGrad();
        const last = listCheckpoints(o.outDir).at(-1);
        throw new TrainError(`loss is ${loss} at step ${step + 1}; stopped without updating the weights (last good checkpoint: ${last === undefined ? 'none' : checkpointDir(o.outDir, last)})`);
      }
      const gradNorm = clipGradNorm(params, o.maxGradNorm);
      optimizer.lr = schedule(step);
      optimizer.step();
      optimizer.zeroGrad();
      lastLoss = loss;
      tokensSeen += tokens;
      losses.push(loss);
      const doneSteps = step + 1;
      let evalLoss: number | undefined;
      if (run.evalSet && o.evalSteps && (doneSteps % o.evalSteps === 0 || doneSteps === totalSteps)) evalLoss = await evaluate(run, run.evalSet, o.batchSize, images);
      const position = stream.position();
      const m: StepMetrics = {
        step: doneSteps,
        epoch: position.epoch + position.batchInEpoch / run.batchesPerEpoch,
        loss,
        lr: optimizer.lr,
        grad_norm: gradNorm,
        tokens,
        seconds: now() - t0,
        data_seconds: dataSeconds,
        ...(evalLoss === undefined ? {} : { eval_loss: evalLoss }),
      };
      metrics.append(m);
      o.onStep?.(m, totalSteps);
      if (o.saveSteps && doneSteps % o.saveSteps === 0 && doneSteps !== totalSteps) await save(doneSteps);
    }
    if (start.step < totalSteps || listCheckpoints(o.outDir).at(-1) !== totalSteps) await save(totalSteps);
    await writeFinalModel(run, o);
    return { steps: totalSteps, losses, finalLoss: lastLoss, dataset: run.dataset, outDir: o.outDir };
  } finally {
    await images.close();
    metrics.close();
    optimizer.dispose();
    pipeline.dispose();
  }
}
