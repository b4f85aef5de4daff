// LLaVA end-to-end throughput (image encode, prefill, decode) for a small model and the
// LLaVA-1.5-7B shape, printed as JSON lines (only what this run measures). Same as `llava bench model`.
// Usage: node --import tsx bench/model.ts [--small-only] [--dir DIR] [--cleanup]
import { runModelBench } from '../src/bench/model.js';

const args = process.argv.slice(2);
const dirAt = args.indexOf('--dir');
await runModelBench(
  { smallOnly: args.includes('--small-only'), cleanup: args.includes('--cleanup'), dir: dirAt >= 0 ? args[dirAt + 1] : undefined },
  (line) => process.stdout.write(JSON.stringify(line) + '\n'),
);
