// The LLaVA wrapper: both image conventions splice the same embeddings, batched right/left
// padding reproduces single-sequence logits, labels give the shifted loss with gradients
// reaching projector and LLM but not the frozen vision tower, and bad inputs are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backward, concat, type Tensor } from '../../src/tensor/index.js';
import { IGNORE_INDEX, IMAGE_TOKEN_INDEX } from '../../src/data/constants.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import { turnWeights, type LlavaModel } from '../../src/model/llava.js';
import { readGolden, tinyModel, pixelTensor, relativeMaxDiff, type Golden } from './fixtures.js';

const model = tinyModel('f32-v4');
const shapes = readGolden(model.golden, 'shapes');
const portrait = readGolden(model.golden, 'portrait');
const IMAGE_ID = 379;
const V = 381;

function toPlaceholder(ids: readonly number[]): number[] {
  const first = ids.indexOf(IMAGE_ID);
  const count = ids.filter((x) => x === IMAGE_ID).length;
  return [...ids.slice(0, first), IMAGE_TOKEN_INDEX, ...ids.slice(first + count)];
}

function rows(logits: Tensor, b: number, start: number, count: number): Float32Array {
  const all = logits.toArray() as Float32Array;
  const T = logits.dim(1);
  return all.slice((b * T + start) * V, (b * T + start + count) * V);
}

function withModel(fn: (m: LlavaModel) => void): void {
  const { model: m } = loadLlava(model.dir);
  try {
    fn(m);
  } finally {
    m.dispose();
  }
}

test('the -200 placeholder and the expanded <image> ids give identical logits', () => {
  withModel((m) => {
    const px = pixelTensor(shapes);
    const expanded = m.forward({ inputIds: [shapes.inputIds], pixelValues: px }).logits;
    const single = m.forward({ inputIds: [toPlaceholder(shapes.inputIds)], pixelValues: px }).logits;
    assert.deepEqual(single.shape, expanded.shape);
    assert.deepEqual(single.toArray(), expanded.toArray());
  });
});

function batchMatchesSingles(side: 'left' | 'right'): void {
  withModel((m) => {
    const cases: Golden[] = [shapes, portrait];
    const px = concat(cases.map((g) => pixelTensor(g)), 0);
    const { logits } = m.forward({ inputIds: cases.map((g) => g.inputIds), pixelValues: px, paddingSide: side });
    const T = Math.max(...cases.map((g) => g.inputIds.length));
    cases.forEach((g, b) => {
      const n = g.inputIds.length;
      const got = rows(logits, b, side === 'left' ? T - n : 0, n);
      assert.ok(!got.some(Number.isNaN), `${side} padding: row ${b} has NaN`);
      assert.ok(relativeMaxDiff(got, g.logits) <= 1e-5, `${side} padding: row ${b} differs from the golden`);
    });
  });
}

test('a right-padded batch of two images reproduces each sequence', () => batchMatchesSingles('right'));
test('a left-padded batch of two images reproduces each sequence', () => batchMatchesSingles('left'));

/** Mean -log softmax(logits[t])[labels[t+1]] over labelled positions, in float64. */
function expectedLoss(logits: Float32Array, labels: readonly number[]): number {
  let total = 0;
  let count = 0;
  for (let t = 0; t + 1 < labels.length; t++) {
    const target = labels[t + 1]!;
    if (target === IGNORE_INDEX) continue;
    const row = logits.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    total += lse - row[target]!;
    count++;
  }
  return total / count;
}

test('labels give the shifted mean loss; gradients reach projector and LLM, not the vision tower', () => {
  withModel((m) => {
    const ids = shapes.inputIds;
    const labels = ids.map((id, t) => (id === IMAGE_ID || t < 25 ? IGNORE_INDEX : id));
    const { logits, loss } = m.forward({ inputIds: [ids], pixelValues: pixelTensor(shapes), labels: [labels] });
    assert.ok(loss);
    const want = expectedLoss(logits.toArray() as Float32Array, labels);
    assert.ok(Math.abs(loss.item() - want) < 1e-5 * want, `loss ${loss.item()} vs ${want}`);
    backward(loss);
    const grads = (prefix: string) => m.namedParameters().filter(([n]) => n.startsWith(prefix)).map(([, p]) => p.grad);
    assert.ok(grads('projector.').every((g) => g !== undefined), 'every projector weight has a gradient');
    assert.ok(grads('text.layers.').every((g) => g !== undefined), 'every LLM layer weight has a gradient');
    assert.ok(grads('vision.').every((g) => g === undefined), 'the vision tower is frozen');
    const g1 = m.projector.linears[0]!.weightParam.grad!.toArray();
    assert.ok(g1.some((x) => x !== 0), 'projector gradient is not all zero');
    m.zeroGrad();
  });
});

