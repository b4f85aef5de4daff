// Loading a llava-hf checkpoint with --quantize: the tiny fixture's language model becomes q8_0 or
// q4_0 blocks (matrices, lm_head, token embedding; the vision tower and norms stay), it generates,
// and its greedy choices agree with the f32 model's on most positions (q8_0), or with the reference
// backend's run of the same blocks (q4_0, whose 4-bit error on this random 64-wide model flips
// near ties against f32).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLlava, quantizesWeight } from '../../src/model/checkpoint.js';
import { generate } from '../../src/infer/generate.js';
import { getBackend, withBackend } from '../../src/backend/index.js';
import { tinyModel } from './fixtures.js';

/** Two text prompts of token ids (the fixture's vocabulary is 381). */
const PROMPTS = [
  [1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
  [1, 300, 7, 99, 250, 12, 13, 14, 200, 201, 17, 18],
];
const NEW_TOKENS = 12;

/** The argmax of each row of logits (T, V). */
function argmaxRows(logits: Float32Array, vocab: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < logits.length / vocab; t++) {
    let best = 0;
    for (let v = 1; v < vocab; v++) if (logits[t * vocab + v]! > logits[t * vocab + best]!) best = v;
    out.push(best);
  }
  return out;
}

function agreement(a: readonly number[], b: readonly number[]): number {
  return a.filter((x, i) => x === b[i]).length / a.length;
}

/** Greedy ids and the argmax of the prompt's logits at each position, for one prompt. */
function run(model: ReturnType<typeof loadLlava>['model'], prompt: number[], vocab: number): { ids: number[]; promptArgmax: number[] } {
  const r = generate(model, { inputIds: prompt }, { maxNewTokens: NEW_TOKENS, eosTokenIds: [], promptLogits: true });
  return { ids: r.tokenIds, promptArgmax: argmaxRows(r.promptLogits!, vocab) };
}

test('--quantize q8_0 / q4_0: the language model loads as blocks and agrees with f32 on most positions', { timeout: 120_000 }, () => {
  const dir = tinyModel('f32-v4').dir;
  const f32 = loadLlava(dir);
  const vocab = f32.config.text.vocabSize;
  const want = PROMPTS.map((p) => run(f32.model, p, vocab));
  f32.model.dispose();
  // q4_0 is judged against the reference backend running the same blocks on exact f32 activations.
  const reference = getBackend('reference');
  const q4Want = withBackend(reference, () => {
    const q4Ref = loadLlava(dir, { quantize: 'q4_0', backend: reference });
    const out = PROMPTS.map((p) => run(q4Ref.model, p, vocab));
    q4Ref.model.dispose();
    return out;
  });
  const baseline = { q8_0: want, q4_0: q4Want } as const;
  // Agreement needed: teacher-forced argmax over the prompt, and the greedy continuation.
  const floors = { q8_0: { prompt: 0.9, greedy: 0.75 }, q4_0: { prompt: 0.9, greedy: 0.5 } } as const;
  for (const dtype of ['q8_0', 'q4_0'] as const) {
    const { model } = loadLlava(dir, { quantize: dtype });
    try {
      let interleavedCount = 0;
      for (const [name, p] of model.namedParameters()) {
        // q4_0 matrices of whole 8-row groups go to the GEMM's interleaved layout; the embedding table stays q4_0.
        const interleaves = dtype === 'q4_0' && name !== 'text.embed_tokens.weight' && p.value.shape[0]! % 8 === 0;
        const expected = quantizesWeight(name, p.value.shape, dtype) ? (interleaves ? 'q4_0x8' : dtype) : 'f32';
        assert.equal(p.value.dtype, expected, `${dtype}: ${name}`);
        if (expected === 'q4_0x8') interleavedCount++;
      }
      if (dtype === 'q4_0') assert.ok(interleavedCount > 0, 'q4_0 matrices are interleaved');
      assert.equal(model.text.embedTokens.value.dtype, dtype);
      PROMPTS.forEach((prompt, i) => {
        const got = run(model, prompt, vocab);
        const base = baseline[dtype][i]!;
        assert.equal(got.ids.length, NEW_TOKENS);
        const forced = agreement(got.promptArgmax, base.promptArgmax);
        const greedy = agreement(got.ids, base.ids);
        assert.ok(forced >= floors[dtype].prompt, `${dtype} prompt ${i}: teacher-forced agreement ${forced}`);
        assert.ok(greedy >= floors[dtype].greedy, `${dtype} prompt ${i}: greedy agreement ${greedy} (${got.ids} vs ${base.ids})`);
      });
    } finally {
      model.dispose();
    }
  }
});

test('quantizesWeight picks the language model\'s 2-d weights whose rows fill whole blocks', () => {
  assert.equal(quantizesWeight('text.layers.0.mlp.up_proj.weight', [128, 64], 'q8_0'), true);
  assert.equal(quantizesWeight('text.embed_tokens.weight', [381, 64], 'q4_0'), true);
  assert.equal(quantizesWeight('text.lm_head.weight', [381, 64], 'q4_0'), true);
  assert.equal(quantizesWeight('text.layers.0.input_layernorm.weight', [64], 'q8_0'), false);
  assert.equal(quantizesWeight('text.layers.0.mlp.down_proj.weight', [64, 100], 'q8_0'), false);
  assert.equal(quantizesWeight('vision.encoder.layers.0.mlp.fc1.weight', [128, 32], 'q8_0'), false);
  assert.equal(quantizesWeight('projector.linear_1.weight', [64, 32], 'q8_0'), false);
});
