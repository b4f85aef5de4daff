// Reading a llama.cpp LLaVA pair as our model: llava-hf -> GGUF -> loadGgufLlava gives exactly the
// model whose weights are what the file holds (the original's at F32, its F16 / Q8_0 / Q4_0 / Q4_K
// values otherwise), so the logits with an image equal the original's at F32 and stay within each
// format's error; GGUF v2, BF16 and Q4_1 files, tied embeddings and the legacy mmproj layout load;
// and bad files (truncated, lying offsets and sizes, unknown types, a foreign mmproj, another
// architecture, missing or misshapen tensors) get clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlava } from '../../src/model/checkpoint.js';
import { LlavaModel } from '../../src/model/llava.js';
import { WEIGHT } from '../../src/model/weightNames.js';
import type { WeightSource } from '../../src/nn/layers.js';
import { empty, tensor, type Tensor } from '../../src/tensor/tensor.js';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/tensor/dtype.js';
import { convertHfToGguf, type GgufOutType, type GgufPair } from '../../src/gguf/convert.js';
import { loadGgufLlava } from '../../src/gguf/loadModel.js';
import { GGML_TYPES, type GgmlType } from '../../src/gguf/ggmlTypes.js';
import { quantize } from '../../src/gguf/quantize.js';
import { dtypeOfGgmlType } from '../../src/gguf/dtypes.js';
import { readGgufHeader, readGgufTensorBytes } from '../../src/gguf/reader.js';
import { writeGguf, type GgufTensorOut } from '../../src/gguf/writer.js';
import { llamaMetadata, llamaTensors } from '../../src/gguf/llama.js';
import { llamaTokenizerMetadata } from '../../src/gguf/tokenizer.js';
import { clipMetadata, clipTensors } from '../../src/gguf/mmproj.js';
import { TINY_CASES, pixelTensor, readGolden, relativeMaxDiff, tinyModel } from '../model/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'llava-gguf-load-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const pairs = new Map<string, GgufPair>();
/** The tiny fixture `name` converted to a GGUF pair of `type` (once per test file). */
function pairOf(name: string, type: GgufOutType): GgufPair {
  const key = `${name}-${type}`;
  if (!pairs.has(key)) pairs.set(key, convertHfToGguf({ modelDir: tinyModel(name).dir, outDir: dir, type, name: key }));
  return pairs.get(key)!;
}

/** Logits of every golden case (prompt with its image) through a model. */
function caseLogits(model: LlavaModel, golden: string): Float32Array[] {
  return TINY_CASES.map((c) => {
    const g = readGolden(golden, c.name);
    const px = pixelTensor(g);
    const out = model.forward({ inputIds: [g.inputIds], pixelValues: px }).logits;
    const data = out.toArray() as Float32Array;
    out.dispose();
    px.dispose();
    return data;
  });
}

/** The GGUF type the converter gives a weight: text matrices in the LLM type (F16 when a row does not fill blocks), other matrices F16 (F32 at f32), vectors F32. */
function storedType(name: string, shape: readonly number[], type: GgufOutType): GgmlType {
  if (shape.length === 1) return 'F32';
  if (type === 'f32') return 'F32';
  if (!name.startsWith('text.')) return 'F16';
  const wanted = ({ f16: 'F16', q8_0: 'Q8_0', q4_0: 'Q4_0', q4_k: 'Q4_K' } as const)[type];
  return shape[shape.length - 1]! % GGML_TYPES[wanted].blockElems === 0 ? wanted : 'F16';
}

/**
 * The original model's weights as the GGUF holds them: each row through its format and back,
 * kept in f16 where the loader keeps F16 (matrices and the token embedding), f32 otherwise.
 */
function asStored(original: LlavaModel, type: GgufOutType): WeightSource {
  const weights = new Map(original.namedParameters().map(([n, p]) => [n, p.value]));
  return (name, shape, role): Tensor => {
    const x = weights.get(name)!.toArray() as Float32Array;
    const t = storedType(name, shape, type);
    if (t !== 'F32' && t !== 'F16') {
      // The blocks themselves, read by the same quantised kernels as the loaded model's.
      const blocks = empty(shape, { dtype: dtypeOfGgmlType(t) });
      blocks.backend.write(blocks.ptr, quantize(t, x));
      return blocks;
    }
    const values = t === 'F32' ? x : x.map((v) => f16BitsToF32(f32ToF16Bits(v)));
    const keepsF16 = t === 'F16' && (role === 'matrix' || name === WEIGHT.textEmbedding);
    return tensor(values, shape, { dtype: keepsF16 ? 'f16' : 'f32' });
  };
}

