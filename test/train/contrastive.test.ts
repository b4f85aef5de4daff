// Stage 0a, CLIP contrastive pretraining: the text tower pools at each row's EOS whatever the padding,
// the loss is CLIP's symmetric InfoNCE, a small run on a generated world learns, and the saved tower loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, randn, tensor } from '../../src/tensor/index.js';
import { randomWeights } from '../../src/nn/layers.js';
import { DEFAULT_PROJECTOR_CONFIG, DEFAULT_TEXT_CONFIG, DEFAULT_VISION_CONFIG, type LlavaConfig, type VisionConfig } from '../../src/model/config.js';
import { ClipTextTransformer, CLIP_TEXT_DEFAULTS, padRows, type ClipTextConfig } from '../../src/model/clipText.js';
import { ClipModel, LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, clipInitWeights, type ClipModelConfig } from '../../src/model/clipModel.js';
import { expectedWeights } from '../../src/model/weightNames.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';
import { LlavaTokenizer } from '../../src/data/tokenizer.js';
import { generateWorld, loadWorld } from '../../src/world/index.js';
import { patchesInBox, trainClip, type ClipTrainOptions } from '../../src/train/contrastive.js';

const TEXT: ClipTextConfig = { ...CLIP_TEXT_DEFAULTS, vocabSize: 40, hiddenSize: 16, intermediateSize: 32, numLayers: 2, numHeads: 2, maxPositions: 12 };
const VISION: VisionConfig = { ...DEFAULT_VISION_CONFIG, imageSize: 16, patchSize: 8, hiddenSize: 16, intermediateSize: 32, numLayers: 2, numHeads: 2 };
const TINY: ClipModelConfig = { vision: VISION, text: TEXT, projectionDim: 8 };

function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol * (1 + Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

test('the text tower pools the final-normed state at each row EOS; padding never reaches it', () => {
  const tower = new ClipTextTransformer(randomWeights(new Rng(3), 0.2), 'text_model', TEXT);
  const rows = [
    [5, 6, 7, 8, 2],
    [9, 10, 2],
  ];
  const batch = padRows(rows, 0);
  assert.equal(batch.width, 5);
  const pooled = tower.pooled(batch).toArray();
  const hidden = tower.lastHiddenState(batch).toArray(); // (2, 5, 16)
  const C = TEXT.hiddenSize;
  rows.forEach((r, n) => closeTo(pooled.slice(n * C, (n + 1) * C), hidden.slice((n * 5 + r.length - 1) * C, (n * 5 + r.length) * C), 1e-6, `row ${n} pooled vs hidden at EOS`));
  const alone = tower.pooled(padRows([rows[1]!])).toArray();
  closeTo(pooled.slice(C), alone, 1e-5, 'padded row vs the row alone');
  const otherPadding = tower.pooled(padRows(rows, 33)).toArray();
  closeTo(otherPadding, pooled, 1e-6, 'another padding id');
  assert.throws(() => tower.pooled(padRows([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 2]])), /exceed the 12 positions/);
  assert.throws(() => tower.pooled(padRows([[1, 40]])), /outside the vocabulary of 40/);
  tower.dispose();
});

/** CLIP's loss in plain JS from the two embedding matrices (N, E) and the logit scale. */
function infoNce(image: Float32Array, text: Float32Array, n: number, e: number, logitScale: number): { loss: number; logits: number[] } {
  const unit = (m: Float32Array) =>
    Array.from({ length: n }, (_, i) => {
      const row = Array.from(m.slice(i * e, (i + 1) * e));
      const norm = Math.hypot(...row);
      return row.map((x) => x / norm);
    });
  const [a, b] = [unit(image), unit(text)];
  const scale = Math.exp(logitScale);
  const logits = a.flatMap((ai) => b.map((bj) => scale * ai.reduce((s, x, k) => s + x * bj[k]!, 0)));
  const at = (i: number, j: number) => logits[i * n + j]!;
  const ce = (row: (j: number) => number, target: number) => {
    const xs = Array.from({ length: n }, (_, j) => row(j));
    const max = Math.max(...xs);
    return max + Math.log(xs.reduce((s, x) => s + Math.exp(x - max), 0)) - xs[target]!;
  };
  let perImage = 0;
  let perText = 0;
  for (let i = 0; i < n; i++) {
    perImage += ce((j) => at(i, j), i);
    perText += ce((j) => at(j, i), i);
  }
  return { loss: (perImage / n + perText / n) / 2, logits };
}

