// The rule teacher's questions with their true answers: existence (with true negatives),
// colour, counts (with wrong counts), relative position and size; benchmark-style ones are
// worded only with the world's non-held-out phrasings.
import type { Rng } from '../../../tensor/random.js';
import { fillPhrasing, positionForm, trainingPhrasings, type QuestionType } from '../../../world/phrasings.js';
import { opposite, type Relation } from '../../../world/spatial.js';
import { pick } from '../../seed.js';
import { absentCandidates, NEGATIVE_KINDS, type Knowledge } from './knowledge.js';
import { article, counted, joinList, numberWord, pluralize } from './language.js';
import { clearRelation, placeOf, relationPhrase, splitName, uniquelyNamed, type Scene, type SceneObject } from './scene.js';

/** What each question probes; complex reasoning rotates over these. */
export const QUESTION_KINDS = ['exists', 'absent', 'color', 'count', 'wrong-count', 'position', 'size'] as const;
export type QuestionKind = (typeof QUESTION_KINDS)[number];

/** A question, its short true answer, and the observations that lead to it. */
export interface QA {
  readonly kind: QuestionKind;
  readonly question: string;
  readonly answer: string;
  readonly steps: readonly string[];
}

/** Context every asker gets. */
export interface AskContext {
  readonly scene: Scene;
  readonly knowledge: Knowledge;
  readonly rng: Rng;
}

/** Our own wordings for the non-benchmark kinds (the world benchmark has no such templates). */
const WRONG_COUNT_PHRASINGS = ['Are there exactly {n} {shapes} in the image?', 'Does the picture show {n} {shapes}?'] as const;
const SIZE_PHRASINGS = ['Which is larger, the {a} or the {b}?', 'Which one takes up more space in the picture: the {a} or the {b}?'] as const;
/** Area ratio above which one object is clearly larger. */
const CLEARLY_LARGER = 1.5;
/** Direction words of the world's choice-form position templates, per relation. */
const DIRECTION_OF: { readonly [R in Relation]: string } = {
  'left of': 'to the left',
  'right of': 'to the right',
  above: 'up',
  below: 'down',
};

function phrase(rng: Rng, type: QuestionType, values: Record<string, string>, filter?: (template: string) => boolean): string {
  const pool = trainingPhrasings(type).filter((p) => !filter || filter(p.template));
  return fillPhrasing(pick(rng, pool).template, values);
}

/** "a red circle, two blue squares and a green star": what the picture holds. */
export function inventory(scene: Scene): string {
  return joinList([...scene.byName.entries()].map(([name, list]) => counted(list.length, name)));
}

function seeing(scene: Scene): string {
  return scene.objects.length === 0 ? 'I do not see any distinct objects in the picture.' : `Looking over the picture, I can see ${inventory(scene)}.`;
}

/** An object that is there, asked about by name. */
export function askExists(c: AskContext): QA | undefined {
  if (c.scene.objects.length === 0) return undefined;
  const [name, list] = pick(c.rng, [...c.scene.byName.entries()]);
  const question = phrase(c.rng, 'existence', { object: name });
  const answer =
    list.length === 1
      ? `Yes, there is ${article(name)} ${name} ${placeOf(list[0]!)}.`
      : `Yes, there are ${counted(list.length, name)} in the image.`;
  return { kind: 'exists', question, answer, steps: [seeing(c.scene), `That includes ${counted(list.length, name)}.`] };
}

/** An object that is not there: random, popular, co-occurring or a look-alike of a present one. */
export function askAbsent(c: AskContext): QA | undefined {
  if (c.scene.objects.length === 0) return undefined;
  const present = new Set(c.scene.byName.keys());
  const lookalikes = c.knowledge.names.filter((n) => !present.has(n) && sharesPart(n, present));
  const pools = [...NEGATIVE_KINDS.map((k) => absentCandidates(c.knowledge, present, k)), lookalikes].filter((p) => p.length > 0);
  if (pools.length === 0) return undefined;
  const name = pick(c.rng, pick(c.rng, pools));
  const question = phrase(c.rng, 'existence', { object: name });
  const near = nearestPresent(c.scene, name);
  const answer = `No, there is no ${name} in the image.${near ? ` There is ${article(near)} ${near}, but that is a different object.` : ''}`;
  return { kind: 'absent', question, answer, steps: [seeing(c.scene), `None of these is ${article(name)} ${name}.`] };
}