test('llava-hf -> GGUF -> our loader: exactly the weights the file holds, so the same logits as those weights; the original within each format\'s error', { timeout: 300_000 }, () => {
  const m = tinyModel('f32-v4');
  const original = loadLlava(m.dir).model;
  const want = caseLogits(original, m.golden);
  // Worst relative logit error against the original allowed per type: F32 exact; F16 at 8x its
  // per-weight rounding (2^-11); the block formats from their measured worst (2.3e-2 for Q8_0,
  // 3.8e-1 for Q4_0 over these random 32- and 64-wide rows) with headroom. Q4_K rows of 64 do
  // not fill its 256-value blocks: they fall back to F16.
  const bounds: Record<GgufOutType, number> = { f32: 0, f16: 8 * 2 ** -11, q8_0: 0.05, q4_0: 0.5, q4_k: 8 * 2 ** -11 };
  const report: string[] = [];
  for (const type of ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k'] as const) {
    const pair = pairOf('f32-v4', type);
    const loaded = loadGgufLlava(pair.model, pair.mmproj);
    const reference = new LlavaModel(loaded.config, asStored(original, type));
    try {
      assert.deepEqual(loaded.config, { ...original.config, vision: { ...original.config.vision } }, `${type}: config`);
      const got = caseLogits(loaded.model, m.golden);
      const exact = caseLogits(reference, m.golden);
      got.forEach((g, i) => assert.deepEqual(g, exact[i], `${type}: case ${TINY_CASES[i]!.name}: logits differ from the stored weights' own`));
      const worst = Math.max(...got.map((g, i) => relativeMaxDiff(g, want[i]!)));
      report.push(`${type} ${worst.toExponential(2)}`);
      assert.ok(worst <= bounds[type], `${type}: logits differ from the original by ${worst} x max |logit| > ${bounds[type]}`);
    } finally {
      loaded.model.dispose();
      reference.dispose();
    }
  }
  original.dispose();
  process.stderr.write(`GGUF logits vs the original (relative max): ${report.join(', ')}\n`);
});

test('tied embeddings write no output.weight and load tied; an f16 checkpoint at F16 loads with identical logits', () => {
  for (const [name, type] of [['tied-v4', 'f32'], ['f16-v5', 'f16']] as const) {
    const m = tinyModel(name);
    const pair = pairOf(name, type);
    assert.equal(readGgufHeader(pair.model).tensors.some((t) => t.name === 'output.weight'), name !== 'tied-v4');
    const original = loadLlava(m.dir).model;
    const loaded = loadGgufLlava(pair.model, pair.mmproj);
    assert.equal(loaded.config.text.tieWordEmbeddings, name === 'tied-v4');
    const a = caseLogits(original, m.golden);
    caseLogits(loaded.model, m.golden).forEach((g, i) => assert.deepEqual(g, a[i], `${name}: case ${i}`));
    original.dispose();
    loaded.model.dispose();
  }
});

/** Copies a GGUF, rewriting its header's version field (bytes 4-7). */
function withVersion(src: string, version: number, dst: string): string {
  const b = readFileSync(src);
  b.writeUInt32LE(version, 4);
  writeFileSync(dst, b);
  return dst;
}

test('GGUF v2 files load as v3 ones do; v1 is refused by name', () => {
  const pair = pairOf('f32-v4', 'q8_0');
  const model = withVersion(pair.model, 2, join(dir, 'v2.gguf'));
  const mmproj = withVersion(pair.mmproj, 2, join(dir, 'mmproj-v2.gguf'));
  const v3 = loadGgufLlava(pair.model, pair.mmproj);
  const v2 = loadGgufLlava(model, mmproj);
  const m = tinyModel('f32-v4');
  const a = caseLogits(v3.model, m.golden);
  caseLogits(v2.model, m.golden).forEach((g, i) => assert.deepEqual(g, a[i]));
  v2.model.dispose();
  v3.model.dispose();
  assert.throws(() => loadGgufLlava(withVersion(pair.model, 1, join(dir, 'v1.gguf')), pair.mmproj), /GGUF version 1 is not supported \(2 and 3 are\)/);
});

