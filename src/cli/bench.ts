// `llava bench <suite>`: benchmarks that print one JSON line per case (medians after
// warm-up), with their baselines measured in the same run.
import type { Command } from 'commander';
import { runKernelBench } from '../bench/kernels.js';
import { runTrainBench } from '../bench/train.js';
import { runEvalBench } from '../bench/eval.js';
import { DEFAULT_MAX_NEW_TOKENS } from '../infer/generationTypes.js';
import { runModelBench } from '../bench/model.js';

export function register(program: Command): void {
  const bench = program.command('bench').description('run benchmarks (JSON lines on stdout)');
  bench
    .command('kernels')
    .description('GEMM (f32, bf16 weights) and a transformer block fwd+bwd vs OpenBLAS sgemm from C')
    .option('--json', 'print JSON lines (the default; kept for scripts)')
    .option('--blas <mode>', "'off' forces the built-in GEMM", 'on')
    .option('--repeats <n>', 'timed repetitions per case and round', '5')
    .option('--rounds <n>', 'interleaved rounds of C baseline and cases', '5')
    .option('--case <names>', 'comma-separated subset of cases')
    .action(async (opts: { blas: string; repeats: string; rounds: string; case?: string }) => {
      if (opts.blas !== 'on' && opts.blas !== 'off') throw new Error(`--blas must be 'on' or 'off', got '${opts.blas}'`);
      const repeats = Number(opts.repeats);
      if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got '${opts.repeats}'`);
      const rounds = Number(opts.rounds);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got '${opts.rounds}'`);
      const results = await runKernelBench({ blasOff: opts.blas === 'off', repeats, rounds, cases: opts.case?.split(',') });
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
    .description('LLaVA image encode, prefill and decode: a small model and the 7B shape (random bf16, written locally)')
    .option('--small-only', 'skip the 7B model')
    .option('--dir <dir>', 'where the random 7B checkpoint is written or reused')
    .option('--cleanup', 'delete the 7B checkpoint afterwards')
    .action(async (opts: { smallOnly?: boolean; dir?: string; cleanup?: boolean }) => {
      await runModelBench(opts, (line) => process.stdout.write(JSON.stringify(line) + '\n'));
    });
}
