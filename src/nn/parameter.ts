// A trainable (or frozen) weight slot of a module. Modules read `.value`; loading a
// checkpoint or casting swaps the tensor in place, so optimisers keep their handle.
import { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';

export class Parameter {
  private tensor: Tensor;
  private isTrainable: boolean;

  constructor(value: Tensor, trainable = true) {
    this.tensor = keep(value);
    this.isTrainable = trainable;
    this.syncFlag();
  }

  get value(): Tensor {
    return this.tensor;
  }

  /** Gradient accumulated by backward, if any. */
  get grad(): Tensor | undefined {
    return this.tensor.grad;
  }

  get trainable(): boolean {
    return this.isTrainable;
  }

  /** Freezes (false) or unfreezes (true) this parameter. */
  setTrainable(flag: boolean): void {
    this.isTrainable = flag;
    this.syncFlag();
  }

  /** Replaces the tensor (disposing the old one unless it is the same). */
  set(value: Tensor): void {
    if (value === this.tensor) return;
    const old = this.tensor;
    this.tensor = keep(value);
    this.syncFlag();
    old.dispose();
  }

  /** Drops the accumulated gradient. */
  zeroGrad(): void {
    if (this.tensor.grad) {
      this.tensor.grad.dispose();
      this.tensor.grad = undefined;
    }
  }

  private syncFlag(): void {
    // Only f32 weights can be trained; bf16/f16 ones are frozen storage.
    this.tensor.requiresGrad = this.isTrainable && this.tensor.dtype === 'f32';
  }
}
