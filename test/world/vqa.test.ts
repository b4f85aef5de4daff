// Short-answer training questions: the benchmark's closed types asked of the train split in
// training phrasings only, each answer right for its image, existence balanced per image, and
// the conversations in LLaVA's shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeWorld } from '../../src/world/world.js';
import { worldImages } from '../../src/world/annotations.js';
import { generateTrainingQuestions } from '../../src/world/benchmark.js';
import { shortAnswer, worldVqaEntries } from '../../src/world/vqa.js';
import { PHRASINGS } from '../../src/world/phrasings.js';
import { conversationProblem } from '../../src/datagen/export.js';
import { parseCount, parseColor, parseYesNo } from '../../src/eval/worldBenchParse.js';
import { allObjectKinds, objectName } from '../../src/world/vocabulary.js';

const { annotations, splits } = describeWorld(1200, 64, 5);
const images = worldImages(annotations);
const world = { images, splits };
const questions = generateTrainingQuestions(world, { perType: 400, seed: 1 });

test('training questions: train images only, no held-out phrasing, every closed type, deterministic', () => {
  const train = new Set(splits.train);
  assert.ok(questions.every((q) => train.has(q.image_id)));
  assert.ok(questions.every((q) => !q.held_out && !PHRASINGS[q.type][q.phrasing]!.heldOut));
  assert.deepEqual([...new Set(questions.map((q) => q.type))].sort(), ['color', 'count', 'existence', 'position']);
  assert.deepEqual(generateTrainingQuestions(world, { perType: 400, seed: 1 }), questions);
  assert.notDeepEqual(generateTrainingQuestions(world, { perType: 400, seed: 2 }).slice(0, 20), questions.slice(0, 20));
});

test('existence answers are right for their image; training negatives include one-attribute swaps', () => {
  const present = (q: { image_id: number }) => new Set(images.get(q.image_id)!.objects.map(objectName));
  const swaps = questions.filter((q) => q.type === 'existence' && q.answer === 'no' && q.pope === undefined);
  assert.ok(swaps.length > 50, `${swaps.length} swapped negatives`);
  for (const q of swaps) {
    const [colour, shape] = q.question.match(/(red|orange|yellow|green|blue|purple|pink) (circle|square|triangle|diamond|star|hexagon)/)!.slice(1);
    assert.ok([...present(q)].some((n) => n.startsWith(`${colour} `) || n.endsWith(` ${shape}`)), `${q.question}: one attribute from a present object`);
  }
  for (const q of questions.filter((x) => x.type === 'existence')) {
    const present = new Set(images.get(q.image_id)!.objects.map(objectName));
    const asked = allObjectKinds().map(objectName).find((n) => q.question.includes(` ${n}`))!;
    assert.equal(q.answer, present.has(asked) ? 'yes' : 'no', q.question);
  }
});

test('short answers read back as their answer with the benchmark parsers', () => {
  assert.equal(shortAnswer({ type: 'existence', answer: 'no', choices: ['yes', 'no'] }), 'No.');
  assert.equal(shortAnswer({ type: 'color', answer: 'pink' }), 'Pink.');
  assert.equal(shortAnswer({ type: 'count', answer: '2' }), '2.');
  assert.equal(shortAnswer({ type: 'position', answer: 'red star', choices: ['red star', 'blue circle'] }), 'The red star.');
  assert.equal(shortAnswer({ type: 'position', answer: 'yes', choices: ['yes', 'no'] }), 'Yes.');
  assert.throws(() => shortAnswer({ type: 'detail', answer: '' }), /no short answer/);
  for (const q of questions) {
    const a = shortAnswer(q);
    if (q.type === 'existence') assert.equal(parseYesNo(a), q.answer);
    if (q.type === 'color') assert.equal(parseColor(a), q.answer);
    if (q.type === 'count') assert.equal(parseCount(a), Number(q.answer));
  }
});

test('entries: LLaVA conversations of at most N questions, one image each, existence balanced per image', () => {
  const entries = worldVqaEntries(world, { perType: 400, turnsPerEntry: 3, seed: 1 });
  assert.ok(entries.length > 100);
  const perImage = new Map<string, { yes: number; no: number }>();
  for (const e of entries) {
    assert.equal(conversationProblem(e.conversations), undefined, e.id);
    assert.ok(e.conversations.length <= 6);
    for (let i = 0; i < e.conversations.length; i += 2) {
      const q = e.conversations[i]!.value, a = e.conversations[i + 1]!.value;
      if (!/^(<image>\n)?(Is there|Does the image contain|Can you see|Is an? )/.test(q) || /located|the .* (left|right|above|below)/.test(q)) continue;
      const tally = perImage.get(e.image) ?? { yes: 0, no: 0 };
      if (a === 'Yes.') tally.yes++;
      else tally.no++;
      perImage.set(e.image, tally);
    }
  }
  for (const [image, t] of perImage) assert.equal(t.yes, t.no, `${image}: ${t.yes} yes, ${t.no} no`);
  assert.deepEqual(worldVqaEntries(world, { perType: 400, turnsPerEntry: 3, seed: 1 }), entries);
  assert.throws(() => worldVqaEntries(world, { perType: 10, turnsPerEntry: 0, seed: 1 }), /turns per entry must be a positive integer/);
  assert.throws(() => worldVqaEntries(world, { perType: 10, turnsPerEntry: 2, draws: 0, seed: 1 }), /draws must be a positive integer/);
  // Two draws: the seed-1 draw, then the seed-2 draw, ids unique across both.
  const two = worldVqaEntries(world, { perType: 400, turnsPerEntry: 3, draws: 2, seed: 1 });
  const second = worldVqaEntries(world, { perType: 400, turnsPerEntry: 3, seed: 2 });
  assert.equal(two.length, entries.length + second.length);
  assert.deepEqual(two.map((e) => e.conversations), [...entries, ...second].map((e) => e.conversations));
  assert.equal(new Set(two.map((e) => e.id)).size, two.length);
});
