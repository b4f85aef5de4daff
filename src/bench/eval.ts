// `llava bench eval`: `llava eval answer` throughput on world-small at batch 8 against one question
// at a time, in one run, on the same questions (the answers are identical; only the time differs).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { generateWorld } from '../world/world.js';
import { answerQuestions } from '../eval/answer.js';
import { writeRunnableWorldSmall } from './worldSmall.js';

/** Options of the eval bench. */
export interface EvalBenchOptions {
  readonly questions?: number;
  readonly maxNewTokens?: number;
  readonly batchSize?: number;
}

/** Answers the same questions at batch 1 and at batch N; emits both rates and their ratio. */
export async function runEvalBench(o: EvalBenchOptions, emit: (line: Record<string, unknown>) => void): Promise<void> {
  const n = o.questions ?? 48;
  const maxNew = o.maxNewTokens ?? 16;
  const batch = o.batchSize ?? 8;
  const root = mkdtempSync(join(tmpdir(), 'llava-bench-eval-'));
  try {
    const model = join(root, 'model');
    await writeRunnableWorldSmall(model);
    const world = join(root, 'world');
    await generateWorld({ n, size: 64, seed: 2, out: world, workers: 0 });
    const questions = join(root, 'q.jsonl');
    const texts = ['Is there a red circle in the image?', 'How many squares are there?', 'What colour is the triangle?', 'Describe the image briefly.'];
    writeFileSync(questions, Array.from({ length: n }, (_, i) => JSON.stringify({ question_id: i, image: `images/${String(i + 1).padStart(6, '0')}.png`, text: texts[i % texts.length] }) + '\n').join(''));
    const run = async (batchSize: number) => {
      const s = await answerQuestions({ modelDir: model, questions, imageFolder: world, out: join(root, `a${batchSize}.jsonl`), template: 'vicuna_nosys', temperature: 0, maxNewTokens: maxNew, imageAspect: 'auto', singlePredPrompt: false, batchSize, skipMissing: false });
      return s.seconds;
    };
    // Warm-up (load, first kernels), then the two timed runs back to back.
    await run(batch);
    rmSync(join(root, `a${batch}.jsonl`));
    const one = await run(1);
    const many = await run(batch);
    emit({ case: 'eval_answer_world_small', questions: n, max_new_tokens: maxNew, batch_1_s: +one.toFixed(2), [`batch_${batch}_s`]: +many.toFixed(2), batch_1_qps: +(n / one).toFixed(2), [`batch_${batch}_qps`]: +(n / many).toFixed(2), speedup: +(one / many).toFixed(2), target_speedup: 3, load1: +loadavg()[0]!.toFixed(2) });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
