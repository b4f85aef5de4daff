// The C baseline of the GEMM benchmarks: compiles native/bench/sgemm_baseline.c (OpenBLAS
// cblas_sgemm timed from plain C) once per source version and runs it, so JS figures sit next to C ones.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../backend/native/addon.js';

const run = promisify(execFile);

/** Where compiled baselines are cached, one file per source hash. */
const CACHE_DIR = join(tmpdir(), 'llava-ts-bench');
const SOURCE = join('native', 'bench', 'sgemm_baseline.c');
/** Generous: the program runs three benchmarks of a few hundred milliseconds each. */
const RUN_TIMEOUT_MS = 120_000;
/** The program's own default repetition count. */
const DEFAULT_REPEATS = 7;

/** One benchmark of the baseline: median milliseconds and the GFLOP/s they mean. */
export interface BaselineTiming {
  readonly ms: number;
  readonly gflops: number;
}

export interface BaselineOptions {
  /** OpenBLAS threads (default: LLAVA_THREADS, else the core count, like the addon's pool). */
  readonly threads?: number;
  /** Timed repetitions per benchmark (median reported; default the program's 7). */
  readonly repeats?: number;
  /** Time only this list of GEMMs (reported as `shapes`) instead of the built-in cases. */
  readonly shapes?: readonly GemmShape[];
}

/** One GEMM as the C baseline takes it: C(m, n) = op(A) op(B), `count` times. */
export interface GemmShape {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly count: number;
}

/**
 * Compiles (cached by source hash) and runs the C sgemm baseline. Returns its timings by
 * name (`matmul_1024`, `matmul_256x4096x4096`, `block_gemms`), or `{ unavailable }` with
 * the reason when there is no C compiler or no OpenBLAS library.
 */
export async function runSgemmBaseline(
  opts: BaselineOptions = {},
): Promise<Record<string, BaselineTiming> | { unavailable: string }> {
  const binary = await compileBaseline();
  if (typeof binary !== 'string') return binary;
  const threads = opts.threads ?? defaultThreads();
  const args = [String(threads), String(opts.repeats ?? DEFAULT_REPEATS)];
  let shapesFile: string | undefined;
  if (opts.shapes) {
    shapesFile = join(CACHE_DIR, `shapes-${process.pid}-${Date.now()}.txt`);
    writeFileSync(shapesFile, opts.shapes.map((x) => `${x.m} ${x.n} ${x.k} ${x.transA ? 1 : 0} ${x.transB ? 1 : 0} ${x.count}\n`).join(''));
    args.push(shapesFile);
  }
  let stdout: string;
  try {
    stdout = (await run(binary, args, { timeout: RUN_TIMEOUT_MS })).stdout;
  } catch (err) {
    // Exit 2 with an {"unavailable"} line means no OpenBLAS; anything else is a real failure.
    const out = (err as { stdout?: string }).stdout ?? '';
    const unavailable = parseLines(out).find((o) => typeof o.unavailable === 'string');
    if (unavailable) return { unavailable: String(unavailable.unavailable) };
    throw new Error(`sgemm baseline ${binary} failed: ${(err as Error).message}`);
  } finally {
    if (shapesFile) rmSync(shapesFile, { force: true });
  }
  const timings: Record<string, BaselineTiming> = {};
  for (const o of parseLines(stdout)) {
    if (typeof o.name === 'string' && typeof o.ms === 'number' && typeof o.gflops === 'number') {
      timings[o.name] = { ms: o.ms, gflops: o.gflops };
    }
  }
  if (Object.keys(timings).length === 0) throw new Error(`sgemm baseline ${binary} printed no timings:\n${stdout}`);
  return timings;
}

function defaultThreads(): number {
  const env = Number(process.env.LLAVA_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

/** Each stdout line that is a JSON object (other lines are ignored). */
function parseLines(stdout: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial line from a killed run: not a result
    }
  }
  return out;
}

/** Path of the compiled baseline, compiling it when this source version has no binary yet. */
async function compileBaseline(): Promise<string | { unavailable: string }> {
  const source = join(packageRoot(), SOURCE);
  if (!existsSync(source)) return { unavailable: `${source} is missing` };
  // The source includes native/openblas_paths.h: both decide the binary.
  const header = join(packageRoot(), 'native', 'openblas_paths.h');
  const hash = createHash('sha256').update(readFileSync(source)).update(readFileSync(header)).digest('hex').slice(0, 16);
  const binary = join(CACHE_DIR, `sgemm_baseline-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(CACHE_DIR, { recursive: true });
  // Compile to a private name, then rename: a concurrent run never sees half a binary.
  const partial = `${binary}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'gcc';
  try {
    await run(cc, ['-O2', '-o', partial, source, '-ldl']);
  } catch (err) {
    rmSync(partial, { force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return { unavailable: `no C compiler: '${cc}' not found (set CC)` };
    return { unavailable: `compiling ${source} with ${cc} failed: ${(e.stderr ?? e.message).trim()}` };
  }
  renameSync(partial, binary);
  return binary;
}
