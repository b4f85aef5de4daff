// The native backend: the C++ N-API addon (multi-threaded kernels, OpenBLAS or the
// built-in packed GEMM). Storage lives in the addon's size-class pool.
import type { Backend } from '../types.js';
import { loadAddon } from './addon.js';
import { nativeElementwise } from './elementwise.js';
import { nativeMatmul } from './matmul.js';
import { nativeFused } from './fused.js';

export function createNativeBackend(): Backend {
  const addon = loadAddon();
  const matmul = nativeMatmul(addon);
  return {
    name: 'native',
    alloc: (bytes) => addon.alloc!(bytes) as number,
    free: (ptr, bytes) => addon.free!(ptr, bytes),
    write: (dst, src) => addon.write!(dst, src),
    read: (src, bytes) => new Uint8Array(addon.read!(src, bytes) as ArrayBuffer),
    mapFile: (path) => {
      const [ptr, bytes] = addon.mapFile!(path) as [number, number];
      return { ptr, bytes };
    },
    unmap: (ptr, bytes) => addon.unmap!(ptr, bytes),
    memoryStats: () => addon.memoryStats!() as ReturnType<Backend['memoryStats']>,
    releaseCached: () => addon.releaseCached!(),
    threads: (n) => (n === undefined ? addon.threads!() : addon.threads!(n)) as number,
    describe: () => ({
      backend: 'native',
      threads: addon.threads!(),
      cpu: addon.cpuFeatures!(),
      gemm: matmul.gemmInfo(),
      quantKernels: addon.quantIsa!(),
      memory: addon.memoryStats!(),
    }),
    ...nativeElementwise(addon),
    ...matmul,
    ...nativeFused(addon),
  };
}