/**
 * The pair's language model with its matrices re-encoded by `encode` (a type our converter does
 * not write, e.g. BF16 or Q4_1), from the f32 weights of `name`.
 */
function llmWithType(name: string, type: 'BF16' | 'Q4_1', out: string): string {
  const loaded = loadLlava(tinyModel(name).dir);
  const c = loaded.config;
  const meta = llamaMetadata(c.text, name);
  for (const [k, v] of llamaTokenizerMetadata(JSON.parse(readFileSync(join(tinyModel(name).dir, 'tokenizer.json'), 'utf8')), c.text.vocabSize, { pad: '<pad>' })) meta.set(k, v);
  const f32 = llamaTensors(loaded.model.namedParameters().filter(([n]) => n.startsWith('text.')).map(([n, p]) => [n, p.value] as const), c.text, 'F32');
  const retyped = f32.map((t): GgufTensorOut => {
    if (t.dims.length === 1) return t;
    const bytes = (t.data as () => Uint8Array)();
    const x = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const data = type === 'BF16' ? new Uint8Array(Uint16Array.from(x, f32ToBf16Bits).buffer) : quantize('Q4_1', x);
    return { ...t, type, data };
  });
  writeGguf(out, meta, retyped);
  loaded.model.dispose();
  return out;
}

test('BF16 and Q4_1 language models load: BF16 with the logits of the bf16 checkpoint, Q4_1 close to the original', () => {
  const bf16 = tinyModel('bf16-v4');
  const pair = pairOf('bf16-v4', 'f16');
  const loaded = loadGgufLlava(llmWithType('bf16-v4', 'BF16', join(dir, 'bf16.gguf')), pair.mmproj);
  assert.equal(loaded.storedDtypes.bf16, 16);
  const original = loadLlava(bf16.dir).model;
  const a = caseLogits(original, bf16.golden);
  // The mmproj is F16 (bf16 values fit f16 exactly here), so only the kernels' dtype differs.
  caseLogits(loaded.model, bf16.golden).forEach((g, i) => assert.ok(relativeMaxDiff(g, a[i]!) < 2e-6, `case ${i}`));
  loaded.model.dispose();
  const q41 = loadGgufLlava(llmWithType('bf16-v4', 'Q4_1', join(dir, 'q4_1.gguf')), pair.mmproj);
  assert.equal(q41.storedDtypes.q4_1, 16);
  caseLogits(q41.model, bf16.golden).forEach((g, i) => assert.ok(relativeMaxDiff(g, a[i]!) < 0.5, `Q4_1 case ${i}`));
  q41.model.dispose();
  original.dispose();
});

test("a legacy mmproj (last layer dropped, no feature_layer, fc1 named ffn_down) loads as LLaVA's -2 features", () => {
  const m = tinyModel('f32-v4');
  const loaded = loadLlava(m.dir);
  const c = loaded.config;
  const meta = clipMetadata(c, { imageMean: [0.48145466, 0.4578275, 0.40821073], imageStd: [0.26862954, 0.26130258, 0.27577711], doPad: false }, 'legacy', 0);
  meta.delete('clip.vision.feature_layer');
  meta.set('clip.vision.block_count', { type: 'u32', value: c.vision.numLayers - 1 });
  const last = `v.blk.${c.vision.numLayers - 1}.`;
  const tensors = clipTensors(loaded.model.namedParameters().filter(([n]) => /^(vision|projector)\./.test(n)).map(([n, p]) => [n, p.value] as const), 'F32')
    .filter((t) => !t.name.startsWith(last))
    .map((t) => ({ ...t, name: t.name.replace(/ffn_(up|down)/, (_, w: string) => (w === 'up' ? 'ffn_down' : 'ffn_up')) }));
  const mmproj = join(dir, 'mmproj-legacy.gguf');
  writeGguf(mmproj, meta, tensors);
  const legacy = loadGgufLlava(pairOf('f32-v4', 'f32').model, mmproj);
  assert.equal(legacy.config.vision.numLayers, c.vision.numLayers - 1);
  assert.equal(legacy.config.visionFeatureLayer, -1);
  const a = caseLogits(loaded.model, m.golden);
  caseLogits(legacy.model, m.golden).forEach((g, i) => assert.deepEqual(g, a[i], `case ${i}`));
  legacy.model.dispose();
  loaded.model.dispose();
});

