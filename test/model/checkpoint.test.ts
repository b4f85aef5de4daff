// Checkpoint loading and saving: mapped weights kept in their dtype, 4.x/5.x round trips, and
// clear errors for missing files, lying safetensors headers and shapes that differ from the config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlava, saveLlava } from '../../src/model/checkpoint.js';
import { openSafetensors, readTensorBytes, SAFETENSORS_SINGLE_NAME } from '../../src/model/safetensors.js';
import { WEIGHT } from '../../src/model/weightNames.js';
import { tinyModel, readGolden, pixelTensor, TINY_ROOT } from './fixtures.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-ckpt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Copies a fixture model and rewrites its safetensors header JSON (data bytes unchanged). */
function withHeader(t: { after: (fn: () => void) => void }, model: string, mutate: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): string {
  const dir = tempDir(t);
  cpSync(tinyModel(model).dir, dir, { recursive: true });
  const path = join(dir, SAFETENSORS_SINGLE_NAME);
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  mutate(header);
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, bytes.subarray(8 + n)]));
  return dir;
}

test('loading maps the file: bf16 matrices stay bf16 and share the mapping, vectors become f32', () => {
  const { model, layout, storedDtypes } = loadLlava(tinyModel('bf16-v5').dir);
  assert.equal(layout, 'transformers-5');
  assert.deepEqual(Object.keys(storedDtypes), ['bf16']);
  const layer = model.text.layers.items[0]!;
  assert.equal(layer.attn.q.weightParam.value.dtype, 'bf16');
  assert.equal(model.text.embedTokens.value.dtype, 'bf16');
  assert.equal(model.text.lmHead!.weightParam.value.dtype, 'bf16');
  assert.equal(layer.inputNorm.weightParam.value.dtype, 'f32');
  assert.equal(model.vision.embeddings.positionEmbedding.value.dtype, 'f32');
  assert.equal(layer.attn.q.weightParam.value.storage, layer.attn.k.weightParam.value.storage, 'matrices are views of one mapped file');
  for (const [name, p] of model.namedParameters()) assert.equal(model.getParameter(name), p, `getParameter(${name})`);
  assert.ok(model.getParameter('vision.encoder.layers.2.mlp.fc1.weight'));
  model.dispose();
});

test('writable loading copies f32 weights out of the read-only mapping', () => {
  const { model } = loadLlava(tinyModel('f32-v4').dir, { writable: true });
  const layer = model.text.layers.items[0]!;
  assert.notEqual(layer.attn.q.weightParam.value.storage, layer.attn.k.weightParam.value.storage);
  model.dispose();
});

test('castToF32 widens bf16 weights into owned f32 tensors that can take gradients', () => {
  const { model } = loadLlava(tinyModel('bf16-v5').dir, { castToF32: true });
  assert.ok(model.parameters().every((p) => p.value.dtype === 'f32'));
  assert.ok(model.text.layers.items[0]!.attn.q.weightParam.value.requiresGrad);
  assert.ok(!model.vision.layers.items[0]!.attn.q.weightParam.value.requiresGrad, 'vision stays frozen');
  model.dispose();
});

test('save as 5.x bf16 from the f32 4.x model gives the bf16-v5 fixture tensors bit for bit; reloads', async (t) => {
  const dir = tempDir(t);
  const { model } = loadLlava(tinyModel('f32-v4').dir);
  await saveLlava(model, dir, { layout: 'transformers-5', dtype: 'bf16', assetsFrom: tinyModel('f32-v4').dir });
  model.dispose();
  const saved = openSafetensors(dir);
  const fixture = openSafetensors(tinyModel('bf16-v5').dir);
  assert.deepEqual([...saved.tensors.keys()].sort(), [...fixture.tensors.keys()].sort());
  for (const [name, entry] of fixture.tensors) {
    assert.deepEqual(readTensorBytes(saved.tensors.get(name)!), readTensorBytes(entry), name);
  }
  const reloaded = loadLlava(dir);
  assert.equal(reloaded.layout, 'transformers-5');
  assert.ok(readdirSync(dir).includes('tokenizer.json'));
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temp files left');
  reloaded.model.dispose();
});

