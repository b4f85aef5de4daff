// Generation on the tiny fixture model: streaming callback, EOS and stop strings, max new
// tokens, a full context, seeded sampling, prompt logits, and prompts longer than the context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { generate } from '../../src/infer/generate.js';
import { pixelTensor, readGolden, relativeMaxDiff, tinyModel, PARITY_BOUND } from '../model/fixtures.js';

const fixture = tinyModel('f32-v4');
const golden = readGolden(fixture.golden, 'shapes');
const pipeline = LlavaPipeline.load(fixture.dir);
const model = pipeline.model;
const pixels = pixelTensor(golden);
const input = { inputIds: golden.inputIds, pixelValues: pixels };

test('streams each token as chosen; stops at max new tokens; returns the prompt logits', () => {
  const streamed: number[] = [];
  const r = generate(model, input, { maxNewTokens: 5, eosTokenIds: [], onToken: (id) => streamed.push(id), promptLogits: true });
  assert.deepEqual(r.tokenIds, golden.generatedIds.slice(0, 5));
  assert.deepEqual(streamed, r.tokenIds);
  assert.equal(r.stopReason, 'max_new_tokens');
  assert.equal(r.promptPositions, golden.inputIds.length);
  assert.ok(relativeMaxDiff(r.promptLogits!, golden.logits) <= PARITY_BOUND);
});

test('an EOS id ends generation and is not part of the output', () => {
  const r = generate(model, input, { maxNewTokens: 8, eosTokenIds: [golden.generatedIds[2]!] });
  assert.deepEqual(r.tokenIds, golden.generatedIds.slice(0, 2));
  assert.equal(r.stopReason, 'eos');
});

test('a stop string ends generation and is cut from the text', () => {
  const full = pipeline.decode(golden.generatedIds);
  const stop = ' The';
  assert.ok(full.includes(stop), `golden text ${JSON.stringify(full)} holds the stop string`);
  const r = pipeline.generate(golden.inputIds, pixels, { maxNewTokens: 8, eosTokenIds: [], stopStrings: [stop] });
  assert.equal(r.stopReason, 'stop_string');
  assert.equal(r.text, full.slice(0, full.indexOf(stop)));
  assert.ok(r.tokenIds.length < 8);
});

test('a prompt near the end of the context stops when the cache is full', () => {
  const ids = [1, ...new Array<number>(119).fill(300)];
  const r = generate(model, { inputIds: ids }, { maxNewTokens: 20, eosTokenIds: [] });
  assert.equal(r.stopReason, 'context_full');
  assert.equal(r.tokenIds.length, 9, '8 more positions fit after 120, and the last logits give a 9th token');
});

test('a prompt longer than the context is refused with the counts', () => {
  const ids = [1, ...new Array<number>(140).fill(300)];
  assert.throws(() => generate(model, { inputIds: ids }, { maxNewTokens: 4 }), /prompt of 141 tokens \(visual tokens included\) exceeds the model's context of 128/);
  const exact = [1, ...new Array<number>(127).fill(300)];
  assert.throws(() => generate(model, { inputIds: exact }, { maxNewTokens: 4 }), /prompt of 128 tokens .* leaves no room in the model's context of 128/);
});

test('seeded sampling repeats for a seed and differs across seeds', () => {
  const run = (seed: number) => generate(model, input, { maxNewTokens: 8, eosTokenIds: [], temperature: 1.5, topK: 50, seed }).tokenIds;
  assert.deepEqual(run(4), run(4));
  assert.notDeepEqual(run(4), run(5));
});

test.after(() => {
  pixels.dispose();
  pipeline.dispose();
});
