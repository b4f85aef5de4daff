// Stage 0b: a LLaMA pretrained from random weights learns a small corpus, saves as a HF
// LlamaForCausalLM, and `llava build` composes it with an untrained CLIP tower into a model
// that loads and answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainBpeTokenizer, writeTrainedTokenizer } from '../../src/data/tokenizerTrain.js';
import { LlavaTokenizer } from '../../src/data/tokenizer.js';
import { packDocuments, pretrainLanguageModel } from '../../src/train/textPretrain.js';
import { saveUntrainedVisionTower } from '../../src/train/contrastive.js';
import { composeLlava } from '../../src/model/compose.js';
import { DEFAULT_TEXT_CONFIG, DEFAULT_VISION_CONFIG, parseProjectorType } from '../../src/model/config.js';
import { readSafetensorsHeader } from '../../src/model/safetensors.js';

const SENTENCES = ['a red circle is left of a blue square', 'two green triangles sit below a pink star', 'the yellow hexagon is above the purple diamond'];

test('stage 0b: a LLaMA learns the corpus, saves as LlamaForCausalLM, and llava build composes it', { timeout: 120_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'llava-lm-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const texts = Array.from({ length: 60 }, (_, i) => `${SENTENCES[i % 3]}. ${SENTENCES[(i + 1) % 3]}.`);
  const tokDir = join(root, 'tok');
  writeTrainedTokenizer(trainBpeTokenizer(texts), tokDir);
  const tokenizer = LlavaTokenizer.fromDir(tokDir, { addImageToken: false });
  const stream = packDocuments(texts.slice(0, 2), tokenizer);
  assert.equal(stream[0], tokenizer.bosId);
  assert.equal(stream.filter((id) => id === tokenizer.eosId).length, 2, 'each document closed by EOS');

  const config = { ...DEFAULT_TEXT_CONFIG, vocabSize: 384, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, maxPositionEmbeddings: 64, bosTokenId: tokenizer.bosId!, eosTokenIds: [tokenizer.eosId!] };
  const llama = join(root, 'llama');
  const run = () => pretrainLanguageModel({ texts, tokenizer, config, steps: 60, batchSize: 8, seqLen: 24, lr: 1e-2, warmupSteps: 5, weightDecay: 0, seed: 3, outDir: llama, tokenizerDir: tokDir });
  const r = await run();
  const head = r.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const tail = r.losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(tail < head / 3, `loss fell from ${head.toFixed(2)} to ${tail.toFixed(2)}`);
  assert.deepEqual((await run()).losses, r.losses, 'one seed, one thread count: the same losses');

  const saved = JSON.parse(readFileSync(join(llama, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(saved.model_type, 'llama');
  const names = [...readSafetensorsHeader(join(llama, 'model.safetensors')).tensors.keys()];
  assert.ok(names.includes('model.embed_tokens.weight') && names.includes('lm_head.weight') && names.includes('model.layers.1.mlp.down_proj.weight'), names.join(', '));

  const vision = { ...DEFAULT_VISION_CONFIG, imageSize: 32, patchSize: 8, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4 };
  await saveUntrainedVisionTower({ tokenizer, vision, text: { hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 4, maxPositions: 16 }, projectionDim: 16, seed: 0, outDir: join(root, 'clip') });
  const built = await composeLlava({ visionDir: join(root, 'clip'), languageDir: llama, projector: parseProjectorType('mlp2x_gelu'), outDir: join(root, 'llava'), seed: 0 });
  assert.equal(built.vision.imageSize, 32);
  const g = spawnSync(process.execPath, ['bin/llava.js', 'generate', '--model', join(root, 'llava'), '--image', 'test/fixtures/llava-tiny/images/shapes.png', '--prompt', 'a red', '--max-new-tokens', '4', '--json'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  assert.equal(JSON.parse(g.stdout).prompt_ids.filter((id: number) => id === built.imageTokenId).length, 16, '16 visual tokens for a 32 px image in 8 px patches');
});
