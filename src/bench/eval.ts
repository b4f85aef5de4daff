// `llava bench eval`: `llava eval answer` throughput on world-small (random bf16 weights) at batch 8
// against one question at a time, on the same world-bench questions, in one run. Rounds alternate
// the two so machine noise hits both; each answer cap reports the medians and the median ratio.
// The answers are identical either way; only the time differs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { generateWorld } from '../world/world.js';
import { answerQuestions } from '../eval/answer.js';
import { worldBenchQuestions } from '../eval/worldEval.js';
import { writeRunnableWorldSmall } from './worldSmall.js';
import { DEFAULT_MAX_NEW_TOKENS } from '../infer/generationTypes.js';

/** Options of the eval bench. */
export interface EvalBenchOptions {
  readonly questions?: number;
  /** Answer length caps to measure (default 16; 64, the `llava eval world` default; 256, `llava eval answer`'s). */
  readonly maxNewTokens?: readonly number[];
  readonly batchSize?: number;
  /** Alternating rounds of batch 1 and batch N per cap (medians reported). */
  readonly rounds?: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Answers the same questions at batch 1 and at batch N, per answer cap; emits rates and their ratio. */
export async function runEvalBench(o: EvalBenchOptions, emit: (line: Record<string, unknown>) => void): Promise<void> {
  const n = o.questions ?? 48;
  const caps = o.maxNewTokens ?? [16, 64, DEFAULT_MAX_NEW_TOKENS];
  const batch = o.batchSize ?? 8;
  const rounds = o.rounds ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'llava-bench-eval-'));
  try {
    const model = join(root, 'model');
    await writeRunnableWorldSmall(model);
    const world = join(root, 'world');
    await generateWorld({ n, size: 64, seed: 2, out: world, workers: 0 });
    // The world-bench's own questions (every type, descriptions included), as `llava eval world` asks them.
    const bench = worldBenchQuestions(world);
    const picked = Array.from({ length: n }, (_, i) => bench[Math.floor((i * bench.length) / n)]!);
    const questions = join(root, 'q.jsonl');
    writeFileSync(questions, picked.map((q) => JSON.stringify({ question_id: q.id, image: q.image, text: q.question, category: q.type }) + '\n').join(''));
    let runs = 0;
    const run = async (batchSize: number, maxNew: number) => {
      const out = join(root, `a${runs++}.jsonl`);
      const s = await answerQuestions({ modelDir: model, questions, imageFolder: world, out, template: 'vicuna_nosys', temperature: 0, maxNewTokens: maxNew, imageAspect: 'auto', singlePredPrompt: false, batchSize, skipMissing: false });
      rmSync(out);
      return s.seconds;
    };
    await run(batch, caps[0]!); // warm-up: load, first kernels
    for (const maxNew of caps) {
      const one: number[] = [];
      const many: number[] = [];
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        one.push(await run(1, maxNew));
        many.push(await run(batch, maxNew));
        ratios.push(one[r]! / many[r]!);
      }
      emit({
        case: 'eval_answer_world_small',
        questions: n,
        max_new_tokens: maxNew,
        rounds,
        batch_1_s: +median(one).toFixed(3),
        [`batch_${batch}_s`]: +median(many).toFixed(3),
        batch_1_qps: +(n / median(one)).toFixed(1),
        [`batch_${batch}_qps`]: +(n / median(many)).toFixed(1),
        speedup: +median(ratios).toFixed(2),
        speedups: ratios.map((x) => +x.toFixed(2)),
        target_speedup: 3,
        load1: +loadavg()[0]!.toFixed(2),
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
