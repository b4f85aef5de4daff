// The model bench's GGUF files: the random checkpoint's language model rewritten tensor by tensor
// (never whole in memory) as llama.cpp's GGUF, so llama.cpp and llava-ts read identical numbers.
// The vocabulary is synthetic (the bench feeds token ids, never text) but complete enough for
// llama.cpp's loader: specials, the 256 byte tokens, then placeholder pieces.
import { existsSync } from 'node:fs';
import type { LlavaConfig } from '../model/config.js';
import { canonicalizeNames, expectedWeights } from '../model/weightNames.js';
import { openSafetensors, readTensorBytes, type TensorEntry } from '../model/safetensors.js';
import { f16BitsToF32 } from '../tensor/dtype.js';
import { GGML_TYPES, ggmlBytes } from '../gguf/ggmlTypes.js';
import { writeGguf, type GgufTensorOut } from '../gguf/writer.js';
import { ggufLlamaName, isRopePermuted, llamaMetadata, permuteRopeRowBytes, ropeHeads } from '../gguf/llama.js';
import { empty } from '../tensor/tensor.js';
import { quantizeWeight } from '../tensor/ops/quant.js';
import type { GgufTypedValue } from '../gguf/format.js';

/** Weight types the bench compares, as llama.cpp names them in GGUF. */
export const BENCH_GGUF_TYPES = ['F16', 'Q8_0', 'Q4_0'] as const;
export type BenchGgufType = (typeof BENCH_GGUF_TYPES)[number];

/** Token types of GGUF's llama vocabulary. */
const NORMAL = 1;
const CONTROL = 3;
const BYTE = 6;

/** A llama-style vocabulary of `size` ids: <unk> <s> </s>, <0x00>..<0xFF>, then "▁t<i>" pieces. */
export function syntheticVocabMetadata(size: number): Map<string, GgufTypedValue> {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [CONTROL, CONTROL, CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
  }
  while (tokens.length < size) {
    tokens.push(`\u2581t${tokens.length}`);
    types.push(NORMAL);
  }
  return new Map<string, GgufTypedValue>([
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', values: tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', values: tokens.map((_, i) => -i) }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', values: types }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: 0 }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: 2 }],
  ]);
}

/** f16 bits to f32 values (a plain loop: TypedArray.from with a map function builds a JS array first). */
function widenF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]!);
  return out;
}

/** One stored f16 tensor as GGUF bytes of `type` (1-D weights stay F32, as llama.cpp keeps norms). */
function ggufBytes(entry: TensorEntry, type: BenchGgufType, heads: number | undefined): { type: GgufTensorOut['type']; data: Uint8Array } {
  if (entry.dtype !== 'F16') throw new Error(`${entry.path}: ${entry.name} is ${entry.dtype}; the bench writes its checkpoint in F16`);
  const raw = readTensorBytes(entry);
  const halves = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const cols = entry.shape[entry.shape.length - 1]!;
  if (entry.shape.length === 1) return { type: 'F32', data: new Uint8Array(widenF16(halves).buffer) };
  const permuted = heads === undefined ? raw : permuteRopeRowBytes(raw, heads, cols * 2);
  if (type === 'F16') return { type, data: permuted };
  // The native quantiser (ggml's rounding, byte for byte the TS one) keeps a 7B write to minutes.
  const halves16 = empty(entry.shape, { dtype: 'f16' });
  halves16.backend.write(halves16.ptr, permuted);
  const q = quantizeWeight(halves16, type === 'Q8_0' ? 'q8_0' : 'q4_0');
  halves16.dispose();
  const data = q.backend.read(q.ptr, ggmlBytes(type, q.size));
  q.dispose();
  return { type, data };
}

/**
 * Writes the language model of the f16 llava-hf checkpoint in `dir` as a GGUF of `type` at `path`
 * (skipped when it exists). Returns the bytes of the 2-D weights a decode step reads (every matrix
 * but the token embedding, which is only gathered).
 */
export function writeBenchGguf(c: LlavaConfig, dir: string, path: string, type: BenchGgufType): number {
  const ckpt = openSafetensors(dir);
  const names = canonicalizeNames(ckpt.tensors.keys(), dir);
  const t = c.text;
  const tensors: GgufTensorOut[] = [];
  let decodeBytes = 0;
  for (const spec of expectedWeights(c)) {
    const name = ggufLlamaName(spec.name);
    if (!name) continue;
    const entry = ckpt.tensors.get(names.toCheckpoint.get(spec.name)!)!;
    const heads = isRopePermuted(spec.name) ? ropeHeads(spec.name, t) : undefined;
    const dims = [...spec.shape].reverse();
    // Rows that do not fill whole 32-value blocks stay F16, as llamaTensors writes them.
    const outType = spec.shape.length === 1 ? 'F32' : spec.shape[1]! % GGML_TYPES[type].blockElems === 0 ? type : 'F16';
    const bytes = ggmlBytes(outType, spec.shape.reduce((a, b) => a * b, 1));
    if (spec.shape.length === 2 && name !== 'token_embd.weight') decodeBytes += bytes;
    tensors.push({ name, dims, type: outType, data: () => ggufBytes(entry, outType === 'F32' ? type : outType, heads).data });
  }
  if (!existsSync(path)) {
    const meta = llamaMetadata(t, `random ${type}`);
    for (const [k, v] of syntheticVocabMetadata(t.vocabSize)) meta.set(k, v);
    meta.set('general.file_type', { type: 'u32', value: FILE_TYPE[type] });
    writeGguf(path, meta, tensors);
  }
  return decodeBytes;
}

/** llama.cpp's `general.file_type` codes (llama_ftype) of the bench's types. */
const FILE_TYPE: Record<BenchGgufType, number> = { F16: 1, Q8_0: 7, Q4_0: 2 };
