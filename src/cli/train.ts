// `llava train`: stage 1 (projector) or stage 2 (projector + LLM) on LLaVA JSON data, with
// checkpoints, --resume, metrics.jsonl, a loss curve and a --dry-run plan.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseImageAspect } from '../data/preprocess.js';
import { templateByName, type TemplateName } from '../data/templates.js';
import { parseStage } from '../train/stages.js';
import { DEFAULT_DATA_WORKERS, TRAIN_DEFAULTS, prepareRun, train, type TrainOptions } from '../train/trainer.js';
import { describePlan } from '../train/plan.js';
import type { StepMetrics } from '../train/metrics.js';
import type { LossAveraging } from '../model/llava.js';
import { LLAVA_LORA, checkLoraConfig, type LoraConfig } from '../nn/lora.js';

export interface TrainFlags {
  stage: string;
  model: string;
  data: string;
  imageFolder: string;
  out: string;
  template?: string;
  batchSize: string;
  gradAccum: string;
  lr?: string;
  projectorLr?: string;
  epochs: string;
  maxSteps?: string;
  warmupRatio: string;
  weightDecay: string;
  maxGradNorm: string;
  maxLength: string;
  seed: string;
  saveSteps?: string;
  keep?: string;
  evalData?: string;
  evalSteps?: string;
  groupByLength?: boolean;
  lossAverage: string;
  trainVision?: boolean;
  skipBad?: boolean;
  projector?: string;
  resume?: boolean;
  dryRun?: boolean;
  imageAspect: string;
  threads?: string;
  loraR?: string;
  loraAlpha?: string;
  loraDropout?: string;
  loraTargets?: string;
  merge?: boolean;
  gradCheckpoint?: boolean;
  dataWorkers: string;
}

function num(flag: string, raw: string | undefined, kind: 'int' | 'positive-int' | 'number'): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  const ok = raw.trim() !== '' && Number.isFinite(v) && (kind === 'number' || (Number.isInteger(v) && (kind === 'int' ? v >= 0 : v > 0)));
  if (!ok) throw new Error(`--${flag} must be ${kind === 'number' ? 'a number' : kind === 'int' ? 'a non-negative integer' : 'a positive integer'}, got '${raw}'`);
  return v;
}

function parseLossAveraging(raw: string | undefined): LossAveraging {
  if (raw === undefined || raw === 'token' || raw === 'turn') return raw ?? 'token';
  throw new Error(`--loss-average must be token or turn, got '${raw}'`);
}

/** The flags as TrainOptions (numbers checked, names resolved). */
export function trainOptionsFromFlags(f: TrainFlags): TrainOptions {
  const stage = parseStage(f.stage);
  if (f.template) templateByName(f.template);
  const epochs = num('epochs', f.epochs, 'number')!;
  if (!(epochs > 0)) throw new Error(`--epochs must be > 0, got '${f.epochs}'`);
  return {
    stage,
    modelDir: f.model,
    dataPath: f.data,
    imageFolder: resolve(f.imageFolder),
    outDir: f.out,
    template: f.template as TemplateName | undefined,
    batchSize: num('batch-size', f.batchSize, 'positive-int')!,
    gradAccum: num('grad-accum', f.gradAccum, 'positive-int')!,
    lr: num('lr', f.lr, 'number'),
    projectorLr: num('projector-lr', f.projectorLr, 'number'),
    epochs,
    maxSteps: num('max-steps', f.maxSteps, 'positive-int'),
    warmupRatio: num('warmup-ratio', f.warmupRatio, 'number')!,
    weightDecay: num('weight-decay', f.weightDecay, 'number')!,
    maxGradNorm: num('max-grad-norm', f.maxGradNorm, 'number')!,
    maxLength: num('max-length', f.maxLength, 'positive-int')!,
    seed: num('seed', f.seed, 'int')!,
    saveSteps: num('save-steps', f.saveSteps, 'positive-int'),
    keep: num('keep', f.keep, 'positive-int'),
    evalData: f.evalData,
    evalSteps: num('eval-steps', f.evalSteps, 'positive-int'),
    groupByLength: f.groupByLength === true,
    lossAveraging: parseLossAveraging(f.lossAverage),
    trainVision: f.trainVision === true,
    skipBad: f.skipBad === true,
    projector: f.projector,
    resume: f.resume === true,
    imageAspect: parseImageAspect(f.imageAspect),
    lora: loraFromFlags(f),
    merge: f.merge === true,
    gradCheckpoint: f.gradCheckpoint === true,
    dataWorkers: num('data-workers', f.dataWorkers, 'int')!,
  };
}

