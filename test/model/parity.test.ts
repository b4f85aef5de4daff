// Golden parity on the llava-tiny fixtures (tools/llava_reference.py): vision features, image
// features, whole-prompt logits and 8 greedy KV-cached steps, for every model (4.x/5.x,
// f32/bf16/f16, full, tied embeddings), on both backends, within the per-dtype bounds of
// fixtures.ts. Each test prints (as a TAP diagnostic) the worst relative difference it saw per
// quantity. A last test proves the f32 bound discriminates: the f32 model loaded with a wrong
// RMSNorm (or LayerNorm) epsilon must fall outside it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBackend } from '../../src/backend/index.js';
import { addonAvailable } from '../../src/backend/native/addon.js';
import type { Backend } from '../../src/backend/types.js';
import { withBackend } from '../../src/backend/index.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import { generate } from '../../src/infer/generate.js';
import { PARITY_BOUNDS, TINY_CASES, TINY_MODELS, parityBound, pixelTensor, readGolden, relativeMaxDiff, tinyModel, type TinyModel } from './fixtures.js';

const GOLDEN_STEPS = 8;
const QUANTITIES = ['vision features', 'image features', 'logits', 'KV-cached step logits'] as const;
type Quantity = (typeof QUANTITIES)[number];
type Worst = Record<Quantity, { rel: number; at: string }>;

function format(worst: Worst): string {
  return QUANTITIES.map((q) => `${q} ${worst[q].rel.toExponential(2)} (${worst[q].at})`).join(', ');
}

/** Runs every case of one model on one backend; asserts the bound, returns the worst relative difference per quantity. */
function checkModel(m: TinyModel, backend: Backend, caseNames: readonly string[]): Worst {
  const bound = parityBound(m.dtype);
  const worst = Object.fromEntries(QUANTITIES.map((q) => [q, { rel: 0, at: '' }])) as Worst;
  const check = (q: Quantity, caseName: string, got: ArrayLike<number>, want: ArrayLike<number>) => {
    const rel = relativeMaxDiff(got, want);
    if (rel >= worst[q].rel) worst[q] = { rel, at: caseName };
    assert.ok(rel <= bound, `${m.name}/${caseName} (${backend.name}): ${q}: max |diff| = ${rel.toExponential(3)} x max |golden| > ${bound} (${m.dtype})`);
  };
  withBackend(backend, () => {
    const { model } = loadLlava(m.dir, { backend });
    try {
      for (const name of caseNames) {
        const g = readGolden(m.golden, name);
        const pixels = pixelTensor(g, backend);
        const vision = model.imageFeatures(pixels);
        check('vision features', name, vision.toArray(), g.visionFeatures);
        const image = model.encodeImages(pixels);
        check('image features', name, image.toArray(), g.imageFeatures);
        const { logits } = model.forward({ inputIds: [g.inputIds], pixelValues: pixels });
        assert.deepEqual(logits.shape, [1, ...g.logitsShape]);
        check('logits', name, logits.toArray(), g.logits);
        const r = generate(model, { inputIds: g.inputIds, pixelValues: pixels }, { maxNewTokens: GOLDEN_STEPS, eosTokenIds: [], stepLogits: true });
        assert.deepEqual(r.tokenIds, g.generatedIds, `${m.name}/${name}: greedy ids`);
        check('KV-cached step logits', name, new Float32Array(r.stepLogits.flatMap((row) => [...row])), g.generatedLogits);
        for (const t of [pixels, vision, image, logits]) t.dispose();
      }
    } finally {
      model.dispose();
    }
  });
  return worst;
}

const caseNames = TINY_CASES.map((c) => c.name);
const noNative = !addonAvailable() && 'native addon not built';

for (const m of TINY_MODELS) {
  test(`parity (native) ${m.name} [${m.layout}, ${m.dtype}]: features, logits and greedy steps within ${parityBound(m.dtype).toExponential()}`, { skip: noNative }, (t) => {
    t.diagnostic(`worst max|diff|/max|golden| ${m.name} native: ${format(checkModel(m, getBackend('native'), caseNames))}`);
  });
  test(`parity (reference backend) ${m.name} [${m.layout}, ${m.dtype}]: features, logits and greedy steps within ${parityBound(m.dtype).toExponential()}`, (t) => {
    t.diagnostic(`worst max|diff|/max|golden| ${m.name} reference: ${format(checkModel(m, getBackend('reference'), caseNames))}`);
  });
}

const STORED: Readonly<Record<string, string>> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

