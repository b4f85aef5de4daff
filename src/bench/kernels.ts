// `llava bench kernels`: times the core's hot paths (f32 and bf16-weight GEMM, one
// transformer block forward + backward) and compares each, in the same run, with
// OpenBLAS sgemm called from C on the same shapes.
import { getBackend } from '../backend/index.js';
import type { Backend } from '../backend/types.js';
import { Rng } from '../tensor/random.js';
import { cast, matmul, randn, sum, tidy, type Tensor } from '../tensor/index.js';
import { backward } from '../autograd/backward.js';
import { withBackend } from '../backend/index.js';
import { TransformerBlock } from '../model/gpt.js';
import { runSgemmBaseline } from './baseline.js';
import { median } from './median.js';

/** How `llava bench kernels --blas` picks the GEMM engine. */
export const BLAS_MODES = ['auto', 'on', 'off'] as const;
export type BlasMode = (typeof BLAS_MODES)[number];

/** Sets the engine a mode asks for ('auto': the backend's default). */
function useBlasMode(b: Backend, mode: BlasMode): void {
  if (mode === 'auto') b.setBlasDisabled();
  else b.setBlasDisabled(mode === 'off');
}

export interface KernelBenchOptions {
  /** GEMM engine: 'auto' the default (built-in with AVX-512, else OpenBLAS), 'on' OpenBLAS when found, 'off' built-in. */
  readonly blas?: BlasMode;
  /** Timed repetitions per case per round (median reported). */
  readonly repeats?: number;
  /** Interleaved rounds of baseline and cases (median over rounds). */
  readonly rounds?: number;
  /** Only these cases (default all). */
  readonly cases?: readonly string[];
}

export interface KernelBenchResult {
  readonly case: string;
  readonly ms: number;
  readonly gflops: number;
  readonly engine: string;
  readonly threads: number;
  readonly rounds: number;
  /** Median of the same GEMM work through OpenBLAS sgemm from C, this run. */
  readonly c_sgemm_ms?: number;
  /** c_sgemm_ms / ms for matmul cases (1 = as fast as C); ms / c_sgemm_ms for the block. */
  readonly ratio?: number;
  readonly ratio_kind?: 'speed_vs_c_sgemm' | 'time_over_c_gemms';
}

/** T, C, heads and MLP width of the benchmarked block. */
export const BLOCK_SHAPE = { T: 256, C: 512, heads: 8, mlp: 2048 } as const;

/** FLOPs of all GEMMs in one block forward + backward (the C baseline times the same list). */
export function blockGemmFlops(): number {
  const { T, C, heads, mlp } = BLOCK_SHAPE;
  const D = C / heads;
  const linears = [
    [T, C, 3 * C],
    [T, C, C],
    [T, C, mlp],
    [T, mlp, C],
  ] as const;
  let flops = 0;
  for (const [m, k, n] of linears) flops += 3 * 2 * m * k * n; // forward, dX, dW
  flops += heads * 6 * 2 * T * T * D; // scores, context; dP, dV, dQ, dK
  return flops;
}

function time(fn: () => void, repeats: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ms);
}

function matmulCase(b: Backend, m: number, k: number, n: number, weightDtype: 'f32' | 'bf16', repeats: number): number {
  const rng = new Rng(1);
  const a = randn([m, k], rng, 1, 0, { backend: b });
  const w32 = randn([k, n], rng, 1, 0, { backend: b });
  const w = weightDtype === 'f32' ? w32 : cast(w32, weightDtype);
  const ms = time(() => matmul(a, w).dispose(), repeats);
  for (const t of new Set<Tensor>([a, w32, w])) t.dispose();
  return ms;
}

function blockCase(b: Backend, repeats: number): number {
  const { T, C, heads, mlp } = BLOCK_SHAPE;
  const rng = new Rng(2);
  const block = withBackend(b, () => new TransformerBlock(C, heads, mlp, rng));
  const x = randn([1, T, C], rng, 1, 0, { backend: b, requiresGrad: true });
  const step = (): void => {
    const out = tidy(() => sum(block.forward(x)));
    backward(out);
    out.dispose();
    block.zeroGrad();
    x.grad?.dispose();
    x.grad = undefined;
  };
  const ms = time(step, repeats);
  block.dispose();
  x.dispose();
  return ms;
}

