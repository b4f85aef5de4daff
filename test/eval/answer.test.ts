// `llava eval answer`: batched answers equal one-at-a-time ones (tiny fixture and world-small),
// the answer lines' format, resume after an interruption, and bad input named or skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answerQuestions, type AnswerOptions } from '../../src/eval/answer.js';
import { writeRunnableWorldSmall } from '../../src/bench/worldSmall.js';
import { generateWorld } from '../../src/world/world.js';
import { tinyModel, TINY_ROOT } from '../model/fixtures.js';

const IMAGES = join(TINY_ROOT, 'images');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-eval-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeLines(path: string, rows: unknown[]): string {
  writeFileSync(path, rows.map((r) => JSON.stringify(r) + '\n').join(''));
  return path;
}

function lines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Answer lines in question-id order (a batched run appends them as they finish). */
function byQuestion(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return [...rows].sort((a, b) => String(a.question_id).localeCompare(String(b.question_id)));
}

function options(over: Partial<AnswerOptions> & Pick<AnswerOptions, 'questions' | 'out'>): AnswerOptions {
  return { modelDir: tinyModel('f32-v4').dir, imageFolder: IMAGES, template: 'vicuna_nosys', temperature: 0, maxNewTokens: 6, imageAspect: 'auto', singlePredPrompt: false, batchSize: 4, skipMissing: false, ...over };
}

const TINY_QUESTIONS = [
  ...['shapes.png', 'portrait.png', 'square.png', 'shapes.png', 'square.png'].map((image, i) => ({ question_id: `q${i}`, image, text: ['Is there a circle?', 'What colour is it?', 'How many shapes are there in the picture?', 'Where?', 'Describe it.'][i], category: 'test' })),
  { question_id: 7, text: 'A question without an image.' },
];

test('eval answer: batched answers equal one-at-a-time answers; LLaVA answer lines', async (t) => {
  const dir = tempDir(t);
  const q = writeLines(join(dir, 'q.jsonl'), TINY_QUESTIONS);
  await answerQuestions(options({ questions: q, out: join(dir, 'one.jsonl'), batchSize: 1 }));
  await answerQuestions(options({ questions: q, out: join(dir, 'four.jsonl'), batchSize: 4 }));
  const one = lines(join(dir, 'one.jsonl'));
  const four = lines(join(dir, 'four.jsonl'));
  assert.equal(one.length, TINY_QUESTIONS.length);
  assert.deepEqual(byQuestion(four), byQuestion(one), 'identical lines, answer ids included');
  for (const a of one) assert.deepEqual(Object.keys(a), ['question_id', 'prompt', 'text', 'answer_id', 'model_id', 'metadata']);
  assert.equal(one[0]!.model_id, 'f32-v4');
  assert.equal(one[5]!.question_id, 7);
  const mc = join(dir, 'mc.jsonl');
  await answerQuestions(options({ questions: q, out: mc, singlePredPrompt: true, maxNewTokens: 1 }));
  assert.equal(lines(mc).find((a) => a.question_id === 'q0')!.prompt, "Is there a circle?\nAnswer with the option's letter from the given choices directly.");
});

test('eval answer: a rerun resumes (torn last line cut), answers for other questions and bad files are refused', async (t) => {
  const dir = tempDir(t);
  const q = writeLines(join(dir, 'q.jsonl'), TINY_QUESTIONS);
  const whole = join(dir, 'whole.jsonl');
  await answerQuestions(options({ questions: q, out: whole }));
  const partial = join(dir, 'partial.jsonl');
  const kept = readFileSync(whole, 'utf8').split('\n').slice(0, 2).join('\n') + '\n';
  writeFileSync(partial, kept + '{"question_id": "q2", "pro');
  const r = await answerQuestions(options({ questions: q, out: partial }));
  assert.equal(r.alreadyAnswered, 2);
  assert.equal(r.answered, TINY_QUESTIONS.length - 2);
  assert.equal(readFileSync(partial, 'utf8'), readFileSync(whole, 'utf8'));
  const again = await answerQuestions(options({ questions: q, out: partial }));
  assert.equal(again.answered, 0);
  appendFileSync(partial, JSON.stringify({ question_id: 'other', text: 'x' }) + '\n');
  await assert.rejects(answerQuestions(options({ questions: q, out: partial })), /holds answers to questions not in .*q\.jsonl \(e\.g\. other\)/);
  writeFileSync(join(dir, 'bad.jsonl'), '{"question_id": 1, "text": "ok"}\n{"question_id": 2}\n');
  await assert.rejects(answerQuestions(options({ questions: join(dir, 'bad.jsonl'), out: join(dir, 'x.jsonl') })), /bad\.jsonl:2: field "text" is missing/);
  writeFileSync(join(dir, 'bad2.jsonl'), '{"question_id": 1, "text": "ok"}\nnot json\n');
  await assert.rejects(answerQuestions(options({ questions: join(dir, 'bad2.jsonl'), out: join(dir, 'y.jsonl') })), /bad2\.jsonl:2: not valid JSON/);
  const missing = writeLines(join(dir, 'm.jsonl'), [...TINY_QUESTIONS, { question_id: 'gone', image: 'gone.png', text: '?' }]);
  await assert.rejects(answerQuestions(options({ questions: missing, out: join(dir, 'z.jsonl') })), /question "gone": image .*gone\.png not found \(use --skip-missing/);
  const skipped = await answerQuestions(options({ questions: missing, out: join(dir, 'z2.jsonl'), skipMissing: true }));
  assert.deepEqual(skipped.skippedMissingImage, ['gone']);
  assert.equal(lines(join(dir, 'z2.jsonl')).length, TINY_QUESTIONS.length);
});

test('eval answer on world-small (random bf16, 64 px world images): batch 8 equals batch 1', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'world-small');
  await writeRunnableWorldSmall(model);
  const world = join(dir, 'world');
  await generateWorld({ n: 12, size: 64, seed: 1, out: world, workers: 0 });
  const q = writeLines(
    join(dir, 'q.jsonl'),
    Array.from({ length: 12 }, (_, i) => ({ question_id: i, image: `images/${String(i + 1).padStart(6, '0')}.png`, text: ['Is there a red circle?', 'How many squares are there?', 'What colour is the triangle on the left of the picture?'][i % 3] })),
  );
  const common = { modelDir: model, imageFolder: world, template: 'vicuna_nosys' as const, maxNewTokens: 8 };
  await answerQuestions(options({ ...common, questions: q, out: join(dir, 'b1.jsonl'), batchSize: 1 }));
  await answerQuestions(options({ ...common, questions: q, out: join(dir, 'b8.jsonl'), batchSize: 8 }));
  assert.deepEqual(byQuestion(lines(join(dir, 'b8.jsonl'))), byQuestion(lines(join(dir, 'b1.jsonl'))));
});