test('the fixtures cover f32, bf16 and f16 weights (loaded in their stored dtype, goldens apart) and tied word embeddings', () => {
  const f32 = tinyModel('f32-v4');
  for (const dtype of Object.keys(PARITY_BOUNDS)) {
    const models = TINY_MODELS.filter((m) => m.dtype === dtype);
    assert.ok(models.length > 0, `no ${dtype} fixture model`);
    for (const m of models) {
      const { model, storedDtypes } = loadLlava(m.dir, { backend: getBackend('reference') });
      assert.deepEqual(Object.keys(storedDtypes), [STORED[dtype]], `${m.name}: every tensor stored as ${dtype}`);
      model.dispose();
      if (dtype === 'float32') continue;
      // The rounded weights are in the goldens: they sit far outside the bound from the f32 ones.
      for (const name of caseNames) {
        const rel = relativeMaxDiff(readGolden(m.golden, name).logits, readGolden(f32.golden, name).logits);
        assert.ok(rel > 100 * parityBound(dtype), `${m.name}/${name}: ${dtype} and float32 golden logits differ by only ${rel}`);
      }
    }
  }
  const tied = TINY_MODELS.filter((m) => JSON.parse(readFileSync(join(m.dir, 'config.json'), 'utf8')).text_config.tie_word_embeddings === true);
  assert.ok(tied.length > 0, 'no fixture model with text_config.tie_word_embeddings');
  for (const m of tied) {
    const { model } = loadLlava(m.dir, { backend: getBackend('reference') });
    assert.equal(model.text.lmHead, undefined, `${m.name}: a tied model has no lm_head of its own`);
    model.dispose();
  }
});

/** A copy of a fixture model directory with some config.json fields changed. */
function patchedCopy(t: TestContext, m: TinyModel, patch: (config: Record<string, Record<string, unknown>>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), `llava-parity-${m.name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(m.dir, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  patch(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** Worst relative difference per case of the patched model's vision features and logits against the unpatched goldens. */
function patchedDiffs(dir: string, m: TinyModel, backend: Backend): { case: string; vision: number; logits: number }[] {
  return withBackend(backend, () => {
    const { model } = loadLlava(dir, { backend });
    try {
      return caseNames.map((name) => {
        const g = readGolden(m.golden, name);
        const pixels = pixelTensor(g, backend);
        const vision = model.imageFeatures(pixels);
        const { logits } = model.forward({ inputIds: [g.inputIds], pixelValues: pixels });
        const out = { case: name, vision: relativeMaxDiff(vision.toArray(), g.visionFeatures), logits: relativeMaxDiff(logits.toArray(), g.logits) };
        for (const x of [pixels, vision, logits]) x.dispose();
        return out;
      });
    } finally {
      model.dispose();
    }
  });
}

for (const backendName of ['native', 'reference'] as const) {
  test(`the f32 bound discriminates (${backendName}): rms_norm_eps 1e-6 instead of 1e-5, layer_norm_eps 1e-6 instead of 1e-5 fail it`, { skip: backendName === 'native' && noNative }, (t) => {
    const m = tinyModel('f32-v4');
    const bound = parityBound(m.dtype);
    const backend = getBackend(backendName);
    // Text RMSNorm: logits move by 7e-6 to 1.1e-5 x max|logit| (3.5x to 5x the bound); vision features do not move.
    const rms = patchedDiffs(patchedCopy(t, m, (c) => { c.text_config!.rms_norm_eps = 1e-6; }), m, backend);
    t.diagnostic(`rms_norm_eps 1e-6 (${backendName}): logits ${rms.map((r) => `${r.case} ${r.logits.toExponential(2)}`).join(', ')}`);
    for (const r of rms) {
      assert.ok(r.logits > bound, `${r.case}: rms_norm_eps 1e-6 moves the logits by only ${r.logits} x max|golden| (bound ${bound})`);
      assert.ok(r.vision <= bound, `${r.case}: the text eps must not touch the vision features (${r.vision})`);
    }
    // Vision LayerNorm (vision_config.layer_norm_eps, default 1e-5): vision features move by ~4e-6 (~2x the bound).
    const ln = patchedDiffs(patchedCopy(t, m, (c) => { c.vision_config!.layer_norm_eps = 1e-6; }), m, backend);
    t.diagnostic(`layer_norm_eps 1e-6 (${backendName}): vision features ${ln.map((r) => `${r.case} ${r.vision.toExponential(2)}`).join(', ')}`);
    for (const r of ln) assert.ok(r.vision > bound, `${r.case}: layer_norm_eps 1e-6 moves the vision features by only ${r.vision} x max|golden| (bound ${bound})`);
  });
}