// ---------------------------------------------------------------- bad files

/** Where a tensor's info sits in a GGUF file: the byte positions of its type and offset fields. */
function tensorInfoFields(b: Buffer, name: string): { type: number; offset: number; dims: number[] } {
  const key = Buffer.concat([Buffer.from(new BigUint64Array([BigInt(name.length)]).buffer), Buffer.from(name)]);
  const at = b.indexOf(key);
  assert.ok(at > 0, `tensor info of ${name}`);
  const nDims = b.readUInt32LE(at + key.length);
  const dims = Array.from({ length: nDims }, (_, d) => at + key.length + 4 + 8 * d);
  const type = at + key.length + 4 + 8 * nDims;
  return { type, offset: type + 4, dims };
}

function patched(src: string, name: string, patch: (b: Buffer) => void): string {
  const b = Buffer.from(readFileSync(src));
  patch(b);
  const out = join(dir, name);
  writeFileSync(out, b);
  return out;
}

test('bad files get clear errors, never a crash or a read outside the file', () => {
  const pair = pairOf('f32-v4', 'q8_0');
  const bytes = readFileSync(pair.model);
  const h = readGgufHeader(pair.model);
  // Truncated anywhere: in the header, the metadata, the tensor infos, the data.
  for (const cut of [3, 20, 100, 5000, h.dataOffset - 10, h.dataOffset + 10, bytes.length - 1]) {
    const path = join(dir, `cut-${cut}.gguf`);
    writeFileSync(path, bytes.subarray(0, cut));
    assert.throws(() => loadGgufLlava(path, pair.mmproj), /truncated|runs past the end of the file|not a GGUF file/, `cut at ${cut}`);
  }
  const q = 'blk.0.attn_q.weight';
  const lyingOffset = patched(pair.model, 'offset.gguf', (b) => b.writeBigUInt64LE(BigInt(Math.ceil(bytes.length / 32) * 32), tensorInfoFields(b, q).offset));
  assert.throws(() => loadGgufLlava(lyingOffset, pair.mmproj), /tensor blk\.0\.attn_q\.weight: data at bytes \[\d+, \d+\) runs past the end of the file/);
  const misaligned = patched(pair.model, 'misaligned.gguf', (b) => b.writeBigUInt64LE(b.readBigUInt64LE(tensorInfoFields(b, q).offset) + 4n, tensorInfoFields(b, q).offset));
  assert.throws(() => loadGgufLlava(misaligned, pair.mmproj), /offset \d+ is not a multiple of the alignment 32/);
  const hugeOffset = patched(pair.model, 'offset64.gguf', (b) => b.writeBigUInt64LE(2n ** 63n, tensorInfoFields(b, q).offset));
  assert.throws(() => loadGgufLlava(hugeOffset, pair.mmproj), /offset 9223372036854775808 is too large/);
  const overlapping = patched(pair.model, 'overlap.gguf', (b) => b.writeBigUInt64LE(0n, tensorInfoFields(b, q).offset));
  assert.throws(() => loadGgufLlava(overlapping, pair.mmproj), /overlap/);
  const lyingSize = patched(pair.model, 'size.gguf', (b) => b.writeBigUInt64LE(1n << 40n, tensorInfoFields(b, q).dims[1]!));
  assert.throws(() => loadGgufLlava(lyingSize, pair.mmproj), /runs past the end of the file/);
  const unknownType = patched(pair.model, 'type.gguf', (b) => b.writeUInt32LE(99, tensorInfoFields(b, q).type));
  assert.throws(() => loadGgufLlava(unknownType, pair.mmproj), /tensor blk\.0\.attn_q\.weight: unknown tensor type 99 \(known: F32=0/);
  const brokenRows = patched(pair.model, 'rows.gguf', (b) => {
    const f = tensorInfoFields(b, q);
    b.writeBigUInt64LE(16n, f.dims[0]!); // 16-value rows cannot hold Q8_0's 32-value blocks
    b.writeBigUInt64LE(BigInt(h.tensors.find((t) => t.name === q)!.dims[1]! * 4), f.dims[1]!);
  });
  assert.throws(() => loadGgufLlava(brokenRows, pair.mmproj), /16 elements do not fill whole blocks of 32/);
});

test('a mismatched pair, another architecture, missing or misshapen tensors: errors that say which and why', () => {
  const tiny = pairOf('f32-v4', 'f16');
  const other = convertHfToGguf({ modelDir: tinyModel('f32-v4').dir, outDir: dir, type: 'f16', name: 'other' });
  // An mmproj whose projector is 32 wide against a 64-wide language model.
  const narrow = patched(other.mmproj, 'mmproj-narrow.gguf', (b) => {
    const f = tensorInfoFields(b, 'mm.2.weight');
    b.writeBigUInt64LE(32n, f.dims[1]!);
    b.writeBigUInt64LE(128n, f.dims[0]!);
  });
  assert.throws(() => loadGgufLlava(tiny.model, narrow), /its projector outputs 32-wide tokens but the language model in .* is 64 wide: this mmproj belongs to another model/);
  assert.throws(() => loadGgufLlava(tiny.model, undefined), /needs its vision half: pass --mmproj/);
  assert.throws(() => loadGgufLlava(tiny.mmproj, tiny.model), /general\.architecture: "clip": only "llama" GGUFs load/);
  assert.throws(() => loadGgufLlava(tiny.model, tiny.model), /general\.architecture: "llama": an mmproj file is "clip"/);
  const gemma = patched(tiny.model, 'gemma.gguf', (b) => b.write('gemma', b.indexOf('llama', b.indexOf('general.architecture'))));
  assert.throws(() => loadGgufLlava(gemma, tiny.mmproj), /"gemma": only "llama" GGUFs load as LLaVA's language model/);
  // A tensor renamed away: missing where it belongs, unknown where it is.
  const renamed = patched(tiny.model, 'renamed.gguf', (b) => b.write('blk.1.ffn_up.weighx', b.indexOf('blk.1.ffn_up.weight')));
  assert.throws(() => loadGgufLlava(renamed, tiny.mmproj), /tensors a LLaMA language model has no place for: blk\.1\.ffn_up\.weighx/);
  const dropped = patched(tiny.model, 'dropped.gguf', (b) => b.write('blk.9', b.indexOf('blk.1.ffn_up.weight')));
  assert.throws(() => loadGgufLlava(dropped, tiny.mmproj), /missing text\.layers\.1\.mlp\.up_proj\.weight \[128, 64\]; unexpected tensor text\.layers\.9\.mlp\.up_proj\.weight/);
  // Dims swapped: same bytes, the wrong shape.
  const swapped = patched(tiny.model, 'swapped.gguf', (b) => {
    const f = tensorInfoFields(b, 'blk.0.ffn_down.weight');
    const [d0, d1] = [b.readBigUInt64LE(f.dims[0]!), b.readBigUInt64LE(f.dims[1]!)];
    b.writeBigUInt64LE(d1, f.dims[0]!);
    b.writeBigUInt64LE(d0, f.dims[1]!);
  });
  assert.throws(() => loadGgufLlava(swapped, tiny.mmproj), /text\.layers\.0\.mlp\.down_proj\.weight: shape \[128, 64\], config needs \[64, 128\]/);
});

test('the reader refuses a metadata array longer than the file, and bytes of a tensor come only from inside the file', () => {
  const pair = pairOf('f32-v4', 'f16');
  const b = Buffer.from(readFileSync(pair.model));
  const key = Buffer.from('tokenizer.ggml.tokens');
  const at = b.indexOf(key) + key.length + 4 + 4; // value type, item type, then the count
  b.writeBigUInt64LE(1n << 40n, at);
  const path = join(dir, 'array.gguf');
  writeFileSync(path, b);
  assert.throws(() => readGgufHeader(path), /tokenizer\.ggml\.tokens: 1099511627776 items cannot fit in the \d+ bytes left/);
  const h = readGgufHeader(pair.model);
  const info = h.tensors.find((t) => t.name === 'token_embd.weight')!;
  assert.equal(readGgufTensorBytes(h, info.name).length, info.bytes);
});
