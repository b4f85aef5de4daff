// `llava train-text`: trains a tiny character-level GPT on a text file and reports the
// loss against the file's unigram entropy — a one-minute check that the core learns.
import type { Command } from 'commander';
import { getBackend } from '../backend/index.js';
import { CHAR_LM_DEFAULTS, loadCharCorpus, trainCharLm, unigramEntropy } from '../train/charLm.js';

interface Opts {
  file: string;
  steps: string;
  backend: string;
  seed: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('train-text')
    .description('train a tiny char-level GPT on a text file (smoke test of the tensor core)')
    .requiredOption('--file <path>', 'text file to learn')
    .option('--steps <n>', 'training steps', String(CHAR_LM_DEFAULTS.steps))
    .option('--backend <name>', 'native or reference', 'native')
    .option('--seed <n>', 'random seed', String(CHAR_LM_DEFAULTS.seed))
    .option('--json', 'print one JSON line per 10 steps and a summary line')
    .action((opts: Opts) => {
      if (opts.backend !== 'native' && opts.backend !== 'reference') throw new Error(`--backend must be native or reference, got '${opts.backend}'`);
      const steps = positiveInt(opts.steps, '--steps');
      const corpus = loadCharCorpus(opts.file);
      const entropy = unigramEntropy(corpus);
      const t0 = Date.now();
      const report = (obj: Record<string, unknown>, text: string) =>
        process.stdout.write(opts.json ? JSON.stringify(obj) + '\n' : text + '\n');
      report(
        { file: opts.file, chars: corpus.ids.length, vocab: corpus.chars.length, unigram_entropy: entropy },
        `${opts.file}: ${corpus.ids.length} characters, vocabulary ${corpus.chars.length}, unigram entropy ${entropy.toFixed(3)} nats`,
      );
      const losses = trainCharLm(corpus, {
        ...CHAR_LM_DEFAULTS,
        steps,
        seed: positiveInt(opts.seed, '--seed'),
        backend: getBackend(opts.backend),
        onStep: (step, loss, lr) => {
          if ((step + 1) % 10 === 0 || step === 0) {
            report({ step: step + 1, loss, lr }, `step ${String(step + 1).padStart(4)}  loss ${loss.toFixed(4)}  lr ${lr.toExponential(2)}`);
          }
        },
      });
      const tail = losses.slice(-20);
      const final = tail.reduce((a, b) => a + b, 0) / tail.length;
      const seconds = (Date.now() - t0) / 1000;
      report(
        { final_loss: final, unigram_entropy: entropy, below_entropy: 1 - final / entropy, seconds },
        `final loss (mean of last ${tail.length}) ${final.toFixed(4)} = ${((1 - final / entropy) * 100).toFixed(1)}% below the unigram entropy, ${seconds.toFixed(1)} s`,
      );
    });
}

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got '${s}'`);
  return n;
}
