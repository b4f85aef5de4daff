// Quantised GEMM micro-benchmark on the 7B shapes (4096x4096 and 11008x4096 weights): GEMV (m = 1),
// a decode batch (m = 8) and a prefill (m = 128) with f16, q8_0, q4_0 and q4_0x8 (q4_0 interleaved by
// 8 rows at load) weights, JSON lines on stdout.
// Usage: node --import tsx bench/quant.ts [--reps N] [--threads N] [--isa scalar|avx2|avxvnni|avx512vnni]
//
// Each line: the median time of --reps calls, the effective bandwidth of weight bytes (bytes / time)
// and the speed-up over f16 on the same shape (median of the per-round ratios). The dtypes take turns
// call by call, so a machine whose speed drifts (a shared host) moves all three alike. Calls rotate
// over copies of the weight that together exceed any cache (COPIES_BYTES), so a GEMV streams from
// memory as a real decode step does.
import { getBackend } from '../src/backend/index.js';
import { loadAddon } from '../src/backend/native/addon.js';
import type { Backend, MatmulParams, Ptr } from '../src/backend/types.js';
import { dtypeBytes, type DType } from '../src/tensor/dtype.js';
import { Rng } from '../src/tensor/random.js';
import { cast, interleaveQ4_0, quantizeWeight, tensor } from '../src/tensor/index.js';
import { median } from '../src/bench/median.js';

/** Weight shapes (n, k) of a LLaMA-7B layer: attention projections and the MLP's up/gate. */
const SHAPES: readonly (readonly [number, number])[] = [
  [4096, 4096],
  [11008, 4096],
];
const ROWS = [1, 8, 128] as const;
const DTYPES = ['f16', 'q8_0', 'q4_0', 'q4_0x8'] as const;
/** Bytes of weight copies a case rotates over (larger than the last-level cache). */
const COPIES_BYTES = 512 * 2 ** 20;

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const reps = Number(flag('--reps') ?? 9);
const backend = getBackend('native');
if (flag('--threads')) backend.threads(Number(flag('--threads')));
if (flag('--isa')) loadAddon().quantIsa!(flag('--isa'));
const isa = (loadAddon().quantIsa!() as { active: string }).active;

/** Copies of one weight's bytes in backend memory: enough that together they exceed the caches. */
function weightCopies(b: Backend, bytes: Uint8Array): Ptr[] {
  const count = Math.max(2, Math.ceil(COPIES_BYTES / bytes.byteLength));
  return Array.from({ length: count }, () => {
    const p = b.alloc(bytes.byteLength);
    b.write(p, bytes);
    return p;
  });
}

/** The stored bytes of a random (n, k) weight in dtype. */
function weightBytes(n: number, k: number, dtype: (typeof DTYPES)[number]): Uint8Array {
  const w32 = tensor(new Rng(n + k).normalArray(n * k, 0, 0.02), [n, k], { backend });
  const w = dtype === 'f16' ? cast(w32, 'f16') : quantizeWeight(w32, dtype === 'q4_0x8' ? 'q4_0' : dtype);
  const stored = dtype === 'q4_0x8' ? interleaveQ4_0(w) : w;
  const bytes = backend.read(stored.ptr, dtypeBytes(stored.dtype, stored.size));
  w32.dispose();
  w.dispose();
  if (stored !== w) stored.dispose();
  return bytes;
}

/** Milliseconds of one call C (m, n) = A (m, k) W^T with W at `b` (A and C preallocated). */
function timeCall(m: number, n: number, k: number, dtype: DType, a: Ptr, b: Ptr, c: Ptr): number {
  const p: MatmulParams = {
    batch: 1, m, n, k, a, transA: false, lda: k, strideA: 0,
    b, bDtype: dtype, transB: true, ldb: k, strideB: 0, c, ldc: n, strideC: 0, alpha: 1, beta: 0,
  };
  const t0 = process.hrtime.bigint();
  backend.matmul(p);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Weight {
  readonly dtype: (typeof DTYPES)[number];
  readonly bytes: number;
  readonly copies: Ptr[];
}

/** Per dtype: the times of `reps` rounds (two warm-up rounds first), the dtypes taking turns in each. */
function timeRounds(m: number, n: number, k: number, weights: readonly Weight[]): number[][] {
  const a = backend.alloc(m * k * 4);
  backend.write(a, new Rng(m).normalArray(m * k));
  const c = backend.alloc(m * n * 4);
  const times = weights.map(() => [] as number[]);
  for (let r = -2; r < reps; r++) {
    weights.forEach((w, d) => {
      const ms = timeCall(m, n, k, w.dtype, a, w.copies[(r + 2) % w.copies.length]!, c);
      if (r >= 0) times[d]!.push(ms);
    });
  }
  backend.free(a, m * k * 4);
  backend.free(c, m * n * 4);
  return times;
}

for (const [n, k] of SHAPES) {
  const weights: Weight[] = DTYPES.map((dtype) => {
    const bytes = weightBytes(n, k, dtype);
    return { dtype, bytes: bytes.byteLength, copies: weightCopies(backend, bytes) };
  });
  for (const m of ROWS) {
    const times = timeRounds(m, n, k, weights);
    weights.forEach((w, d) => {
      const ms = median(times[d]!);
      const line = {
        case: `${n}x${k} m=${m}`,
        dtype: w.dtype,
        ms: +ms.toFixed(3),
        weightGBps: +(w.bytes / (ms * 1e6)).toFixed(2),
        gflops: +((2 * m * n * k) / (ms * 1e6)).toFixed(1),
        speedupVsF16: +median(times[0]!.map((f16, r) => f16 / times[d]![r]!)).toFixed(2),
        weightBytes: w.bytes,
        threads: backend.threads(),
        isa: w.dtype === 'f16' ? 'f16 kernel' : isa,
        reps,
      };
      process.stdout.write(JSON.stringify(line) + '\n');
    });
  }
  for (const w of weights) for (const p of w.copies) backend.free(p, w.bytes);
}
