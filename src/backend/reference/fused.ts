// Reference (pure TypeScript) fused kernels: placeholder until written.
import type { FusedKernels } from '../types.js';
import type { RefMemory } from './memory.js';
import { placeholderFamily } from '../placeholder.js';

export function referenceFused(_mem: RefMemory): FusedKernels {
  return placeholderFamily<FusedKernels>('reference.fused', ['softmax','softmaxBackward','layerNorm','layerNormBackward','rmsNorm','rmsNormBackward','rope','attention','attentionBackward','crossEntropy','crossEntropyBackward']);
}
