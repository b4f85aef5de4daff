// The language model's side of a llama GGUF: tensor names (our canonical `text.` names to
// llama.cpp's), the row permutation of the query and key weights, and the `llama.*` metadata.
//
// HF LLaMA rotates each head's dims in halves (rotate_half: dim i pairs with i + D/2); llama.cpp's
// llama architecture rotates adjacent pairs (2i, 2i + 1). Converting reorders each head's rows of
// q_proj and k_proj so pair (i, i + D/2) lands at (2i, 2i + 1): the same attention scores either way.
// Reading runs the other way: llama.cpp names back to canonical ones, the config from `llama.*`.
import { DEFAULT_TEXT_CONFIG, type TextConfig } from '../model/config.js';
import type { Tensor } from '../tensor/tensor.js';
import { f32ToF16Bits } from '../tensor/dtype.js';
import type { GgufTypedValue } from './format.js';
import { GGML_TYPES, type GgmlType } from './ggmlTypes.js';
import { quantize } from './quantize.js';
import type { GgufTensorOut } from './writer.js';
import type { GgufMetadata } from './metadata.js';
import type { GgufTensorInfo } from './reader.js';

/** Whole-model weights: canonical name -> llama.cpp name. */
const FIXED_NAMES: Readonly<Record<string, string>> = {
  'text.embed_tokens.weight': 'token_embd.weight',
  'text.norm.weight': 'output_norm.weight',
  'text.lm_head.weight': 'output.weight',
};

/** Per-layer weights: tail after `text.layers.N.` -> tail after `blk.N.`. */
const LAYER_NAMES: Readonly<Record<string, string>> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};

const invert = (r: Readonly<Record<string, string>>): Readonly<Record<string, string>> => Object.fromEntries(Object.entries(r).map(([k, v]) => [v, k]));
const FIXED_CANONICAL = invert(FIXED_NAMES);
const LAYER_CANONICAL = invert(LAYER_NAMES);

/** llama.cpp's name of a canonical `text.` weight, or undefined for a name it has no place for. */
export function ggufLlamaName(canonical: string): string | undefined {
  if (Object.hasOwn(FIXED_NAMES, canonical)) return FIXED_NAMES[canonical];
  const m = /^text\.layers\.(\d+)\.(.+)$/.exec(canonical);
  const tail = m && Object.hasOwn(LAYER_NAMES, m[2]!) ? LAYER_NAMES[m[2]!] : undefined;
  return tail ? `blk.${m![1]}.${tail}` : undefined;
}

/** The canonical `text.` name of a llama.cpp tensor name, or undefined for one outside LLaMA's weights. */
export function canonicalLlamaName(gguf: string): string | undefined {
  if (Object.hasOwn(FIXED_CANONICAL, gguf)) return FIXED_CANONICAL[gguf];
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  const tail = m && Object.hasOwn(LAYER_CANONICAL, m[2]!) ? LAYER_CANONICAL[m[2]!] : undefined;
  return tail ? `text.layers.${m![1]}.${tail}` : undefined;
}

/** Whether a canonical weight's rows are permuted for llama.cpp's rope (query and key projections). */
export function isRopePermuted(canonical: string): boolean {
  return /^text\.layers\.\d+\.self_attn\.(q|k)_proj\.weight$/.test(canonical);
}

/** The source row of each row after the rope reordering of `rows` rows in `heads` heads (`inverse` undoes it). */
function ropeRowOrder(rows: number, heads: number, inverse: boolean): Int32Array {
  if (!Number.isInteger(rows) || rows % heads !== 0 || (rows / heads) % 2 !== 0) throw new Error(`rope permutation: ${rows} rows do not split into ${heads} heads of even size`);
  const D = rows / heads;
  const from = new Int32Array(rows);
  for (let h = 0; h < heads; h++)
    for (let s = 0; s < 2; s++)
      for (let p = 0; p < D / 2; p++) {
        const hf = h * D + s * (D / 2) + p;
        const cpp = h * D + 2 * p + s;
        if (inverse) from[hf] = cpp;
        else from[cpp] = hf;
      }
  return from;
}

