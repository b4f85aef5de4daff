// world-bench questions: at least 500 per type, answers balanced, every answer unique and
// correct when recomputed from the annotations, held-out phrasings present, POPE negatives meaningful.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeWorld } from '../../src/world/world.js';
import { worldImages, type WorldImage, type WorldObject } from '../../src/world/annotations.js';
import { generateBenchmark, type BenchQuestion } from '../../src/world/benchmark.js';
import { PHRASINGS, QUESTION_TYPES } from '../../src/world/phrasings.js';
import { SHAPES, SHAPE_PLURAL, objectName } from '../../src/world/vocabulary.js';

const { annotations, splits } = describeWorld(5000, 64, 21);
const images = worldImages(annotations);
const questions = generateBenchmark({ images, splits }, { perType: 500, seed: 4 });
const testIds = new Set(splits.test);

const ofType = (t: string): BenchQuestion[] => questions.filter((q) => q.type === t);
const names = (im: WorldImage): Set<string> => new Set(im.objects.map(objectName));
const byName = (im: WorldImage, name: string): WorldObject[] => im.objects.filter((o) => objectName(o) === name);

function tally(qs: readonly BenchQuestion[], key: (q: BenchQuestion) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const q of qs) m.set(key(q), (m.get(key(q)) ?? 0) + 1);
  return m;
}

function assertBalanced(qs: readonly BenchQuestion[], key: (q: BenchQuestion) => string, classes: number, what: string): void {
  const counts = [...tally(qs, key).values()];
  assert.equal(counts.length, classes, `${what}: ${counts.length} answer classes`);
  assert.ok(counts.every((c) => c === counts[0]), `${what}: unbalanced ${counts}`);
}

test('deterministic, on test images only, at least 500 questions per type', () => {
  assert.deepEqual(generateBenchmark({ images, splits }, { perType: 500, seed: 4 }), questions);
  assert.ok(questions.every((q) => testIds.has(q.image_id)));
  assert.equal(new Set(questions.map((q) => q.id)).size, questions.length);
  for (const t of QUESTION_TYPES) assert.ok(ofType(t).length >= 500, `${t}: ${ofType(t).length}`);
  for (const s of ['random', 'popular', 'adversarial']) assert.ok(ofType('existence').filter((q) => q.pope === s).length >= 500, s);
});

test('answers are balanced so no fixed answer beats chance', () => {
  for (const s of ['random', 'popular', 'adversarial']) {
    assertBalanced(ofType('existence').filter((q) => q.pope === s), (q) => q.answer, 2, `existence/${s}`);
  }
  assertBalanced(ofType('color'), (q) => q.answer, 7, 'color');
  assertBalanced(ofType('count'), (q) => q.answer, 4, 'count');
  const yesno = ofType('position').filter((q) => q.choices?.includes('yes'));
  const choice = ofType('position').filter((q) => !q.choices?.includes('yes'));
  assertBalanced(yesno, (q) => q.answer, 2, 'position yes/no');
  assertBalanced(choice, (q) => String(q.choices!.indexOf(q.answer)), 2, 'position choice slot');
});

test('every question uses its recorded phrasing, and each type has seen and held-out ones', () => {
  for (const q of questions) {
    const p = PHRASINGS[q.type][q.phrasing]!;
    assert.equal(p.heldOut, q.held_out);
    const pattern = new RegExp(`^${p.template.replace(/[.?'()]/g, '\\$&').replace(/\{[a-z_]+\}/g, '.+')}$`);
    assert.match(q.question, pattern);
  }
  for (const t of QUESTION_TYPES) {
    const held = ofType(t).filter((q) => q.held_out).length;
    assert.ok(held > 0 && held < ofType(t).length, `${t}: ${held} held-out`);
  }
});

/** The answer recomputed from the annotations alone, or throws if the question has no unique answer. */
function recompute(q: BenchQuestion): string {
  const im = images.get(q.image_id)!;
  const text = q.question.toLowerCase();
  switch (q.type) {
    case 'existence': {
      const name = text.match(new RegExp(`\\b(red|orange|yellow|green|blue|purple|pink) (${SHAPES.join('|')})\\b`))![0];
      return names(im).has(name) ? 'yes' : 'no';
    }
    case 'color': {
      const shape = SHAPES.find((s) => new RegExp(`\\b${s}\\b`).test(text))!;
      const matches = im.objects.filter((o) => o.shape === shape);
      assert.equal(matches.length, 1, `${q.id}: "the ${shape}" must be one object`);
      return matches[0]!.color;
    }
    case 'count': {
      const shape = SHAPES.find((s) => new RegExp(`\\b${SHAPE_PLURAL[s]}\\b`).test(text))!;
      return String(im.objects.filter((o) => o.shape === shape).length);
    }
    case 'position':
      return recomputePosition(q, im, text);
    case 'detail':
      return '';
    default:
      return q.type satisfies never;
  }
}

