// Reply parsing: Question/Answer blocks for conversations and complex reasoning, free text for
// descriptions, and the reasons malformed replies are rejected with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReply } from '../../src/datagen/parse.js';

test('conversation blocks become alternating turns with <image> only in the first', () => {
  const r = parseReply('conversation', 'Question:\nWhat is it?\n===\nAnswer:\nA dog.\n===\nQuestion:\nWhat colour?\n===\nAnswer:\nBrown,\nwith spots.\n===\n');
  assert.ok(r.ok);
  assert.deepEqual(r.turns, [
    { from: 'human', value: '<image>\nWhat is it?' },
    { from: 'gpt', value: 'A dog.' },
    { from: 'human', value: 'What colour?' },
    { from: 'gpt', value: 'Brown,\nwith spots.' },
  ]);
});

test('labels on the same line, CRLF and markdown bold are accepted', () => {
  const r = parseReply('conversation', '**Question:** Where?\r\n===\r\n**Answer:** Here.\r\n===');
  assert.ok(r.ok);
  assert.deepEqual(r.turns.map((t) => t.value), ['<image>\nWhere?', 'Here.']);
});

test('malformed conversations are rejected with a reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty reply/],
    ['   \n ', /empty reply/],
    ['Just some prose about the picture.', /block 1 starts with neither/],
    ['Question:\nA?\n===\nQuestion:\nB?\n===', /block 2 is an question where an answer was expected/],
    ['Question:\nA?\n===\nAnswer:\nx\n===\nQuestion:\nB?', /the last question has no answer/],
    ['Question:\n\n===\nAnswer:\nx', /block 1 \(question\) is empty/],
    ['Question:\nWhat do the captions say?\n===\nAnswer:\nx', /mentions "captions"/],
    ['Question:\n<image>\nWhat?\n===\nAnswer:\nx', /contains the <image> placeholder/],
  ];
  for (const [text, re] of cases) {
    const r = parseReply('conversation', text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.reason, re);
  }
});

test('complex reasoning needs exactly one pair; its answer may lack the closing separator', () => {
  const ok = parseReply('complex', 'Question:\nWhy?\n===\nAnswer:\nBecause.');
  assert.ok(ok.ok);
  assert.equal(ok.turns.length, 2);
  const two = parseReply('complex', 'Question:\nA?\n===\nAnswer:\nx\n===\nQuestion:\nB?\n===\nAnswer:\ny');
  assert.equal(two.ok, false);
  if (!two.ok) assert.match(two.reason, /expected one question and answer, got 2/);
});

test('detail replies take the seeded instruction as the human turn', () => {
  const r = parseReply('detail', 'A long description.', 'Describe this image in detail.');
  assert.ok(r.ok);
  assert.deepEqual(r.turns, [
    { from: 'human', value: '<image>\nDescribe this image in detail.' },
    { from: 'gpt', value: 'A long description.' },
  ]);
  const qa = parseReply('detail', 'Question:\nX\n===\nAnswer:\nY', 'Describe.');
  assert.equal(qa.ok, false);
  const leak = parseReply('detail', 'The bounding box at [0.1, 0.2] shows a cat.', 'Describe.');
  assert.equal(leak.ok, false);
});
