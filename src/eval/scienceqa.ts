// ScienceQA: LLaVA's question file made from problems.json, and answers scored as LLaVA's
// eval_science_qa.py does (a bare letter, "X. ...", or exactly one "The answer is X."; else failed).
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EvalFormatError, answersById, readJsonFile } from './questions.js';

/** Option letters, in order. */
export const OPTION_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');

/** One ScienceQA problem as problems.json holds it (fields we read). */
export interface ScienceQaProblem {
  readonly question: string;
  readonly choices: readonly string[];
  /** Index of the right choice. */
  readonly answer: number;
  readonly hint?: string;
  readonly image?: string | null;
  readonly subject?: string;
  readonly grade?: string;
}

/** Accuracy of a group of questions, in percent. */
export interface GroupAccuracy {
  readonly n: number;
  readonly correct: number;
  readonly accuracy: number;
}

/** What eval scienceqa reports (accuracies are percentages). */
export interface ScienceQaReport {
  readonly accuracy: number;
  readonly img_accuracy: number;
  readonly failed: number;
  readonly n: number;
  readonly n_img: number;
  readonly missing: number;
  readonly by_subject: Record<string, GroupAccuracy>;
  readonly by_grade: Record<string, GroupAccuracy>;
}

type Json = Record<string, unknown>;


function checkProblem(p: unknown, where: string): ScienceQaProblem {
  if (!p || typeof p !== 'object') throw new EvalFormatError(`${where}: not an object`);
  const o = p as Json;
  if (typeof o.question !== 'string') throw new EvalFormatError(`${where}: field "question" is not a string`);
  if (!Array.isArray(o.choices) || o.choices.length < 2 || !o.choices.every((c) => typeof c === 'string')) throw new EvalFormatError(`${where}: field "choices" is not a list of at least two strings`);
  if (typeof o.answer !== 'number' || !Number.isInteger(o.answer) || o.answer < 0 || o.answer >= o.choices.length) throw new EvalFormatError(`${where}: field "answer" is not an index into choices`);
  return o as unknown as ScienceQaProblem;
}

/** The problems of a split: problems.json and pid_splits.json under baseDir. */
export function readScienceQa(baseDir: string, split: string): Map<string, ScienceQaProblem> {
  const problemsPath = join(baseDir, 'problems.json');
  const splitsPath = join(baseDir, 'pid_splits.json');
  const problems = readJsonFile(problemsPath) as Json;
  const splits = readJsonFile(splitsPath) as Json;
  const ids = splits[split];
  if (!Array.isArray(ids)) throw new EvalFormatError(`${splitsPath}: no split "${split}" (has ${Object.keys(splits).join(', ')})`);
  const out = new Map<string, ScienceQaProblem>();
  for (const id of ids) {
    const pid = String(id);
    if (!(pid in problems)) throw new EvalFormatError(`${splitsPath}: ${split} lists problem ${pid}, which ${problemsPath} does not have`);
    out.set(pid, checkProblem(problems[pid], `${problemsPath}: problem ${pid}`));
  }
  return out;
}

/** LLaVA's prompt for a problem: "Context: hint" when there is one, the question, then "A. ..." options. */
export function scienceQaPrompt(p: ScienceQaProblem): string {
  const options = p.choices.map((c, i) => `${OPTION_LETTERS[i]}. ${c}`).join('\n');
  const context = p.hint && p.hint.trim() !== '' ? `Context: ${p.hint}\n` : '';
  return `${context}${p.question}\n${options}`;
}

/** Writes LLaVA's question file for a split (images as `<pid>/<image>`, under the split's folder). */
export function writeScienceQaQuestions(problems: ReadonlyMap<string, ScienceQaProblem>, out: string): number {
  const lines = [...problems].map(([pid, p]) => JSON.stringify({ question_id: pid, ...(p.image ? { image: `${pid}/${p.image}` } : {}), text: scienceQaPrompt(p), ...(p.subject ? { category: p.subject } : {}) }) + '\n');
  writeFileSync(`${out}.tmp`, lines.join(''));
  renameSync(`${out}.tmp`, out);
  return lines.length;
}

/** The letter an answer gives, or undefined when it is unparseable (failed). */
export function scienceQaLetter(text: string, choices: number): string | undefined {
  const options = OPTION_LETTERS.slice(0, choices);
  const t = text.trim();
  let letter: string | undefined;
  if (options.includes(t)) letter = t;
  else if (t.length >= 3 && options.includes(t[0]!) && t.slice(1, 3) === '. ') letter = t[0];
  else {
    const found = [...t.matchAll(/The answer is ([A-Z])\./g)];
    if (found.length === 1) letter = found[0]![1];
  }
  return letter !== undefined && options.includes(letter) ? letter : undefined;
}

function group(acc: Record<string, { n: number; correct: number }>, key: string | undefined, correct: boolean): void {
  if (!key) return;
  const g = (acc[key] ??= { n: 0, correct: 0 });
  g.n++;
  if (correct) g.correct++;
}

function percent(groups: Record<string, { n: number; correct: number }>): Record<string, GroupAccuracy> {
  return Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, { ...g, accuracy: (100 * g.correct) / g.n }]));
}

/** Scores answers (question_id = problem id) over a split. Missing answers count as wrong. */
export function scoreScienceQa(baseDir: string, split: string, answersPath: string): ScienceQaReport {
  const problems = readScienceQa(baseDir, split);
  const answers = answersById(answersPath);
  const stray = [...answers.keys()].filter((id) => !problems.has(id));
  if (stray.length > 0) throw new EvalFormatError(`${answersPath}: answers for problems not in the ${split} split (e.g. ${stray.slice(0, 3).join(', ')})`);
  let correct = 0;
  let correctImg = 0;
  let nImg = 0;
  let failed = 0;
  let missing = 0;
  const bySubject: Record<string, { n: number; correct: number }> = {};
  const byGrade: Record<string, { n: number; correct: number }> = {};
  for (const [pid, p] of problems) {
    const text = answers.get(pid);
    if (text === undefined) missing++;
    const letter = text === undefined ? undefined : scienceQaLetter(text, p.choices.length);
    if (text !== undefined && letter === undefined) failed++;
    const right = letter !== undefined && OPTION_LETTERS.indexOf(letter) === p.answer;
    if (right) correct++;
    if (p.image) {
      nImg++;
      if (right) correctImg++;
    }
    group(bySubject, p.subject, right);
    group(byGrade, p.grade, right);
  }
  const n = problems.size;
  return { accuracy: (100 * correct) / n, img_accuracy: nImg > 0 ? (100 * correctImg) / nImg : 0, failed, n, n_img: nImg, missing, by_subject: percent(bySubject), by_grade: percent(byGrade) };
}
