// The LLaVA trainer on the tiny fixture: what each stage changes, overfitting 16 samples, a
// checkpoint that generate loads with the in-memory logits, exact resume after SIGKILL, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorBytes } from '../../src/model/safetensors.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import { STAGES } from '../../src/train/stages.js';
import { TRAIN_DEFAULTS, train, type TrainOptions } from '../../src/train/trainer.js';
import { readMetrics } from '../../src/train/metrics.js';
import { backward } from '../../src/autograd/backward.js';
import { getBackend } from '../../src/backend/index.js';
import { epochBatches } from '../../src/train/batches.js';
import { pixelTensor, readGolden, relativeMaxDiff, tinyModel, TINY_ROOT } from '../model/fixtures.js';
import type { LlavaModel } from '../../src/model/llava.js';
import { trainOptionsFromFlags, type TrainFlags } from '../../src/cli/train.js';

const BASE = tinyModel('f32-v4').dir;
const IMAGES = join(TINY_ROOT, 'images');
const CAPTIONS = ['a red shape on the left', 'a tall picture of blue', 'a square of green'];
const FILES = ['shapes.png', 'portrait.png', 'square.png'];

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeData(dir: string, name: string, records: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(records));
  return path;
}

function captionPairs(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => ({ id: `p${i}`, image: FILES[i % 3], conversations: [{ from: 'human', value: 'Describe briefly.\n<image>' }, { from: 'gpt', value: CAPTIONS[i % 3] }] }));
}

function dialogues(n: number): unknown[] {
  const out: unknown[] = Array.from({ length: n }, (_, i) => ({
    id: `c${i}`,
    image: FILES[i % 3],
    conversations: [
      { from: 'human', value: '<image>\nWhat is it?' },
      { from: 'gpt', value: CAPTIONS[i % 3] },
      { from: 'human', value: 'Sure?' },
      { from: 'gpt', value: 'yes' },
    ],
  }));
  out.push({ id: 'text-only', conversations: [{ from: 'human', value: 'hi' }, { from: 'gpt', value: 'hello there' }] });
  return out;
}

function options(over: Partial<TrainOptions> & Pick<TrainOptions, 'stage' | 'dataPath' | 'outDir'>): TrainOptions {
  return { ...TRAIN_DEFAULTS, modelDir: BASE, imageFolder: IMAGES, groupByLength: false, trainVision: false, skipBad: false, resume: false, imageAspect: 'auto', batchSize: 4, maxLength: 128, ...over };
}

/** Tensor name -> bytes of a checkpoint directory's model.safetensors. */
function tensorBytes(dir: string): Map<string, Buffer> {
  const file = readSafetensorsHeader(join(dir, 'model.safetensors'));
  return new Map([...file.tensors.values()].map((e) => [e.name, Buffer.from(readTensorBytes(e))]));
}

function changed(before: Map<string, Buffer>, after: Map<string, Buffer>): string[] {
  return [...before.keys()].filter((k) => !before.get(k)!.equals(after.get(k)!));
}

test('stage 1 changes only the projector; stage 2 changes projector and LLM, never the vision tower', async (t) => {
  const dir = tempDir(t);
  const s1 = join(dir, 's1');
  await train(options({ stage: STAGES[1], dataPath: writeData(dir, 'pairs.json', captionPairs(8)), outDir: s1, maxSteps: 3, lr: 1e-2 }));
  const base = tensorBytes(BASE);
  const one = changed(base, tensorBytes(s1));
  assert.ok(one.length > 0);
  assert.deepEqual(one.filter((n) => !n.startsWith('multi_modal_projector.')), [], 'stage 1 leaves everything but the projector byte-identical');
  assert.equal(one.length, 4, 'all four projector tensors trained');
  assert.ok(existsSync(join(s1, 'mm_projector.safetensors')));
  const s2 = join(dir, 's2');
  await train(options({ stage: STAGES[2], modelDir: s1, dataPath: writeData(dir, 'chat.json', dialogues(8)), outDir: s2, maxSteps: 3, lr: 1e-3, template: 'vicuna_nosys' }));
  const two = changed(tensorBytes(s1), tensorBytes(s2));
  assert.ok(two.some((n) => n.startsWith('multi_modal_projector.')));
  assert.ok(two.some((n) => n.startsWith('language_model.model.layers.')));
  assert.ok(two.includes('language_model.lm_head.weight'));
  assert.deepEqual(two.filter((n) => n.startsWith('vision_tower.')), [], 'the vision tower is frozen');
});