function sharesPart(name: string, present: ReadonlySet<string>): boolean {
  const a = splitName(name);
  if (a.color === undefined) return false;
  return [...present].some((p) => {
    const b = splitName(p);
    return b.category === a.category || b.color === a.color;
  });
}

function nearestPresent(scene: Scene, absent: string): string | undefined {
  const a = splitName(absent);
  if (a.color === undefined) return undefined;
  return [...scene.byName.keys()].find((p) => splitName(p).category === a.category);
}

/** The colour of the only object of a category. */
export function askColor(c: AskContext): QA | undefined {
  const singles = [...c.scene.byCategory.entries()].filter(([, list]) => list.length === 1 && list[0]!.color !== undefined);
  if (singles.length === 0) return undefined;
  const [category, [obj]] = pick(c.rng, singles) as [string, SceneObject[]];
  const question = phrase(c.rng, 'color', { shape: category });
  return {
    kind: 'color',
    question,
    answer: `The ${category} is ${obj!.color}.`,
    steps: [`There is exactly one ${category} in the picture, ${placeOf(obj!)}.`, `It is ${obj!.color}.`],
  };
}

/** How many objects of a category there are (sometimes one that is absent: zero). */
export function askCount(c: AskContext): QA | undefined {
  const presentCats = [...c.scene.byCategory.keys()];
  const absentCats = [...new Set(c.knowledge.names.map((n) => splitName(n).category))].filter((k) => !c.scene.byCategory.has(k));
  const useAbsent = absentCats.length > 0 && (presentCats.length === 0 || c.rng.uniform() < 0.2);
  if (presentCats.length === 0 && !useAbsent) return undefined;
  const category = useAbsent ? pick(c.rng, absentCats) : pick(c.rng, presentCats);
  const n = c.scene.byCategory.get(category)?.length ?? 0;
  const question = phrase(c.rng, 'count', { shapes: pluralize(category) });
  const steps = n === 0 ? [seeing(c.scene), `None of them is ${article(category)} ${category}.`] : [countingStep(c.scene, category)];
  return { kind: 'count', question, answer: countSentence(n, category), steps };
}

function countingStep(scene: Scene, category: string): string {
  const places = (scene.byCategory.get(category) ?? []).map(placeOf);
  if (places.length === 1) return `Looking for ${pluralize(category)}, I find exactly one, ${places[0]}.`;
  return `Looking for ${pluralize(category)}, I find ${places.length}: ${joinList(places.map((p) => `one ${p}`))}.`;
}

/** Counts are written in digits: the world benchmark's canonical count answers are digits. */
function countSentence(n: number, category: string): string {
  if (n === 1) return `There is 1 ${category}.`;
  return `There are ${n} ${pluralize(category)}${n === 0 ? ' in the image' : ''}.`;
}

/** "Are there exactly k X?" with k right or (more often) wrong. */
export function askWrongCount(c: AskContext): QA | undefined {
  const cats = [...c.scene.byCategory.entries()];
  if (cats.length === 0) return undefined;
  const [category, list] = pick(c.rng, cats);
  const n = list.length;
  const truthful = c.rng.uniform() < 1 / 3;
  const asked = truthful ? n : wrongCount(c.rng, n);
  const question = fillPhrasing(pick(c.rng, WRONG_COUNT_PHRASINGS), { n: numberWord(asked), shapes: asked === 1 ? category : pluralize(category) });
  const answer = truthful ? `Yes. ${countSentence(n, category)}` : `No. ${countSentence(n, category)}`;
  return { kind: 'wrong-count', question, answer, steps: [countingStep(c.scene, category)] };
}

function wrongCount(rng: Rng, n: number): number {
  const options = [n + 1, n + 2, n - 1].filter((k) => k >= 1 && k !== n);
  return pick(rng, options);
}

