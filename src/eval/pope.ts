// POPE (object hallucination): yes/no questions in three settings, scored as LLaVA's eval_pope.py
// does: the answer's first sentence, commas removed, is "no" if its words hold No, not or no.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EvalFormatError, answersById, field, isId, isString, readJsonLines, readQuestions } from './questions.js';

/** POPE's three negative-sampling settings (coco_pope_<setting>.json). */
export const POPE_SETTINGS = ['random', 'popular', 'adversarial'] as const;
export type PopeSetting = (typeof POPE_SETTINGS)[number];

/** The binary metrics of one setting, "yes" being the positive class. */
export interface BinaryMetrics {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Share of predictions that are yes. */
  readonly yes_ratio: number;
}

/** What eval pope reports. */
export interface PopeReport {
  readonly settings: { readonly [S in PopeSetting]?: BinaryMetrics };
  /** Question ids of a setting with no answer. */
  readonly missing: readonly string[];
  /** Answer ids that belong to no question. */
  readonly extra: readonly string[];
}

/** LLaVA's POPE answer parsing. */
export function popeAnswer(text: string): 'yes' | 'no' {
  const first = text.includes('.') ? text.split('.')[0]! : text;
  const words = first.replace(/,/g, '').split(' ');
  return words.includes('No') || words.includes('not') || words.includes('no') ? 'no' : 'yes';
}

/** Precision, recall, F1, accuracy and yes-ratio from predictions and labels (yes positive). */
export function binaryMetrics(pairs: readonly { pred: 'yes' | 'no'; label: 'yes' | 'no' }[]): BinaryMetrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (const { pred, label } of pairs) {
    if (pred === 'yes' && label === 'yes') tp++;
    else if (pred === 'yes') fp++;
    else if (label === 'no') tn++;
    else fn++;
  }
  const n = tp + fp + tn + fn;
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  return {
    tp,
    fp,
    tn,
    fn,
    accuracy: n > 0 ? (tp + tn) / n : 0,
    precision,
    recall,
    f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0,
    yes_ratio: n > 0 ? (tp + fp) / n : 0,
  };
}

const isLabel = (v: unknown): v is 'yes' | 'no' => v === 'yes' || v === 'no';

/** Labels of one coco_pope_<setting>.json (JSON lines {question_id, image, text, label}). */
function readLabels(path: string): Map<string, 'yes' | 'no'> {
  const rows = readJsonLines(path, (o, where) => ({ id: String(field(o, 'question_id', where, isId, 'a string or number')), label: field(o, 'label', where, isLabel, '"yes" or "no"')!, text: field(o, 'text', where, isString, 'a string') }));
  return new Map(rows.map((r) => [r.id, r.label]));
}

/**
 * Scores POPE: annotation files per setting in `annotationDir`, the merged question file (a
 * `category` per question names its setting), the answers. Answers for unknown questions are
 * refused; missing and extra answers are reported.
 */
export function scorePope(annotationDir: string, questionsPath: string, answersPath: string): PopeReport {
  const questions = readQuestions(questionsPath);
  const answers = answersById(answersPath);
  const known = new Set(questions.map((q) => String(q.question_id)));
  const extra = [...answers.keys()].filter((id) => !known.has(id));
  if (extra.length === answers.size && answers.size > 0) throw new EvalFormatError(`${answersPath}: none of its answers is for a question of ${questionsPath} (another benchmark's answers?)`);
  const files = new Set(readdirSync(annotationDir));
  const settings: { [S in PopeSetting]?: BinaryMetrics } = {};
  const missing: string[] = [];
  for (const setting of POPE_SETTINGS) {
    const file = `coco_pope_${setting}.json`;
    if (!files.has(file)) continue;
    const labels = readLabels(join(annotationDir, file));
    const pairs: { pred: 'yes' | 'no'; label: 'yes' | 'no' }[] = [];
    for (const q of questions.filter((x) => x.category === setting)) {
      const id = String(q.question_id);
      const label = labels.get(id);
      if (!label) throw new EvalFormatError(`${join(annotationDir, file)}: no label for question ${id} of ${questionsPath}`);
      const text = answers.get(id);
      if (text === undefined) {
        missing.push(id);
        continue;
      }
      pairs.push({ pred: popeAnswer(text), label });
    }
    settings[setting] = binaryMetrics(pairs);
  }
  if (Object.keys(settings).length === 0) throw new EvalFormatError(`${annotationDir}: none of ${POPE_SETTINGS.map((s) => `coco_pope_${s}.json`).join(', ')} is there`);
  return { settings, missing, extra };
}
