// `llava bench train`: one training step, timed, beside the time its own GEMMs (every shape
// the step ran through the backend's matmul, recorded) take in OpenBLAS sgemm called from C.
// step_ms / c_gemm_ms says what everything else (attention, norms, optimiser, glue) costs.
import { existsSync, mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadavg } from 'node:os';
import type { Backend, MatmulParams } from '../backend/types.js';
import { defaultBackend } from '../backend/index.js';
import { tensor } from '../tensor/tensor.js';
import { mean } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import { Rng } from '../tensor/random.js';
import { randn } from '../tensor/ops/random.js';
import { backward } from '../autograd/backward.js';
import { AdamW } from '../nn/optim/adamw.js';
import { ModuleList } from '../nn/module.js';
import { loadLlava } from '../model/checkpoint.js';
import { DEFAULT_TEXT_CONFIG, type TextConfig } from '../model/config.js';
import { namedConfig } from '../model/namedConfigs.js';
import { LlamaDecoderLayer } from '../model/llama.js';
import { randomWeights } from '../nn/layers.js';
import { IGNORE_INDEX } from '../data/constants.js';
import { runSgemmBaseline, type GemmShape } from './baseline.js';
import { MIN_FREE_DISK_BYTES, writeRandomCheckpoint } from './model.js';
import { writeRunnableWorldSmall } from './worldSmall.js';
import { generateWorld } from '../world/world.js';
import { loadWorld } from '../world/annotations.js';
import { STAGES } from '../train/stages.js';
import { TRAIN_DEFAULTS, train } from '../train/trainer.js';
import { readMetrics } from '../train/metrics.js';
import { median } from './median.js';

/** One line of the bench's JSON output. */
export type TrainBenchLine = Record<string, unknown>;

/** Runs `fn` with the backend's matmul recorded; returns the GEMM list (identical shapes merged). */
export function recordGemms(backend: Backend, fn: () => void): GemmShape[] {
  const original = backend.matmul;
  const counts = new Map<string, GemmShape>();
  backend.matmul = (p: MatmulParams) => {
    const key = `${p.m} ${p.n} ${p.k} ${p.transA} ${p.transB}`;
    const seen = counts.get(key);
    counts.set(key, { m: p.m, n: p.n, k: p.k, transA: p.transA, transB: p.transB, count: (seen?.count ?? 0) + p.batch });
    original.call(backend, p);
  };
  try {
    fn();
  } finally {
    backend.matmul = original;
  }
  return [...counts.values()];
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Times `step` (after warm-up), records one step's GEMMs and times those in C sgemm. */
async function measure(name: string, backend: Backend, step: () => void, repeats: number, extra: TrainBenchLine): Promise<TrainBenchLine> {
  step();
  const shapes = recordGemms(backend, step);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    step();
    times.push(ms(t0));
  }
  const stepMs = median(times);
  const flops = shapes.reduce((s, x) => s + 2 * x.m * x.n * x.k * x.count, 0);
  const baseline = await runSgemmBaseline({ shapes, repeats: Math.max(3, repeats) });
  const c = 'unavailable' in baseline ? undefined : baseline.shapes;
  const tokens = Number(extra.tokens ?? 0);
  return {
    case: name,
    step_ms: +stepMs.toFixed(2),
    tokens_per_s: tokens ? Math.round((tokens * 1000) / stepMs) : undefined,
    gemm_gflop: +(flops / 1e9).toFixed(3),
    gemm_calls: shapes.reduce((s, x) => s + x.count, 0),
    ...(c ? { c_gemm_ms: +c.ms.toFixed(2), ratio: +(stepMs / c.ms).toFixed(3), ratio_kind: 'step_time_over_c_gemms' } : { c_gemm_unavailable: (baseline as { unavailable: string }).unavailable }),
    gemm: backend.gemmInfo().engine,
    threads: backend.gemmInfo().threads,
    load1: +loadavg()[0]!.toFixed(2),
    ...extra,
  };
}

