// Batched generation (left padding, one KV cache row per prompt) against one prompt at a time:
// greedy ids equal, step logits within the parity bound, rows stopping on their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLlava } from '../../src/model/checkpoint.js';
import { generate, generateBatch } from '../../src/infer/generate.js';
import { PARITY_BOUND, TINY_CASES, pixelTensor, readGolden, relativeMaxDiff, tinyModel } from '../model/fixtures.js';

for (const name of ['f32-v4', 'bf16-v5']) {
  test(`batched greedy generation equals one prompt at a time (${name}: three images of different lengths and a text-only prompt)`, () => {
    const m = tinyModel(name);
    const { model } = loadLlava(m.dir);
    try {
      const inputs = TINY_CASES.map((c) => {
        const g = readGolden(m.golden, c.name);
        return { inputIds: g.inputIds, pixelValues: pixelTensor(g) };
      });
      inputs.push({ inputIds: [1, 40, 41, 42, 43, 44], pixelValues: undefined as never });
      assert.ok(new Set(inputs.map((x) => x.inputIds.length)).size > 2, 'prompts of different lengths: left padding is exercised');
      const options = { maxNewTokens: 8, eosTokenIds: [], stepLogits: true };
      const batched = generateBatch(model, inputs, options);
      inputs.forEach((x, i) => {
        const single = generate(model, x, options);
        assert.deepEqual(batched[i]!.tokenIds, single.tokenIds, `row ${i}: greedy ids`);
        const flat = (r: typeof single) => new Float32Array(r.stepLogits.flatMap((l) => [...l]));
        const diff = relativeMaxDiff(flat(batched[i]!), flat(single));
        assert.ok(diff <= PARITY_BOUND, `row ${i}: step logits differ by ${diff}`);
      });
      for (const x of inputs) x.pixelValues?.dispose();
    } finally {
      model.dispose();
    }
  });
}

test('rows stop on their own: an eos id ends one row while the others go on', () => {
  const m = tinyModel('f32-v4');
  const { model } = loadLlava(m.dir);
  try {
    const goldens = TINY_CASES.map((c) => readGolden(m.golden, c.name));
    const inputs = goldens.map((g) => ({ inputIds: g.inputIds, pixelValues: pixelTensor(g) }));
    const stopAt = goldens[0]!.generatedIds[2]!;
    const r = generateBatch(model, inputs, { maxNewTokens: 8, eosTokenIds: [stopAt] });
    inputs.forEach((x, i) => {
      const single = generate(model, x, { maxNewTokens: 8, eosTokenIds: [stopAt] });
      assert.deepEqual(r[i]!.tokenIds, single.tokenIds);
      assert.equal(r[i]!.stopReason, single.stopReason);
    });
    assert.equal(r[0]!.stopReason, 'eos');
    for (const x of inputs) x.pixelValues.dispose();
  } finally {
    model.dispose();
  }
});