test('stage 2 overfits 16 samples to under 20% of the initial loss; the checkpoint generates the learned caption', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'run');
  const r = await train(options({ stage: STAGES[2], dataPath: writeData(dir, 'chat.json', dialogues(16)), outDir: out, maxSteps: 60, lr: 3e-3, template: 'vicuna_nosys' }));
  const first = r.losses[0]!;
  assert.ok(r.finalLoss < 0.2 * first, `final loss ${r.finalLoss} vs initial ${first}`);
  const metrics = readMetrics(join(out, 'metrics.jsonl'));
  assert.equal(metrics.length, 60);
  for (const k of ['step', 'loss', 'lr', 'grad_norm', 'tokens', 'seconds'] as const) assert.equal(typeof metrics[0]![k], 'number', k);
  assert.ok(readFileSync(join(out, 'loss.svg'), 'utf8').startsWith('<svg'));
  const g = spawnSync(process.execPath, ['bin/llava.js', 'generate', '--model', out, '--image', join(IMAGES, 'shapes.png'), '--prompt', 'What is it?', '--max-new-tokens', '12', '--json'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  assert.match((JSON.parse(g.stdout) as { text: string }).text, /^a red shape on the left/);
});

test('a written checkpoint gives the logits of the model in memory at that step', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'run');
  const ids = readGolden(tinyModel('f32-v4').golden, 'shapes').inputIds;
  const pixels = readGolden(tinyModel('f32-v4').golden, 'shapes');
  const inMemory = new Map<string, Float32Array>();
  const forward = (model: LlavaModel) => {
    const px = pixelTensor(pixels);
    const logits = model.forward({ inputIds: [ids], pixelValues: px }).logits;
    const out = logits.toArray() as Float32Array;
    logits.dispose();
    px.dispose();
    return out;
  };
  await train(options({ stage: STAGES[2], dataPath: writeData(dir, 'chat.json', dialogues(8)), outDir: out, maxSteps: 4, saveSteps: 2, lr: 1e-3, template: 'vicuna_nosys', onCheckpoint: (d, model) => inMemory.set(d, forward(model)) }));
  assert.deepEqual([...inMemory.keys()].map((d) => d.split('/').at(-1)), ['checkpoint-2', 'checkpoint-4']);
  for (const [d, want] of inMemory) {
    const { model } = loadLlava(d);
    assert.equal(relativeMaxDiff(forward(model), want), 0, `${d} reloads with the in-memory logits`);
    model.dispose();
  }
  const g = spawnSync(process.execPath, ['bin/llava.js', 'generate', '--model', join(out, 'checkpoint-2'), '--image', join(IMAGES, 'shapes.png'), '--prompt', 'What is it?', '--max-new-tokens', '2', '--json'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
});

test('--resume after SIGKILL mid-run gives bit-identical losses and final weights', async (t) => {
  const dir = tempDir(t);
  const data = writeData(dir, 'chat.json', dialogues(12));
  const args = (out: string) => ['bin/llava.js', 'train', '--stage', '2', '--model', BASE, '--data', data, '--image-folder', IMAGES, '--out', out, '--max-steps', '120', '--batch-size', '3', '--lr', '1e-3', '--template', 'vicuna_nosys', '--max-length', '128', '--save-steps', '5', '--keep', '2'];
  const whole = join(dir, 'whole');
  const r = spawnSync(process.execPath, args(whole), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const killed = join(dir, 'killed');
  const child = spawn(process.execPath, args(killed), { stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  // Kill once a mid-run checkpoint exists (the run keeps going past it).
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(killed, 'checkpoint-20')) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 2));
  child.kill('SIGKILL');
  await exited;
  assert.ok(!existsSync(join(killed, 'config.json')), 'killed before the end');
  const again = spawnSync(process.execPath, args(killed), { encoding: 'utf8' });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds a run .* pass --resume/);
  // What a kill in the middle of a save leaves: a temp folder, never read and removed on resume.
  mkdirSync(join(killed, 'checkpoint-115.tmp-1'));
  writeFileSync(join(killed, 'checkpoint-115.tmp-1', 'trainer_state.json'), '{"step": 115, "half": true');
  const resumed = spawnSync(process.execPath, [...args(killed), '--resume'], { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from step \d+/);
  const losses = (out: string) => readMetrics(join(out, 'metrics.jsonl')).map((m) => m.loss);
  assert.deepEqual(losses(killed), losses(whole));
  assert.ok(readFileSync(join(killed, 'model.safetensors')).equals(readFileSync(join(whole, 'model.safetensors'))), 'final weights bit-identical');
  assert.ok(!existsSync(join(killed, 'checkpoint-115.tmp-1')), 'the half-written temp folder is gone');
});

