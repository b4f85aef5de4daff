// The input side of the llava-tiny parity fixtures (made with Pillow + the reference script): for every model and case,
// our preprocessing, chat template, tokenizer and image expansion must give its pixel_values and input_ids; its safetensors must open.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadChatTemplate, renderChatTemplate, chatMessagesFromTurns } from '../../src/data/chatTemplate.js';
import { tokenizeWithImages } from '../../src/data/labels.js';
import { npyToInt32, readNpy } from '../../src/data/npy.js';
import { loadImageProcessorConfig, preprocessImage } from '../../src/data/preprocess.js';
import { LlavaTokenizer } from '../../src/data/tokenizer.js';
import { openSafetensors } from '../../src/model/safetensors.js';

const ROOT = 'test/fixtures/llava-tiny';

interface Manifest {
  models: { name: string; dir: string; golden: string }[];
  cases: { name: string; image: string; prompt: string }[];
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8')) as Manifest;

for (const model of manifest.models) {
  test(`llava-tiny ${model.name}: pixel values, prompt text and input ids equal the fixture's`, async () => {
    const dir = join(ROOT, model.dir);
    const processor = loadImageProcessorConfig(join(dir, 'preprocessor_config.json'));
    const tok = LlavaTokenizer.fromDir(dir);
    const template = loadChatTemplate(dir);
    assert.ok(template, 'the checkpoint ships a chat template');
    for (const c of manifest.cases) {
      const golden = join(ROOT, model.golden, c.name);
      const meta = JSON.parse(readFileSync(join(golden, 'meta.json'), 'utf8')) as { text: string; image_tokens: number };

      const pixels = await preprocessImage(join(ROOT, c.image), processor);
      const want = readNpy(join(golden, 'pixel_values.npy'));
      assert.deepEqual(want.shape, [1, pixels.channels, pixels.height, pixels.width], `${c.name}: pixel shape`);
      let maxDiff = 0;
      for (let i = 0; i < pixels.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pixels.data[i]! - Number(want.data[i])));
      assert.ok(maxDiff <= 1e-6, `${c.name}: max |pixel diff| ${maxDiff}`);

      const text = renderChatTemplate(template, chatMessagesFromTurns([{ role: 'user', text: `<image>\n${c.prompt}` }]), { bosToken: tok.bosToken, eosToken: tok.eosToken });
      assert.equal(text, meta.text, `${c.name}: rendered prompt`);
      const ids = tokenizeWithImages(text, tok, { kind: 'expanded', tokensPerImage: meta.image_tokens });
      assert.deepEqual(ids, [...npyToInt32(readNpy(join(golden, 'input_ids.npy')), 'input_ids')], `${c.name}: input ids`);
    }
    const weights = openSafetensors(dir);
    assert.ok(weights.tensors.size > 0);
  });
}
