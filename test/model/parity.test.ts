// Golden parity on the llava-tiny fixtures (tools/llava_reference.py): vision features, image
// features, whole-prompt logits and 8 greedy KV-cached steps, for every model (4.x/5.x, f32/bf16, full).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/backend/index.js';
import { addonAvailable } from '../../src/backend/native/addon.js';
import type { Backend } from '../../src/backend/types.js';
import { withBackend } from '../../src/backend/index.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import { generate } from '../../src/infer/generate.js';
import { PARITY_BOUND, TINY_CASES, TINY_MODELS, pixelTensor, readGolden, relativeMaxDiff, tinyModel, type TinyModel } from './fixtures.js';

const GOLDEN_STEPS = 8;

function checkModel(m: TinyModel, backend: Backend, caseNames: readonly string[]): void {
  withBackend(backend, () => {
    const { model } = loadLlava(m.dir, { backend });
    try {
      for (const name of caseNames) {
        const g = readGolden(m.golden, name);
        const pixels = pixelTensor(g, backend);
        const vision = model.imageFeatures(pixels);
        assert.ok(relativeMaxDiff(vision.toArray(), g.visionFeatures) <= PARITY_BOUND, `${m.name}/${name}: vision features`);
        const image = model.encodeImages(pixels);
        assert.ok(relativeMaxDiff(image.toArray(), g.imageFeatures) <= PARITY_BOUND, `${m.name}/${name}: image features`);
        const { logits } = model.forward({ inputIds: [g.inputIds], pixelValues: pixels });
        assert.deepEqual(logits.shape, [1, ...g.logitsShape]);
        const rel = relativeMaxDiff(logits.toArray(), g.logits);
        assert.ok(rel <= PARITY_BOUND, `${m.name}/${name}: max |logit diff| = ${rel} x max |golden logit|`);
        const r = generate(model, { inputIds: g.inputIds, pixelValues: pixels }, { maxNewTokens: GOLDEN_STEPS, eosTokenIds: [], stepLogits: true });
        assert.deepEqual(r.tokenIds, g.generatedIds, `${m.name}/${name}: greedy ids`);
        const steps = new Float32Array(r.stepLogits.flatMap((row) => [...row]));
        assert.ok(relativeMaxDiff(steps, g.generatedLogits) <= PARITY_BOUND, `${m.name}/${name}: KV-cached step logits`);
        for (const t of [pixels, vision, image, logits]) t.dispose();
      }
    } finally {
      model.dispose();
    }
  });
}

const caseNames = TINY_CASES.map((c) => c.name);

for (const m of TINY_MODELS) {
  test(`parity (native) ${m.name} [${m.layout}, ${m.dtype}]: features, logits and greedy steps match the goldens`, { skip: !addonAvailable() && 'native addon not built' }, () => {
    checkModel(m, getBackend('native'), caseNames);
  });
}

test('parity (reference backend) bf16-v5 portrait: logits and greedy steps match the goldens', () => {
  checkModel(tinyModel('bf16-v5'), getBackend('reference'), ['portrait']);
});
