// Stage 0a's region phrases: what each boxed object is called, and where it lies when that is clear.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { regionPhrase } from '../../src/demo/foundations.js';

test('a region phrase names colour, shape and the clear image region; near a third boundary it names no region', () => {
  const object = (bbox: [number, number, number, number], color?: string) => ({ bbox, category: 'circle', attributes: color === undefined ? undefined : { color } });
  assert.equal(regionPhrase(object([0.05, 0.05, 0.2, 0.2], 'red')), 'red circle in the top left corner');
  assert.equal(regionPhrase(object([0.4, 0.4, 0.6, 0.6], 'blue')), 'blue circle in the center');
  assert.equal(regionPhrase(object([0.75, 0.4, 0.95, 0.6], 'blue')), 'blue circle on the right side');
  assert.equal(regionPhrase(object([0.4, 0.75, 0.6, 0.95], 'green')), 'green circle at the bottom');
  // Centre x = 0.34, on the boundary between the left and middle thirds: no region claimed.
  assert.equal(regionPhrase(object([0.24, 0.05, 0.44, 0.2], 'red')), 'red circle');
  assert.equal(regionPhrase(object([0.05, 0.05, 0.2, 0.2])), 'circle in the top left corner');
});
