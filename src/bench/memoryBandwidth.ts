// The physical limit of decode on a CPU: how fast the machine reads memory, measured in the same
// run as the decode it bounds (a sum over a buffer far larger than the caches, on every pool thread).
import { defaultBackend } from '../backend/index.js';

/** Buffer size: well past any last-level cache. */
const PROBE_BYTES = 2 * 1024 ** 3;
/** Rows the sum is split into (each row is one thread's unit of work). */
const PROBE_ROWS = 256;

/** The best of `repeats` full reads of a 2 GiB buffer, in GB/s (1e9 bytes). */
export function measureReadBandwidth(repeats = 5): number {
  const backend = defaultBackend();
  const n = PROBE_BYTES / 4;
  const x = backend.alloc(PROBE_BYTES);
  const out = backend.alloc(PROBE_ROWS * 4);
  try {
    backend.fill('f32', n, x, 1); // touches every page, so the timed reads never fault
    let best = Infinity;
    for (let i = 0; i < repeats; i++) {
      const start = process.hrtime.bigint();
      backend.reduce('sum', PROBE_ROWS, n / PROBE_ROWS, 1, x, out);
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
    }
    return PROBE_BYTES / best / 1e9;
  } finally {
    backend.free(out, PROBE_ROWS * 4);
    backend.free(x, PROBE_BYTES);
  }
}
