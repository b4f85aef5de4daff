// LLaVA-Bench: a text-only judge LLM reads the image's symbolic context, the question, the
// reference answer and the model's answer, and scores both from 1 to 10; the result is the model's
// mean over the reference's, x 100, per category and overall. Reviews are stored and resumable.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { readCapsBoxes } from '../datagen/inputs.js';
import { renderContext } from '../datagen/context.js';
import { DEFAULT_RETRY, TeacherError, withRetries, type RetryPolicy } from '../datagen/retry.js';
import type { ChatMessage, ImageRecord, Teacher } from '../datagen/types.js';
import { EvalFormatError, JsonLinesAppender, answersById, readJsonLines, readQuestions, field, isId, isString, type Question } from './questions.js';

/** The judge's instructions (our wording): context stands for the image; two scores on the first line. */
export const JUDGE_SYSTEM = 'You are a careful and impartial judge of answers to questions about an image.';
const JUDGE_TASK = [
  'You cannot see the image: the description above stands for it.',
  'Rate how helpful, relevant, accurate and detailed each answer is, on a scale of 1 to 10 where higher is better.',
  'On the first line write only the two scores, for answer 1 and then answer 2, separated by a space.',
  'Then explain your rating in a few sentences. Do not let the order of the answers or their length sway you.',
].join(' ');

/** One stored review. */
export interface Review {
  readonly question_id: string | number;
  readonly category: string;
  /** [reference, model]. */
  readonly scores: readonly [number, number];
  readonly judge: string;
  readonly text: string;
  /** Requests it took (transport retries and unparseable replies included). */
  readonly attempts: number;
}

/** Relative score and the two means of a group. */
export interface BenchScore {
  readonly relative: number;
  readonly reference: number;
  readonly model: number;
  readonly n: number;
}

/** What eval llava-bench reports. */
export interface LlavaBenchReport {
  readonly scores: Record<string, BenchScore>;
  readonly unparseable: number;
  readonly failed: readonly string[];
}

/** Options of judgeLlavaBench. */
export interface LlavaBenchOptions {
  readonly questions: string;
  readonly context: string;
  readonly reference: string;
  readonly answers: string;
  readonly teacher: Teacher;
  readonly outDir: string;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly retry?: RetryPolicy;
  /** Requests per question whose reply has no two scores before it is given up (default 3). */
  readonly parseAttempts?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/** The judge's chat for one question. */
export function judgeMessages(context: string, question: string, reference: string, answer: string): ChatMessage[] {
  const user = [`[Image description]\n${context}`, `[Question]\n${question}`, `[Answer 1]\n${reference}\n[End of answer 1]`, `[Answer 2]\n${answer}\n[End of answer 2]`, `[Task]\n${JUDGE_TASK}`].join('\n\n');
  return [
    { role: 'system', content: JUDGE_SYSTEM },
    { role: 'user', content: user },
  ];
}

/** The two scores of the reply's first line, or undefined when it does not hold exactly two in 1..10. */
export function parseJudgeScores(text: string): [number, number] | undefined {
  const first = text.trim().split('\n')[0] ?? '';
  const m = /^\s*(\d+(?:\.\d+)?)\s*[,\s]\s*(\d+(?:\.\d+)?)\s*$/.exec(first);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a >= 1 && a <= 10 && b >= 1 && b <= 10 ? [a, b] : undefined;
}

function readReference(path: string): Map<string, string> {
  const rows = readJsonLines(path, (o, where) => ({ id: String(field(o, 'question_id', where, isId, 'a string or number')), text: field(o, 'text', where, isString, 'a string')! }));
  return new Map(rows.map((r) => [r.id, r.text]));
}

function contextByImage(path: string): Map<string, ImageRecord> {
  return new Map(readCapsBoxes(path).map((r) => [r.image, r]));
}

function readReviews(path: string): Review[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Review);
}

