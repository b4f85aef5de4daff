// Gradient checkpointing per decoder layer gives the same gradients, bit for bit, as keeping
// every activation: full stage 2, and LoRA with dropout (the recomputation draws the same masks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLlava } from '../../src/model/checkpoint.js';
import type { LlavaModel } from '../../src/model/llava.js';
import { backward } from '../../src/autograd/backward.js';
import { attachLora, byLastName, LLAVA_LORA } from '../../src/nn/lora.js';
import { full, tensor, type Tensor } from '../../src/tensor/tensor.js';
import { readGolden, tinyModel, TINY_ROOT } from '../model/fixtures.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAGES } from '../../src/train/stages.js';
import { TRAIN_DEFAULTS, train } from '../../src/train/trainer.js';

const golden = readGolden(tinyModel('f32-v4').golden, 'shapes');
const labels = golden.inputIds.map((id, t) => (id === 379 || t < 20 ? -100 : id));

/** Ops on the tape behind a tensor, counted by name. */
function opsBehind(t: Tensor): Map<string, number> {
  const counts = new Map<string, number>();
  const seen = new Set<Tensor>();
  const stack = [t];
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x) || !x.node) continue;
    seen.add(x);
    counts.set(x.node.op, (counts.get(x.node.op) ?? 0) + 1);
    stack.push(...x.node.inputs);
  }
  return counts;
}

/** Loss and every trainable parameter's gradient, by name; also how many checkpoint nodes the tape held. */
function gradients(model: LlavaModel): { loss: number; grads: Map<string, Float32Array>; checkpoints: number } {
  const px = tensor(Float32Array.from([...golden.pixels, ...golden.pixels]), [2, ...golden.pixelShape.slice(1)]);
  const out = model.forward({ inputIds: [golden.inputIds, golden.inputIds.slice(0, 30)], labels: [labels, labels.slice(0, 30)], pixelValues: px });
  const loss = out.loss!.item();
  const checkpoints = opsBehind(out.loss!).get('checkpoint') ?? 0;
  backward(out.loss!);
  out.logits.dispose();
  out.loss!.dispose();
  px.dispose();
  const grads = new Map(model.namedParameters().filter(([, p]) => p.grad).map(([n, p]) => [n, p.grad!.toArray() as Float32Array]));
  model.zeroGrad();
  return { loss, grads, checkpoints };
}

function compare(model: LlavaModel, what: string): void {
  const plain = gradients(model);
  model.text.gradientCheckpointing = true;
  const recomputed = gradients(model);
  model.text.gradientCheckpointing = false;
  assert.equal(plain.checkpoints, 0);
  assert.equal(recomputed.checkpoints, model.config.text.numLayers, `${what}: one checkpoint per decoder layer`);
  assert.equal(recomputed.loss, plain.loss, `${what}: loss`);
  assert.deepEqual([...recomputed.grads.keys()], [...plain.grads.keys()], `${what}: the same parameters get gradients`);
  assert.ok(plain.grads.size > 10);
  for (const [name, g] of plain.grads) assert.deepEqual(recomputed.grads.get(name), g, `${what}: ${name}`);
}

test('gradient checkpointing gives identical gradients (projector and LLM train)', () => {
  const trains = (n: string) => n.startsWith('projector.') || n.startsWith('text.');
  const { model } = loadLlava(tinyModel('f32-v4').dir, { trainable: trains });
  for (const [n, p] of model.namedParameters()) p.setTrainable(trains(n));
  compare(model, 'full');
  model.dispose();
});

test('gradient checkpointing gives identical gradients with LoRA dropout on', () => {
  const trains = (n: string) => n.startsWith('projector.');
  const { model } = loadLlava(tinyModel('f32-v4').dir, { trainable: trains });
  for (const [n, p] of model.namedParameters()) p.setTrainable(trains(n));
  const { runtime } = attachLora(model, { ...LLAVA_LORA, r: 4, alpha: 8, dropout: 0.3 }, byLastName(LLAVA_LORA.targets, 'text.layers.'), 3);
  // B starts at zero, which would hide A's gradient: give it values first.
  for (const [n, p] of model.namedParameters()) if (n.endsWith('lora_B.weight')) p.set(full(p.value.shape, 0.01));
  runtime.seed = 11;
  compare(model, 'lora');
  model.dispose();
});

test('llava train --grad-checkpoint runs the same training: same losses, same weights', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-gc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'chat.json');
  const files = ['shapes.png', 'portrait.png', 'square.png'];
  writeFileSync(data, JSON.stringify(files.map((f, i) => ({ id: `c${i}`, image: f, conversations: [{ from: 'human', value: '<image>\nWhat is it?' }, { from: 'gpt', value: `answer ${i}` }] }))));
  const run = (out: string, gradCheckpoint: boolean) =>
    train({ ...TRAIN_DEFAULTS, stage: STAGES[2], modelDir: tinyModel('f32-v4').dir, dataPath: data, imageFolder: join(TINY_ROOT, 'images'), outDir: join(dir, out), groupByLength: false, trainVision: false, skipBad: false, resume: false, imageAspect: 'auto', batchSize: 3, maxLength: 128, template: 'vicuna_nosys', maxSteps: 3, lr: 1e-3, gradCheckpoint });
  const a = await run('plain', false);
  const b = await run('checkpointed', true);
  assert.deepEqual(b.losses, a.losses);
  assert.ok(readFileSync(join(dir, 'checkpointed', 'model.safetensors')).equals(readFileSync(join(dir, 'plain', 'model.safetensors'))));
});
