// Shared optimiser plumbing: parameter groups with their own learning rate and weight
// decay, gradient clearing, and the interface the trainer drives.
import type { Parameter } from '../parameter.js';

/** Parameters that share hyper-parameters. */
export interface ParamGroup {
  readonly params: readonly Parameter[];
  /** Multiplies the optimiser's learning rate (e.g. a smaller rate for the projector). */
  readonly lrScale?: number;
  /** Overrides the optimiser's weight decay for this group. */
  readonly weightDecay?: number;
}

export interface Optimizer {
  /** Learning rate used by the next step (schedules set it every step). */
  lr: number;
  /** Number of steps taken. */
  readonly stepCount: number;
  /** Applies one update from the parameters' accumulated gradients. */
  step(): void;
  /** Drops all gradients. */
  zeroGrad(): void;
}

export function toGroups(params: readonly Parameter[] | readonly ParamGroup[]): ParamGroup[] {
  if (params.length === 0) return [];
  return 'params' in params[0]! ? [...(params as readonly ParamGroup[])] : [{ params: params as readonly Parameter[] }];
}

export function zeroGradAll(groups: readonly ParamGroup[]): void {
  for (const g of groups) for (const p of g.params) p.zeroGrad();
}

/** Throws a clear error (instead of a crash) when an update would write to a read-only mapped weight. */
export function assertWritable(p: Parameter, where: string): void {
  if (p.value.storage.kind === 'mapped') {
    throw new Error(`${where}: a trainable parameter ${p.value.toString()} lives in a read-only memory-mapped checkpoint; load the model writable (f32 copies) to train it`);
  }
}
