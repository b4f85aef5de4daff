// Native fused kernels: placeholder until written.
import type { FusedKernels } from '../types.js';
import type { NativeAddon } from './addon.js';
import { placeholderFamily } from '../placeholder.js';

export function nativeFused(_addon: NativeAddon): FusedKernels {
  return placeholderFamily<FusedKernels>('native.fused', ['softmax','softmaxBackward','layerNorm','layerNormBackward','rmsNorm','rmsNormBackward','rope','attention','attentionBackward','crossEntropy','crossEntropyBackward']);
}
