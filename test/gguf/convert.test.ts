// `llava convert` both ways as functions: llava-hf -> GGUF pair -> llava-hf gives back every weight
// byte for byte at F32 and F16 (CLIP's post_layernorm aside: llama.cpp would apply it), the same
// config, tokenizer and image settings; quantised pairs, configs llama.cpp cannot run and
// non-empty output directories are refused with the reason; a random world-small checkpoint
// converts at every type and loads back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSafetensors, readTensorBytes } from '../../src/model/safetensors.js';
import { canonicalizeNames } from '../../src/model/weightNames.js';
import { readLlavaHfConfig } from '../../src/model/config.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import { loadImageProcessorConfig } from '../../src/data/preprocess.js';
import { LlavaTokenizer } from '../../src/data/tokenizer.js';
import { loadChatTemplate } from '../../src/data/chatTemplate.js';
import { convertGgufToHf, convertHfToGguf } from '../../src/gguf/convert.js';
import { loadGgufLlava } from '../../src/gguf/loadModel.js';
import { readGgufHeader } from '../../src/gguf/reader.js';
import { writeRunnableWorldSmall } from '../../src/bench/worldSmall.js';
import { tinyModel } from '../model/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'llava-gguf-convert-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Canonical name -> raw bytes and stored dtype of every tensor of a llava-hf directory. */
function tensorsOf(model: string): Map<string, { dtype: string; bytes: Uint8Array }> {
  const ckpt = openSafetensors(model);
  const names = canonicalizeNames(ckpt.tensors.keys(), model);
  return new Map([...names.toCheckpoint].map(([canonical, stored]) => {
    const e = ckpt.tensors.get(stored)!;
    return [canonical, { dtype: e.dtype, bytes: readTensorBytes(e) }];
  }));
}

const TEXTS = ['Hello world', 'USER: <image>\nWhat colour is it? ASSISTANT:', 'naïve 東京 🙂 42'];

test('llava-hf -> GGUF -> llava-hf: every weight byte for byte at F32 and F16, the same config, tokenizer, template and image settings', async () => {
  for (const [name, type] of [['f32-v4', 'f32'], ['f16-v5', 'f16'], ['tied-v4', 'f32']] as const) {
    const src = tinyModel(name).dir;
    const pair = convertHfToGguf({ modelDir: src, outDir: join(dir, `gguf-${name}`), type });
    assert.ok(pair.model.endsWith(`gguf-${name}/${name}.gguf`) && pair.mmproj.endsWith(`mmproj-${name}.gguf`));
    const out = join(dir, `hf-${name}`);
    await convertGgufToHf({ model: pair.model, mmproj: pair.mmproj, outDir: out, layout: name.endsWith('v5') ? 'transformers-5' : 'transformers-4' });
    const want = tensorsOf(src);
    const got = tensorsOf(out);
    for (const [n, w] of want) {
      if (n.startsWith('vision.post_layernorm.')) {
        assert.equal(got.has(n), false, `${name}: ${n} is not carried (llama.cpp would apply it to the features)`);
        continue;
      }
      const g = got.get(n);
      assert.ok(g, `${name}: ${n} missing`);
      assert.equal(g.dtype, w.dtype, `${name}: ${n} dtype`);
      assert.ok(Buffer.from(g.bytes).equals(Buffer.from(w.bytes)), `${name}: ${n} bytes differ`);
    }
    assert.equal(got.size, want.size - 2, `${name}: no extra tensors`);
    assert.deepEqual(readLlavaHfConfig(out), readLlavaHfConfig(src), `${name}: config`);
    const [a, b] = [LlavaTokenizer.fromDir(src), LlavaTokenizer.fromDir(out)];
    for (const t of TEXTS) assert.deepEqual(b.encode(t), a.encode(t), `${name}: ${t}`);
    assert.equal(loadChatTemplate(out)?.template !== undefined, true);
    assert.deepEqual(loadImageProcessorConfig(join(out, 'preprocessor_config.json')), loadImageProcessorConfig(join(src, 'preprocessor_config.json')));
  }
});

test('quantised pairs, configs llama.cpp cannot run and non-empty output directories are refused with the reason', async () => {
  const pair = convertHfToGguf({ modelDir: tinyModel('f32-v4').dir, outDir: join(dir, 'q'), type: 'q8_0' });
  await assert.rejects(convertGgufToHf({ model: pair.model, mmproj: pair.mmproj, outDir: join(dir, 'never') }), /tensor token_embd\.weight is Q8_0: only F32, F16 and BF16 GGUFs convert to llava-hf/);
  assert.equal(existsSync(join(dir, 'never')), false);
  assert.throws(() => convertHfToGguf({ modelDir: tinyModel('full-v4').dir, outDir: join(dir, 'full'), type: 'f16' }), /cannot be written as a llama\.cpp mmproj: vision_feature_select_strategy "full": llama\.cpp's LLaVA graph always drops the CLS token/);
  const f16 = convertHfToGguf({ modelDir: tinyModel('f32-v4').dir, outDir: join(dir, 'f'), type: 'f16' });
  const busy = join(dir, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'x'), '');
  await assert.rejects(convertGgufToHf({ model: f16.model, mmproj: f16.mmproj, outDir: busy }), /--out .*busy already exists and is not empty/);
  assert.throws(() => convertHfToGguf({ modelDir: join(dir, 'nothing'), outDir: join(dir, 'n'), type: 'f16' }), /model directory not found/);
});

test('a random world-small checkpoint (bf16) converts at every type; Q4_K fills its 256-wide rows; each loads back close to the original', async () => {
  const src = join(dir, 'world-small');
  await writeRunnableWorldSmall(src, 1);
  const original = loadLlava(src).model;
  const ids = [1, 40, 41, 42, 300, 7, 99, 250, 12];
  const want = original.forward({ inputIds: [ids] }).logits.toArray() as Float32Array;
  const scale = Math.max(...want.map(Math.abs));
  const report: string[] = [];
  for (const type of ['f16', 'q8_0', 'q4_0', 'q4_k'] as const) {
    const pair = convertHfToGguf({ modelDir: src, outDir: join(dir, 'ws'), type, name: `world-small-${type}` });
    const types = new Map(readGgufHeader(pair.model).tensors.map((t) => [t.name, t.type]));
    if (type === 'q4_k') {
      assert.equal(types.get('blk.0.attn_q.weight'), 'Q4_K');
      assert.equal(types.get('blk.0.ffn_down.weight'), 'F16', 'rows of 688 fall back to F16');
    }
    const g = loadGgufLlava(pair.model, pair.mmproj);
    const got = g.model.forward({ inputIds: [ids] }).logits.toArray() as Float32Array;
    const worst = Math.max(...got.map((v, i) => Math.abs(v - want[i]!))) / scale;
    report.push(`${type} ${worst.toExponential(2)}`);
    assert.ok(worst < { f16: 4e-3, q8_0: 0.05, q4_0: 0.5, q4_k: 0.5 }[type], `${type}: ${worst}`);
    g.model.dispose();
  }
  original.dispose();
  process.stderr.write(`world-small GGUF logits vs the bf16 original (relative max): ${report.join(', ')}\n`);
});
