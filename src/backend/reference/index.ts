// The reference backend: short, obviously correct TypeScript kernels over JS memory.
// It is the oracle every other backend is tested against, never the fast path.
import { readFileSync } from 'node:fs';
import type { Backend } from '../types.js';
import { RefMemory } from './memory.js';
import { referenceElementwise } from './elementwise.js';
import { referenceMatmul } from './matmul.js';
import { referenceFused } from './fused.js';

export function createReferenceBackend(): Backend {
  const mem = new RefMemory();
  return {
    name: 'reference',
    alloc: (bytes) => mem.alloc(bytes),
    free: (ptr, bytes) => mem.free(ptr, bytes),
    write: (dst, src) => mem.bytes(dst, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength)),
    read: (src, bytes) => mem.bytes(src, bytes).slice(),
    mapFile: (path) => {
      const data = readFileSync(path);
      const ptr = mem.alloc(data.byteLength);
      mem.bytes(ptr, data.byteLength).set(data);
      return { ptr, bytes: data.byteLength };
    },
    unmap: (ptr, bytes) => mem.free(ptr, bytes),
    memoryStats: () => mem.stats(),
    releaseCached: () => {},
    threads: () => 1,
    describe: () => ({ backend: 'reference', note: 'pure TypeScript oracle, single-threaded' }),
    ...referenceElementwise(mem),
    ...referenceMatmul(mem),
    ...referenceFused(mem),
  };
}
