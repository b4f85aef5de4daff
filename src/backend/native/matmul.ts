// Native matmul kernels: placeholder until written.
import type { MatmulKernels } from '../types.js';
import type { NativeAddon } from './addon.js';
import { placeholderFamily } from '../placeholder.js';

export function nativeMatmul(_addon: NativeAddon): MatmulKernels {
  return placeholderFamily<MatmulKernels>('native.matmul', ['matmul','gemmInfo','setBlasDisabled']);
}