/** Per-turn averaging by hand: each run of labelled targets' mean loss, then the mean over runs, in float64. */
function expectedTurnLoss(logits: Float32Array, labels: readonly number[]): number {
  const runs: number[][] = [];
  let open = false;
  for (let t = 0; t + 1 < labels.length; t++) {
    const target = labels[t + 1]!;
    if (target === IGNORE_INDEX) {
      open = false;
      continue;
    }
    if (!open) runs.push([]);
    open = true;
    const row = logits.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    runs.at(-1)!.push(max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0)) - row[target]!);
  }
  return runs.reduce((s, r) => s + r.reduce((a, b) => a + b, 0) / r.length, 0) / runs.length;
}

test("loss averaged per turn: each answer (a run of labels) weighs the same, whatever its length", () => {
  withModel((m) => {
    const ids = shapes.inputIds;
    // Three answers of 1, 2 and 5 tokens after the image.
    const answer = new Set([20, 23, 24, 28, 29, 30, 31, 32]);
    const labels = ids.map((id, t) => (answer.has(t) && id !== IMAGE_ID ? id : IGNORE_INDEX));
    assert.equal(labels.filter((l) => l !== IGNORE_INDEX).length, 8);
    const { logits, loss } = m.forward({ inputIds: [ids], pixelValues: pixelTensor(shapes), labels: [labels], lossAveraging: 'turn' });
    const values = logits.toArray() as Float32Array;
    const want = expectedTurnLoss(values, labels);
    assert.ok(Math.abs(loss!.item() - want) < 1e-5 * want, `loss ${loss!.item()} vs ${want}`);
    assert.ok(Math.abs(want - expectedLoss(values, labels)) > 1e-3, 'differs from the per-token mean');
    m.zeroGrad();
  });
});

test('turnWeights: 1 / (run length * runs) on every run of learned targets, rows kept apart', () => {
  const I = IGNORE_INDEX;
  // Two rows of 4: [5 6 | I 7] and [8 I I 9]: runs (5 6), (7), (8), (9).
  const w = turnWeights(Int32Array.of(5, 6, I, 7, 8, I, I, 9), 2, 4);
  assert.deepEqual([...w], [1 / 8, 1 / 8, 0, 1 / 4, 1 / 4, 0, 0, 1 / 4]);
  // A run ending one row does not continue into the next.
  assert.deepEqual([...turnWeights(Int32Array.of(I, 1, 2, 3), 2, 2)], [0, 1 / 2, 1 / 4, 1 / 4]);
});

test('bad inputs: image count, a short run of image tokens, ids outside the vocabulary, a prompt over the context', () => {
  withModel((m) => {
    const px = pixelTensor(shapes);
    assert.throws(() => m.forward({ inputIds: [[1, IMAGE_TOKEN_INDEX, 5]] }), /more images than the 0 given/);
    assert.throws(() => m.forward({ inputIds: [[1, 2, 3]], pixelValues: px }), /1 images given but the input ids hold 0 image slots/);
    assert.throws(() => m.forward({ inputIds: [[1, IMAGE_ID, IMAGE_ID, 5]], pixelValues: px }), /image token 379 at position 1 is not followed by 15 more/);
    assert.throws(() => m.forward({ inputIds: [[1, 5, IMAGE_ID, IMAGE_ID]], pixelValues: px }), /image token 379 at position 2 is not followed by 15 more/);
    assert.throws(() => m.forward({ inputIds: [[1, 400]] }), /id 400 at position 1 is outside the vocabulary \[0, 381\)/);
    const long = [...shapes.inputIds, ...new Array<number>(100).fill(5)];
    assert.throws(() => m.forward({ inputIds: [long], pixelValues: px }), /prompt of 137 tokens \(visual tokens included\) exceeds the model's context of 128/);
    assert.throws(() => m.forward({ inputIds: [[1, 2]], labels: [[1]] }), /labels: 1 entries for 2 ids/);
  });
});