/** Where one uniquely named object is relative to another: yes/no or which-is-further. */
export function askPosition(c: AskContext): QA | undefined {
  const pairs: [SceneObject, SceneObject, Relation][] = [];
  const named = uniquelyNamed(c.scene);
  for (const a of named) {
    for (const b of named) {
      if (a === b) continue;
      for (const axis of ['x', 'y'] as const) {
        const r = clearRelation(a, b, axis);
        if (r) pairs.push([a, b, r]);
      }
    }
  }
  if (pairs.length === 0) return undefined;
  const [a, b, truth] = pick(c.rng, pairs);
  const fact = `The ${a.name} is ${relationPhrase(truth)} the ${b.name}.`;
  const steps = [`The ${a.name} is ${placeOf(a)}.`, `The ${b.name} is ${placeOf(b)}.`, fact];
  if (c.rng.uniform() < 0.5) {
    const asked = c.rng.uniform() < 0.5 ? truth : opposite(truth);
    const question = phrase(c.rng, 'position', { a: a.name, b: b.name, relation: asked }, (t) => positionForm(t) === 'yesno');
    const answer = asked === truth ? `Yes, the ${a.name} is ${relationPhrase(truth)} the ${b.name}.` : `No. ${fact}`;
    return { kind: 'position', question, answer, steps };
  }
  const [first, second] = c.rng.uniform() < 0.5 ? [a, b] : [b, a];
  const question = phrase(c.rng, 'position', { a: first.name, b: second.name, direction: DIRECTION_OF[truth] }, (t) => positionForm(t) === 'choice');
  return { kind: 'position', question, answer: `The ${a.name} is further ${DIRECTION_OF[truth]}.`, steps };
}

/** Which of two uniquely named objects is clearly larger. */
export function askSize(c: AskContext): QA | undefined {
  const named = uniquelyNamed(c.scene);
  const pairs: [SceneObject, SceneObject][] = [];
  for (const a of named) for (const b of named) if (a !== b && a.area > CLEARLY_LARGER * b.area) pairs.push([a, b]);
  if (pairs.length === 0) return undefined;
  const [big, small] = pick(c.rng, pairs);
  const [first, second] = c.rng.uniform() < 0.5 ? [big, small] : [small, big];
  const question = fillPhrasing(pick(c.rng, SIZE_PHRASINGS), { a: first.name, b: second.name });
  return {
    kind: 'size',
    question,
    answer: `The ${big.name} is larger than the ${small.name}.`,
    steps: [`The ${big.name} is ${placeOf(big)} and the ${small.name} is ${placeOf(small)}.`, `Comparing their extents, the ${big.name} covers clearly more of the picture.`],
  };
}

const ASKERS: { readonly [K in QuestionKind]: (c: AskContext) => QA | undefined } = {
  exists: askExists,
  absent: askAbsent,
  color: askColor,
  count: askCount,
  'wrong-count': askWrongCount,
  position: askPosition,
  size: askSize,
};

/**
 * How often complex reasoning asks each kind. Objects that are there and objects that are not
 * are asked equally often, so the answer to an existence question is never its prior.
 */
const KIND_WEIGHTS: { readonly [K in QuestionKind]: number } = {
  exists: 2,
  absent: 2,
  color: 2,
  count: 2,
  'wrong-count': 1,
  position: 3,
  size: 1,
};

/** One question of a kind drawn by weight among those this scene supports, or undefined if none does. */
export function askAny(c: AskContext, kinds: readonly QuestionKind[] = QUESTION_KINDS): QA | undefined {
  const remaining = [...kinds];
  while (remaining.length > 0) {
    const kind = weightedPick(c.rng, remaining);
    const qa = ASKERS[kind](c);
    if (qa) return qa;
    remaining.splice(remaining.indexOf(kind), 1);
  }
  return undefined;
}

function weightedPick(rng: Rng, kinds: readonly QuestionKind[]): QuestionKind {
  const total = kinds.reduce((s, k) => s + KIND_WEIGHTS[k], 0);
  let r = rng.uniform() * total;
  for (const k of kinds) {
    r -= KIND_WEIGHTS[k];
    if (r < 0) return k;
  }
  return kinds[kinds.length - 1]!;
}