test('bad input: each gets an error naming the record, or is counted with --skip-bad', async (t) => {
  const dir = tempDir(t);
  const good = captionPairs(2);
  const cases: [string, unknown, RegExp][] = [
    ['missing image', { id: 'm', image: 'nope.png', conversations: [{ from: 'human', value: '<image>\nx' }, { from: 'gpt', value: 'y' }] }, /sample m: image .*nope\.png not found/],
    ['<image> without an image', { id: 'n', conversations: [{ from: 'human', value: '<image>\nx' }, { from: 'gpt', value: 'y' }] }, /sample n: 1 <image> in a record without an image/],
    ['two <image>', { id: 'two', image: 'shapes.png', conversations: [{ from: 'human', value: '<image>\n<image>x' }, { from: 'gpt', value: 'y' }] }, /sample two: has an image but 2 <image> placeholders/],
    ['not alternating', { id: 'alt', conversations: [{ from: 'human', value: 'x' }, { from: 'human', value: 'y' }] }, /sample alt: conversations\[1\] is from human, expected gpt/],
    ['no conversations', { id: 'e' }, /sample e: conversations must be a non-empty array/],
  ];
  for (const [what, bad, message] of cases) {
    const data = writeData(dir, 'bad.json', [...good, bad]);
    await assert.rejects(train(options({ stage: STAGES[1], dataPath: data, outDir: join(dir, 'out-bad'), maxSteps: 1 })), (e: Error) => message.test(e.message) && /record 2/.test(e.message) && /--skip-bad/.test(e.message), what);
    assert.ok(!existsSync(join(dir, 'out-bad', 'config.json')));
  }
  const skipping = await train(options({ stage: STAGES[1], dataPath: writeData(dir, 'mixed.json', [...good, ...cases.map((c) => c[1])]), outDir: join(dir, 'skip'), maxSteps: 1, skipBad: true }));
  assert.equal(skipping.dataset.bad.length, cases.length);
  assert.equal(skipping.dataset.samples.length, 2);
  await assert.rejects(train(options({ stage: STAGES[1], dataPath: writeData(dir, 'empty.json', []), outDir: join(dir, 'e'), maxSteps: 1 })), /no sample left to train on/);
  await assert.rejects(train(options({ stage: STAGES[1], dataPath: join(dir, 'missing.json'), outDir: join(dir, 'e2'), maxSteps: 1 })), /missing\.json: data file not found/);
  writeFileSync(join(dir, 'notjson.json'), '{oops');
  await assert.rejects(train(options({ stage: STAGES[1], dataPath: join(dir, 'notjson.json'), outDir: join(dir, 'e3'), maxSteps: 1 })), /notjson\.json: not valid JSON/);
  const truncated = await train(options({ stage: STAGES[1], dataPath: writeData(dir, 'long.json', [...good, { id: 'long', image: 'shapes.png', conversations: [{ from: 'human', value: '<image>' }, { from: 'gpt', value: 'word '.repeat(200) }] }]), outDir: join(dir, 'long'), maxSteps: 1 }));
  assert.equal(truncated.dataset.truncated, 1, 'a sample past --max-length is cut and counted');
  assert.equal(truncated.dataset.samples.length, 3);
});

