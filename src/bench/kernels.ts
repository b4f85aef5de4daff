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

export interface KernelBenchOptions {
  /** Force the built-in GEMM instead of OpenBLAS. */
  readonly blasOff?: boolean;
  /** Timed repetitions per case (median reported). */
  readonly repeats?: number;
  /** Only these cases (default all). */
  readonly cases?: readonly string[];
}

export interface KernelBenchResult {
  readonly case: string;
  readonly ms: number;
  readonly gflops: number;
  readonly engine: string;
  readonly threads: number;
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
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

/** Runs the cases and returns one result per case. */
export async function runKernelBench(opts: KernelBenchOptions = {}): Promise<KernelBenchResult[]> {
  const b = getBackend('native');
  b.setBlasDisabled(opts.blasOff ?? false);
  const repeats = opts.repeats ?? 10;
  const baseline = await runSgemmBaseline();
  const c = 'unavailable' in baseline ? undefined : baseline;
  const info = b.gemmInfo();
  const engine = info.engine + (info.library ? `:${info.library}` : '');
  const threads = b.threads();
  const want = (name: string) => !opts.cases || opts.cases.includes(name);
  const results: KernelBenchResult[] = [];
  const gemmResult = (name: string, m: number, k: number, n: number, dtype: 'f32' | 'bf16', baseKey: string): void => {
    if (!want(name)) return;
    const ms = matmulCase(b, m, k, n, dtype, repeats);
    const cms = (c as Record<string, { ms: number }> | undefined)?.[baseKey]?.ms;
    results.push({
      case: name,
      ms,
      gflops: (2 * m * k * n) / ms / 1e6,
      engine: dtype === 'f32' ? engine : `${engine} (bf16 weights: built-in widening GEMM)`,
      threads,
      ...(cms !== undefined ? { c_sgemm_ms: cms, ratio: cms / ms, ratio_kind: 'speed_vs_c_sgemm' as const } : {}),
    });
  };
  gemmResult('matmul_1024', 1024, 1024, 1024, 'f32', 'matmul_1024');
  gemmResult('matmul_256x4096x4096', 256, 4096, 4096, 'f32', 'matmul_256x4096x4096');
  gemmResult('matmul_bf16_1024', 1024, 1024, 1024, 'bf16', 'matmul_1024');
  if (want('block_fwd_bwd')) {
    const ms = blockCase(b, repeats);
    const cms = (c as Record<string, { ms: number }> | undefined)?.block_gemms?.ms;
    results.push({
      case: 'block_fwd_bwd',
      ms,
      gflops: blockGemmFlops() / ms / 1e6,
      engine,
      threads,
      ...(cms !== undefined ? { c_sgemm_ms: cms, ratio: ms / cms, ratio_kind: 'time_over_c_gemms' as const } : {}),
    });
  }
  if (!c) process.stderr.write(`C sgemm baseline unavailable: ${(baseline as { unavailable: string }).unavailable}\n`);
  b.setBlasDisabled(false);
  return results;
}