/** Stage 2 (projector + LLM train, vision frozen) on a random bf16 world-small checkpoint. */
async function llavaStage2(backend: Backend, repeats: number, batch: number, textTokens: number): Promise<TrainBenchLine> {
  const config = namedConfig('world-small');
  const dir = join(tmpdir(), `llava-bench-train-${process.pid}`);
  await writeRandomCheckpoint(config, dir);
  try {
    const trains = (n: string) => n.startsWith('projector.') || n.startsWith('text.');
    const { model } = loadLlava(dir, { backend, trainable: trains });
    for (const [n, p] of model.namedParameters()) p.setTrainable(trains(n));
    const rng = new Rng(1);
    const L = model.tokensPerImage;
    const ids: number[][] = [];
    const labels: number[][] = [];
    for (let b = 0; b < batch; b++) {
      const text = Array.from({ length: textTokens }, () => 3 + rng.int(config.text.vocabSize - 10));
      ids.push([1, ...new Array<number>(L).fill(config.imageTokenId), ...text]);
      labels.push([IGNORE_INDEX, ...new Array<number>(L).fill(IGNORE_INDEX), ...text]);
    }
    const side = config.vision.imageSize;
    const pixels = randn([batch, 3, side, side], rng, 1, 0, { backend });
    const params = model.trainableParameters();
    const optimizer = new AdamW(params, { lr: 1e-5 });
    const step = () => {
      const loss = tidy(() => model.forward({ inputIds: ids, labels, pixelValues: pixels }).loss!);
      backward(loss);
      loss.dispose();
      optimizer.step();
      optimizer.zeroGrad();
    };
    const line = await measure('world_small_stage2', backend, step, repeats, { batch, image_tokens: L, text_tokens: textTokens + 1, tokens: batch * (L + textTokens + 1), trained_params: params.reduce((s, p) => s + p.value.size, 0) });
    optimizer.dispose();
    pixels.dispose();
    model.dispose();
    return line;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A stack of LLaMA decoder layers at width 1024 (f32, all trainable), mean of the output as the loss. */
async function blockStack(backend: Backend, repeats: number): Promise<TrainBenchLine> {
  const config: TextConfig = { ...DEFAULT_TEXT_CONFIG, hiddenSize: 1024, intermediateSize: 2816, numHeads: 16, numKvHeads: 16, headDim: 64, numLayers: 4, vocabSize: 8, maxPositionEmbeddings: 1024 };
  const rng = new Rng(2);
  const source = randomWeights(rng);
  const layers = new ModuleList(Array.from({ length: config.numLayers }, (_, i) => new LlamaDecoderLayer(source, `layers.${i}`, config, i)));
  const B = 2;
  const T = 256;
  const x = randn([B, T, config.hiddenSize], rng, 1, 0, { backend });
  const positions = tensor(Array.from({ length: B * T }, (_, i) => i % T), [B, T], { dtype: 'i32', backend });
  const optimizer = new AdamW(layers.trainableParameters(), { lr: 1e-5 });
  const step = () => {
    const loss = tidy(() => {
      let h = x;
      for (const layer of layers.items) h = layer.forward(h, { positions });
      return mean(h);
    });
    backward(loss);
    loss.dispose();
    optimizer.step();
    optimizer.zeroGrad();
  };
  const line = await measure('llama_blocks_1024', backend, step, repeats, { layers: config.numLayers, width: 1024, mlp: 2816, heads: 16, batch: B, seq: T, tokens: B * T });
  optimizer.dispose();
  layers.dispose();
  x.dispose();
  positions.dispose();
  return line;
}

/**
 * The trainer itself on world-small stage 2 with real world images (64 px PNGs): the share of
 * step time spent waiting for images, which the worker-thread loader should keep under 5%.
 */
async function trainerDataWait(steps: number): Promise<TrainBenchLine> {
  const config = namedConfig('world-small');
  const root = join(tmpdir(), `llava-bench-data-${process.pid}`);
  try {
    const model = join(root, 'model');
    await writeRunnableWorldSmall(model);
    const world = join(root, 'world');
    await generateWorld({ n: 8 * (steps + 2), size: config.vision.imageSize, seed: 0, out: world, workers: 0 });
    const records = [...loadWorld(world).images.values()].map((img) => ({ id: String(img.id), image: img.fileName, conversations: [{ from: 'human', value: '<image>\nDescribe the picture.' }, { from: 'gpt', value: img.captions[0]! }] }));
    const data = join(root, 'data.json');
    writeFileSync(data, JSON.stringify(records));
    const result = await train({
      ...TRAIN_DEFAULTS,
      stage: STAGES[2],
      modelDir: model,
      dataPath: data,
      imageFolder: world,
      outDir: join(root, 'run'),
      template: 'vicuna_nosys',
      batchSize: 8,
      maxSteps: steps,
      maxLength: 512,
      groupByLength: false,
      trainVision: false,
      skipBad: false,
      resume: false,
      imageAspect: 'auto',
    });
    // The first two steps include worker start-up and warm-up.
    const m = readMetrics(join(root, 'run', 'metrics.jsonl')).slice(2);
    const seconds = m.reduce((s, x) => s + x.seconds, 0);
    const wait = m.reduce((s, x) => s + x.data_seconds, 0);
    return {
      case: 'world_small_trainer_data_wait',
      steps: m.length,
      step_ms: +((seconds / m.length) * 1000).toFixed(2),
      data_wait_ms: +((wait / m.length) * 1000).toFixed(3),
      data_wait_share: +(wait / seconds).toFixed(4),
      target_share: 0.05,
      final_loss: +result.finalLoss.toFixed(4),
      load1: +loadavg()[0]!.toFixed(2),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * One stage-1 step on the LLaVA-1.5-7B shape (random bf16 weights, memory-mapped, frozen; the
 * projector trains in f32; one 336 px image + 40 text tokens; gradient checkpointing as LLaVA
 * trains), with the process's peak RSS.
 */
async function sevenBStage1(dir: string | undefined): Promise<TrainBenchLine> {
  const name = 'llava-1.5-7b';
  const config = namedConfig(name);
  const path = dir ?? join(tmpdir(), `llava-bench-${name}`);
  let wroteSeconds: number | undefined;
  if (!existsSync(join(path, 'config.json'))) {
    mkdirSync(path, { recursive: true });
    const fs = statfsSync(path);
    if (fs.bavail * fs.bsize < MIN_FREE_DISK_BYTES) return { case: '7b_stage1', skipped: `free disk ${((fs.bavail * fs.bsize) / 1e9).toFixed(1)} GB < ${MIN_FREE_DISK_BYTES / 1e9} GB needed for the random checkpoint` };
    const t0 = process.hrtime.bigint();
    await writeRandomCheckpoint(config, path);
    wroteSeconds = ms(t0) / 1000;
  }
  const trains = (n: string) => n.startsWith('projector.');
  const { model } = loadLlava(path, { trainable: trains });
  for (const [n, p] of model.namedParameters()) p.setTrainable(trains(n));
  model.text.gradientCheckpointing = true;
  const rng = new Rng(3);
  const L = model.tokensPerImage;
  const text = Array.from({ length: 40 }, () => 3 + rng.int(31000));
  const ids = [[1, ...new Array<number>(L).fill(config.imageTokenId), ...text]];
  const labels = [[IGNORE_INDEX, ...new Array<number>(L).fill(IGNORE_INDEX), ...text]];
  const side = config.vision.imageSize;
  const pixels = randn([1, 3, side, side], rng, 1, 0);
  const optimizer = new AdamW(model.trainableParameters(), { lr: 1e-3 });
  const t0 = process.hrtime.bigint();
  const loss = tidy(() => model.forward({ inputIds: ids, labels, pixelValues: pixels }).loss!);
  const forwardMs = ms(t0);
  backward(loss);
  const lossValue = loss.item();
  loss.dispose();
  optimizer.step();
  optimizer.zeroGrad();
  const stepMs = ms(t0);
  optimizer.dispose();
  pixels.dispose();
  model.dispose();
  return {
    case: '7b_stage1',
    model: name,
    step_s: +(stepMs / 1000).toFixed(1),
    forward_s: +(forwardMs / 1000).toFixed(1),
    tokens: ids[0]!.length,
    loss: +lossValue.toFixed(3),
    peak_rss_gb: +(process.resourceUsage().maxRSS / 1e6).toFixed(2),
    rss_limit_gb: 20,
    grad_checkpoint: true,
    ...(wroteSeconds !== undefined ? { write_random_checkpoint_s: +wroteSeconds.toFixed(0) } : {}),
    dir: path,
    load1: +loadavg()[0]!.toFixed(2),
  };
}

/** Options of the train bench. */
export interface TrainBenchOptions {
  readonly repeats?: number;
  /** Trainer steps of the data-wait case. */
  readonly dataSteps?: number;
  /** Which cases to run: stage2, blocks, data (default), and 7b (only when named: 14 GB on disk, minutes). */
  readonly cases?: readonly string[];
  /** Where the random 7B checkpoint is written or reused (default: the one `bench model` uses). */
  readonly dir?: string;
}

/** The train bench: world-small stage 2 and the width-1024 stack. */
export async function runTrainBench(o: TrainBenchOptions, emit: (line: TrainBenchLine) => void): Promise<void> {
  const backend = defaultBackend();
  const repeats = o.repeats ?? 7;
  const cases = o.cases ?? ['stage2', 'blocks', 'data'];
  if (cases.includes('stage2')) emit(await llavaStage2(backend, repeats, 8, 47));
  if (cases.includes('blocks')) emit(await blockStack(backend, repeats));
  if (cases.includes('data')) emit(await trainerDataWait(o.dataSteps ?? 20));
  if (cases.includes('7b')) emit(await sevenBStage1(o.dir));
}
