// `llava bench <suite>`: benchmarks that print one JSON line per case (medians after
// warm-up), with their baselines measured in the same run.
import type { Command } from 'commander';
import { BLAS_MODES, runKernelBench } from '../bench/kernels.js';
import { runTrainBench } from '../bench/train.js';
import { runEvalBench } from '../bench/eval.js';
import { DEFAULT_MAX_NEW_TOKENS } from '../infer/generationTypes.js';
import { runModelBench } from '../bench/model.js';
import { BENCH_GGUF_TYPES, type BenchGgufType } from '../bench/benchGguf.js';
import { runLlamaCpp, runOurs, type EngineJob } from '../bench/engineRun.js';

export function register(program: Command): void {
  const bench = program.command('bench').description('run benchmarks (JSON lines on stdout)');
  bench
    .command('kernels')
    .description('GEMM (f32, bf16 weights) and a transformer block fwd+bwd vs OpenBLAS sgemm from C')
    .option('--json', 'print JSON lines (the default; kept for scripts)')
    .option('--blas <mode>', "GEMM engine: auto (built-in where it has AVX-512, else OpenBLAS), on (OpenBLAS when found), off (built-in)", 'auto')
    .option('--repeats <n>', 'timed repetitions per case and round', '5')
    .option('--rounds <n>', 'interleaved rounds of C baseline and cases', '5')
    .option('--case <names>', 'comma-separated subset of cases')
    .action(async (opts: { blas: string; repeats: string; rounds: string; case?: string }) => {
      const blas = BLAS_MODES.find((m) => m === opts.blas);
      if (blas === undefined) throw new Error(`--blas must be one of ${BLAS_MODES.join(', ')}, got '${opts.blas}'`);
      const repeats = Number(opts.repeats);
      if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got '${opts.repeats}'`);
      const rounds = Number(opts.rounds);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got '${opts.rounds}'`);
      const results = await runKernelBench({ blas, repeats, rounds, cases: opts.case?.split(',') });
      for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
    });
  bench
    .command('train')
    .description('one training step (world-small stage 2; a stack of LLaMA blocks at width 1024) beside its GEMMs in C sgemm')
    .option('--repeats <n>', 'timed steps per case (median reported)', '7')
    .option('--case <names>', 'comma-separated: stage2, blocks, data (the default set), 7b (random bf16 7B shape, 14 GB on disk)')
    .option('--dir <dir>', 'where the random 7B checkpoint is written or reused')
    .option('--json', 'JSON lines (the only output format; accepted for symmetry)')
    .action(async (opts: { repeats: string; case?: string; dir?: string }) => {
      const repeats = Number(opts.repeats);
      if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got '${opts.repeats}'`);
      const cases = opts.case?.split(',').map((c) => c.trim());
      const unknown = cases?.filter((c) => !['stage2', 'blocks', 'data', '7b'].includes(c));
      if (unknown?.length) throw new Error(`--case: unknown ${unknown.join(', ')} (known: stage2, blocks, data, 7b)`);
      await runTrainBench({ repeats, cases, dir: opts.dir }, (line) => process.stdout.write(JSON.stringify(line) + '\n'));
    });
  bench
    .command('eval')
    .description('llava eval answer on world-small: batch 8 against one question at a time, same world-bench questions, one run')
    .option('--questions <n>', 'questions answered per run', '48')
    .option('--batch-size <n>', 'the batched run\'s batch size', '8')
    .option('--max-new-tokens <list>', 'answer length caps, comma-separated (64: the `llava eval world` default; 256: `llava eval answer`\'s)', `16,64,${DEFAULT_MAX_NEW_TOKENS}`)
    .option('--rounds <n>', 'alternating rounds of batch 1 and batch N per cap (medians reported)', '3')
    .action(async (opts: { questions: string; batchSize: string; maxNewTokens: string; rounds: string }) => {
      const positive = (flag: string, v: string): number => {
        const x = Number(v);
        if (!Number.isInteger(x) || x < 1) throw new Error(`--${flag} must be a positive integer, got '${v}'`);
        return x;
      };
      const questions = positive('questions', opts.questions);
      const batchSize = positive('batch-size', opts.batchSize);
      const rounds = positive('rounds', opts.rounds);
      const maxNewTokens = opts.maxNewTokens.split(',').map((v) => positive('max-new-tokens', v.trim()));
      await runEvalBench({ questions, batchSize, rounds, maxNewTokens }, (line) => process.stdout.write(JSON.stringify(line) + '\n'));
    });
  bench
    .command('model')
    .description('LLaVA image encode, prefill and decode: a small model, then the 7B shape beside llama.cpp on the same weights (f16, q8_0, q4_0; random, written locally)')
    .option('--small-only', 'skip the 7B model')
    .option('--dir <dir>', 'where the random 7B checkpoint is written or reused')
    .option('--cleanup', 'delete the 7B checkpoint afterwards')
    .option('--config <name>', 'named config of the large model', 'llava-1.5-7b')
    .option('--types <list>', 'weight types compared with llama.cpp, comma-separated', 'f16,q8_0,q4_0')
    .option('--prompt-tokens <n>', 'prompt positions both engines prefill', '128')
    .option('--new-tokens <n>', 'decode steps both engines time', '16')
    .option('--threads <n>', 'threads for both engines', '2')
    .option('--text-layers <n>', 'keep only this many text layers of the large config (same widths, faster)')
    .option('--rounds <n>', 'rounds of both engines per type, order alternating; more than one adds the median ratios', '1')
    .action(async (opts: { smallOnly?: boolean; dir?: string; cleanup?: boolean; config: string; types: string; promptTokens: string; newTokens: string; threads: string; textLayers?: string; rounds: string }) => {
      const types = opts.types.split(',').map((t) => t.trim().toUpperCase());
      const unknown = types.filter((t) => !(BENCH_GGUF_TYPES as readonly string[]).includes(t));
      if (unknown.length) throw new Error(`--types: unknown ${unknown.join(', ')} (known: f16, q8_0, q4_0)`);
      const positive = (flag: string, v: string): number => {
        const x = Number(v);
        if (!Number.isInteger(x) || x < 1) throw new Error(`--${flag} must be a positive integer, got '${v}'`);
        return x;
      };
      await runModelBench(
        { ...opts, types: types as BenchGgufType[], promptTokens: positive('prompt-tokens', opts.promptTokens), newTokens: positive('new-tokens', opts.newTokens), threads: positive('threads', opts.threads), rounds: positive('rounds', opts.rounds), textLayers: opts.textLayers === undefined ? undefined : positive('text-layers', opts.textLayers) },
        (line) => process.stdout.write(JSON.stringify(line) + '\n'),
      );
    });
  bench
    .command('engine-run', { hidden: true })
    .description('one engine job of `bench model`, in its own process (internal)')
    .requiredOption('--job <json>', 'the job')
    .action(async (opts: { job: string }) => {
      const job = JSON.parse(opts.job) as EngineJob;
      const result = job.engine === 'llama.cpp' ? await runLlamaCpp(job) : runOurs(job);
      process.stdout.write(JSON.stringify(result) + '\n');
    });
}
