// Free-form reply parsing for world-bench: yes/no, colours, counts, two-way choices and
// object mentions, including the hedged and negated replies a model really gives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conclusion, parseChoice, parseColor, parseCount, parseMentions, parseYesNo } from '../../src/eval/worldBenchParse.js';

test('yes/no from free-form replies', () => {
  const cases: [string, 'yes' | 'no' | undefined][] = [
    ['Yes, there is a red circle.', 'yes'],
    ['yes', 'yes'],
    ['YES!', 'yes'],
    ['Yep, I can see it.', 'yes'],
    ['There is a red circle in the top left corner.', 'yes'],
    ['The image contains a blue square.', 'yes'],
    ['No.', 'no'],
    ['No, there is no red circle.', 'no'],
    ['There is no red circle in the image.', 'no'],
    ["I don't see a red circle.", 'no'],
    ['The red circle is not to the left of the square.', 'no'],
    ['None of the shapes is a red circle.', 'no'],
    ['A triangle in green appears.', 'yes'],
    ['A triangle in green never appears.', 'no'],
    ['', undefined],
    ['Hmm.', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseYesNo(text), want, text);
});

test('colour replies, ignoring background tones and rejecting hedges', () => {
  const cases: [string, string | undefined][] = [
    ['Red.', 'red'],
    ['The circle is blue.', 'blue'],
    ['It is yellow, on a pale blue background.', 'yellow'],
    ['The star is violet.', 'purple'],
    ['It could be red or orange.', undefined],
    ['I am not sure.', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseColor(text), want, text);
});

test('count replies in digits, words and negations', () => {
  const cases: [string, number | undefined][] = [
    ['2', 2],
    ['There are three circles.', 3],
    ['I count 4 stars in total.', 4],
    ['There is one square.', 1],
    ['There is a single hexagon.', 1],
    ['There are no triangles.', 0],
    ['None.', 0],
    ['Zero', 0],
    ['Several.', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseCount(text), want, text);
});

test('two-way choices: first named option, or first/second', () => {
  const options = ['red circle', 'blue square'];
  assert.equal(parseChoice('The blue square is further left.', options), 'blue square');
  assert.equal(parseChoice('The red circle.', options), 'red circle');
  assert.equal(parseChoice('red circle is further left than the blue square', options), 'red circle');
  assert.equal(parseChoice('The first one.', options), 'red circle');
  assert.equal(parseChoice('the latter', options), 'blue square');
  assert.equal(parseChoice('A green star.', options), undefined);
});

test('mentions: plurals, shared shapes, sizes between, negations skipped', () => {
  assert.deepEqual(parseMentions('A large red circle sits above two blue squares.'), ['red circle', 'blue square']);
  assert.deepEqual(parseMentions('There are red and yellow stars.'), ['red star', 'yellow star']);
  assert.deepEqual(parseMentions('There is no green star, and not a purple hexagon, but a pink diamond.'), ['pink diamond']);
  assert.deepEqual(parseMentions('A red circle and another red circle.'), ['red circle']);
  assert.deepEqual(parseMentions('Something red near a circle.'), []);
});

test('a reasoned reply is read from its conclusion, after the last "so"', () => {
  assert.equal(conclusion('The circle red left side first, the star blue right side third, so yes.'), ' yes.');
  assert.equal(conclusion('It is red, so is the star, therefore: the former.'), ': the former.');
  assert.equal(conclusion('No.'), 'No.');
  assert.equal(conclusion('It is so'), 'It is so');
  assert.equal(conclusion('Also, a red circle.'), 'Also, a red circle.');
  assert.equal(parseChoice(conclusion('The circle red top first, the star blue bottom third, so the latter.'), ['red circle', 'blue star']), 'blue star');
  assert.equal(parseCount(conclusion('Colours red, blue: star red appears twice, star blue never, so 2.')), 2);
});