/** --lora-* as a LoraConfig (LLaVA's defaults for what is not given), or undefined without --lora-r. */
function loraFromFlags(f: TrainFlags): LoraConfig | undefined {
  if (f.loraR === undefined) {
    if (f.loraAlpha ?? f.loraDropout ?? f.loraTargets) throw new Error('--lora-alpha, --lora-dropout and --lora-targets need --lora-r');
    return undefined;
  }
  const config: LoraConfig = {
    r: num('lora-r', f.loraR, 'positive-int')!,
    alpha: num('lora-alpha', f.loraAlpha, 'number') ?? LLAVA_LORA.alpha,
    dropout: num('lora-dropout', f.loraDropout, 'number') ?? LLAVA_LORA.dropout,
    targets: f.loraTargets ? f.loraTargets.split(',').map((t) => t.trim()).filter((t) => t !== '') : LLAVA_LORA.targets,
  };
  checkLoraConfig(config);
  return config;
}

/** A one-line progress report: step, loss, lr, grad norm, tokens/s, ETA. */
function progressLine(m: StepMetrics, total: number, startedAt: number, startStep: number): string {
  const elapsed = (Date.now() - startedAt) / 1000;
  const perStep = elapsed / Math.max(1, m.step - startStep);
  const eta = Math.max(0, (total - m.step) * perStep);
  const tps = m.seconds > 0 ? m.tokens / m.seconds : 0;
  return `step ${m.step}/${total} | loss ${m.loss.toFixed(4)} | lr ${m.lr.toExponential(2)} | grad ${m.grad_norm.toFixed(3)} | ${tps.toFixed(0)} tok/s | ETA ${eta.toFixed(0)} s${m.eval_loss !== undefined ? ` | eval ${m.eval_loss.toFixed(4)}` : ''}`;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train LLaVA: stage 1 (projector on caption pairs) or stage 2 (projector + LLM on instruction data)')
    .requiredOption('--stage <n>', '1 (feature alignment) or 2 (visual instruction tuning)')
    .requiredOption('--model <dir>', 'llava-hf model directory to start from')
    .requiredOption('--data <file.json>', "LLaVA JSON: [{id, image?, conversations: [{from: 'human'|'gpt', value}]}]")
    .option('--image-folder <dir>', 'folder the records\' image paths are relative to', '.')
    .requiredOption('--out <dir>', 'run folder: the final llava-hf model, checkpoint-STEP/, metrics.jsonl, loss.svg')
    .option('--template <name>', 'conversation template (default: plain for stage 1, vicuna_v1 for stage 2)')
    .option('--batch-size <n>', 'samples per micro-batch', String(TRAIN_DEFAULTS.batchSize))
    .option('--grad-accum <n>', 'micro-batches per optimiser step', String(TRAIN_DEFAULTS.gradAccum))
    .option('--lr <x>', 'peak learning rate (default: 1e-3 stage 1, 2e-5 stage 2, 2e-4 with LoRA)')
    .option('--projector-lr <x>', 'learning rate of the projector (default: --lr; 2e-5 with LoRA)')
    .option('--epochs <x>', 'passes over the data', String(TRAIN_DEFAULTS.epochs))
    .option('--max-steps <n>', 'optimiser steps (overrides --epochs)')
    .option('--warmup-ratio <x>', 'share of steps warming up linearly', String(TRAIN_DEFAULTS.warmupRatio))
    .option('--weight-decay <x>', 'AdamW weight decay', String(TRAIN_DEFAULTS.weightDecay))
    .option('--max-grad-norm <x>', 'clip gradients to this global norm', String(TRAIN_DEFAULTS.maxGradNorm))
    .option('--max-length <n>', 'positions per sample, visual tokens included (longer samples are cut)', String(TRAIN_DEFAULTS.maxLength))
    .option('--seed <n>', 'data order seed', String(TRAIN_DEFAULTS.seed))
    .option('--save-steps <n>', 'write checkpoint-STEP every n steps (and always at the end)')
    .option('--keep <n>', 'keep only the newest n checkpoints')
    .option('--eval-data <file.json>', 'held-out LLaVA JSON for the evaluation loss')
    .option('--eval-steps <n>', 'measure the held-out loss every n steps')
    .option('--group-by-length', 'batch samples of one modality and similar length together')
    .option('--loss-average <how>', "token: the mean over every answer token (LLaVA's); turn: every answer weighs the same, however long", 'token')
    .option('--train-vision', 'also train the vision tower (frozen by default)')
    .option('--skip-bad', 'count and skip bad records instead of stopping')
    .option('--projector <path>', 'start the projector from a stage-1 output (directory or mm_projector.safetensors)')
    .option('--resume', 'continue from the newest checkpoint in --out')
    .option('--dry-run', 'print the plan (weights, samples, steps, tokens, time and memory estimates) and exit')
    .option('--image-aspect <how>', 'pad | crop | auto (as preprocessor_config.json says)', 'auto')
    .option('--threads <n>', 'kernel threads (sets LLAVA_THREADS; default: the core count)')
    .option('--lora-r <n>', 'stage 2 with LoRA adapters of this rank on the LLM (LLaVA: 128); the projector trains whole')
    .option('--lora-alpha <x>', `LoRA scale numerator (default ${LLAVA_LORA.alpha})`)
    .option('--lora-dropout <p>', `dropout on the adapters' input (default ${LLAVA_LORA.dropout})`)
    .option('--lora-targets <names>', `comma-separated layer names (default: every LLM linear, ${LLAVA_LORA.targets.join(',')})`)
    .option('--merge', 'with LoRA: write merged full weights instead of a PEFT adapter directory')
    .option('--data-workers <n>', 'worker threads decoding images ahead of the step (0: main thread)', String(DEFAULT_DATA_WORKERS))
    .option('--grad-checkpoint', 'recompute each decoder layer in backward (same gradients, activations of one layer at a time)')
    .action(async (flags: TrainFlags) => {
      if (flags.threads !== undefined) process.env.LLAVA_THREADS = String(num('threads', flags.threads, 'positive-int'));
      const options = trainOptionsFromFlags(flags);
      if (flags.dryRun) {
        const run = prepareRun(options);
        try {
          process.stdout.write(describePlan(run, options) + '\n');
        } finally {
          run.optimizer.dispose();
          run.pipeline.dispose();
        }
        return;
      }
      const startedAt = Date.now();
      let startStep = -1;
      const tty = process.stderr.isTTY === true;
      const result = await train({
        ...options,
        log: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`),
        onStep: (m, total) => {
          if (startStep < 0) startStep = m.step - 1;
          const line = progressLine(m, total, startedAt, startStep);
          if (tty) process.stderr.write(`\r\x1b[K${line}`);
          else if (m.step === total || m.step % Math.max(1, Math.floor(total / 20)) === 0) process.stderr.write(line + '\n');
        },
      });
      if (tty) process.stderr.write('\n');
      const d = result.dataset;
      process.stderr.write(`done: ${result.steps} steps, final loss ${result.finalLoss.toFixed(4)}; ${d.samples.length} samples (${d.truncated} truncated, ${d.allMasked} dropped with nothing to learn, ${d.bad.length} bad skipped); model in ${result.outDir}\n`);
    });
}
