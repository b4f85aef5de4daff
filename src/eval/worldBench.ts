// Scores replies to world-bench questions: accuracy per type (seen vs held-out phrasings),
// POPE metrics per negative setting, description precision/recall, with chance and majority baselines.

import { readFileSync } from 'node:fs';
import type { BenchQuestion, PopeSetting } from '../world/benchmark.js';
import { POPE_SETTINGS } from '../world/benchmark.js';
import { QUESTION_TYPES, type QuestionType } from '../world/phrasings.js';
import { conclusion, parseChoice, parseColor, parseCount, parseMentions, parseYesNo } from './worldBenchParse.js';

/** A model's reply to one question. */
export interface BenchReply {
  readonly id: string;
  readonly answer: string;
}

/** Accuracy over a subset of questions. */
export interface Accuracy {
  readonly n: number;
  readonly correct: number;
  /** correct / n (0 when n is 0). */
  readonly accuracy: number;
}

/** Score of a closed-answer question type. */
export interface TypeScore extends Accuracy {
  readonly seen: Accuracy;
  readonly heldOut: Accuracy;
  /** Replies the parser could not read (counted wrong). */
  readonly unparsed: number;
  /** Expected accuracy of a uniform random guess among the choices. */
  readonly chance: number;
  /** Accuracy of the best fixed answer (per answer set; "first"/"second" for two-name choices). */
  readonly majority: number;
}

/** POPE metrics for one negative setting (or "all"); "yes" is the positive class. */
export interface PopeScore {
  readonly setting: PopeSetting | 'all';
  readonly n: number;
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Share of replies read as "yes" (0.5 for an unbiased model). */
  readonly yesRatio: number;
}

