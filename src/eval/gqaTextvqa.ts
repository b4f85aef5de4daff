// GQA (exact match after LLaVA's normalisation) and TextVQA (VQA accuracy over the ten human
// answers), read from their official question files; each can also write LLaVA's question file.
import { renameSync, writeFileSync } from 'node:fs';
import { EvalFormatError, answersById, readJsonFile } from './questions.js';
import { SHORT_ANSWER_PROMPT } from './answer.js';
import { vqaAccuracy } from './vqaAnswer.js';

/** Accuracy (percent) with counts. */
export interface AccuracyReport {
  readonly accuracy: number;
  readonly n: number;
  readonly missing: number;
}

type Json = Record<string, unknown>;


function writeLines(out: string, rows: readonly unknown[]): void {
  writeFileSync(`${out}.tmp`, rows.map((r) => JSON.stringify(r) + '\n').join(''));
  renameSync(`${out}.tmp`, out);
}

function refuseStrays(answers: ReadonlyMap<string, string>, known: ReadonlySet<string>, answersPath: string, source: string): void {
  const stray = [...answers.keys()].filter((id) => !known.has(id));
  if (stray.length > 0) throw new EvalFormatError(`${answersPath}: answers for questions not in ${source} (e.g. ${stray.slice(0, 3).join(', ')})`);
}

/** One GQA question of the official `{qid: {question, answer, imageId}}` file. */
interface GqaQuestion {
  readonly id: string;
  readonly question: string;
  readonly answer: string;
  readonly imageId: string;
}

export function readGqa(path: string): GqaQuestion[] {
  const json = readJsonFile(path);
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new EvalFormatError(`${path}: expected {question id: {question, answer, imageId}}`);
  return Object.entries(json as Json).map(([id, q]) => {
    const o = q as Json;
    for (const f of ['question', 'answer', 'imageId']) if (typeof o?.[f] !== 'string') throw new EvalFormatError(`${path}: question ${id}: field "${f}" is not a string`);
    return { id, question: o.question as string, answer: o.answer as string, imageId: o.imageId as string };
  });
}

/** LLaVA's GQA normalisation of a prediction: trailing periods off, lower case. */
export function gqaNormalize(text: string): string {
  return text.trim().replace(/\.+$/, '').trim().toLowerCase();
}

export function scoreGqa(questionsPath: string, answersPath: string): AccuracyReport {
  const questions = readGqa(questionsPath);
  const answers = answersById(answersPath);
  refuseStrays(answers, new Set(questions.map((q) => q.id)), answersPath, questionsPath);
  let right = 0;
  let missing = 0;
  for (const q of questions) {
    const a = answers.get(q.id);
    if (a === undefined) missing++;
    else if (gqaNormalize(a) === q.answer.trim().toLowerCase()) right++;
  }
  return { accuracy: (100 * right) / questions.length, n: questions.length, missing };
}

export function writeGqaQuestions(questionsPath: string, out: string): number {
  const qs = readGqa(questionsPath);
  writeLines(out, qs.map((q) => ({ question_id: q.id, image: `${q.imageId}.jpg`, text: `${q.question}\n${SHORT_ANSWER_PROMPT}` })));
  return qs.length;
}

/** One TextVQA question of the official `{data: [{question_id, question, image_id, answers}]}` file. */
interface TextVqaQuestion {
  readonly id: string;
  readonly question: string;
  readonly imageId: string;
  readonly answers: readonly string[];
}

export function readTextVqa(path: string): TextVqaQuestion[] {
  const json = readJsonFile(path) as Json;
  if (!json || !Array.isArray(json.data)) throw new EvalFormatError(`${path}: expected {data: [{question_id, question, image_id, answers}]}`);
  return (json.data as Json[]).map((d, i) => {
    const where = `${path}: data[${i}]`;
    if (typeof d.question_id !== 'number' && typeof d.question_id !== 'string') throw new EvalFormatError(`${where}: field "question_id" is missing`);
    if (typeof d.question !== 'string') throw new EvalFormatError(`${where}: field "question" is not a string`);
    if (typeof d.image_id !== 'string') throw new EvalFormatError(`${where}: field "image_id" is not a string`);
    if (!Array.isArray(d.answers) || !d.answers.every((a) => typeof a === 'string')) throw new EvalFormatError(`${where}: field "answers" is not a list of strings`);
    return { id: String(d.question_id), question: d.question, imageId: d.image_id, answers: d.answers as string[] };
  });
}

export function scoreTextVqa(questionsPath: string, answersPath: string): AccuracyReport {
  const questions = readTextVqa(questionsPath);
  const answers = answersById(answersPath);
  refuseStrays(answers, new Set(questions.map((q) => q.id)), answersPath, questionsPath);
  let total = 0;
  let missing = 0;
  for (const q of questions) {
    const a = answers.get(q.id);
    if (a === undefined) missing++;
    else total += vqaAccuracy(a, q.answers);
  }
  return { accuracy: (100 * total) / questions.length, n: questions.length, missing };
}

export function writeTextVqaQuestions(questionsPath: string, out: string): number {
  const qs = readTextVqa(questionsPath);
  writeLines(out, qs.map((q) => ({ question_id: q.id, image: `${q.imageId}.jpg`, text: `${q.question}\n${SHORT_ANSWER_PROMPT}` })));
  return qs.length;
}
