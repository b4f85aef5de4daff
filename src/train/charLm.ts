// Character-level language-model training on a text file: the smallest end-to-end use of
// the tensor core (data, GPT, AdamW, cosine schedule, clipping), for tests and smoke runs.
import { readFileSync } from 'node:fs';
import type { Backend } from '../backend/types.js';
import { withBackend } from '../backend/index.js';
import { Rng } from '../tensor/random.js';
import { tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { backward } from '../autograd/backward.js';
import { Gpt, type GptConfig } from '../model/gpt.js';
import { AdamW } from '../nn/optim/adamw.js';
import { cosineWithWarmup } from '../nn/schedule.js';
import { clipGradNorm } from '../nn/clip.js';

/** A text as character ids with its vocabulary. */
export interface CharCorpus {
  readonly chars: readonly string[];
  readonly ids: Int32Array;
}

export function loadCharCorpus(path: string): CharCorpus {
  const text = readFileSync(path, 'utf8');
  const chars = [...new Set(text)].sort();
  if (text.length < 64) throw new Error(`${path}: text too short to train on (${text.length} characters)`);
  const index = new Map(chars.map((c, i) => [c, i]));
  return { chars, ids: Int32Array.from(text, (c) => index.get(c)!) };
}

/** Entropy (nats) of the character frequencies: the loss of the best context-free model. */
export function unigramEntropy(corpus: CharCorpus): number {
  const counts = new Float64Array(corpus.chars.length);
  for (const id of corpus.ids) counts[id]!++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / corpus.ids.length) * Math.log(c / corpus.ids.length);
  return h;
}

export interface CharLmOptions {
  readonly steps: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly dim: number;
  readonly layers: number;
  readonly heads: number;
  readonly lr: number;
  readonly seed: number;
  readonly backend?: Backend;
  /** Called after each step with the loss. */
  readonly onStep?: (step: number, loss: number, lr: number) => void;
}

export const CHAR_LM_DEFAULTS: Omit<CharLmOptions, 'backend' | 'onStep'> = {
  steps: 300,
  batch: 16,
  seqLen: 32,
  dim: 32,
  layers: 2,
  heads: 4,
  lr: 1e-2,
  seed: 1,
};

/** Trains a fresh GPT on the corpus; returns the loss of every step. */
export function trainCharLm(corpus: CharCorpus, opts: CharLmOptions): number[] {
  const rng = new Rng(opts.seed);
  const config: GptConfig = { vocab: corpus.chars.length, maxLen: opts.seqLen, dim: opts.dim, layers: opts.layers, heads: opts.heads };
  const model = withBackend(opts.backend, () => new Gpt(config, rng));
  const params = model.trainableParameters();
  const optimizer = new AdamW(params, { lr: opts.lr, weightDecay: 0.01 });
  const schedule = cosineWithWarmup({ baseLr: opts.lr, totalSteps: opts.steps, warmupSteps: Math.ceil(opts.steps / 20) });
  const losses: number[] = [];
  try {
    for (let step = 0; step < opts.steps; step++) {
      const { inputs, targets } = sampleBatch(corpus, opts.batch, opts.seqLen, rng);
      const loss = tidy(() => {
        const x = tensor(inputs, [opts.batch, opts.seqLen], { dtype: 'i32', backend: opts.backend });
        const y = tensor(targets, [opts.batch, opts.seqLen], { dtype: 'i32', backend: opts.backend });
        return model.loss(x, y);
      });
      backward(loss);
      const value = loss.item();
      loss.dispose();
      clipGradNorm(params, 1);
      optimizer.lr = schedule(step);
      optimizer.step();
      optimizer.zeroGrad();
      losses.push(value);
      opts.onStep?.(step, value, optimizer.lr);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  return losses;
}

function sampleBatch(corpus: CharCorpus, batch: number, seqLen: number, rng: Rng): { inputs: Int32Array; targets: Int32Array } {
  const inputs = new Int32Array(batch * seqLen);
  const targets = new Int32Array(batch * seqLen);
  const span = corpus.ids.length - seqLen - 1;
  for (let b = 0; b < batch; b++) {
    const start = rng.int(span);
    inputs.set(corpus.ids.subarray(start, start + seqLen), b * seqLen);
    targets.set(corpus.ids.subarray(start + 1, start + seqLen + 1), b * seqLen);
  }
  return { inputs, targets };
}