test('the loss is the symmetric InfoNCE of the normalised embeddings at exp(logit_scale)', () => {
  const model = new ClipModel(clipInitWeights(new Rng(5), TINY), TINY);
  assert.ok(Math.abs(model.logitScale.value.item() - LOGIT_SCALE_INIT) < 1e-6);
  const pixels = randn([4, 3, 16, 16], new Rng(6));
  const batch = padRows([[3, 4, 2], [5, 2], [6, 7, 8, 2], [9, 9, 2]], 0);
  const image = model.imageEmbeds(pixels).toArray() as Float32Array;
  const text = model.textEmbeds(batch).toArray() as Float32Array;
  const expected = infoNce(image, text, 4, 8, LOGIT_SCALE_INIT);
  const out = model.forward(pixels, batch);
  closeTo(out.logitsPerImage.toArray(), expected.logits, 1e-5, 'logits per image');
  closeTo([out.loss.item()], [expected.loss], 1e-5, 'loss');
  // A learned scale past ln(100) is clipped back to it after the step.
  model.logitScale.value.backend.write(model.logitScale.value.ptr, Float32Array.of(5));
  model.clampLogitScale();
  assert.equal(model.logitScale.value.item(), Math.fround(LOGIT_SCALE_MAX));
  model.dispose();
});

