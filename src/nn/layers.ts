// The layers every model is built from (LLaVA for inference and training, the char-level GPT):
// each takes its weights from a WeightSource, a checkpoint (mapped, kept in its dtype) or a seeded
// random init, so a 7B model loaded from disk never allocates random f32 weights first.
// Parameter names follow PyTorch / Hugging Face ("weight", "bias") so checkpoints map one to one.
import type { Tensor } from '../tensor/tensor.js';
import { full } from '../tensor/tensor.js';
import { randn } from '../tensor/ops/random.js';
import { linear } from '../tensor/ops/matmul.js';
import { embedding, layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import type { Rng } from '../tensor/random.js';
import { Module } from './module.js';
import type { LoraAdapter } from './lora.js';
import { tidy } from '../tensor/scope.js';
import { add } from '../tensor/ops/elementwise.js';
import type { Parameter } from './parameter.js';

/** What a weight is for, which decides its random init. */
export type WeightRole = 'matrix' | 'bias' | 'normWeight' | 'normBias' | 'embedding';

/** Supplies the tensor of one parameter given its canonical name and expected shape. */
export type WeightSource = (name: string, shape: readonly number[], role: WeightRole) => Tensor;

/** Std of random matrices and embeddings (the HF initializer_range). */
export const DEFAULT_INIT_STD = 0.02;

/** Seeded f32 init: N(0, std) for matrices and embeddings, ones for norm scales, zeros for biases. */
export function randomWeights(rng: Rng, std = DEFAULT_INIT_STD): WeightSource {
  return (_name, shape, role) => {
    switch (role) {
      case 'matrix':
      case 'embedding':
        return randn(shape, rng, std);
      case 'bias':
      case 'normBias':
        return full(shape, 0);
      case 'normWeight':
        return full(shape, 1);
      default:
        return role satisfies never;
    }
  };
}

/**
 * Seeded f32 init for training a model from nothing: each matrix N(0, 1/fanIn) (LeCun), so a layer
 * passes its input on at unit scale whatever its width; embeddings N(0, embeddingStd); norms and
 * biases as randomWeights. fanIn is the product of every dimension after the first (a Linear's
 * input width, a conv's channels x kernel). The flat 0.02 suits Vicuna's width (4096: 0.02 ~ 1.3
 * over sqrt(width)); in a 256-wide LLaMA it shrinks every product of two weights (attention's
 * q.k, SwiGLU's gate x up) ~10x, and what needs one (is the asked object in the picture?) waits on
 * a plateau: text-only one-object yes/no at batch 4 sat at chance for ~1000 steps with 0.02 and
 * reached 170/200 by step 100 with this init.
 */
export function fanInWeights(rng: Rng, embeddingStd = DEFAULT_INIT_STD): WeightSource {
  const rest = randomWeights(rng, embeddingStd);
  return (name, shape, role) => {
    if (role !== 'matrix') return rest(name, shape, role);
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    return randn(shape, rng, 1 / Math.sqrt(fanIn));
  };
}

/** A module whose parameters are named relative to a canonical prefix (e.g. "text.layers.3.mlp"). */
export abstract class SourcedModule extends Module {
  constructor(
    protected readonly source: WeightSource,
    readonly prefix: string,
  ) {
    super();
  }

  /** Registers parameter `name` with the tensor the source gives for `prefix.name`. */
  protected weight(name: string, shape: readonly number[], role: WeightRole): Parameter {
    return this.param(name, this.source(`${this.prefix}.${name}`, shape, role));
  }

  /** Canonical prefix of a child. */
  protected child(name: string): string {
    return `${this.prefix}.${name}`;
  }
}

/** y = x W^T (+ b), W (out, in) as stored; W may be bf16/f16 (read by the GEMM as is). */
export class Linear extends SourcedModule {
  readonly weightParam: Parameter;
  readonly biasParam: Parameter | undefined;
  constructor(source: WeightSource, prefix: string, inFeatures: number, outFeatures: number, bias: boolean) {
    super(source, prefix);
    this.weightParam = this.weight('weight', [outFeatures, inFeatures], 'matrix');
    this.biasParam = bias ? this.weight('bias', [outFeatures], 'bias') : undefined;
  }
  private lora: LoraAdapter | undefined;

  /** The low-rank adapter added to this layer's output, if one is attached. */
  get adapter(): LoraAdapter | undefined {
    return this.lora;
  }

  /** Attaches a LoRA adapter; its matrices become children `lora_A` and `lora_B` (PEFT's names). */
  attachAdapter(adapter: LoraAdapter): void {
    if (this.lora) throw new Error(`${this.prefix}: a LoRA adapter is already attached`);
    this.module('lora_A', adapter.down);
    this.module('lora_B', adapter.up);
    this.lora = adapter;
  }

  /** Detaches the adapter (after merging it into the weight) and returns it. */
  detachAdapter(): LoraAdapter | undefined {
    const a = this.lora;
    if (!a) return undefined;
    this.removeModule('lora_A');
    this.removeModule('lora_B');
    this.lora = undefined;
    return a;
  }

  forward(x: Tensor): Tensor {
    const y = linear(x, this.weightParam.value, this.biasParam?.value);
    if (!this.lora) return y;
    return tidy(() => add(y, this.lora!.forward(x)));
  }
}

/** LayerNorm with weight and bias (CLIP). */
export class LayerNorm extends SourcedModule {
  readonly weightParam: Parameter;
  readonly biasParam: Parameter;
  constructor(
    source: WeightSource,
    prefix: string,
    dim: number,
    readonly eps: number,
  ) {
    super(source, prefix);
    this.weightParam = this.weight('weight', [dim], 'normWeight');
    this.biasParam = this.weight('bias', [dim], 'normBias');
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weightParam.value, this.biasParam.value, this.eps);
  }
}

/** RMSNorm with a scale (LLaMA). */
export class RMSNorm extends SourcedModule {
  readonly weightParam: Parameter;
  constructor(
    source: WeightSource,
    prefix: string,
    dim: number,
    readonly eps: number,
  ) {
    super(source, prefix);
    this.weightParam = this.weight('weight', [dim], 'normWeight');
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weightParam.value, this.eps);
  }
}

/** A parameterless module that only nests children, so HF paths like `encoder.layers` resolve level by level. */
export class Group extends Module {
  /** Registers a child and returns it. */
  add<M extends Module>(name: string, m: M): M {
    return this.module(name, m);
  }
}

/** A module holding one tensor named `weight` (HF's nn.Embedding / nn.Conv2d without bias). */
export class WeightOnly extends SourcedModule {
  readonly weightParam: Parameter;
  constructor(source: WeightSource, prefix: string, shape: readonly number[], role: WeightRole) {
    super(source, prefix);
    this.weightParam = this.weight('weight', shape, role);
  }
}

/** Lookup table (V, C): rows of `weight` picked by i32 ids. */
export class Embedding extends WeightOnly {
  constructor(source: WeightSource, prefix: string, vocab: number, dim: number) {
    super(source, prefix, [vocab, dim], 'embedding');
  }
  forward(ids: Tensor): Tensor {
    return embedding(this.weightParam.value, ids);
  }
}
