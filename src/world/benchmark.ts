// world-bench: held-out questions on the test split (POPE-style existence, colour, count,
// relative position, detailed description), answers balanced so no fixed reply beats chance.

import { Rng } from '../tensor/random.js';
import type { LoadedWorld, WorldImage, WorldObject } from './annotations.js';
import { PHRASINGS, fillPhrasing, positionForm, trainingPhrasings, type Phrasing, type QuestionType } from './phrasings.js';
import { pick, shuffled } from './sampling.js';
import { holds, opposite, type Relation } from './spatial.js';
import { COLORS, SHAPES, SHAPE_PLURAL, allObjectKinds, objectName, type Shape } from './vocabulary.js';

/** How a POPE negative was drawn. */
export type PopeSetting = 'random' | 'popular' | 'adversarial';
export const POPE_SETTINGS: readonly PopeSetting[] = ['random', 'popular', 'adversarial'];

/** One benchmark question: one line of the JSON-lines questions file. */
export interface BenchQuestion {
  /** "<type>-<n>", unique in the file. */
  readonly id: string;
  readonly type: QuestionType;
  readonly image_id: number;
  /** Image path relative to the world directory. */
  readonly image: string;
  readonly question: string;
  /** Index of the phrasing in PHRASINGS[type] (benchmark), or in trainingPhrasings(type) (training questions). */
  readonly phrasing: number;
  readonly held_out: boolean;
  /**
   * existence and yes/no position: "yes" | "no"; color: a colour name; count: digits ("2");
   * choice position: one of `choices`; detail: "" (see `objects`).
   */
  readonly answer: string;
  /** The closed answer set (absent for detail). */
  readonly choices?: readonly string[];
  /** existence only: which POPE negative sampling this question belongs to. */
  readonly pope?: PopeSetting;
  /** detail only: the names of the objects in the image, sorted, unique. */
  readonly objects?: readonly string[];
  /** existence: the object asked about; position: the two, in the order the question names them ("red circle"). */
  readonly named?: readonly string[];
  /** count: the shape counted. */
  readonly shape?: Shape;
}

/** Options of `generateBenchmark`. */
export interface BenchOptions {
  /** Target questions per type (per POPE setting for existence); balanced quotas round it up. */
  readonly perType: number;
  /** Seed of question sampling. */
  readonly seed: number;
}

export const DEFAULT_BENCH_OPTIONS: BenchOptions = { perType: 500, seed: 0 };

/** Counts asked about; a shape occurs 0..3 times often enough to balance these four answers. */
export const COUNT_ANSWERS: readonly string[] = ['0', '1', '2', '3'];
/** Most-frequent or most-co-occurring absent objects a popular/adversarial negative is drawn from. */
const NEGATIVE_POOL = 3;
const BENCH_STREAM = 0xbe4c;
const TRAINING_STREAM = 0x7a91;
/**
 * Training's negatives: POPE's random ones and, twice as often, one attribute swapped. POPE's popular and adversarial
 * pools are a few frequent objects, so as training negatives they teach which names tend to be absent, not how to look.
 */
const TRAINING_NEGATIVES: readonly NegativeKind[] = ['random', 'swap', 'swap'];

/** A question before it gets its id; `key` is the answer class quotas balance over. */
interface Candidate {
  readonly key: string;
  readonly q: Omit<BenchQuestion, 'id'>;
}

const YES_NO: readonly string[] = ['yes', 'no'];

function namesIn(im: WorldImage): Set<string> {
  return new Set(im.objects.map(objectName));
}

function countShape(im: WorldImage, shape: Shape): number {
  return im.objects.filter((o) => o.shape === shape).length;
}

/** Where questions are drawn: the seeded stream and the phrasings allowed (the benchmark's, or training's). */
interface Draw {
  readonly rng: Rng;
  readonly phrasings: (type: QuestionType) => readonly Phrasing[];
}

/** Picks a phrasing index of a type uniformly from the draw's phrasings. */
function choosePhrasing(d: Draw, type: QuestionType, accept: (template: string) => boolean = () => true): number {
  const ok = d.phrasings(type).map((p, i) => ({ p, i })).filter(({ p }) => accept(p.template));
  return pick(d.rng, ok).i;
}

function base(d: Draw, type: QuestionType, im: WorldImage, phrasing: number, values: Record<string, string>): Omit<BenchQuestion, 'id' | 'answer'> {
  const p = d.phrasings(type)[phrasing]!;
  return { type, image_id: im.id, image: im.fileName, question: fillPhrasing(p.template, values), phrasing, held_out: p.heldOut };
}

/** Takes an equal number of candidates of every key (as many as `target` needs, at most the rarest key's supply). */
function balanced(rng: Rng, candidates: readonly Candidate[], keys: readonly string[], target: number): Omit<BenchQuestion, 'id'>[] {
  const byKey = new Map<string, Candidate[]>(keys.map((k) => [k, []]));
  for (const c of candidates) byKey.get(c.key)?.push(c);
  const quota = Math.min(Math.ceil(target / keys.length), ...[...byKey.values()].map((l) => l.length));
  const chosen = keys.flatMap((k) => shuffled(rng, byKey.get(k)!).slice(0, quota));
  return shuffled(rng, chosen).map((c) => c.q);
}

