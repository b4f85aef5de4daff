// `--quantize` on the commands that load a model: the block formats loading supports, and a clear
// error naming them for anything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeFlag } from '../../src/cli/flags.js';

test('--quantize takes q8_0 or q4_0 and names the choices otherwise', () => {
  assert.equal(quantizeFlag(undefined), undefined);
  assert.equal(quantizeFlag('q8_0'), 'q8_0');
  assert.equal(quantizeFlag('q4_0'), 'q4_0');
  for (const bad of ['q4_k', 'Q8_0', 'f16', '']) assert.throws(() => quantizeFlag(bad), /--quantize must be q8_0 or q4_0, got/);
});