/** A word-level tokenizer over the captions' words (as the demo's BPE, one token per word), EOS `</s>`. */
function wordTokenizer(captions: readonly string[]): LlavaTokenizer {
  const words = [...new Set(captions.flatMap((c) => c.toLowerCase().match(/\w+|[^\w\s]+/g) ?? []))].sort();
  const specials = ['<unk>', '<s>', '</s>'];
  const vocab = Object.fromEntries([...specials, ...words].map((w, i) => [w, i]));
  const added = specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const json = { version: '1.0', truncation: null, padding: null, added_tokens: added, post_processor: null, decoder: null, normalizer: { type: 'Lowercase' }, pre_tokenizer: { type: 'Whitespace' }, model: { type: 'WordLevel', vocab, unk_token: '<unk>' } };
  return LlavaTokenizer.fromJson(json, { bos_token: '<s>', eos_token: '</s>' }, 'words', { addImageToken: false });
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The small runs' vision tower: 32 px, 8 px patches, two layers. */
const WORLD_VISION: VisionConfig = { ...DEFAULT_VISION_CONFIG, imageSize: 32, patchSize: 8, hiddenSize: 32, intermediateSize: 128, numLayers: 2, numHeads: 2 };

/** A generated 32 px world in dir/world: its images and every image-caption pair. */
async function worldPairs(dir: string, n: number, seed: number) {
  const worldDir = join(dir, 'world');
  await generateWorld({ n, size: 32, seed, out: worldDir, workers: 0 });
  const images = [...loadWorld(worldDir).images.values()].map((im) => ({ ...im, path: join(worldDir, im.fileName) }));
  return { images, pairs: images.flatMap((im) => im.captions.map((caption) => ({ image: im.path, caption }))) };
}

test('a small run on a generated world learns, repeats bit for bit, and saves a CLIPVisionModel llava can load', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-clip-'));
  try {
    const { pairs } = await worldPairs(dir, 300, 1);
    const vision = WORLD_VISION;
    const options: ClipTrainOptions = {
      pairs,
      tokenizer: wordTokenizer(pairs.map((p) => p.caption)),
      vision,
      text: { hiddenSize: 32, intermediateSize: 128, numLayers: 2, numHeads: 2, maxPositions: 32 },
      projectionDim: 64,
      steps: 300,
      batchSize: 32,
      lr: 2e-3,
      warmupSteps: 15,
      weightDecay: 0.1,
      seed: 1,
      outDir: join(dir, 'clip'),
    };
    const seconds: number[] = [];
    const run = await trainClip({ ...options, onStep: (m) => seconds.push(m.seconds) });
    const [first, last] = [mean(run.losses.slice(0, 10)), mean(run.losses.slice(-20))];
    const accuracy = mean(run.accuracies.slice(-20));
    t.diagnostic(`loss ${first.toFixed(3)} -> ${last.toFixed(3)} (ln 32 = ${Math.log(32).toFixed(3)}), in-batch accuracy ${(100 * accuracy).toFixed(0)}% (chance 3%), ${(1000 * mean(seconds)).toFixed(0)} ms/step`);
    assert.equal(run.images, 300);
    assert.ok(last < first - 0.5 && last < Math.log(32) - 0.3, `loss only went from ${first} to ${last}`);
    assert.ok(accuracy >= 0.12, `in-batch accuracy ${accuracy} is not well above chance (1/32)`);

    const again = await trainClip({ ...options, steps: 4, outDir: join(dir, 'again') });
    const once = await trainClip({ ...options, steps: 4, outDir: join(dir, 'once') });
    assert.deepEqual(again.losses, once.losses, 'one seed, one thread count, other losses');

    // What `llava build` reads: every vision tensor LLaVA expects, under vision_model.*, post_layernorm too.
    const header = readSafetensorsHeader(join(options.outDir, 'model.safetensors'));
    const llava: LlavaConfig = { vision, projector: DEFAULT_PROJECTOR_CONFIG, text: DEFAULT_TEXT_CONFIG, imageTokenId: 32000, padTokenId: null, visionFeatureLayer: -2, visionFeatureSelectStrategy: 'default' };
    const wanted = expectedWeights(llava).filter((s) => s.name.startsWith('vision.'));
    assert.deepEqual([...header.tensors.keys()].sort(), wanted.map((s) => s.name.replace(/^vision\./, 'vision_model.')).sort());
    for (const s of wanted) assert.deepEqual(header.tensors.get(s.name.replace(/^vision\./, 'vision_model.'))!.shape, s.shape, s.name);
    assert.ok(header.tensors.has('vision_model.post_layernorm.weight'));
    const config = JSON.parse(readFileSync(join(options.outDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.model_type, 'clip_vision_model');
    assert.deepEqual([config.image_size, config.patch_size, config.hidden_size, config.num_hidden_layers], [32, 8, 32, 2]);
    const processor = JSON.parse(readFileSync(join(options.outDir, 'preprocessor_config.json'), 'utf8')) as { crop_size: unknown };
    assert.deepEqual(processor.crop_size, { height: 32, width: 32 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('region pooling takes the patches whose centres lie in the box, or the one holding a box too small for any', () => {
  // A 4x4 grid: token 1 + row * 4 + column (CLS is token 0).
  assert.deepEqual(patchesInBox([0, 0, 0.5, 1], 4), [1, 2, 5, 6, 9, 10, 13, 14]);
  assert.deepEqual(patchesInBox([0.3, 0.55, 0.45, 0.7], 4), [1 + 2 * 4 + 1]);
  assert.deepEqual(patchesInBox([0.9, 0.9, 1, 1], 4), [16]);
});

test('the region loss is the cross-entropy of box-pooled, projected patch tokens against the batch phrases', () => {
  const model = new ClipModel(clipInitWeights(new Rng(11), TINY), TINY);
  const grid = VISION.imageSize / VISION.patchSize; // 2: five tokens an image
  const pixels = randn([2, 3, 16, 16], new Rng(12));
  const captions = padRows([[3, 4, 2], [5, 2]]);
  // Three regions: image 0's left column, image 1's top-right patch, image 1 whole; phrases 0, 1, 0.
  const pooling = new Float32Array(3 * 2 * 5);
  for (const t of patchesInBox([0, 0, 0.5, 1], grid)) pooling[0 * 10 + 0 * 5 + t] = 0.5;
  pooling[1 * 10 + 1 * 5 + 2] = 1;
  for (const t of [1, 2, 3, 4]) pooling[2 * 10 + 1 * 5 + t] = 0.25;
  const regions = { pooling, phrases: padRows([[6, 7, 2], [8, 2]]), targets: [0, 1, 0] };
  const out = model.forwardWithRegions(pixels, captions, regions, 1);
  assert.ok(Math.abs(out.loss.item() - model.forward(pixels, captions).loss.item()) < 1e-5, 'the pair loss is forward()\'s');

  const C = VISION.hiddenSize;
  const h = model.vision.hiddenState(pixels, 1).toArray(); // (2, 5, C)
  const pooled = new Float32Array(3 * C);
  for (let r = 0; r < 3; r++) for (let k = 0; k < 10; k++) for (let c = 0; c < C; c++) pooled[r * C + c]! += pooling[r * 10 + k]! * h[k * C + c]!;
  const regionEmbeds = model.visualProjection.forward(model.vision.postLayerNorm!.forward(tensor(pooled, [3, C]))).toArray();
  const phraseEmbeds = model.textEmbeds(regions.phrases).toArray();
  const E = TINY.projectionDim;
  const unit = (m: ArrayLike<number>, i: number) => {
    const row = Array.from(m).slice(i * E, (i + 1) * E);
    const norm = Math.hypot(...row);
    return row.map((x) => x / norm);
  };
  const scale = Math.exp(LOGIT_SCALE_INIT);
  let loss = 0;
  for (let r = 0; r < 3; r++) {
    const logits = [0, 1].map((j) => scale * unit(regionEmbeds, r).reduce((s, x, k) => s + x * unit(phraseEmbeds, j)[k]!, 0));
    const logSum = Math.log(logits.reduce((s, l) => s + Math.exp(l), 0));
    loss += (logSum - logits[regions.targets[r]!]!) / 3;
  }
  assert.ok(Math.abs(out.regionLoss.item() - loss) < 1e-4 * (1 + loss), `region loss ${out.regionLoss.item()} vs ${loss}`);
  assert.throws(() => model.forwardWithRegions(pixels, captions, regions, 3), /region layer 3 is not one of 1\.\.2/);
  model.dispose();
});

test('with the region term on the world boxes, regions learn their phrases and the caption loss still falls', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-clip-regions-'));
  try {
    const { images, pairs } = await worldPairs(dir, 200, 2);
    const byImage = new Map(images.map((im) => [im.path, im.objects.map((o) => ({ box: [o.box.x0, o.box.y0, o.box.x1, o.box.y1] as const, phrase: `${o.color} ${o.shape}` }))]));
    const vision = WORLD_VISION;
    const steps: { regionLoss?: number; regionAccuracy?: number }[] = [];
    const run = await trainClip({
      pairs,
      tokenizer: wordTokenizer([...pairs.map((p) => p.caption), ...[...byImage.values()].flat().map((r) => r.phrase)]),
      vision,
      text: { hiddenSize: 32, intermediateSize: 128, numLayers: 2, numHeads: 2, maxPositions: 32 },
      projectionDim: 64,
      steps: 120,
      batchSize: 32,
      lr: 2e-3,
      warmupSteps: 10,
      weightDecay: 0.1,
      seed: 1,
      regions: { byImage, weight: 1, layer: 1 },
      outDir: join(dir, 'clip'),
      onStep: (m) => steps.push(m),
    });
    const regionLosses = steps.map((m) => m.regionLoss!);
    const [first, last] = [mean(regionLosses.slice(0, 10)), mean(regionLosses.slice(-20))];
    const accuracy = mean(steps.slice(-20).map((m) => m.regionAccuracy!));
    t.diagnostic(`region loss ${first.toFixed(3)} -> ${last.toFixed(3)}, region accuracy ${(100 * accuracy).toFixed(0)}%; caption loss ${mean(run.losses.slice(0, 10)).toFixed(3)} -> ${mean(run.losses.slice(-20)).toFixed(3)}`);
    assert.ok(steps.every((m) => Number.isFinite(m.regionLoss) && m.regionAccuracy! >= 0 && m.regionAccuracy! <= 1));
    assert.ok(last < first - 0.5, `region loss only went from ${first} to ${last}`);
    assert.ok(accuracy >= 0.3, `region accuracy ${accuracy}: the regions did not learn their phrases`);
    assert.ok(mean(run.losses.slice(-20)) < mean(run.losses.slice(0, 10)) - 0.3, 'the caption loss did not fall');
    await assert.rejects(trainClip({ pairs, tokenizer: wordTokenizer(pairs.map((p) => p.caption)), vision, text: { hiddenSize: 32, intermediateSize: 128, numLayers: 2, numHeads: 2, maxPositions: 32 }, projectionDim: 64, steps: 1, batchSize: 32, lr: 1e-3, warmupSteps: 0, weightDecay: 0, seed: 1, regions: { byImage, weight: 1, layer: 3 }, outDir: join(dir, 'bad') }), /region layer must be one of 1\.\.2, got 3/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
