// Reference (pure TypeScript) elementwise kernels: placeholder until written.
import type { ElementwiseKernels } from '../types.js';
import type { RefMemory } from './memory.js';
import { placeholderFamily } from '../placeholder.js';

export function referenceElementwise(_mem: RefMemory): ElementwiseKernels {
  return placeholderFamily<ElementwiseKernels>('reference.elementwise', ['copy','cast','fill','unary','unaryBackward','binary','where','reduce','argmax','topk','embedding','embeddingBackward','adamw']);
}