test('epoch order depends only on (seed, epoch); grouping never mixes image and text-only samples', () => {
  const items = Array.from({ length: 50 }, (_, i) => ({ length: (i * 7) % 23, hasImage: i % 5 !== 0 }));
  assert.deepEqual(epochBatches(items, 4, 1, 2, true), epochBatches(items, 4, 1, 2, true));
  assert.notDeepEqual(epochBatches(items, 4, 1, 2, false), epochBatches(items, 4, 1, 3, false));
  const grouped = epochBatches(items, 4, 1, 0, true);
  assert.deepEqual(grouped.flat().sort((a, b) => a - b), items.map((_, i) => i));
  for (const b of grouped) assert.equal(new Set(b.map((i) => items[i]!.hasImage)).size, 1);
});

test('gradients of a full LLaVA training step (projector and LLM) match finite differences', () => {
  const trains = (n: string) => n.startsWith('projector.') || n.startsWith('text.');
  const { model } = loadLlava(BASE, { trainable: trains });
  try {
    for (const [n, p] of model.namedParameters()) p.setTrainable(trains(n));
    const g = readGolden(tinyModel('f32-v4').golden, 'shapes');
    const labels = g.inputIds.map((id, t) => (id === 379 || t < 25 ? -100 : id));
    const px = pixelTensor(g);
    const loss = () => {
      const out = model.forward({ inputIds: [g.inputIds], labels: [labels], pixelValues: px });
      const v = out.loss!.item();
      out.logits.dispose();
      out.loss!.dispose();
      return v;
    };
    const out = model.forward({ inputIds: [g.inputIds], labels: [labels], pixelValues: px });
    backward(out.loss!);
    out.logits.dispose();
    out.loss!.dispose();
    const names = ['projector.linear_1.weight', 'projector.linear_2.bias', 'text.layers.0.self_attn.q_proj.weight', 'text.layers.1.mlp.down_proj.weight', 'text.embed_tokens.weight', 'text.norm.weight', 'text.lm_head.weight'];
    const h = 1e-2;
    for (const name of names) {
      const p = model.getParameter(name)!;
      const grad = p.grad!.toArray() as Float32Array;
      const values = p.value.toArray() as Float32Array;
      // The entries with the largest gradients, where a finite difference is well above float32 noise.
      const top = [...grad.keys()].sort((a, b) => Math.abs(grad[b]!) - Math.abs(grad[a]!)).slice(0, 3);
      for (const i of top) {
        const at = (v: number) => {
          const copy = Float32Array.from(values);
          copy[i] = v;
          p.value.backend.write(p.value.ptr, copy);
          return loss();
        };
        const numeric = (at(values[i]! + h) - at(values[i]! - h)) / (2 * h);
        p.value.backend.write(p.value.ptr, values);
        assert.ok(Math.abs(numeric - grad[i]!) <= 0.02 * Math.abs(grad[i]!) + 2e-4, `${name}[${i}]: analytic ${grad[i]} vs numeric ${numeric}`);
      }
    }
    px.dispose();
  } finally {
    model.dispose();
  }
});

test('a NaN loss stops the run before any update, naming the last good checkpoint', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'nan-model');
  cpSync(BASE, model, { recursive: true });
  const file = join(model, 'model.safetensors');
  const header = readSafetensorsHeader(file);
  const entry = header.tensors.get('language_model.model.norm.weight')!;
  const bytes = readFileSync(file);
  bytes.writeFloatLE(Number.NaN, entry.byteOffset);
  writeFileSync(file, bytes);
  const out = join(dir, 'run');
  await assert.rejects(train(options({ stage: STAGES[1], modelDir: model, dataPath: writeData(dir, 'pairs.json', captionPairs(4)), outDir: out, maxSteps: 2 })), /loss is NaN at step 1; stopped without updating the weights \(last good checkpoint: none\)/);
  assert.ok(!existsSync(join(out, 'config.json')));
});