test('f32 round trip 4.x -> 5.x -> 4.x keeps every logit exactly', async (t) => {
  const g = readGolden(tinyModel('f32-v4').golden, 'square');
  const logitsOf = (dir: string) => {
    const { model } = loadLlava(dir);
    const out = model.forward({ inputIds: [g.inputIds], pixelValues: pixelTensor(g) }).logits.toArray();
    model.dispose();
    return out;
  };
  const a = tempDir(t);
  const b = tempDir(t);
  const original = loadLlava(tinyModel('f32-v4').dir);
  await saveLlava(original.model, a, { layout: 'transformers-5' });
  original.model.dispose();
  const mid = loadLlava(a);
  assert.equal(mid.layout, 'transformers-5');
  await saveLlava(mid.model, b, { layout: 'transformers-4', maxShardBytes: 200_000 });
  mid.model.dispose();
  assert.ok(readdirSync(b).includes('model.safetensors.index.json'), 'small shard limit gives a sharded checkpoint');
  assert.deepEqual(logitsOf(b), logitsOf(tinyModel('f32-v4').dir));
});

test('missing directory, config.json and weights are named in the error', (t) => {
  assert.throws(() => loadLlava(join(TINY_ROOT, 'no-such-model')), /no-such-model: model directory not found/);
  const noConfig = tempDir(t);
  cpSync(tinyModel('f32-v4').dir, noConfig, { recursive: true });
  rmSync(join(noConfig, 'config.json'));
  assert.throws(() => loadLlava(noConfig), /config\.json: not found/);
  const noWeights = tempDir(t);
  cpSync(tinyModel('f32-v4').dir, noWeights, { recursive: true });
  rmSync(join(noWeights, SAFETENSORS_SINGLE_NAME));
  assert.throws(() => loadLlava(noWeights), /no model\.safetensors\.index\.json or model\.safetensors/);
});

test('a header that lies about a shape (bytes do not fit) is rejected naming the tensor', (t) => {
  const name = 'language_model.model.norm.weight';
  const dir = withHeader(t, 'f32-v4', (h) => {
    h[name]!.shape = [h[name]!.shape[0]! * 2];
  });
  assert.throws(() => loadLlava(dir), (e: Error) => e.message.includes(name) && e.message.includes(SAFETENSORS_SINGLE_NAME));
});

test('a header that lies about a dtype is rejected: wrong size, or a non-float type', (t) => {
  const name = 'language_model.model.norm.weight';
  const halved = withHeader(t, 'f32-v4', (h) => {
    h[name]!.dtype = 'BF16';
  });
  assert.throws(() => loadLlava(halved), (e: Error) => e.message.includes(name));
  const integer = withHeader(t, 'f32-v4', (h) => {
    h[name]!.dtype = 'I32';
  });
  assert.throws(() => loadLlava(integer), /norm\.weight" is I32; model weights must be F32, BF16 or F16/);
  const unknown = withHeader(t, 'f32-v4', (h) => {
    h[name]!.dtype = 'F99';
  });
  assert.throws(() => loadLlava(unknown), /F99/);
});

test('a truncated weights file is rejected before mapping', (t) => {
  const dir = tempDir(t);
  cpSync(tinyModel('f32-v4').dir, dir, { recursive: true });
  const path = join(dir, SAFETENSORS_SINGLE_NAME);
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.length - 100));
  assert.throws(() => loadLlava(dir), /model\.safetensors/);
});

test('weights whose shapes do not match config.json are listed', (t) => {
  const dir = tempDir(t);
  cpSync(tinyModel('f32-v4').dir, dir, { recursive: true });
  const cfgPath = join(dir, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.text_config.intermediate_size = 96;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  assert.throws(() => loadLlava(dir), (e: Error) => /weights do not match the config/.test(e.message) && /mlp\.gate_proj\.weight: shape \[128, 64\], config needs \[96, 64\]/.test(e.message));
});

test('a checkpoint missing a tensor is rejected naming it', (t) => {
  const name = 'language_model.lm_head.weight';
  const dir = withHeader(t, 'f32-v4', (h) => {
    // Rename instead of removing, so the byte spans stay valid.
    h['language_model.model.extra.weight'] = h[name]!;
    delete h[name];
  });
  assert.throws(() => loadLlava(dir), (e: Error) => e.message.includes(`missing ${WEIGHT.lmHead}`) && e.message.includes('unexpected tensor text.extra.weight'));
});
