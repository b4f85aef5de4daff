// The activations model configs name (CLIP's quick_gelu, the projector's gelu, LLaMA's silu),
// applied by name so a config field picks the function without string dispatch elsewhere.
import type { Tensor } from '../tensor/tensor.js';
import { gelu, quickGelu, silu } from '../tensor/ops/elementwise.js';
import type { Activation } from './config.js';

/** Applies a config activation by name. */
export function activate(x: Tensor, act: Activation): Tensor {
  switch (act) {
    case 'quick_gelu':
      return quickGelu(x);
    case 'gelu':
      return gelu(x);
    case 'silu':
      return silu(x);
    default:
      return act satisfies never;
  }
}