/** One timed case: its work in FLOPs, the C baseline entry it compares with, and a runner. */
interface BenchCase {
  readonly name: string;
  readonly flops: number;
  readonly baselineKey: string;
  readonly engineNote?: string;
  readonly ratioKind: 'speed_vs_c_sgemm' | 'time_over_c_gemms';
  readonly run: (b: Backend, repeats: number) => number;
}

const CASES: readonly BenchCase[] = [
  { name: 'matmul_1024', flops: 2 * 1024 ** 3, baselineKey: 'matmul_1024', ratioKind: 'speed_vs_c_sgemm', run: (b, r) => matmulCase(b, 1024, 1024, 1024, 'f32', r) },
  {
    name: 'matmul_256x4096x4096',
    flops: 2 * 256 * 4096 * 4096,
    baselineKey: 'matmul_256x4096x4096',
    ratioKind: 'speed_vs_c_sgemm',
    run: (b, r) => matmulCase(b, 256, 4096, 4096, 'f32', r),
  },
  {
    name: 'matmul_bf16_1024',
    flops: 2 * 1024 ** 3,
    baselineKey: 'matmul_1024',
    engineNote: 'bf16 weights: built-in widening GEMM',
    ratioKind: 'speed_vs_c_sgemm',
    run: (b, r) => matmulCase(b, 1024, 1024, 1024, 'bf16', r),
  },
  { name: 'block_fwd_bwd', flops: blockGemmFlops(), baselineKey: 'block_gemms', ratioKind: 'time_over_c_gemms', run: blockCase },
];

/**
 * Runs the cases in interleaved rounds (C baseline, then each case, per round) so a load
 * change on a shared machine hits both sides of each ratio; reports medians over rounds.
 */
export async function runKernelBench(opts: KernelBenchOptions = {}): Promise<KernelBenchResult[]> {
  const b = getBackend('native');
  const mode = opts.blas ?? 'auto';
  useBlasMode(b, mode);
  const rounds = opts.rounds ?? 5;
  const repeats = opts.repeats ?? 5;
  const cases = CASES.filter((c) => !opts.cases || opts.cases.includes(c.name));
  const unknown = opts.cases?.filter((n) => !CASES.some((c) => c.name === n)) ?? [];
  if (unknown.length) throw new Error(`unknown case(s) ${unknown.join(', ')}; known: ${CASES.map((c) => c.name).join(', ')}`);
  const ours = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const theirs = new Map<string, number[]>();
  let unavailable: string | undefined;
  try {
    for (let round = 0; round < rounds; round++) {
      if (!unavailable) {
        const baseline = await runSgemmBaseline({ repeats });
        if ('unavailable' in baseline) unavailable = String(baseline.unavailable);
        else for (const [k, v] of Object.entries(baseline)) theirs.set(k, [...(theirs.get(k) ?? []), v.ms]);
      }
      for (const c of cases) ours.get(c.name)!.push(c.run(b, repeats));
    }
  } finally {
    b.setBlasDisabled();
  }
  if (unavailable) process.stderr.write(`C sgemm baseline unavailable: ${unavailable}\n`);
  useBlasMode(b, mode);
  const info = b.gemmInfo();
  b.setBlasDisabled();
  const engine = info.engine === 'openblas' ? `openblas:${info.library ?? '?'}${info.core ? ` (${info.core})` : ''}` : 'builtin';
  return cases.map((c) => {
    const ms = median(ours.get(c.name)!);
    const cms = theirs.has(c.baselineKey) ? median(theirs.get(c.baselineKey)!) : undefined;
    return {
      case: c.name,
      ms,
      gflops: c.flops / ms / 1e6,
      engine: c.engineNote ? `${engine} (${c.engineNote})` : engine,
      threads: b.threads(),
      rounds,
      ...(cms !== undefined ? { c_sgemm_ms: cms, ratio: c.ratioKind === 'speed_vs_c_sgemm' ? cms / ms : ms / cms, ratio_kind: c.ratioKind } : {}),
    };
  });
}
