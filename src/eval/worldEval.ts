// `llava eval world`: the synthetic world's benchmark through the same machinery as the real
// ones: its questions become a LLaVA question file, `eval answer` answers them, the world scorer scores.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadWorld } from '../world/annotations.js';
import { DEFAULT_BENCH_OPTIONS, benchmarkToJsonLines, generateBenchmark, type BenchQuestion } from '../world/benchmark.js';
import { answerQuestions, type AnswerOptions, type AnswerSummary } from './answer.js';
import type { QuestionType } from '../world/phrasings.js';
import { readBenchQuestions, readBenchReplies, scoreWorldBench, type WorldBenchReport } from './worldBench.js';

/** Where `llava world bench` writes the questions inside a world directory. */
export const WORLD_BENCH_FILE = 'world-bench.jsonl';

/** Options of evaluateWorld: those of eval answer, minus the files it derives. */
export interface WorldEvalOptions extends Omit<AnswerOptions, 'questions' | 'imageFolder' | 'out' | 'singlePredPrompt'> {
  readonly worldDir: string;
  /** Folder for the question and answer files (created; a rerun resumes the answers). */
  readonly outDir: string;
  /** Ask only these types (default: all); the others score n = 0. */
  readonly types?: readonly QuestionType[];
}

/** The world's benchmark questions: DIR/world-bench.jsonl, written first when absent. */
export function worldBenchQuestions(worldDir: string): BenchQuestion[] {
  const path = join(worldDir, WORLD_BENCH_FILE);
  if (!existsSync(path)) {
    writeFileSync(`${path}.tmp`, benchmarkToJsonLines(generateBenchmark(loadWorld(worldDir), DEFAULT_BENCH_OPTIONS)));
    renameSync(`${path}.tmp`, path);
  }
  return readBenchQuestions(path);
}

/** Answers the world benchmark with a model and scores it. */
export async function evaluateWorld(o: WorldEvalOptions): Promise<{ report: WorldBenchReport; answers: AnswerSummary; answersPath: string }> {
  const questions = worldBenchQuestions(o.worldDir).filter((q) => o.types === undefined || o.types.includes(q.type));
  mkdirSync(o.outDir, { recursive: true });
  const questionsPath = join(o.outDir, 'questions.jsonl');
  writeFileSync(`${questionsPath}.tmp`, questions.map((q) => JSON.stringify({ question_id: q.id, image: q.image, text: q.question, category: q.type }) + '\n').join(''));
  renameSync(`${questionsPath}.tmp`, questionsPath);
  const answersPath = join(o.outDir, 'answers.jsonl');
  const answers = await answerQuestions({ ...o, questions: questionsPath, imageFolder: o.worldDir, out: answersPath, singlePredPrompt: false });
  return { report: scoreWorldBench(questions, readBenchReplies(answersPath)), answers, answersPath };
}
