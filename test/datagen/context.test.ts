// Symbolic context: captions only for conversations, captions plus one line per box for the
// other types, coordinates with three decimals, and the parser that reads it back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canGenerate, parseContext, renderContext } from '../../src/datagen/context.js';
import type { ImageRecord } from '../../src/datagen/types.js';

const record: ImageRecord = {
  id: '1',
  image: '1.jpg',
  captions: ['A red circle.', 'Shapes on gray.'],
  instances: [
    { category: 'circle', bbox: [0.1, 0.25, 0.3, 0.5], attributes: { color: 'red', size: 'small' } },
    { category: 'dining table', bbox: [0, 0.5, 1, 1] },
  ],
};

test('conversation context holds the captions only', () => {
  assert.equal(renderContext(record, 'conversation'), 'A red circle.\nShapes on gray.');
});

test('box types add one "name: [x1, y1, x2, y2]" line per object, colour in the name', () => {
  const text = renderContext(record, 'detail');
  assert.equal(text, 'A red circle.\nShapes on gray.\n\nred circle: [0.100, 0.250, 0.300, 0.500]\ndining table: [0.000, 0.500, 1.000, 1.000]');
  assert.equal(renderContext(record, 'complex'), text);
});

test('parseContext reads back captions and objects', () => {
  const parsed = parseContext(renderContext(record, 'detail'));
  assert.deepEqual(parsed.captions, record.captions);
  assert.deepEqual(parsed.objects, [
    { name: 'red circle', bbox: [0.1, 0.25, 0.3, 0.5] },
    { name: 'dining table', bbox: [0, 0.5, 1, 1] },
  ]);
});

test('an image without captions can only have the box-based types', () => {
  const boxesOnly = { ...record, captions: [] };
  assert.equal(canGenerate(boxesOnly, 'conversation'), false);
  assert.equal(canGenerate(boxesOnly, 'detail'), true);
  assert.equal(renderContext(boxesOnly, 'complex'), 'red circle: [0.100, 0.250, 0.300, 0.500]\ndining table: [0.000, 0.500, 1.000, 1.000]');
});
