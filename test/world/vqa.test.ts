// Short-answer training questions: the benchmark's closed types asked of the train split in
// training phrasings only, each answer right for its image, existence balanced per image, and
// the conversations in LLaVA's shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeWorld } from '../../src/world/world.js';
import { worldImages } from '../../src/world/annotations.js';
import { generateTrainingQuestions } from '../../src/world/benchmark.js';
import { attachShortAnswers, shortAnswer, worldVqaEntries } from '../../src/world/vqa.js';
import { PHRASINGS, trainingPhrasings } from '../../src/world/phrasings.js';
import { conversationProblem } from '../../src/datagen/export.js';
import { parseCount, parseColor, parseYesNo } from '../../src/eval/worldBenchParse.js';
import { readReply } from '../../src/eval/worldBench.js';
import { allObjectKinds, objectName } from '../../src/world/vocabulary.js';

const { annotations, splits } = describeWorld(1200, 64, 5);
const images = worldImages(annotations);
const world = { images, splits };
const questions = generateTrainingQuestions(world, { perType: 400, seed: 1 });

test('training questions: train images only, no held-out phrasing, every closed type, deterministic', () => {
  const train = new Set(splits.train);
  assert.ok(questions.every((q) => train.has(q.image_id)));
  assert.ok(questions.every((q) => !q.held_out && trainingPhrasings(q.type)[q.phrasing] !== undefined));
  const heldOut = new Set(Object.values(PHRASINGS).flat().filter((p) => p.heldOut).map((p) => p.template));
  assert.ok(questions.every((q) => !heldOut.has(trainingPhrasings(q.type)[q.phrasing]!.template)));
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
  const typeOf = new Map(questions.map((q) => [q.question, q.type]));
  const perImage = new Map<string, { yes: number; no: number }>();
  for (const e of entries) {
    assert.equal(conversationProblem(e.conversations), undefined, e.id);
    assert.ok(e.conversations.length <= 6);
    for (let i = 0; i < e.conversations.length; i += 2) {
      const q = e.conversations[i]!.value, a = e.conversations[i + 1]!.value;
      if (typeOf.get(q.replace('<image>\n', '')) !== 'existence') continue;
      const tally = perImage.get(e.image) ?? { yes: 0, no: 0 };
      if (a === 'Yes.') tally.yes++;
      else tally.no++;
      perImage.set(e.image, tally);
    }
  }
  assert.ok(perImage.size > 50, `${perImage.size} images with existence questions`);
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

test('attached short answers: every other conversation about an image opens with its next questions, the rest end with them', () => {
  const short = worldVqaEntries(world, { perType: 400, turnsPerEntry: 3, seed: 1 });
  const image = short[0]!.image;
  const pool = short.filter((e) => e.image === image).flatMap((e) => e.conversations.filter((_, i) => i % 2 === 0).map((t) => t.value.replace('<image>\n', '')));
  const turn = (from: 'human' | 'gpt', value: string) => ({ from, value });
  const instruct = [
    { id: 'a', image, conversations: [turn('human', '<image>\nDescribe the image.'), turn('gpt', 'Shapes.')] },
    { id: 'b', image, conversations: [turn('human', 'What is here?\n<image>'), turn('gpt', 'Shapes.'), turn('human', 'Sure?'), turn('gpt', 'Yes.')] },
    { id: 'c', conversations: [turn('human', 'Hello?'), turn('gpt', 'Hi.')] },
    { id: 'd', image: 'images/not-in-the-world.png', conversations: [turn('human', '<image>\nAnd here?'), turn('gpt', 'Nothing.')] },
  ];
  const out = attachShortAnswers(instruct, short, 2);
  assert.equal(out.length, 4);
  assert.equal(out[2], instruct[2]);
  assert.equal(out[3], instruct[3]);
  const questions = (turns: readonly { value: string }[]) => turns.filter((_, i) => i % 2 === 0).map((t) => t.value);
  const nth = (k: number) => pool[k % pool.length]!;
  for (const e of [out[0]!, out[1]!]) {
    assert.equal(conversationProblem(e.conversations), undefined, e.id);
    assert.equal(e.conversations.filter((t) => t.value.includes('<image>')).length, 1, `${e.id}: one placeholder`);
  }
  // Entry 0 opens with its two questions; the placeholder moves to the first of them.
  assert.deepEqual(questions(out[0]!.conversations), [`<image>\n${nth(0)}`, nth(1), 'Describe the image.']);
  assert.deepEqual(out[0]!.conversations.slice(4), [turn('human', 'Describe the image.'), turn('gpt', 'Shapes.')]);
  // Entry 1 keeps its opening question (and placeholder) and ends with the next two.
  assert.deepEqual(out[1]!.conversations.slice(0, 4), instruct[1]!.conversations);
  assert.deepEqual(questions(out[1]!.conversations.slice(4)), [nth(2), nth(3)]);
  assert.throws(() => attachShortAnswers(instruct, short, 0), /attached turns must be a positive integer/);
});

test('types: one type alone asks exactly the questions the full set holds of it; others and no type are refused', () => {
  const qa = (entries: ReturnType<typeof worldVqaEntries>) =>
    entries.flatMap((e) => e.conversations.flatMap((t, i) => (i % 2 === 0 ? [`${e.image} | ${t.value.replace('<image>\n', '')} | ${e.conversations[i + 1]!.value}`] : []))).sort();
  const typeOf = new Map(questions.map((q) => [q.question, q.type]));
  const all = qa(worldVqaEntries(world, { perType: 400, turnsPerEntry: 4, seed: 1 }));
  for (const types of [['position'], ['count', 'color']] as const) {
    const only = qa(worldVqaEntries(world, { perType: 400, turnsPerEntry: 4, seed: 1, types }));
    assert.ok(only.length > 50, `${types}: ${only.length} questions`);
    assert.deepEqual(only, all.filter((line) => (types as readonly string[]).includes(typeOf.get(line.split(' | ')[1]!)!)));
  }
  assert.throws(() => worldVqaEntries(world, { perType: 400, turnsPerEntry: 4, seed: 1, types: ['detail'] }), /some of existence, color, count, position, got detail/);
  assert.throws(() => worldVqaEntries(world, { perType: 400, turnsPerEntry: 4, seed: 1, types: [] }), /got none/);
});

test('restated answers: existence names its object shape first, then the verdict; the parsers read the same answer', () => {
  const q = (named: string[], answer: string) => ({ type: 'existence' as const, answer, choices: ['yes', 'no'], named, question: 'Is it there?' });
  assert.equal(shortAnswer(q(['green triangle'], 'no'), 'restated'), 'A triangle in green never appears.');
  assert.equal(shortAnswer(q(['pink star'], 'yes'), 'restated'), 'A star in pink appears.');
  assert.equal(shortAnswer(q(['green triangle'], 'no'), 'short'), 'No.');
  assert.throws(() => shortAnswer(q([], 'no'), 'restated'), /needs the one object its question names, "Is it there\?" carries 0/);
});

test('restated answers: count checks the asked shape in each of the picture\'s colours; colour and position stay short', () => {
  const box = (x: number, y: number) => ({ x0: x - 0.05, y0: y - 0.05, x1: x + 0.05, y1: y + 0.05 });
  const image = {
    objects: [
      { color: 'red' as const, shape: 'circle' as const, size: 'small' as const, box: box(0.1, 0.1) },
      { color: 'blue' as const, shape: 'star' as const, size: 'large' as const, box: box(0.9, 0.5) },
      { color: 'red' as const, shape: 'star' as const, size: 'small' as const, box: box(0.5, 0.9) },
      { color: 'red' as const, shape: 'star' as const, size: 'small' as const, box: box(0.2, 0.6) },
    ],
  };
  assert.equal(shortAnswer({ type: 'count', answer: '3', shape: 'star' }, 'restated', image), 'Colours red, blue: star red appears twice, star blue appears, so 3.');
  assert.equal(shortAnswer({ type: 'count', answer: '0', shape: 'hexagon' }, 'restated', image), 'Colours red, blue: hexagon red never, hexagon blue never, so 0.');
  assert.equal(shortAnswer({ type: 'color', answer: 'red' }, 'restated', image), 'Red.');
  assert.equal(shortAnswer({ type: 'position', answer: 'yes', choices: ['yes', 'no'], named: ['red circle', 'blue star'] }, 'restated', image), 'Yes.');
  assert.throws(() => shortAnswer({ type: 'count', answer: '3', shape: 'star', question: 'How many stars?' }, 'restated'), /written from the picture, and none was given for "How many stars\?"/);
  assert.throws(() => shortAnswer({ type: 'count', answer: '3', question: 'How many?' }, 'restated', image), /needs the shape its question counts, "How many\?" carries none/);
});

test('restated conversations ask the same questions, and the benchmark reads every answer as the short form', () => {
  const restated = worldVqaEntries(world, { perType: 400, turnsPerEntry: 3, seed: 1, answerForm: 'restated' });
  const plain = worldVqaEntries(world, { perType: 400, turnsPerEntry: 3, seed: 1 });
  assert.deepEqual(restated.map((e) => e.conversations.filter((_, i) => i % 2 === 0)), plain.map((e) => e.conversations.filter((_, i) => i % 2 === 0)), 'the same questions');
  const byText = new Map(questions.map((q) => [`${q.image}|${q.question}`, q]));
  const changed = new Map<string, number>();
  restated.forEach((e, k) => {
    for (let i = 0; i < e.conversations.length; i += 2) {
      const q = byText.get(`${e.image}|${e.conversations[i]!.value.replace('<image>\n', '')}`)!;
      const [was, now] = [plain[k]!.conversations[i + 1]!.value, e.conversations[i + 1]!.value];
      if (q.type === 'color' || q.type === 'position') assert.equal(now, was, q.question);
      else changed.set(q.type, (changed.get(q.type) ?? 0) + 1);
      const id = { ...q, id: 'x' };
      assert.equal(readReply(id, now), readReply(id, was), `${q.question}: ${was} / ${now}`);
      assert.equal(readReply(id, now), q.answer, `${q.question}: ${now}`);
      if (q.type === 'existence') assert.match(now, new RegExp(`^A ${q.named![0]!.split(' ')[1]} in ${q.named![0]!.split(' ')[0]} (?:appears|never appears)\\.$`));
    }
  });
  for (const type of ['existence', 'count']) assert.ok((changed.get(type) ?? 0) > 50, `${changed.get(type)} ${type} answers`);
});
