// A small GPT-style decoder (pre-LN blocks: causal self-attention + GELU MLP). It exercises
// the tensor core end to end: the core's tests, the kernel benchmark and the text demo use it.
// Shapes: B batch, T time, C channels, H heads, D = C / H head dim, V vocab.
import type { Tensor } from '../tensor/tensor.js';
import { arange } from '../tensor/ops/random.js';
import { add, gelu } from '../tensor/ops/elementwise.js';
import { attention, crossEntropy } from '../tensor/ops/nn.js';
import { permute, reshape, split } from '../tensor/ops/view.js';
import { tidy } from '../tensor/scope.js';
import type { Rng } from '../tensor/random.js';
import { Module, ModuleList } from '../nn/module.js';
import { Embedding, LayerNorm, Linear, randomWeights } from '../nn/layers.js';

/** LayerNorm epsilon (PyTorch's default). */
const LAYER_NORM_EPS = 1e-5;

/** Sizes of a GPT. */
export interface GptConfig {
  /** Vocabulary size. */
  readonly vocab: number;
  /** Longest sequence (learned position embeddings). */
  readonly maxLen: number;
  /** Width C. */
  readonly dim: number;
  readonly layers: number;
  readonly heads: number;
  /** MLP hidden width (default 4C). */
  readonly mlpDim?: number;
}

/** Pre-LN transformer block: x + attn(ln1(x)); x + mlp(ln2(x)). Input (B, T, C). */
export class TransformerBlock extends Module {
  readonly ln1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly ln2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
    mlpDim: number,
    rng: Rng,
  ) {
    super();
    if (dim % heads !== 0) throw new Error(`block: width ${dim} is not divisible by ${heads} heads`);
    // GPT-2 init: N(0, 0.02) matrices, zero biases, unit norm scales.
    const source = randomWeights(rng);
    this.ln1 = this.module('ln1', new LayerNorm(source, 'ln1', dim, LAYER_NORM_EPS));
    this.qkv = this.module('qkv', new Linear(source, 'qkv', dim, 3 * dim, true));
    this.proj = this.module('proj', new Linear(source, 'proj', dim, dim, true));
    this.ln2 = this.module('ln2', new LayerNorm(source, 'ln2', dim, LAYER_NORM_EPS));
    this.fc1 = this.module('fc1', new Linear(source, 'fc1', dim, mlpDim, true));
    this.fc2 = this.module('fc2', new Linear(source, 'fc2', mlpDim, dim, true));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [B, T, C] = x.shape as [number, number, number];
      const H = this.heads;
      const D = C / H;
      const qkv = this.qkv.forward(this.ln1.forward(x)); // (B, T, 3C)
      const [q, k, v] = split(qkv, [C, C, C], -1).map((t) => permute(reshape(t, [B, T, H, D]), [0, 2, 1, 3])); // (B, H, T, D)
      const y = attention(q!, k!, v!, { causal: true }); // (B, H, T, D), memory (B, T, H, D)
      const merged = reshape(permute(y, [0, 2, 1, 3]), [B, T, C]);
      const h = add(x, this.proj.forward(merged));
      const m = this.fc2.forward(gelu(this.fc1.forward(this.ln2.forward(h))));
      return add(h, m);
    });
  }
}

/** Token + position embeddings, blocks, final LayerNorm, untied LM head. */
export class Gpt extends Module {
  readonly tokens: Embedding;
  readonly positions: Embedding;
  readonly blocks: ModuleList<TransformerBlock>;
  readonly lnF: LayerNorm;
  readonly head: Linear;

  constructor(
    readonly config: GptConfig,
    rng: Rng,
  ) {
    super();
    const { vocab, maxLen, dim, layers, heads } = config;
    const source = randomWeights(rng);
    this.tokens = this.module('tokens', new Embedding(source, 'tokens', vocab, dim));
    this.positions = this.module('positions', new Embedding(source, 'positions', maxLen, dim));
    this.blocks = this.module(
      'blocks',
      new ModuleList(Array.from({ length: layers }, () => new TransformerBlock(dim, heads, config.mlpDim ?? 4 * dim, rng))),
    );
    this.lnF = this.module('ln_f', new LayerNorm(source, 'ln_f', dim, LAYER_NORM_EPS));
    this.head = this.module('head', new Linear(source, 'head', dim, vocab, false));
  }

  /** Logits (B, T, V) for i32 ids (B, T). */
  forward(ids: Tensor): Tensor {
    return tidy(() => {
      const T = ids.dim(1);
      if (T > this.config.maxLen) throw new Error(`sequence of ${T} exceeds maxLen ${this.config.maxLen}`);
      const pos = arange(T, { backend: ids.backend });
      let x = add(this.tokens.forward(ids), this.positions.forward(pos));
      for (const block of this.blocks.items) x = block.forward(x);
      return this.head.forward(this.lnF.forward(x));
    });
  }

  /** Mean next-token cross-entropy of ids (B, T) against targets (B, T). */
  loss(ids: Tensor, targets: Tensor): Tensor {
    return tidy(() => {
      const logits = this.forward(ids);
      const V = this.config.vocab;
      return crossEntropy(reshape(logits, [-1, V]), reshape(targets, [-1]));
    });
  }
}