test('a disk that fills up mid-save leaves no half-written checkpoint and names the last complete one', async (t) => {
  const dir = tempDir(t);
  const mnt = mkdtempSync(join(tmpdir(), 'llava-small-disk-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1200k', 'tmpfs', mnt]);
  t.after(() => {
    if (mounted.status === 0) spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  if (mounted.status !== 0) return t.skip(`cannot mount a small tmpfs here (needs root): ${mounted.stderr.toString().trim()}`);
  const out = join(mnt, 'run');
  await assert.rejects(train(options({ stage: STAGES[1], dataPath: writeData(dir, 'pairs.json', captionPairs(8)), outDir: out, maxSteps: 6, saveSteps: 1, lr: 1e-2 })), /disk full while writing .*checkpoint-\d+; nothing half-written is left \(last complete checkpoint: .*checkpoint-\d+\)/);
  const left = readdirSync(out);
  assert.ok(left.some((n) => /^checkpoint-\d+$/.test(n)), `a complete checkpoint stays: ${left}`);
  assert.deepEqual(left.filter((n) => n.includes('.tmp')), [], 'no temp folders left');
  for (const n of left.filter((x) => x.startsWith('checkpoint-'))) assert.ok(existsSync(join(out, n, 'trainer_state.json')), `${n} is complete`);
});

test('images decoded in worker threads or on the main thread train identically', async (t) => {
  const dir = tempDir(t);
  const data = writeData(dir, 'pairs.json', captionPairs(6));
  const a = await train(options({ stage: STAGES[1], dataPath: data, outDir: join(dir, 'w0'), maxSteps: 3, dataWorkers: 0 }));
  const b = await train(options({ stage: STAGES[1], dataPath: data, outDir: join(dir, 'w2'), maxSteps: 3, dataWorkers: 2 }));
  assert.deepEqual(b.losses, a.losses);
});

test('an unreadable image, a model that is not a llava directory, and a processor that does not fit the tower are named', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'broken.png'), 'not a picture');
  const data = writeData(dir, 'pairs.json', [{ id: 'b', image: join(dir, 'broken.png'), conversations: [{ from: 'human', value: '<image>' }, { from: 'gpt', value: 'x' }] }]);
  await assert.rejects(train(options({ stage: STAGES[1], dataPath: data, outDir: join(dir, 'o1'), maxSteps: 1 })), /image .*broken\.png: .*broken\.png: not a supported image/);
  const llama = join(dir, 'llama');
  cpSync(BASE, llama, { recursive: true });
  writeFileSync(join(llama, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  await assert.rejects(train(options({ stage: STAGES[1], modelDir: llama, dataPath: writeData(dir, 'p.json', captionPairs(2)), outDir: join(dir, 'o2'), maxSteps: 1 })), /model_type: expected "llava", got "llama"/);
  const wrongSize = join(dir, 'wrong-size');
  cpSync(BASE, wrongSize, { recursive: true });
  rmSync(join(wrongSize, 'preprocessor_config.json'));
  await assert.rejects(train(options({ stage: STAGES[1], modelDir: wrongSize, dataPath: writeData(dir, 'p2.json', captionPairs(2)), outDir: join(dir, 'o3'), maxSteps: 1 })), /preprocessor_config\.json crops to 336x336 but the vision tower takes 32x32 images/);
});

test('--eval-data logs the held-out loss every --eval-steps', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'run');
  await train(options({ stage: STAGES[1], dataPath: writeData(dir, 'train.json', captionPairs(6)), evalData: writeData(dir, 'val.json', captionPairs(3)), evalSteps: 2, outDir: out, maxSteps: 5, lr: 1e-2 }));
  const m = readMetrics(join(out, 'metrics.jsonl'));
  assert.deepEqual(m.filter((x) => x.eval_loss !== undefined).map((x) => x.step), [2, 4, 5]);
  assert.ok(m.every((x) => x.eval_loss === undefined || (Number.isFinite(x.eval_loss) && x.eval_loss > 0)));
});

