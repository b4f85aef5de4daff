// MME: yes/no questions over subtask folders (two per image, one true answer yes, one no),
// scored as MME's calculation.py: per subtask acc + acc+ (both questions of an image right), x 100.
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { EvalFormatError, answersById } from './questions.js';

/** MME's perception subtasks (folder names). */
export const MME_PERCEPTION = ['existence', 'count', 'position', 'color', 'posters', 'celebrity', 'scene', 'landmark', 'artwork', 'OCR'] as const;
/** MME's cognition subtasks. */
export const MME_COGNITION = ['commonsense_reasoning', 'numerical_calculation', 'text_translation', 'code_reasoning'] as const;

/** One MME question: its subtask, image (relative to the MME folder), text and true answer. */
export interface MmeQuestion {
  readonly questionId: string;
  readonly subtask: string;
  readonly image: string;
  readonly text: string;
  readonly answer: 'yes' | 'no';
}

/** Scores of one subtask (percentages; score = acc + acc_plus). */
export interface SubtaskScore {
  readonly acc: number;
  readonly acc_plus: number;
  readonly score: number;
  readonly questions: number;
  readonly images: number;
}

/** What eval mme reports. */
export interface MmeReport {
  readonly subtasks: Record<string, SubtaskScore>;
  readonly perception: number;
  readonly cognition: number;
  readonly missing: number;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.gif', '.bmp', '.webp']);

/** Lines "question<TAB>Yes|No" of one annotation file. */
function readPairs(path: string): { text: string; answer: 'yes' | 'no' }[] {
  return readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((line, i) => ({ line, i }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, i }) => {
      const tab = line.lastIndexOf('\t');
      const answer = tab < 0 ? '' : line.slice(tab + 1).trim().toLowerCase();
      if (answer !== 'yes' && answer !== 'no') throw new EvalFormatError(`${path}:${i + 1}: expected "question<TAB>Yes|No"`);
      return { text: line.slice(0, tab).trim(), answer };
    });
}

/**
 * The questions of an MME folder. Each subtask folder holds either images with a same-named
 * .txt beside each, or `images/` and `questions_answers_YN/` (MME's two layouts).
 */
export function readMme(dir: string): MmeQuestion[] {
  if (!existsSync(dir)) throw new EvalFormatError(`${dir}: MME folder not found`);
  const out: MmeQuestion[] = [];
  for (const subtask of readdirSync(dir).sort()) {
    const sub = join(dir, subtask);
    if (!statSync(sub).isDirectory()) continue;
    const split = existsSync(join(sub, 'questions_answers_YN'));
    const textDir = split ? join(sub, 'questions_answers_YN') : sub;
    const imageDir = split ? join(sub, 'images') : sub;
    const images = readdirSync(imageDir).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
    for (const image of images) {
      const txt = join(textDir, image.slice(0, -extname(image).length) + '.txt');
      if (!existsSync(txt)) throw new EvalFormatError(`${join(imageDir, image)}: no question file ${txt}`);
      readPairs(txt).forEach((p, k) => out.push({ questionId: `${subtask}/${image}/${k}`, subtask, image: split ? `${subtask}/images/${image}` : `${subtask}/${image}`, text: p.text, answer: p.answer }));
    }
  }
  if (out.length === 0) throw new EvalFormatError(`${dir}: no subtask folder with images and questions`);
  return out;
}

/** Writes the question file for `llava eval answer` (question_id = subtask/image/index). */
export function writeMmeQuestions(questions: readonly MmeQuestion[], out: string): void {
  writeFileSync(`${out}.tmp`, questions.map((q) => JSON.stringify({ question_id: q.questionId, image: q.image, text: q.text, category: q.subtask }) + '\n').join(''));
  renameSync(`${out}.tmp`, out);
}

/** MME's answer parsing: lower-case, '.' removed; yes/no/y/n, else yes or no in the first 4 characters. */
export function mmeAnswer(text: string): 'yes' | 'no' | 'other' {
  const t = text.toLowerCase().trim().replace(/\./g, '');
  if (t === 'yes' || t === 'y') return 'yes';
  if (t === 'no' || t === 'n') return 'no';
  const head = t.slice(0, 4);
  if (head.includes('yes')) return 'yes';
  if (head.includes('no')) return 'no';
  return 'other';
}

/** Scores answers against the MME folder. Missing answers count as wrong. */
export function scoreMme(dir: string, answersPath: string): MmeReport {
  const questions = readMme(dir);
  const answers = answersById(answersPath);
  const known = new Set(questions.map((q) => q.questionId));
  const stray = [...answers.keys()].filter((id) => !known.has(id));
  if (stray.length > 0) throw new EvalFormatError(`${answersPath}: answers for questions not in ${dir} (e.g. ${stray.slice(0, 3).join(', ')})`);
  const bySubtask = new Map<string, Map<string, boolean[]>>();
  let missing = 0;
  for (const q of questions) {
    const text = answers.get(q.questionId);
    if (text === undefined) missing++;
    const right = text !== undefined && mmeAnswer(text) === q.answer;
    const images = bySubtask.get(q.subtask) ?? new Map<string, boolean[]>();
    bySubtask.set(q.subtask, images);
    images.set(q.image, [...(images.get(q.image) ?? []), right]);
  }
  const subtasks: Record<string, SubtaskScore> = {};
  for (const [subtask, images] of bySubtask) {
    const all = [...images.values()];
    const n = all.reduce((s, r) => s + r.length, 0);
    const acc = (100 * all.reduce((s, r) => s + r.filter(Boolean).length, 0)) / n;
    const accPlus = (100 * all.filter((r) => r.every(Boolean)).length) / all.length;
    subtasks[subtask] = { acc, acc_plus: accPlus, score: acc + accPlus, questions: n, images: all.length };
  }
  const total = (names: readonly string[]) => names.reduce((s, k) => s + (subtasks[k]?.score ?? 0), 0);
  return { subtasks, perception: total(MME_PERCEPTION), cognition: total(MME_COGNITION), missing };
}