function recomputePosition(q: BenchQuestion, im: WorldImage, text: string): string {
  const found = [...text.matchAll(/the (\w+ \w+)\b/g)].map((m) => m[1]!).filter((n) => byName(im, n).length > 0);
  assert.equal(found.length, 2, `${q.id}: two objects named`);
  const [a, b] = found.map((n) => {
    const objs = byName(im, n);
    assert.equal(objs.length, 1, `${q.id}: "${n}" must name one object`);
    return objs[0]!.box;
  });
  const leftOf = a!.x1 <= b!.x0;
  const rightOf = a!.x0 >= b!.x1;
  const above = a!.y1 <= b!.y0;
  const below = a!.y0 >= b!.y1;
  const rel = text.match(/\b(left of|right of|above|below)\b/);
  if (q.choices?.includes('yes')) {
    const axisSeparated = rel![1] === 'left of' || rel![1] === 'right of' ? leftOf || rightOf : above || below;
    assert.ok(axisSeparated, `${q.id}: objects must be clearly apart on the asked axis`);
    const truth = { 'left of': leftOf, 'right of': rightOf, above, below }[rel![1] as 'above'];
    return truth ? 'yes' : 'no';
  }
  const dir = text.match(/further (to the left|to the right|up|down)/)![1]!;
  const aFurther = { 'to the left': leftOf, 'to the right': rightOf, up: above, down: below }[dir as 'up'];
  const bFurther = { 'to the left': rightOf, 'to the right': leftOf, up: below, down: above }[dir as 'up'];
  assert.ok(aFurther !== bFurther, `${q.id}: exactly one object is further ${dir}`);
  return aFurther ? found[0]! : found[1]!;
}

test('every answer is unique and correct, recomputed from the annotations', () => {
  for (const q of questions) {
    if (q.type === 'detail') {
      assert.deepEqual(q.objects, [...names(images.get(q.image_id)!)].sort());
      continue;
    }
    assert.equal(recompute(q), q.answer, `${q.id}: ${q.question}`);
    assert.ok(q.choices!.includes(q.answer));
  }
});

test('POPE negatives: popular ones are frequent objects, adversarial ones co-occur with the scene', () => {
  const train = splits.train.map((id) => images.get(id)!);
  const freq = new Map<string, number>();
  const co = new Map<string, number>();
  for (const im of train) for (const n of names(im)) freq.set(n, (freq.get(n) ?? 0) + 1);
  for (const im of train) for (const a of names(im)) for (const b of names(im)) if (a !== b) co.set(`${a}|${b}`, (co.get(`${a}|${b}`) ?? 0) + 1);
  const negatives = (s: string): BenchQuestion[] => ofType('existence').filter((q) => q.pope === s && q.answer === 'no');
  const objectOf = (q: BenchQuestion): string => q.question.match(/(red|orange|yellow|green|blue|purple|pink) \w+/)![0];
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  const popularity = (s: string): number => mean(negatives(s).map((q) => freq.get(objectOf(q)) ?? 0));
  const cooccurrence = (s: string): number =>
    mean(negatives(s).map((q) => [...names(images.get(q.image_id)!)].reduce((t, p) => t + (co.get(`${p}|${objectOf(q)}`) ?? 0), 0)));
  assert.ok(popularity('popular') > 1.3 * popularity('random'), `popular ${popularity('popular')} vs random ${popularity('random')}`);
  assert.ok(cooccurrence('adversarial') > 2 * cooccurrence('random'), `adversarial ${cooccurrence('adversarial')} vs random ${cooccurrence('random')}`);
});

test('questions carry what they name: the asked object, the two compared, the counted shape', () => {
  for (const q of questions) {
    if (q.type === 'existence') {
      assert.equal(q.named!.length, 1);
      assert.ok(q.question.includes(q.named![0]!), `${q.question} names ${q.named}`);
    }
    if (q.type === 'count') assert.ok(q.question.includes(SHAPE_PLURAL[q.shape!]), `${q.question} counts ${q.shape}`);
    if (q.type === 'position') {
      const [a, b] = q.named!;
      assert.ok(q.question.indexOf(a!) >= 0 && q.question.indexOf(a!) < q.question.lastIndexOf(b!), `${q.question}: ${a} then ${b}`);
      assert.deepEqual(q.choices!.includes('yes') ? ['yes', 'no'] : q.named, q.choices, q.question);
    }
    if (q.type === 'color' || q.type === 'detail') assert.equal(q.named, undefined);
  }
});