/**
 * Reorders the rows of a (heads * D, cols) row-major weight from HF's rotate_half layout to
 * llama.cpp's adjacent pairs: within each head, row s * D/2 + p moves to 2p + s. `inverse` undoes it.
 */
export function permuteRopeRows(w: Float32Array, heads: number, cols: number, inverse = false): Float32Array {
  const from = ropeRowOrder(w.length / cols, heads, inverse);
  const out = new Float32Array(w.length);
  from.forEach((f, to) => out.set(w.subarray(f * cols, (f + 1) * cols), to * cols));
  return out;
}

/**
 * The same reordering on raw rows of `rowBytes` bytes each: a row of any element type or block
 * format (its quantisation blocks move intact).
 */
export function permuteRopeRowBytes(bytes: Uint8Array, heads: number, rowBytes: number, inverse = false): Uint8Array {
  const from = ropeRowOrder(bytes.length / rowBytes, heads, inverse);
  const out = new Uint8Array(bytes.length);
  from.forEach((f, to) => out.set(bytes.subarray(f * rowBytes, (f + 1) * rowBytes), to * rowBytes));
  return out;
}

/** Heads of a rope-permuted canonical weight (query heads for q_proj, key/value heads for k_proj). */
export function ropeHeads(canonical: string, t: TextConfig): number {
  return canonical.includes('.q_proj.') ? t.numHeads : t.numKvHeads;
}

/** The `general.*` and `llama.*` metadata of a language model. */
export function llamaMetadata(t: TextConfig, name: string): Map<string, GgufTypedValue> {
  return new Map<string, GgufTypedValue>([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: name }],
    ['llama.context_length', { type: 'u32', value: t.maxPositionEmbeddings }],
    ['llama.embedding_length', { type: 'u32', value: t.hiddenSize }],
    ['llama.block_count', { type: 'u32', value: t.numLayers }],
    ['llama.feed_forward_length', { type: 'u32', value: t.intermediateSize }],
    ['llama.attention.head_count', { type: 'u32', value: t.numHeads }],
    ['llama.attention.head_count_kv', { type: 'u32', value: t.numKvHeads }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: t.rmsNormEps }],
    ['llama.rope.freq_base', { type: 'f32', value: t.ropeTheta }],
    ['llama.rope.dimension_count', { type: 'u32', value: t.headDim }],
    ['llama.vocab_size', { type: 'u32', value: t.vocabSize }],
  ]);
}

/** Tensor types a language model can be written in (1-D weights always stay F32, as llama.cpp keeps norms). */
export type LlamaWeightType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_K';

/**
 * The language model's weights as GGUF tensors: llama.cpp names, ggml dimension order
 * (innermost first), q/k rows permuted for its rope, 2-D weights in `type` (F16 where a row does
 * not fill whole quantisation blocks), 1-D weights F32. Tied embeddings write no `output.weight`
 * (llama.cpp then uses token_embd). Each tensor's bytes are made when the writer asks for them,
 * so the tensors must stay alive until the file is written.
 */
export function llamaTensors(weights: Iterable<readonly [string, Tensor]>, t: TextConfig, type: LlamaWeightType): GgufTensorOut[] {
  const out: GgufTensorOut[] = [];
  for (const [canonical, tensor] of weights) {
    const name = ggufLlamaName(canonical);
    if (!name) continue;
    const shape = tensor.shape;
    const dims = [...shape].reverse();
    const wanted: GgmlType = shape.length === 1 ? 'F32' : type;
    const chosen: GgmlType = dims[0]! % GGML_TYPES[wanted].blockElems === 0 ? wanted : 'F16';
    const data = () => {
      const x = tensor.toArray() as Float32Array;
      return encodeGgml(chosen, isRopePermuted(canonical) ? permuteRopeRows(x, ropeHeads(canonical, t), shape[1]!) : x);
    };
    out.push({ name, dims, type: chosen, data });
  }
  return out;
}

