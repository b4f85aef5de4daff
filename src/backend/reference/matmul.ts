// Reference (pure TypeScript) matmul kernels: placeholder until written.
import type { MatmulKernels } from '../types.js';
import type { RefMemory } from './memory.js';
import { placeholderFamily } from '../placeholder.js';

export function referenceMatmul(_mem: RefMemory): MatmulKernels {
  return placeholderFamily<MatmulKernels>('reference.matmul', ['matmul','gemmInfo','setBlasDisabled']);
}
