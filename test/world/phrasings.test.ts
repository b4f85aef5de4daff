// Tests for the benchmark phrasing templates: held-out share, placeholder filling,
// and that the training view never leaks a held-out wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PHRASINGS, QUESTION_TYPES, TRAINING_PARAPHRASES, allTrainingPhrasings, fillPhrasing, parseQuestionTypes, positionForm } from '../../src/world/phrasings.js';

test('every type has seen and held-out phrasings, and training view drops held-out ones', () => {
  const training = allTrainingPhrasings();
  for (const type of QUESTION_TYPES) {
    const all = PHRASINGS[type];
    assert.ok(all.some((p) => p.heldOut), `${type} has a held-out phrasing`);
    assert.ok(all.some((p) => !p.heldOut), `${type} has a seen phrasing`);
    assert.ok(training[type].every((p) => !p.heldOut));
    assert.deepEqual(
      training[type].map((p) => p.template),
      [...all.filter((p) => !p.heldOut).map((p) => p.template), ...TRAINING_PARAPHRASES[type]],
    );
  }
});

/** Adjacent word pairs of a template, placeholders breaking the sequence. */
function wordPairs(template: string): Set<string> {
  const words = template.toLowerCase().replace(/\{[a-z_]+\}/g, ' | ').match(/[a-z']+|\|/g) ?? [];
  const pairs = new Set<string>();
  for (let i = 0; i + 1 < words.length; i++) if (words[i] !== '|' && words[i + 1] !== '|') pairs.add(`${words[i]} ${words[i + 1]}`);
  return pairs;
}

test('training paraphrases are new wordings that borrow nothing from held-out phrasings', () => {
  const benchmark = QUESTION_TYPES.flatMap((t) => PHRASINGS[t]);
  const seenPairs = new Set(benchmark.filter((p) => !p.heldOut).flatMap((p) => [...wordPairs(p.template)]));
  for (const type of QUESTION_TYPES) {
    for (const paraphrase of TRAINING_PARAPHRASES[type]) {
      assert.ok(!benchmark.some((p) => p.template === paraphrase), `"${paraphrase}" is a benchmark phrasing`);
      if (type === 'position') positionForm(paraphrase);
      for (const held of benchmark.filter((p) => p.heldOut)) {
        const borrowed = [...wordPairs(held.template)].filter((w) => wordPairs(paraphrase).has(w) && !seenPairs.has(w));
        assert.deepEqual(borrowed, [], `"${paraphrase}" borrows from held-out "${held.template}"`);
      }
    }
  }
});

test('position phrasings of both forms exist in seen and held-out sets', () => {
  for (const heldOut of [false, true]) {
    const forms = PHRASINGS.position.filter((p) => p.heldOut === heldOut).map((p) => positionForm(p.template));
    assert.ok(forms.includes('yesno') && forms.includes('choice'), `heldOut=${heldOut}`);
  }
  assert.throws(() => positionForm('Is the {a} near the {b}?'), /exactly one/);
});

test('fillPhrasing fills placeholders and derives the article', () => {
  assert.equal(fillPhrasing('Is there {article} {object} here?', { object: 'orange star' }), 'Is there an orange star here?');
  assert.equal(fillPhrasing('Is there {article} {object} here?', { object: 'red star' }), 'Is there a red star here?');
  assert.throws(() => fillPhrasing('How many {shapes}?', {}), /\{shapes\}/);
});

test('parseQuestionTypes reads a comma list once each and names the flag and the types on a bad one', () => {
  assert.deepEqual(parseQuestionTypes('count, position,count', '--types'), ['count', 'position']);
  assert.deepEqual(parseQuestionTypes('detail', '--types'), ['detail']);
  assert.throws(() => parseQuestionTypes('detail', '--types', ['existence', 'count']), /--types: "detail" not one of existence, count/);
  assert.throws(() => parseQuestionTypes('colour,size', '--types'), /--types: "colour", "size" not one of existence, color, count, position, detail/);
  assert.throws(() => parseQuestionTypes(' , ', '--kinds'), /--kinds needs at least one of/);
});