/** Relative scores per category and overall (`all`). */
export function summarizeReviews(reviews: readonly Review[]): Record<string, BenchScore> {
  const groups = new Map<string, Review[]>([['all', [...reviews]]]);
  for (const r of reviews) groups.set(r.category, [...(groups.get(r.category) ?? []), r]);
  const out: Record<string, BenchScore> = {};
  for (const [name, rs] of groups) {
    const reference = rs.reduce((s, r) => s + r.scores[0], 0) / rs.length;
    const model = rs.reduce((s, r) => s + r.scores[1], 0) / rs.length;
    out[name] = { relative: (100 * model) / reference, reference, model, n: rs.length };
  }
  return out;
}

/** Judges every answered question not yet reviewed in outDir, then summarises all reviews. */
export async function judgeLlavaBench(o: LlavaBenchOptions): Promise<LlavaBenchReport> {
  const questions = readQuestions(o.questions);
  const reference = readReference(o.reference);
  const answers = answersById(o.answers);
  const contexts = contextByImage(o.context);
  const known = new Set(questions.map((q) => String(q.question_id)));
  const stray = [...answers.keys()].filter((id) => !known.has(id));
  if (stray.length > 0) throw new EvalFormatError(`${o.answers}: answers for questions not in ${o.questions} (e.g. ${stray.slice(0, 3).join(', ')})`);
  mkdirSync(o.outDir, { recursive: true });
  const reviewsPath = join(o.outDir, 'reviews.jsonl');
  const done = new Set(readReviews(reviewsPath).map((r) => String(r.question_id)));
  const todo = questions.filter((q) => !done.has(String(q.question_id)) && answers.has(String(q.question_id)));
  const appender = new JsonLinesAppender(reviewsPath);
  const limit = pLimit(Math.max(1, o.concurrency));
  const parseAttempts = o.parseAttempts ?? 3;
  let unparseable = 0;
  const failed: string[] = [];
  let finished = 0;
  const judge = async (q: Question): Promise<void> => {
    const id = String(q.question_id);
    const ref = reference.get(id);
    if (ref === undefined) throw new EvalFormatError(`${o.reference}: no reference answer for question ${id}`);
    const record = q.image === undefined ? undefined : contexts.get(q.image);
    if (!record) throw new EvalFormatError(`${o.context}: no context for image ${q.image ?? '(none)'} of question ${id}`);
    const messages = judgeMessages(renderContext(record, 'detail'), q.text, ref, answers.get(id)!);
    let attempts = 0;
    for (let tries = 0; tries < parseAttempts; tries++) {
      const outcome = await withRetries(() => o.teacher.complete({ messages, seed: 0, timeoutMs: o.timeoutMs }), o.retry ?? DEFAULT_RETRY);
      attempts += outcome.attempts;
      if (!outcome.ok) {
        failed.push(`${id}: ${outcome.error.message}`);
        return;
      }
      const scores = parseJudgeScores(outcome.value.text);
      if (scores) {
        appender.append([{ question_id: q.question_id, category: q.category ?? 'all', scores, judge: o.teacher.name, text: outcome.value.text, attempts } satisfies Review]);
        return;
      }
      unparseable++;
    }
    failed.push(`${id}: no two scores on the first line in ${parseAttempts} replies`);
  };
  try {
    await Promise.all(
      todo.map((q) =>
        limit(async () => {
          await judge(q);
          o.onProgress?.(++finished, todo.length);
        }),
      ),
    );
  } catch (e) {
    if (e instanceof TeacherError) throw new Error(`judge: ${e.message} (reviews so far are kept in ${reviewsPath}; rerun to resume)`);
    throw e;
  } finally {
    appender.close();
  }
  const reviews = readReviews(reviewsPath);
  if (reviews.length === 0) throw new Error(`no review could be made (${failed.length} failed: ${failed.slice(0, 2).join('; ')})`);
  return { scores: summarizeReviews(reviews), unparseable, failed };
}
