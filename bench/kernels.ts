// Kernel benchmark as a script: the same as `llava bench kernels`, JSON lines on stdout.
// Usage: node --import tsx bench/kernels.ts [--blas auto|on|off] [--rounds N] [--repeats N]
import { BLAS_MODES, runKernelBench } from '../src/bench/kernels.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const blasFlag = flag('--blas') ?? 'auto';
const blas = BLAS_MODES.find((m) => m === blasFlag);
if (blas === undefined) throw new Error(`--blas must be one of ${BLAS_MODES.join(', ')}, got '${blasFlag}'`);
const results = await runKernelBench({
  blas,
  rounds: flag('--rounds') ? Number(flag('--rounds')) : undefined,
  repeats: flag('--repeats') ? Number(flag('--repeats')) : undefined,
});
for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