/** Precision and recall of the objects (colour + shape) descriptions mention, micro-averaged. */
export interface MentionScore {
  readonly n: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

export interface DetailScore extends MentionScore {
  readonly seen: MentionScore;
  readonly heldOut: MentionScore;
  /** A fixed description naming the most common objects, as the baseline to beat. */
  readonly baseline: MentionScore & { readonly objects: readonly string[] };
}

/** The full report. */
export interface WorldBenchReport {
  readonly existence: TypeScore & { readonly pope: readonly PopeScore[] };
  readonly color: TypeScore;
  readonly count: TypeScore;
  readonly position: TypeScore;
  readonly detail: DetailScore;
  /** Questions with no reply (scored as wrong / empty). */
  readonly missing: number;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);
const f1Of = (p: number, r: number): number => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

/** What the parser reads a reply as, for a closed question; undefined if unreadable. */
export function readReply(q: BenchQuestion, whole: string): string | undefined {
  const reply = q.type === 'detail' ? whole : conclusion(whole);
  switch (q.type) {
    case 'existence':
      return parseYesNo(reply);
    case 'color':
      return parseColor(reply);
    case 'count': {
      const n = parseCount(reply);
      return n === undefined ? undefined : String(n);
    }
    case 'position':
      return q.choices !== undefined && q.choices.includes('yes') ? parseYesNo(reply) : parseChoice(reply, q.choices ?? []);
    case 'detail':
      return parseMentions(reply).join(', ');
    default:
      return q.type satisfies never;
  }
}

function accuracyOf(items: readonly { q: BenchQuestion; ok: boolean }[]): Accuracy {
  const correct = items.filter((i) => i.ok).length;
  return { n: items.length, correct, accuracy: ratio(correct, items.length) };
}

/** Answer class for the majority baseline: the answer itself, or its slot when choices are names. */
function answerSlot(q: BenchQuestion): { set: string; key: string } {
  const choices = q.choices ?? [];
  const fixedVocabulary = choices.includes('yes') || q.type === 'color' || q.type === 'count';
  return fixedVocabulary ? { set: choices.join('|'), key: q.answer } : { set: 'names', key: `#${choices.indexOf(q.answer)}` };
}

function majorityRate(questions: readonly BenchQuestion[]): number {
  const counts = new Map<string, Map<string, number>>();
  for (const q of questions) {
    const { set, key } = answerSlot(q);
    const m = counts.get(set) ?? new Map<string, number>();
    counts.set(set, m);
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  const best = [...counts.values()].reduce((s, m) => s + Math.max(...m.values()), 0);
  return ratio(best, questions.length);
}

function scoreClosed(questions: readonly BenchQuestion[], replies: ReadonlyMap<string, string>): TypeScore {
  const judged = questions.map((q) => {
    const read = readReply(q, replies.get(q.id) ?? '');
    return { q, read, ok: read === q.answer };
  });
  return {
    ...accuracyOf(judged),
    seen: accuracyOf(judged.filter((j) => !j.q.held_out)),
    heldOut: accuracyOf(judged.filter((j) => j.q.held_out)),
    unparsed: judged.filter((j) => j.read === undefined).length,
    chance: ratio(questions.reduce((s, q) => s + 1 / Math.max(1, q.choices?.length ?? 1), 0), questions.length),
    majority: majorityRate(questions),
  };
}

function popeScore(setting: PopeScore['setting'], questions: readonly BenchQuestion[], replies: ReadonlyMap<string, string>): PopeScore {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const q of questions) {
    // As in POPE, anything not read as "yes" counts as "no".
    const saidYes = readReply(q, replies.get(q.id) ?? '') === 'yes';
    if (q.answer === 'yes') saidYes ? tp++ : fn++;
    else saidYes ? fp++ : tn++;
  }
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return { setting, n: questions.length, accuracy: ratio(tp + tn, questions.length), precision, recall, f1: f1Of(precision, recall), yesRatio: ratio(tp + fp, questions.length) };
}

function mentionScore(pairs: readonly { mentioned: readonly string[]; gold: readonly string[] }[]): MentionScore {
  let hits = 0;
  let mentioned = 0;
  let gold = 0;
  for (const p of pairs) {
    const g = new Set(p.gold);
    hits += p.mentioned.filter((m) => g.has(m)).length;
    mentioned += p.mentioned.length;
    gold += g.size;
  }
  const precision = ratio(hits, mentioned);
  const recall = ratio(hits, gold);
  return { n: pairs.length, precision, recall, f1: f1Of(precision, recall) };
}

function scoreDetail(questions: readonly BenchQuestion[], replies: ReadonlyMap<string, string>): DetailScore {
  const pairs = questions.map((q) => ({ q, gold: q.objects ?? [], mentioned: parseMentions(replies.get(q.id) ?? '') }));
  const frequency = new Map<string, number>();
  for (const p of pairs) for (const g of p.gold) frequency.set(g, (frequency.get(g) ?? 0) + 1);
  const meanObjects = Math.max(1, Math.round(ratio(pairs.reduce((s, p) => s + p.gold.length, 0), pairs.length)));
  const common = [...frequency.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, meanObjects).map(([n]) => n);
  return {
    ...mentionScore(pairs),
    seen: mentionScore(pairs.filter((p) => !p.q.held_out)),
    heldOut: mentionScore(pairs.filter((p) => p.q.held_out)),
    baseline: { ...mentionScore(pairs.map((p) => ({ gold: p.gold, mentioned: common }))), objects: common },
  };
}

/** Scores replies (matched by question id) against the questions. */
export function scoreWorldBench(questions: readonly BenchQuestion[], replies: readonly BenchReply[]): WorldBenchReport {
  const byId = new Map(replies.map((r) => [r.id, r.answer]));
  const ofType = (t: QuestionType): BenchQuestion[] => questions.filter((q) => q.type === t);
  const existence = ofType('existence');
  const pope = [
    ...POPE_SETTINGS.map((s) => popeScore(s, existence.filter((q) => q.pope === s), byId)),
    popeScore('all', existence, byId),
  ];
  return {
    existence: { ...scoreClosed(existence, byId), pope },
    color: scoreClosed(ofType('color'), byId),
    count: scoreClosed(ofType('count'), byId),
    position: scoreClosed(ofType('position'), byId),
    detail: scoreDetail(ofType('detail'), byId),
    missing: questions.filter((q) => !byId.has(q.id)).length,
  };
}

function parseJsonLines(file: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const out: Record<string, unknown>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${file}:${i + 1}: expected a JSON object`);
    out.push(v as Record<string, unknown>);
  });
  return out;
}

/** Reads a questions file written by `llava world bench` (JSON lines), checking each line's fields. */
export function readBenchQuestions(file: string): BenchQuestion[] {
  return parseJsonLines(file).map((r, i) => {
    const where = `${file}:${i + 1}`;
    if (typeof r.id !== 'string') throw new Error(`${where}: field "id" must be a string`);
    if (typeof r.type !== 'string' || !(QUESTION_TYPES as readonly string[]).includes(r.type)) {
      throw new Error(`${where}: field "type" must be one of ${QUESTION_TYPES.join(', ')}, got ${JSON.stringify(r.type)}`);
    }
    for (const f of ['question', 'answer', 'image'] as const) if (typeof r[f] !== 'string') throw new Error(`${where}: field "${f}" must be a string`);
    if (typeof r.held_out !== 'boolean') throw new Error(`${where}: field "held_out" must be a boolean`);
    return r as unknown as BenchQuestion;
  });
}

/** Reads replies as JSON lines: {id, answer} (or LLaVA's {question_id, text}). */
export function readBenchReplies(file: string): BenchReply[] {
  return parseJsonLines(file).map((r, i) => {
    const id = r.id ?? r.question_id;
    const answer = r.answer ?? r.text;
    if (typeof id !== 'string') throw new Error(`${file}:${i + 1}: needs a string "id" (or "question_id")`);
    if (typeof answer !== 'string') throw new Error(`${file}:${i + 1}: needs a string "answer" (or "text")`);
    return { id, answer };
  });
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** A plain-text table of a report, for the terminal. */
export function formatWorldBenchReport(r: WorldBenchReport): string {
  const lines = ['type       n     acc     seen    held-out chance  majority unparsed'];
  for (const t of ['existence', 'color', 'count', 'position'] as const) {
    const s = r[t];
    lines.push(`${t.padEnd(10)} ${String(s.n).padEnd(5)} ${pct(s.accuracy).padEnd(7)} ${pct(s.seen.accuracy).padEnd(7)} ${pct(s.heldOut.accuracy).padEnd(8)} ${pct(s.chance).padEnd(7)} ${pct(s.majority).padEnd(8)} ${s.unparsed}`);
  }
  lines.push('', 'POPE       n     acc     prec    recall  F1      yes-ratio');
  for (const p of r.existence.pope) {
    lines.push(`${p.setting.padEnd(10)} ${String(p.n).padEnd(5)} ${pct(p.accuracy).padEnd(7)} ${pct(p.precision).padEnd(7)} ${pct(p.recall).padEnd(7)} ${pct(p.f1).padEnd(7)} ${pct(p.yesRatio)}`);
  }
  const d = r.detail;
  lines.push('', 'detail     n     prec    recall  F1');
  for (const [name, s] of [['all', d], ['seen', d.seen], ['held-out', d.heldOut], ['baseline', d.baseline]] as const) {
    lines.push(`${name.padEnd(10)} ${String(s.n).padEnd(5)} ${pct(s.precision).padEnd(7)} ${pct(s.recall).padEnd(7)} ${pct(s.f1)}`);
  }
  if (r.missing > 0) lines.push('', `${r.missing} questions had no reply (scored as wrong)`);
  return lines.join('\n');
}
