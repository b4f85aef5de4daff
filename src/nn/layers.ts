// Basic layers: Linear, Embedding, LayerNorm, RMSNorm. Parameter names follow PyTorch /
// Hugging Face ("weight", "bias") so checkpoints map one to one.
import type { Tensor } from '../tensor/tensor.js';
import { linear } from '../tensor/ops/matmul.js';
import { embedding, layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import type { Rng } from '../tensor/random.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';
import { initNormal, initOnes, initUniform, initZeros, linearBound } from './init.js';

export interface LinearOptions {
  /** Whether the layer adds a bias (default true). */
  readonly bias?: boolean;
  /** Normal std for the weight; default PyTorch's uniform(+-1/sqrt(in)). */
  readonly std?: number;
}

/** y = x W^T + b with W (out, in). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | undefined;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    opts: LinearOptions = {},
  ) {
    super();
    const bound = linearBound(inFeatures);
    const w = opts.std !== undefined ? initNormal([outFeatures, inFeatures], rng, opts.std) : initUniform([outFeatures, inFeatures], rng, bound);
    this.weight = this.param('weight', w);
    this.bias = opts.bias === false ? undefined : this.param('bias', opts.std !== undefined ? initZeros([outFeatures]) : initUniform([outFeatures], rng, bound));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight.value, this.bias?.value);
  }
}

/** Lookup table (V, C). */
export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(
    readonly vocab: number,
    readonly dim: number,
    rng: Rng,
    std = 1,
  ) {
    super();
    this.weight = this.param('weight', initNormal([vocab, dim], rng, std));
  }
  forward(ids: Tensor): Tensor {
    return embedding(this.weight.value, ids);
  }
}

/** LayerNorm over the last dim with weight and bias. */
export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', initOnes([dim]));
    this.bias = this.param('bias', initZeros([dim]));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight.value, this.bias.value, this.eps);
  }
}

/** RMSNorm over the last dim with weight (LLaMA). */
export class RMSNorm extends Module {
  readonly weight: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', initOnes([dim]));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight.value, this.eps);
  }
}
