// Native elementwise kernels: placeholder until written.
import type { ElementwiseKernels } from '../types.js';
import type { NativeAddon } from './addon.js';
import { placeholderFamily } from '../placeholder.js';

export function nativeElementwise(_addon: NativeAddon): ElementwiseKernels {
  return placeholderFamily<ElementwiseKernels>('native.elementwise', ['copy','cast','fill','unary','unaryBackward','binary','where','reduce','argmax','topk','embedding','embeddingBackward','adamw']);
}
