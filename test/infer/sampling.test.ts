// Token choice: greedy argmax, repetition penalty (HF semantics), top-k / top-p candidate sets,
// seeded sampling frequencies following the softmax, and option validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, argmax, tensor } from '../../src/tensor/index.js';
import { nativeOrSkip } from '../backend/harness.js';
import { applyRepetitionPenalty, argmaxOf, candidateDistribution, checkSamplingOptions, chooseToken } from '../../src/infer/sampling.js';

test('argmax takes the first of equal maxima; greedy ignores the generator', () => {
  assert.equal(argmaxOf([1, 5, 5, 2]), 1);
  const logits = () => Float32Array.from([0.1, 3, -2, 2.9]);
  assert.equal(chooseToken(logits(), {}, new Rng(1), []), 1);
  assert.equal(chooseToken(logits(), { temperature: 0 }, new Rng(2), []), 1);
});

test('argmax agrees with the native argmax the decode loop reads: NaN ranks first, then the first maximum', () => {
  const rows = [[1, Number.NaN, 7, Number.NaN], [Number.NaN, 2], [-0, 0, -1], [3, 9, 9, -Infinity], [-Infinity, -Infinity]];
  const native = nativeOrSkip();
  for (const r of rows) {
    const js = argmaxOf(r);
    assert.equal(js, [1, 0, 0, 1, 0][rows.indexOf(r)]);
    if (native) {
      const t = tensor(Float32Array.from(r), [1, r.length], { backend: native });
      const got = argmax(t, -1);
      assert.equal(got.toArray()[0], js, `row ${r.join(', ')}`);
      t.dispose();
      got.dispose();
    }
  }
});

test('repetition penalty divides positive and multiplies negative logits, once per distinct token', () => {
  const l = Float32Array.from([2, -2, 4, 1]);
  applyRepetitionPenalty(l, [0, 1, 0, 0], 2);
  assert.deepEqual([...l], [1, -4, 4, 1]);
  const g = Float32Array.from([3, 2.5, 0]);
  assert.equal(chooseToken(g, { repetitionPenalty: 1.5 }, new Rng(1), [0]), 1, 'the penalised token loses the argmax');
});

test('top-k keeps the k most likely; top-p keeps the smallest set reaching p; probabilities renormalised', () => {
  const logits = Float32Array.from([Math.log(0.1), Math.log(0.5), Math.log(0.3), Math.log(0.1)]);
  const k = candidateDistribution(logits, { temperature: 1, topK: 2 });
  assert.deepEqual(k.ids, [1, 2]);
  assert.ok(Math.abs(k.probs[0]! - 0.625) < 1e-6 && Math.abs(k.probs[1]! - 0.375) < 1e-6);
  const p = candidateDistribution(logits, { temperature: 1, topP: 0.75 });
  assert.deepEqual(p.ids, [1, 2]);
  const all = candidateDistribution(logits, { temperature: 1 });
  assert.deepEqual(all.ids, [1, 2, 0, 3]);
  assert.ok(Math.abs(all.probs.reduce((a, b) => a + b, 0) - 1) < 1e-9);
});

test('seeded sampling is reproducible and its frequencies follow softmax(logits / temperature)', () => {
  const logits = [0, 1, 2, 0.5];
  const temperature = 2;
  const draw = (seed: number, n: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: n }, () => chooseToken(Float32Array.from(logits), { temperature }, rng, []));
  };
  assert.deepEqual(draw(9, 50), draw(9, 50));
  assert.notDeepEqual(draw(9, 50), draw(10, 50));
  const n = 20000;
  const counts = [0, 0, 0, 0];
  for (const id of draw(3, n)) counts[id]!++;
  const w = logits.map((x) => Math.exp(x / temperature));
  const z = w.reduce((a, b) => a + b, 0);
  counts.forEach((c, i) => assert.ok(Math.abs(c / n - w[i]! / z) < 0.015, `token ${i}: ${c / n} vs ${w[i]! / z}`));
});

test('invalid options are refused naming the field', () => {
  assert.throws(() => checkSamplingOptions({ temperature: -1 }), /temperature must be >= 0/);
  assert.throws(() => checkSamplingOptions({ topK: 1.5 }), /topK must be a non-negative integer/);
  assert.throws(() => checkSamplingOptions({ topP: 0 }), /topP must be in \(0, 1\]/);
  assert.throws(() => checkSamplingOptions({ repetitionPenalty: 0 }), /repetitionPenalty must be > 0/);
});
