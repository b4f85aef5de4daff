// LoRA (Hu et al. 2021): a frozen weight W plus a trained low-rank update, y = W x + (alpha/r) B A x,
// with A (r, in) and B (out, r); B starts at zero so training starts from the base model exactly.
import type { Tensor } from '../tensor/tensor.js';
import { cast } from '../tensor/ops/elementwise.js';
import { add, mul } from '../tensor/ops/elementwise.js';
import { linear, matmul } from '../tensor/ops/matmul.js';
import { dropout } from '../tensor/ops/nn.js';
import { tidy } from '../tensor/scope.js';
import { Rng } from '../tensor/random.js';
import { initUniform, initZeros, linearBound } from './init.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';
import { Linear } from './layers.js';

/** Rank, scale and dropout of the adapters, and which linear layers get one. */
export interface LoraConfig {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  /** Last name component of the target layers (e.g. q_proj). */
  readonly targets: readonly string[];
}

/** LLaVA's LoRA setting: r 128, alpha 256, dropout 0.05, every linear layer of the LLM. */
export const LLAVA_LORA: LoraConfig = {
  r: 128,
  alpha: 256,
  dropout: 0.05,
  targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
};

/**
 * Shared by all adapters of a model: the dropout seed (the trainer sets it per micro-batch) and
 * whether dropout applies. Each adapter draws its mask from (seed, its index) alone, so running a
 * layer again (gradient checkpointing) draws the same mask.
 */
export interface LoraRuntime {
  seed: number;
  training: boolean;
}

/** One matrix of an adapter, as a module holding `weight` (PEFT's lora_A.weight / lora_B.weight). */
export class LoraMatrix extends Module {
  readonly weightParam: Parameter;
  constructor(value: Tensor) {
    super();
    this.weightParam = this.param('weight', value);
  }
}

/** The adapter of one linear layer. */
export class LoraAdapter {
  /** A (r, in): kaiming-uniform as PEFT initialises it. */
  readonly down: LoraMatrix;
  /** B (out, r): zeros. */
  readonly up: LoraMatrix;
  readonly scale: number;

  constructor(
    inFeatures: number,
    outFeatures: number,
    readonly config: Pick<LoraConfig, 'r' | 'alpha' | 'dropout'>,
    rng: Rng,
    readonly runtime: LoraRuntime,
    /** Position among the model's adapters (part of the dropout seed). */
    readonly index: number,
  ) {
    checkLoraConfig(config);
    this.down = new LoraMatrix(initUniform([config.r, inFeatures], rng, linearBound(inFeatures)));
    this.up = new LoraMatrix(initZeros([outFeatures, config.r]));
    this.scale = config.alpha / config.r;
  }

  /** (alpha/r) B A dropout(x). */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const active = this.runtime.training && this.config.dropout > 0;
      const dropped = active ? dropout(x, this.config.dropout, new Rng(this.runtime.seed * 7919 + this.index)) : x;
      return mul(linear(linear(dropped, this.down.weightParam.value), this.up.weightParam.value), this.scale);
    });
  }

  /** The update to W: (alpha/r) B A, f32 (out, in). */
  delta(): Tensor {
    return tidy(() => mul(matmul(this.up.weightParam.value, this.down.weightParam.value), this.scale));
  }
}

/** Refuses ranks, scales and dropouts that make no sense. */
export function checkLoraConfig(c: Pick<LoraConfig, 'r' | 'alpha' | 'dropout'>): void {
  if (!Number.isInteger(c.r) || c.r < 1) throw new Error(`LoRA rank r must be a positive integer, got ${c.r}`);
  if (!(c.alpha > 0)) throw new Error(`LoRA alpha must be > 0, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${c.dropout}`);
}

/**
 * Attaches an adapter to every Linear whose dotted name passes `select`; returns the runtime
 * they share and the names of the adapted layers (in model order, A then B drawn per layer).
 */
export function attachLora(model: Module, config: LoraConfig, select: (moduleName: string) => boolean, seed: number): { runtime: LoraRuntime; layers: string[] } {
  const rng = new Rng(seed);
  const runtime: LoraRuntime = { seed, training: true };
  const layers: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || !select(name)) continue;
    const [outF, inF] = m.weightParam.value.shape as [number, number];
    m.attachAdapter(new LoraAdapter(inF, outF, config, rng, runtime, layers.length));
    layers.push(name);
  }
  if (layers.length === 0) throw new Error(`LoRA: no linear layer matches the targets ${config.targets.join(', ')}`);
  return { runtime, layers };
}

/** Selects linear layers by the last component of their name. */
export function byLastName(targets: readonly string[], under = ''): (moduleName: string) => boolean {
  return (name) => name.startsWith(under) && targets.includes(name.slice(name.lastIndexOf('.') + 1));
}

/** Every adapted Linear of a model, with its name. */
export function adaptedLayers(model: Module): [string, Linear][] {
  return model.namedModules().filter((e): e is [string, Linear] => e[1] instanceof Linear && e[1].adapter !== undefined);
}

/** Folds every adapter into its weight (W + (alpha/r) B A, now owned f32) and removes it. */
export function mergeLora(model: Module): number {
  const layers = adaptedLayers(model);
  for (const [, layer] of layers) {
    const adapter = layer.detachAdapter()!;
    const merged = tidy(() => {
      const w = layer.weightParam.value;
      return add(w.dtype === 'f32' ? w : cast(w, 'f32'), adapter.delta());
    });
    const trainable = layer.weightParam.trainable;
    layer.weightParam.set(merged);
    layer.weightParam.setTrainable(trainable);
    adapter.down.dispose();
    adapter.up.dispose();
  }
  return layers.length;
}
