// `llava demo`: trains a LLaVA from nothing on the synthetic world and shows, beside a blind
// baseline, that it learned to answer from pictures. Resumable: a rerun continues after the last finished step.
import type { Command } from 'commander';
import { DEMO_PROFILES, demoProfile } from '../demo/profiles.js';
import { runDemo } from '../demo/demo.js';

interface DemoFlags {
  out: string;
  profile: string;
  seed: string;
  ablations?: boolean;
}

/** Each finished step's share of the run, for the closing table. */
function timeTable(steps: readonly { name: string; seconds: number }[]): string[] {
  const total = steps.reduce((s, f) => s + f.seconds, 0);
  const width = Math.max(...steps.map((s) => s.name.length), 5);
  return [
    ...steps.map((s) => `  ${s.name.padEnd(width)} ${s.seconds.toFixed(1).padStart(7)} s  ${((100 * s.seconds) / total).toFixed(1).padStart(5)}%`),
    `  ${'total'.padEnd(width)} ${total.toFixed(1).padStart(7)} s`,
  ];
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('train LLaVA from nothing on the synthetic world (tokenizer, CLIP, LLaMA, stages 1 and 2) and evaluate it beside a blind baseline')
    .requiredOption('--out <dir>', 'run directory (world, model, report); a rerun into it resumes')
    .option('--profile <name>', `sizes and step counts: ${DEMO_PROFILES.join(' | ')} (quick ~3 min, default ~15 min on 2 cores)`, 'default')
    .option('--seed <n>', 'world and training seed', '0')
    .option('--ablations', 'also retrain with one thing changed per row: no stage 1, stage 1 only, the other projector, a random vision tower')
    .action(async (f: DemoFlags) => {
      const profile = demoProfile(f.profile);
      const seed = Number(f.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got '${f.seed}'`);
      const log = (line: string) => process.stdout.write(line + '\n');
      let current = 'startup';
      process.once('SIGINT', () => {
        process.stderr.write(`\nllava demo: interrupted during ${current}; finished steps are kept in ${f.out}. Run the same command again to resume.\n`);
        process.exit(130);
      });
      const state = await runDemo({
        out: f.out,
        profile,
        seed,
        ablations: f.ablations === true,
        log: (line) => {
          const m = /^\[\d+\/\d+\] ([^:]+):/.exec(line);
          if (m) current = `step "${m[1]}"`;
          log(line);
        },
      });
      log(`\ntime per step (profile ${profile.name}, seed ${seed}):`);
      for (const l of timeTable(state.finished)) log(l);
      log(`\nreport: ${f.out}/report.md   model: ${f.out}/model   try: llava chat --model ${f.out}/model --image ${f.out}/world/images/<a test image>.png`);
    });
}
