// Word noise on training questions: the share asked for is edited, every edit keeps the words that
// carry the question (names, relations, directions) whole and in order, and none is applied at rate 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeWorld } from '../../src/world/world.js';
import { worldImages } from '../../src/world/annotations.js';
import { generateTrainingQuestions } from '../../src/world/benchmark.js';
import { worldVqaEntries } from '../../src/world/vqa.js';
import { noisyQuestion, questionNoise } from '../../src/world/questionNoise.js';
import { COLORS, NAME_WORDS } from '../../src/world/vocabulary.js';
import { Rng } from '../../src/tensor/random.js';

const { annotations, splits } = describeWorld(600, 64, 3);
const world = { images: worldImages(annotations), splits };
const questions = generateTrainingQuestions(world, { perType: 200, seed: 4 }).map((q) => q.question);

/** The question's key words in order, with each colour joined to the word after it ("red circle"). */
function keyPhrases(q: string): string[] {
  const words = q.toLowerCase().match(/[a-z]+/g) ?? [];
  const keys = new Set([...NAME_WORDS, 'left', 'right', 'above', 'below', 'up', 'down', 'further', 'or']);
  const out: string[] = [];
  words.forEach((w, i) => {
    if (!keys.has(w)) return;
    out.push((COLORS as readonly string[]).includes(w) ? `${w} ${words[i + 1]}` : w);
  });
  return out;
}

test('noise keeps names and relations whole and in order, and changes the question', () => {
  const rng = new Rng(9);
  let changed = 0;
  for (const q of questions) {
    const noisy = noisyQuestion(q, rng);
    assert.deepEqual(keyPhrases(noisy), keyPhrases(q), `"${q}" -> "${noisy}"`);
    assert.match(noisy, /^[A-Z]/);
    assert.equal(noisy.at(-1), q.at(-1));
    if (noisy !== q) changed++;
  }
  assert.ok(changed > 0.95 * questions.length, `${changed} of ${questions.length} changed`); // an insertion may be deleted again
});

test('the rate is the share of questions edited; rate 0 leaves the data as it was', () => {
  const edit = questionNoise(0.3, 11);
  const share = questions.filter((q) => edit(q) !== q).length / questions.length;
  assert.ok(share > 0.25 && share < 0.35, `share ${share}`);
  const options = { perType: 200, turnsPerEntry: 4, seed: 4 };
  assert.deepEqual(worldVqaEntries(world, { ...options, wordNoise: 0 }), worldVqaEntries(world, options));
  const noisy = worldVqaEntries(world, { ...options, wordNoise: 0.3 });
  assert.deepEqual(worldVqaEntries(world, { ...options, wordNoise: 0.3 }), noisy);
  assert.deepEqual(noisy.map((e) => e.conversations.filter((t) => t.from === 'gpt')), worldVqaEntries(world, options).map((e) => e.conversations.filter((t) => t.from === 'gpt')));
  assert.throws(() => questionNoise(1.5, 0), /word noise must be a probability from 0 to 1, got 1.5/);
});