/** f32 values as the bytes of a GGUF tensor type (F32, F16, or a type quantize() writes). */
export function encodeGgml(type: GgmlType, x: Float32Array): Uint8Array {
  if (type === 'F32') return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  if (type === 'F16') return new Uint8Array(Uint16Array.from(x, f32ToF16Bits).buffer);
  return quantize(type, x);
}

// ---------------------------------------------------------------- reading

/** llama.cpp's `llama.*` key of a field. */
const KEY = (field: string) => `llama.${field}`;

/** The architecture this reader knows: LLaVA's language model. */
export const LLAMA_ARCHITECTURE = 'llama';

/**
 * The text config of a llama GGUF from its `llama.*` metadata (shapes, rope, eps), its tokenizer's
 * special ids and its tensors (no `output.weight`: tied embeddings). Anything the model cannot
 * run (another architecture, scaled or partial rope, experts) is an error naming the key.
 */
export function textConfigFromGguf(meta: GgufMetadata, tensors: readonly GgufTensorInfo[]): TextConfig {
  const arch = meta.string('general.architecture');
  if (arch !== LLAMA_ARCHITECTURE) meta.fail('general.architecture', `"${arch}": only "${LLAMA_ARCHITECTURE}" GGUFs load as LLaVA's language model`);
  const hiddenSize = meta.positiveInt(KEY('embedding_length'));
  const numHeads = meta.positiveInt(KEY('attention.head_count'));
  if (!meta.has(KEY('attention.key_length')) && hiddenSize % numHeads !== 0) meta.fail(KEY('embedding_length'), `${hiddenSize} is not a multiple of the ${numHeads} heads`);
  const headDim = meta.positiveInt(KEY('attention.key_length'), hiddenSize / numHeads);
  const ropeDims = meta.int(KEY('rope.dimension_count'), headDim);
  if (ropeDims !== headDim) meta.fail(KEY('rope.dimension_count'), `${ropeDims} of ${headDim} head dims: partial rotary embeddings are not supported`);
  const scaling = meta.optionalString(KEY('rope.scaling.type'));
  if (scaling !== undefined && scaling !== 'none') meta.fail(KEY('rope.scaling.type'), `"${scaling}": scaled rotary embeddings are not supported`);
  if (meta.int(KEY('expert_count'), 0) > 0) meta.fail(KEY('expert_count'), 'mixture-of-experts models are not supported');
  const embd = tensors.find((x) => x.name === 'token_embd.weight');
  const tokens = meta.has('tokenizer.ggml.tokens') ? meta.strings('tokenizer.ggml.tokens').length : undefined;
  const bos = meta.has('tokenizer.ggml.bos_token_id') ? meta.int('tokenizer.ggml.bos_token_id') : null;
  const eos = meta.has('tokenizer.ggml.eos_token_id') ? [meta.int('tokenizer.ggml.eos_token_id')] : [];
  return {
    vocabSize: meta.positiveInt(KEY('vocab_size'), embd?.dims[1] ?? tokens),
    hiddenSize,
    intermediateSize: meta.positiveInt(KEY('feed_forward_length')),
    numLayers: meta.positiveInt(KEY('block_count')),
    numHeads,
    numKvHeads: meta.positiveInt(KEY('attention.head_count_kv'), numHeads),
    headDim,
    maxPositionEmbeddings: meta.positiveInt(KEY('context_length')),
    rmsNormEps: meta.number(KEY('attention.layer_norm_rms_epsilon')),
    ropeTheta: meta.number(KEY('rope.freq_base'), DEFAULT_TEXT_CONFIG.ropeTheta),
    hiddenAct: 'silu',
    tieWordEmbeddings: !tensors.some((x) => x.name === 'output.weight'),
    attentionBias: false,
    mlpBias: false,
    bosTokenId: bos,
    eosTokenIds: eos,
  };
}
