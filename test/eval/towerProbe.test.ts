// The vision-tower probe: its ridge classifier on data with a known answer, and the probe end to
// end on a generated world with a randomly initialised world-small model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argmaxScore, fitRidgeClassifier, probeVisionTower } from '../../src/eval/towerProbe.js';
import { writeRunnableWorldSmall } from '../../src/bench/worldSmall.js';
import { generateWorld } from '../../src/world/world.js';
import { readImageRecords } from '../../src/datagen/inputs.js';
import { Rng } from '../../src/tensor/random.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-probe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('fitRidgeClassifier separates three clusters it was not fitted on, and only through the features', () => {
  const rng = new Rng(3);
  const centres = [[3, 0, 0, 1], [0, 3, 0, -1], [0, 0, 3, 0]];
  const sample = (k: number) => Float32Array.from(centres[k]!, (c) => c + 0.5 * rng.normal());
  const trainY = Array.from({ length: 300 }, (_, i) => i % 3);
  const w = fitRidgeClassifier(trainY.map(sample), trainY, 3, 1e-3);
  const testY = Array.from({ length: 90 }, (_, i) => (i * 7) % 3);
  const hits = testY.filter((y) => argmaxScore(w, sample(y), 3) === y).length;
  assert.ok(hits >= 88, `${hits} of 90 held-out points classified right`);
  // Labels unrelated to the features: the fitted classifier cannot beat chance by much.
  const shuffled = trainY.map(() => rng.int(3));
  const w2 = fitRidgeClassifier(trainY.map(sample), shuffled, 3, 1e-3);
  const truth = testY.map(() => rng.int(3));
  const lucky = truth.filter((y, i) => argmaxScore(w2, sample(testY[i]!), 3) === y).length;
  assert.ok(lucky < 50, `${lucky} of 90 random labels guessed`);
});

test('eval probe on a generated world: every object probed, colour read from a random tower, position from its embeddings, bad layers named', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'world-small');
  await writeRunnableWorldSmall(model);
  const world = join(dir, 'world');
  await generateWorld({ n: 150, size: 64, seed: 2, out: world, workers: 0 });
  const r = await probeVisionTower({ modelDir: model, worldDir: world, trainImages: 100, testImages: 100 });
  const objects = (split: 'train' | 'test', n: number) => readImageRecords({ format: 'world', files: [world], split }).slice(0, n).reduce((s, rec) => s + rec.instances.length, 0);
  assert.equal(r.trainObjects, objects('train', 100));
  assert.equal(r.testObjects, objects('test', 100));
  assert.equal(r.layer, 3, "world-small's projector reads hidden state 3 of 4");
  assert.deepEqual(r.labels.shape.classes, ['circle', 'diamond', 'hexagon', 'square', 'star', 'triangle']);
  const confused = r.labels.color.confusion.flat().reduce((a, b) => a + b, 0);
  assert.equal(confused, r.testObjects);
  // Random patch features still carry the pixels' colour linearly.
  assert.ok(r.labels.color.accuracy > 2 * r.labels.color.majority, `colour ${r.labels.color.accuracy} vs majority ${r.labels.color.majority}`);
  assert.deepEqual(r.labels.column.classes, ['left', 'middle', 'right']);
  assert.deepEqual(r.labels.row.classes, ['bottom', 'middle', 'top']);
  // At the embeddings each patch holds its position embedding: pooled over a box they tell where it is.
  const embeddings = await probeVisionTower({ modelDir: model, worldDir: world, layer: 0, trainImages: 100, testImages: 100 });
  for (const l of ['column', 'row'] as const) {
    const s = embeddings.labels[l];
    assert.ok(s.accuracy > s.majority + 0.15, `${l} ${s.accuracy} vs majority ${s.majority} at the embeddings`);
  }
  await assert.rejects(probeVisionTower({ modelDir: model, worldDir: world, layer: 5 }), /--layer must be one of 0\.\.4/);
});