test('the reference backend trains the same as the native one (stage 2, three steps)', async (t) => {
  const dir = tempDir(t);
  const data = writeData(dir, 'chat.json', dialogues(3));
  const common = { stage: STAGES[2], dataPath: data, maxSteps: 3, lr: 1e-3, template: 'vicuna_nosys' as const, batchSize: 2 };
  const native = await train(options({ ...common, outDir: join(dir, 'native') }));
  const reference = await train(options({ ...common, outDir: join(dir, 'reference'), backend: getBackend('reference') }));
  native.losses.forEach((l, i) => assert.ok(Math.abs(l - reference.losses[i]!) <= 1e-4 * Math.abs(l), `step ${i + 1}: native ${l} vs reference ${reference.losses[i]}`));
});

test('--loss-average turn: the same run weighs answers, not tokens (a short answer counts as much as a caption)', async (t) => {
  const dir = tempDir(t);
  const data = writeData(dir, 'chat.json', dialogues(3));
  const common = { stage: STAGES[2], dataPath: data, maxSteps: 2, lr: 1e-3, template: 'vicuna_nosys' as const, batchSize: 4 };
  const token = await train(options({ ...common, outDir: join(dir, 'token') }));
  const turn = await train(options({ ...common, outDir: join(dir, 'turn'), lossAveraging: 'turn' }));
  assert.ok(turn.losses.every(Number.isFinite));
  assert.ok(Math.abs(turn.losses[0]! - token.losses[0]!) > 1e-4, `turn ${turn.losses[0]} vs token ${token.losses[0]}`);
  // Resuming asks for the same averaging.
  await assert.rejects(train(options({ ...common, outDir: join(dir, 'turn'), resume: true })), /written with other options/);
  const flags: TrainFlags = { stage: '2', model: 'm', data: 'd.json', imageFolder: '.', out: 'o', batchSize: '8', gradAccum: '1', epochs: '1', warmupRatio: '0.03', weightDecay: '0', maxGradNorm: '1', maxLength: '2048', seed: '0', imageAspect: 'auto', dataWorkers: '1', lossAverage: 'turn' };
  assert.equal(trainOptionsFromFlags(flags).lossAveraging, 'turn');
  assert.throws(() => trainOptionsFromFlags({ ...flags, lossAverage: 'sample' }), /--loss-average must be token or turn, got 'sample'/);
});

test('stage 2 starts its projector from a stage-1 directory or its mm_projector.safetensors', async (t) => {
  const dir = tempDir(t);
  const s1 = join(dir, 's1');
  await train(options({ stage: STAGES[1], dataPath: writeData(dir, 'pairs.json', captionPairs(4)), outDir: s1, maxSteps: 2, lr: 1e-2 }));
  const projectorOf = (m: LlavaModel) => m.projector.namedParameters().map(([n, p]) => [n, [...(p.value.toArray() as Float32Array)]]);
  const { model: fromS1 } = loadLlava(s1);
  const want = projectorOf(fromS1);
  fromS1.dispose();
  for (const source of [s1, join(s1, 'mm_projector.safetensors')]) {
    let seen: unknown;
    await train(options({ stage: STAGES[2], dataPath: writeData(dir, 'chat.json', dialogues(2)), outDir: join(dir, `s2-${source.length}`), maxSteps: 1, lr: 0, template: 'vicuna_nosys', projector: source, saveSteps: 1, onCheckpoint: (_d, m) => (seen = projectorOf(m)) }));
    assert.deepEqual(seen, want, `projector from ${source}`);
  }
  await assert.rejects(train(options({ stage: STAGES[2], dataPath: writeData(dir, 'c2.json', dialogues(2)), outDir: join(dir, 'bad'), maxSteps: 1, projector: join(dir, 'nope') })), /--projector .*nope: not found/);
});

test('--train-vision also trains the vision tower (the layers its features use)', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'run');
  await train(options({ stage: STAGES[1], dataPath: writeData(dir, 'pairs.json', captionPairs(4)), outDir: out, maxSteps: 2, lr: 1e-2, trainVision: true }));
  const moved = changed(tensorBytes(BASE), tensorBytes(out));
  assert.ok(moved.some((n) => n.startsWith('vision_tower.vision_model.encoder.layers.0.')), 'the first vision layer trained');
  assert.ok(!moved.some((n) => n.startsWith('language_model.')), 'stage 1 still leaves the LLM alone');
});
