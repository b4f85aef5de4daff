// CLIP vision tower on random weights: hidden-state indexing (0 = pre-LN'd embeddings),
// feature strategies, layers past the feature layer never run, and pixel shape errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, randn } from '../../src/tensor/index.js';
import { DEFAULT_VISION_CONFIG, type VisionConfig } from '../../src/model/config.js';
import { ClipVisionTransformer } from '../../src/model/clipVit.js';
import { randomWeights } from '../../src/nn/layers.js';

const SMALL: VisionConfig = { ...DEFAULT_VISION_CONFIG, imageSize: 16, patchSize: 4, hiddenSize: 16, intermediateSize: 32, numLayers: 3, numHeads: 2 };

test('hidden states: 0 is the embedding output, each index adds one layer; strategies keep or drop CLS', () => {
  const vit = new ClipVisionTransformer(randomWeights(new Rng(3), 0.2), 'vision', SMALL);
  const px = randn([2, 3, 16, 16], new Rng(4));
  const h0 = vit.hiddenState(px, 0);
  assert.deepEqual(h0.shape, [2, 17, 16]);
  const viaLayer = vit.layers.items[0]!.forward(h0).toArray();
  assert.deepEqual(vit.hiddenState(px, 1).toArray(), viaLayer);
  assert.deepEqual(vit.features(px, 2, 'full').shape, [2, 17, 16]);
  const patches = vit.features(px, 2, 'default');
  assert.deepEqual(patches.shape, [2, 16, 16]);
  const full = vit.features(px, 2, 'full').toArray();
  assert.deepEqual(patches.toArray(), full.filter((_, i) => i % (17 * 16) >= 16), 'default drops exactly the CLS row');
  vit.dispose();
});

test('layers after the feature layer are not run (their weights are never read)', () => {
  const vit = new ClipVisionTransformer(randomWeights(new Rng(3), 0.2), 'vision', SMALL);
  const px = randn([1, 3, 16, 16], new Rng(5));
  const before = vit.hiddenState(px, 2).toArray();
  vit.layers.items[2]!.fc1.weightParam.value.dispose(); // using it now would throw
  assert.deepEqual(vit.hiddenState(px, 2).toArray(), before);
  assert.throws(() => vit.hiddenState(px, 3), /disposed/);
  vit.dispose();
});

test('pixel values of the wrong size and hidden states out of range are refused', () => {
  const vit = new ClipVisionTransformer(randomWeights(new Rng(3)), 'vision', SMALL);
  assert.throws(() => vit.hiddenState(randn([1, 3, 20, 16], new Rng(1)), 1), /pixel values \[1, 3, 20, 16\] do not fit the config \(N, 3, 16, 16\)/);
  assert.throws(() => vit.hiddenState(randn([1, 3, 16, 16], new Rng(1)), 4), /hidden state 4 does not exist \(0\.\.3\)/);
  vit.dispose();
});
