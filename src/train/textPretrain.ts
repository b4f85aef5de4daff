// Stage 0b of the demo: a small LLaMA pretrained from random weights on plain text (the world's
// captions, descriptions and dialogues), saved as a HF LlamaForCausalLM directory for `llava build`.
// It stands in for Vicuna, which cannot be downloaded here. Shapes: B rows, T positions, V vocab.
import { setImmediate } from 'node:timers/promises';
import type { Backend } from '../backend/types.js';
import { withBackend } from '../backend/index.js';
import { Rng } from '../tensor/random.js';
import { tensor } from '../tensor/tensor.js';
import { reshape } from '../tensor/ops/view.js';
import { crossEntropy } from '../tensor/ops/nn.js';
import { tidy } from '../tensor/scope.js';
import { backward } from '../autograd/backward.js';
import { fanInWeights } from '../nn/layers.js';
import { AdamW } from '../nn/optim/adamw.js';
import { cosineWithWarmup } from '../nn/schedule.js';
import { clipGradNorm } from '../nn/clip.js';
import { LlamaForCausalLM } from '../model/llama.js';
import type { TextConfig } from '../model/config.js';
import type { LlavaTokenizer } from '../data/tokenizer.js';
import { saveLlamaForCausalLM } from '../model/hfStandalone.js';

/** One optimiser step's figures. */
export interface PretrainStep {
  readonly step: number;
  readonly loss: number;
  readonly lr: number;
  readonly seconds: number;
}

/** Options of pretrainLanguageModel. */
export interface TextPretrainOptions {
  /** Documents; each is encoded as BOS + text + EOS and the stream is cut into windows. */
  readonly texts: readonly string[];
  readonly tokenizer: LlavaTokenizer;
  /** Shape of the model; its vocabSize must cover the tokenizer. */
  readonly config: TextConfig;
  readonly steps: number;
  /** Rows per step. */
  readonly batchSize: number;
  /** Tokens per row. */
  readonly seqLen: number;
  readonly lr: number;
  readonly warmupSteps: number;
  readonly weightDecay: number;
  readonly seed: number;
  /** The LlamaForCausalLM directory written at the end. */
  readonly outDir: string;
  /** Directory whose tokenizer files are copied into outDir. */
  readonly tokenizerDir: string;
  readonly backend?: Backend;
  readonly onStep?: (m: PretrainStep) => void;
}

/** What a finished pretraining run reports. */
export interface TextPretrainResult {
  readonly losses: readonly number[];
  /** Tokens in the packed corpus. */
  readonly corpusTokens: number;
}

/** The documents as one id stream: BOS text EOS BOS text EOS ... */
export function packDocuments(texts: readonly string[], tokenizer: LlavaTokenizer): Int32Array {
  const { bosId, eosId } = tokenizer;
  if (bosId === undefined || eosId === undefined) throw new Error('text pretraining needs a tokenizer with BOS and EOS tokens');
  const out: number[] = [];
  for (const t of texts) out.push(bosId, ...tokenizer.encode(t, { addSpecialTokens: false }), eosId);
  return Int32Array.from(out);
}

/** B windows of T + 1 tokens at seeded random starts: inputs are the first T, targets the last T. */
function sampleWindows(stream: Int32Array, B: number, T: number, rng: Rng): { inputs: Int32Array; targets: Int32Array } {
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const span = stream.length - T - 1;
  for (let b = 0; b < B; b++) {
    const start = rng.int(span);
    inputs.set(stream.subarray(start, start + T), b * T);
    targets.set(stream.subarray(start + 1, start + T + 1), b * T);
  }
  return { inputs, targets };
}

function positionsOf(B: number, T: number): Int32Array {
  const p = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) p[b * T + t] = t;
  return p;
}

/** Trains a fresh LLaMA on the texts and saves it with the tokenizer; deterministic for a seed and thread count. */
export async function pretrainLanguageModel(o: TextPretrainOptions): Promise<TextPretrainResult> {
  const stream = packDocuments(o.texts, o.tokenizer);
  const { batchSize: B, seqLen: T, config } = o;
  if (stream.length < T + 2) throw new Error(`text pretraining: the corpus has ${stream.length} tokens, fewer than one window of ${T + 1}`);
  if (o.tokenizer.vocabSize > config.vocabSize) throw new Error(`text pretraining: the tokenizer has ${o.tokenizer.vocabSize} tokens but the model only ${config.vocabSize} rows`);
  const rng = new Rng(o.seed);
  const lm = withBackend(o.backend, () => new LlamaForCausalLM(fanInWeights(new Rng(o.seed ^ 0x11a3a)), 'text', config));
  const params = lm.trainableParameters();
  const optimizer = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  const schedule = cosineWithWarmup({ baseLr: o.lr, totalSteps: o.steps, warmupSteps: o.warmupSteps });
  const positions = positionsOf(B, T);
  const losses: number[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      await setImmediate(); // a step runs synchronously; between steps, signals (Ctrl-C) and I/O get their turn
      const t0 = performance.now();
      const { inputs, targets } = sampleWindows(stream, B, T, rng);
      const loss = tidy(() => {
        const ids = tensor(inputs, [B, T], { dtype: 'i32', backend: o.backend });
        const pos = tensor(positions, [B, T], { dtype: 'i32', backend: o.backend });
        const logits = lm.logits(lm.forward(lm.embed(ids), { positions: pos })); // (B, T, V)
        return crossEntropy(reshape(logits, [B * T, config.vocabSize]), tensor(targets, [B * T], { dtype: 'i32', backend: o.backend }));
      });
      backward(loss);
      const value = loss.item();
      loss.dispose();
      if (!Number.isFinite(value)) throw new Error(`text pretraining: loss is ${value} at step ${step + 1}`);
      clipGradNorm(params, 1);
      optimizer.lr = schedule(step);
      optimizer.step();
      optimizer.zeroGrad();
      losses.push(value);
      o.onStep?.({ step: step + 1, loss: value, lr: optimizer.lr, seconds: (performance.now() - t0) / 1000 });
    }
    await saveLlamaForCausalLM(lm, config, o.outDir, { tokenizerFrom: o.tokenizerDir });
    return { losses, corpusTokens: stream.length };
  } finally {
    optimizer.dispose();
    lm.dispose();
  }
}
