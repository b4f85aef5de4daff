// The continuous batch: requests join and leave between steps, and each gets what it gets alone,
// through right shifts (a joiner longer than the cache's length), compactions and cache growth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLlava } from '../../src/model/checkpoint.js';
import { generate } from '../../src/infer/generate.js';
import { ContinuousBatch, type FinishedGeneration } from '../../src/infer/continuousBatch.js';
import type { GenerationInput, GenerationResult } from '../../src/infer/generationTypes.js';
import { concat } from '../../src/tensor/ops/join.js';
import { TINY_CASES, pixelTensor, readGolden, tinyModel } from '../model/fixtures.js';

function bits(r: GenerationResult): number[] {
  return r.stepLogits.flatMap((l) => [...new Uint32Array(l.buffer, l.byteOffset, l.length)]);
}

function tinyInputs(name: string): GenerationInput[] {
  const m = tinyModel(name);
  const inputs: GenerationInput[] = TINY_CASES.map((c) => {
    const g = readGolden(m.golden, c.name);
    return { inputIds: g.inputIds, pixelValues: pixelTensor(g) };
  });
  inputs.unshift({ inputIds: [1, 40, 41, 42, 43, 44] }); // text only, shorter than any image prompt
  return inputs;
}

test('requests that join one at a time get the same bits as alone, across right shifts, compactions and growth', () => {
  const m = tinyModel('f32-v4');
  const { model } = loadLlava(m.dir);
  const inputs = tinyInputs('f32-v4');
  try {
    // Different lengths, so sequences leave at different steps and others join mid-run.
    const plans = [
      { input: inputs[0]!, maxNewTokens: 5 },
      { input: inputs[1]!, maxNewTokens: 9 },
      { input: inputs[2]!, maxNewTokens: 3 },
      { input: inputs[3]!, maxNewTokens: 7 },
      { input: inputs[0]!, maxNewTokens: 6 },
      { input: inputs[2]!, maxNewTokens: 4 },
    ];
    const options = (n: number) => ({ maxNewTokens: n, eosTokenIds: [], stepLogits: true });
    const batch = new ContinuousBatch(model, { slots: 2, capacity: 2 });
    const got = new Map<number, GenerationResult>();
    const ids: number[] = [];
    let capacities = new Set<number>();
    try {
      // One new request per step: each joins alone, so even its prefill matches a lone run.
      for (const p of plans) {
        ids.push(batch.submit(p.input, options(p.maxNewTokens)));
        for (const f of batch.step()) got.set(f.id, f.result);
        capacities.add(batch.capacity);
      }
      while (batch.busy) for (const f of batch.step()) got.set(f.id, f.result);
    } finally {
      batch.dispose();
    }
    assert.ok(capacities.size > 1, `the cache grew (capacities seen: ${[...capacities].join(', ')})`);
    plans.forEach((p, i) => {
      const alone = generate(model, p.input, options(p.maxNewTokens));
      const r = got.get(ids[i]!)!;
      assert.deepEqual(r.tokenIds, alone.tokenIds, `request ${i}: ids`);
      assert.equal(r.tokenIds.length, p.maxNewTokens);
      assert.deepEqual(bits(r), bits(alone), `request ${i}: step logits, bit for bit`);
    });
  } finally {
    for (const x of inputs) x.pixelValues?.dispose();
    model.dispose();
  }
});

test('more requests than slots: the queue drains in order, greedy ids equal each alone', () => {
  const m = tinyModel('bf16-v5');
  const { model } = loadLlava(m.dir);
  const inputs = tinyInputs('bf16-v5');
  try {
    const batch = new ContinuousBatch(model, { slots: 3 });
    const requests = [...inputs, ...inputs].map((input, i) => ({ input, maxNewTokens: 2 + ((i * 5) % 7) }));
    const ids = requests.map((r) => batch.submit(r.input, { maxNewTokens: r.maxNewTokens, eosTokenIds: [] }));
    assert.equal(batch.queued, requests.length);
    const order: number[] = [];
    const got = new Map<number, GenerationResult>();
    let most = 0;
    try {
      while (batch.busy) {
        const done = batch.step();
        most = Math.max(most, batch.running + done.length);
        for (const f of done) (order.push(f.id), got.set(f.id, f.result));
      }
    } finally {
      batch.dispose();
    }
    assert.equal(most, 3, 'never more sequences than slots');
    assert.equal(order.length, requests.length);
    requests.forEach((r, i) => {
      const alone = generate(model, r.input, { maxNewTokens: r.maxNewTokens, eosTokenIds: [] });
      assert.deepEqual(got.get(ids[i]!)!.tokenIds, alone.tokenIds, `request ${i}`);
    });
  } finally {
    for (const x of inputs) x.pixelValues?.dispose();
    model.dispose();
  }
});

test('cancel frees a slot for the next request; bad requests are refused at submit and queue nothing', () => {
  const m = tinyModel('f32-v4');
  const { model } = loadLlava(m.dir);
  const inputs = tinyInputs('f32-v4');
  try {
    const batch = new ContinuousBatch(model, { slots: 1 });
    try {
      const long = batch.submit(inputs[1]!, { maxNewTokens: 50, eosTokenIds: [] });
      const next = batch.submit(inputs[2]!, { maxNewTokens: 2, eosTokenIds: [] });
      assert.throws(() => batch.submit({ inputIds: [1, 99999] }), /id 99999 at position 1 is outside the vocabulary/);
      assert.throws(() => batch.submit(inputs[0]!, { temperature: -1 }), /temperature must be >= 0/);
      assert.throws(() => batch.submit({ inputIds: new Array(128).fill(5) }), /prompt of 128 tokens .* leaves no room in the model's context of 128/);
      const two = concat([inputs[1]!.pixelValues!, inputs[2]!.pixelValues!], 0);
      assert.throws(() => batch.submit({ inputIds: inputs[1]!.inputIds, pixelValues: two }), /2 images given but the prompt holds 1 image slots/);
      two.dispose();
      assert.equal(batch.queued, 2);
      batch.step();
      assert.equal(batch.running, 1);
      assert.equal(batch.cancel(long), true);
      assert.equal(batch.cancel(long), false);
      const finished: FinishedGeneration[] = [];
      while (batch.busy) finished.push(...batch.step());
      assert.deepEqual(finished.map((f) => f.id), [next]);
      assert.deepEqual(finished[0]!.result.tokenIds, generate(model, inputs[2]!, { maxNewTokens: 2, eosTokenIds: [] }).tokenIds);
    } finally {
      batch.dispose();
    }
  } finally {
    for (const x of inputs) x.pixelValues?.dispose();
    model.dispose();
  }
});