/** Object-name frequencies and pairwise co-occurrence over the training images. */
interface Statistics {
  readonly frequency: ReadonlyMap<string, number>;
  readonly cooccurrence: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

function statistics(images: readonly WorldImage[]): Statistics {
  const frequency = new Map<string, number>();
  const cooccurrence = new Map<string, Map<string, number>>();
  for (const im of images) {
    const names = [...namesIn(im)];
    for (const a of names) {
      frequency.set(a, (frequency.get(a) ?? 0) + 1);
      const row = cooccurrence.get(a) ?? new Map<string, number>();
      cooccurrence.set(a, row);
      for (const b of names) if (a !== b) row.set(b, (row.get(b) ?? 0) + 1);
    }
  }
  return { frequency, cooccurrence };
}

/** Absent names ranked for a setting (best first); random gives them all in shuffled order. */
function negativePool(rng: Rng, setting: PopeSetting, present: Set<string>, stats: Statistics): string[] {
  const absent = allObjectKinds().map(objectName).filter((n) => !present.has(n));
  const rankBy = (score: (n: string) => number): string[] =>
    [...absent].sort((a, b) => score(b) - score(a) || a.localeCompare(b)).slice(0, NEGATIVE_POOL);
  switch (setting) {
    case 'random':
      return shuffled(rng, absent);
    case 'popular':
      return rankBy((n) => stats.frequency.get(n) ?? 0);
    case 'adversarial':
      return rankBy((n) => [...present].reduce((s, p) => s + (stats.cooccurrence.get(p)?.get(n) ?? 0), 0));
    default:
      return setting satisfies never;
  }
}

/**
 * Absent names one attribute away from a present object (the red star's colour or shape changed),
 * shuffled: negatives that only the picture, read for both colour and shape, can rule out.
 */
function swappedNegatives(rng: Rng, im: WorldImage, present: Set<string>): string[] {
  const near = allObjectKinds().filter((k) => !present.has(objectName(k)) && im.objects.some((o) => o.color === k.color || o.shape === k.shape));
  return shuffled(rng, near.map(objectName));
}

/** How training questions draw their negatives: each POPE setting's way, and one attribute swapped. */
type NegativeKind = PopeSetting | 'swap';

function existenceQuestions(d: Draw, test: readonly WorldImage[], stats: Statistics, perSetting: number, kinds: readonly NegativeKind[] = POPE_SETTINGS): Omit<BenchQuestion, 'id'>[] {
  const { rng } = d;
  const out: Omit<BenchQuestion, 'id'>[] = [];
  for (const setting of kinds) {
    const candidates: Candidate[] = [];
    for (const im of test) {
      const present = namesIn(im);
      const ask = (object: string, answer: string): void => {
        const q = { ...base(d, 'existence', im, choosePhrasing(d, 'existence'), { object }), named: [object], answer, choices: YES_NO, ...(setting === 'swap' ? {} : { pope: setting }) };
        candidates.push({ key: answer, q });
      };
      ask(pick(rng, [...present]), 'yes');
      const negatives = setting === 'swap' ? swappedNegatives(rng, im, present) : negativePool(rng, setting, present, stats);
      if (negatives.length > 0) ask(pick(rng, negatives), 'no'); // balanced() evens the answers out
    }
    out.push(...balanced(rng, candidates, YES_NO, perSetting));
  }
  return out;
}

function colorQuestions(d: Draw, test: readonly WorldImage[], target: number): Omit<BenchQuestion, 'id'>[] {
  const candidates: Candidate[] = [];
  for (const im of test) {
    for (const shape of SHAPES) {
      const matches = im.objects.filter((o) => o.shape === shape);
      if (matches.length !== 1) continue; // "the circle" must name one object
      const answer = matches[0]!.color;
      candidates.push({ key: answer, q: { ...base(d, 'color', im, choosePhrasing(d, 'color'), { shape }), answer, choices: COLORS } });
    }
  }
  return balanced(d.rng, candidates, COLORS, target);
}

function countQuestions(d: Draw, test: readonly WorldImage[], target: number): Omit<BenchQuestion, 'id'>[] {
  const candidates: Candidate[] = [];
  for (const im of test) {
    for (const shape of SHAPES) {
      const answer = String(countShape(im, shape));
      if (!COUNT_ANSWERS.includes(answer)) continue;
      const q = { ...base(d, 'count', im, choosePhrasing(d, 'count'), { shapes: SHAPE_PLURAL[shape] }), shape, answer, choices: COUNT_ANSWERS };
      candidates.push({ key: answer, q });
    }
  }
  return balanced(d.rng, candidates, COUNT_ANSWERS, target);
}

/** Direction word of the choice form for the relation "a is <rel> b" (a lies further that way). */
const DIRECTION_OF: { readonly [R in Relation]: string } = {
  'left of': 'to the left',
  'right of': 'to the right',
  above: 'up',
  below: 'down',
};

/** Objects whose name is unique in the image, so "the red circle" is one object. */
function uniquelyNamed(im: WorldImage): WorldObject[] {
  return im.objects.filter((o) => im.objects.filter((p) => objectName(p) === objectName(o)).length === 1);
}

function positionQuestions(d: Draw, test: readonly WorldImage[], target: number): Omit<BenchQuestion, 'id'>[] {
  const { rng } = d;
  const candidates: Candidate[] = [];
  for (const im of test) {
    const named = uniquelyNamed(im);
    for (const a of named) {
      for (const b of named) {
        if (a === b) continue;
        // Only relations that hold without doubt; asking the opposite gives the "no" cases.
        for (const rel of ['left of', 'above'] as const) {
          const truth = holds(rel, a, b) ? rel : holds(opposite(rel), a, b) ? opposite(rel) : undefined;
          if (truth === undefined) continue;
          const phrasing = choosePhrasing(d, 'position');
          const values = { a: objectName(a), b: objectName(b) };
          const named = [values.a, values.b];
          if (positionForm(d.phrasings('position')[phrasing]!.template) === 'yesno') {
            const asked = rng.uniform() < 0.5 ? truth : opposite(truth);
            const answer = asked === truth ? 'yes' : 'no';
            const q = { ...base(d, 'position', im, phrasing, { ...values, relation: asked }), named, answer, choices: YES_NO };
            candidates.push({ key: `yesno:${answer}`, q });
          } else {
            const direction = rng.uniform() < 0.5 ? truth : opposite(truth);
            // a is `truth` of b, so a lies further in direction `truth`.
            const answer = direction === truth ? values.a : values.b;
            const q = { ...base(d, 'position', im, phrasing, { ...values, direction: DIRECTION_OF[direction] }), named, answer, choices: [values.a, values.b] };
            candidates.push({ key: answer === values.a ? 'choice:first' : 'choice:second', q });
          }
        }
      }
    }
  }
  return balanced(rng, candidates, ['yesno:yes', 'yesno:no', 'choice:first', 'choice:second'], target);
}

function detailQuestions(d: Draw, test: readonly WorldImage[], target: number): Omit<BenchQuestion, 'id'>[] {
  return shuffled(d.rng, test)
    .slice(0, target)
    .map((im) => ({ ...base(d, 'detail', im, choosePhrasing(d, 'detail'), {}), answer: '', objects: [...namesIn(im)].sort() }));
}

function withIds(questions: readonly Omit<BenchQuestion, 'id'>[]): BenchQuestion[] {
  const counters = new Map<string, number>();
  return questions.map((q) => {
    const n = (counters.get(q.type) ?? 0) + 1;
    counters.set(q.type, n);
    return { id: `${q.type}-${String(n).padStart(5, '0')}`, ...q };
  });
}

function splitImages(world: Pick<LoadedWorld, 'images' | 'splits'>, split: 'train' | 'test'): WorldImage[] {
  return world.splits[split].map((id) => {
    const im = world.images.get(id);
    if (im === undefined) throw new Error(`splits list image ${id}, which has no annotations`);
    return im;
  });
}

/** The world's benchmark: questions on its test split, statistics from its train split. */
export function generateBenchmark(world: Pick<LoadedWorld, 'images' | 'splits'>, options: BenchOptions = DEFAULT_BENCH_OPTIONS): BenchQuestion[] {
  const test = splitImages(world, 'test');
  if (test.length === 0) throw new Error('the world has no test images; generate more scenes');
  const stats = statistics(splitImages(world, 'train'));
  const d: Draw = { rng: new Rng((options.seed ^ BENCH_STREAM) >>> 0), phrasings: (type) => PHRASINGS[type] };
  return withIds([
    ...existenceQuestions(d, test, stats, options.perType),
    ...colorQuestions(d, test, options.perType),
    ...countQuestions(d, test, options.perType),
    ...positionQuestions(d, test, options.perType),
    ...detailQuestions(d, test, options.perType),
  ]);
}

/**
 * The benchmark's closed question types asked of the train split, in training phrasings only
 * (the seen ones and training's own paraphrases; held-out wordings stay unseen): short-answer training data, as LLaVA-1.5 mixes academic VQA
 * into its instruction data. Answers are balanced the same way (existence per kind of negative: random, swapped).
 */
export function generateTrainingQuestions(world: Pick<LoadedWorld, 'images' | 'splits'>, options: BenchOptions): BenchQuestion[] {
  const train = splitImages(world, 'train');
  if (train.length === 0) throw new Error('the world has no train images; generate more scenes');
  const d: Draw = { rng: new Rng((options.seed ^ TRAINING_STREAM) >>> 0), phrasings: trainingPhrasings };
  return withIds([
    ...existenceQuestions(d, train, statistics(train), options.perType, TRAINING_NEGATIVES),
    ...colorQuestions(d, train, options.perType),
    ...countQuestions(d, train, options.perType),
    ...positionQuestions(d, train, options.perType),
  ]);
}

/** The questions as JSON lines, one question per line. */
export function benchmarkToJsonLines(questions: readonly BenchQuestion[]): string {
  return questions.map((q) => JSON.stringify(q)).join('\n') + '\n';
}
