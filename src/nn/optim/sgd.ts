// Stochastic gradient descent with optional momentum and (coupled, L2) weight decay,
// written with in-place elementwise kernels.
import { zeros, type Tensor } from '../../tensor/tensor.js';
import { keep } from '../../tensor/scope.js';
import type { Parameter } from '../parameter.js';
import { assertWritable, toGroups, zeroGradAll, type Optimizer, type ParamGroup } from './optimizer.js';

export interface SGDOptions {
  readonly lr: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
}

export class SGD implements Optimizer {
  lr: number;
  private steps = 0;
  private readonly groups: ParamGroup[];
  private readonly buffers = new Map<Parameter, Tensor>();
  readonly momentum: number;
  readonly weightDecay: number;

  constructor(params: readonly Parameter[] | readonly ParamGroup[], opts: SGDOptions) {
    this.groups = toGroups(params);
    this.lr = opts.lr;
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  get stepCount(): number {
    return this.steps;
  }

  step(): void {
    this.steps++;
    for (const group of this.groups) {
      const lr = this.lr * (group.lrScale ?? 1);
      const wd = group.weightDecay ?? this.weightDecay;
      for (const p of group.params) {
        const g = p.grad;
        if (!g || !p.trainable) continue;
        assertWritable(p, 'SGD');
        const w = p.value;
        const be = w.backend;
        const shape = w.shape;
        // d = g + wd * w (in the gradient buffer, which backward owns until zeroGrad).
        if (wd !== 0) {
          const scaled = zeros(shape, { backend: be });
          be.unary('affine', w.size, w.ptr, scaled.ptr, wd, 0);
          be.binary('add', shape, g.ref, scaled.ref, g.ptr);
          scaled.dispose();
        }
        let d = g;
        if (this.momentum !== 0) {
          let buf = this.buffers.get(p);
          if (!buf) {
            buf = keep(zeros(shape, { backend: be }));
            this.buffers.set(p, buf);
          }
          // buf = momentum * buf + d
          be.unary('affine', buf.size, buf.ptr, buf.ptr, this.momentum, 0);
          be.binary('add', shape, buf.ref, d.ref, buf.ptr);
          d = buf;
        }
        // w = w - lr * d
        const step = zeros(shape, { backend: be });
        be.unary('affine', d.size, d.ptr, step.ptr, lr, 0);
        be.binary('sub', shape, w.ref, step.ref, w.ptr);
        step.dispose();
      }
    }
  }

  zeroGrad(): void {
    zeroGradAll(this.groups);
  }
}
