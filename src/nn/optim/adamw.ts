// AdamW with decoupled weight decay (Loshchilov & Hutter), one fused native kernel per
// parameter tensor. Moment buffers are created lazily, f32, the shape of the parameter.
import { zeros, type Tensor } from '../../tensor/tensor.js';
import { keep } from '../../tensor/scope.js';
import type { Parameter } from '../parameter.js';
import { assertWritable, toGroups, zeroGradAll, type Optimizer, type ParamGroup } from './optimizer.js';

export interface AdamWOptions {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

export class AdamW implements Optimizer {
  lr: number;
  private steps = 0;
  private readonly groups: ParamGroup[];
  private readonly moments = new Map<Parameter, { m: Tensor; v: Tensor }>();
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: readonly Parameter[] | readonly ParamGroup[], opts: AdamWOptions) {
    this.groups = toGroups(params);
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  get stepCount(): number {
    return this.steps;
  }

  step(): void {
    this.steps++;
    const biasCorrection1 = 1 - this.beta1 ** this.steps;
    const biasCorrection2 = 1 - this.beta2 ** this.steps;
    for (const group of this.groups) {
      const lr = this.lr * (group.lrScale ?? 1);
      const weightDecay = group.weightDecay ?? this.weightDecay;
      for (const p of group.params) {
        const g = p.grad;
        if (!g || !p.trainable) continue;
        assertWritable(p, 'AdamW');
        const state = this.state(p);
        p.value.backend.adamw(p.value.size, p.value.ptr, g.ptr, state.m.ptr, state.v.ptr, {
          lr,
          beta1: this.beta1,
          beta2: this.beta2,
          eps: this.eps,
          weightDecay,
          biasCorrection1,
          biasCorrection2,
        });
      }
    }
  }

  zeroGrad(): void {
    zeroGradAll(this.groups);
  }

  /** The moment buffers of a parameter (created on first use). */
  state(p: Parameter): { m: Tensor; v: Tensor } {
    let s = this.moments.get(p);
    if (!s) {
      const opts = { backend: p.value.backend };
      s = { m: keep(zeros(p.value.shape, opts)), v: keep(zeros(p.value.shape, opts)) };
      this.moments.set(p, s);
    }
    return s;
  }

  /**
   * Restores a saved run: the step count (bias corrections depend on it) and each parameter's
   * moments, given as f32 values in the parameter's shape.
   */
  restore(stepCount: number, moments: ReadonlyMap<Parameter, { m: Float32Array; v: Float32Array }>): void {
    if (!Number.isInteger(stepCount) || stepCount < 0) throw new Error(`AdamW.restore: step count ${stepCount} is not a non-negative integer`);
    this.steps = stepCount;
    for (const [p, saved] of moments) {
      const state = this.state(p);
      if (saved.m.length !== p.value.size || saved.v.length !== p.value.size) throw new Error(`AdamW.restore: moments of ${saved.m.length} values for a parameter of ${p.value.size}`);
      state.m.backend.write(state.m.ptr, saved.m);
      state.v.backend.write(state.v.ptr, saved.v);
    }
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
  }
}
