// Tests for the benchmark phrasing templates: held-out share, placeholder filling,
// and that the training view never leaks a held-out wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PHRASINGS, QUESTION_TYPES, allTrainingPhrasings, fillPhrasing, positionForm } from '../../src/world/phrasings.js';

test('every type has seen and held-out phrasings, and training view drops held-out ones', () => {
  const training = allTrainingPhrasings();
  for (const type of QUESTION_TYPES) {
    const all = PHRASINGS[type];
    assert.ok(all.some((p) => p.heldOut), `${type} has a held-out phrasing`);
    assert.ok(all.some((p) => !p.heldOut), `${type} has a seen phrasing`);
    assert.ok(training[type].every((p) => !p.heldOut));
    assert.equal(training[type].length, all.filter((p) => !p.heldOut).length);
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
