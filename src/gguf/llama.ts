// The language model's side of a llama GGUF: tensor names (our canonical `text.` names to
// llama.cpp's), the row permutation of the query and key weights, and the `llama.*` metadata.
//
// HF LLaMA rotates each head's dims in halves (rotate_half: dim i pairs with i + D/2); llama.cpp's
// llama architecture rotates adjacent pairs (2i, 2i + 1). Converting reorders each head's rows of
// q_proj and k_proj so pair (i, i + D/2) lands at (2i, 2i + 1): the same attention scores either way.
import type { TextConfig } from '../model/config.js';
import type { Tensor } from '../tensor/tensor.js';
import { f32ToF16Bits } from '../tensor/dtype.js';
import type { GgufTypedValue } from './format.js';
import { GGML_TYPES, type GgmlType } from './ggmlTypes.js';
import { quantize } from './quantize.js';
import type { GgufTensorOut } from './writer.js';

/** llama.cpp's name of a canonical `text.` weight, or undefined for a name it has no place for. */
export function ggufLlamaName(canonical: string): string | undefined {
  const fixed: Record<string, string> = {
    'text.embed_tokens.weight': 'token_embd.weight',
    'text.norm.weight': 'output_norm.weight',
    'text.lm_head.weight': 'output.weight',
  };
  if (fixed[canonical]) return fixed[canonical];
  const m = /^text\.layers\.(\d+)\.(.+)$/.exec(canonical);
  if (!m) return undefined;
  const inner: Record<string, string> = {
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
  const tail = inner[m[2]!];
  return tail ? `blk.${m[1]}.${tail}` : undefined;
}

/** Whether a canonical weight's rows are permuted for llama.cpp's rope (query and key projections). */
export function isRopePermuted(canonical: string): boolean {
  return /\.self_attn\.(q|k)_proj\.weight$/.test(canonical);
}

/**
 * Reorders the rows of a (heads * D, cols) row-major weight from HF's rotate_half layout to
 * llama.cpp's adjacent pairs: within each head, row s * D/2 + p moves to 2p + s. `inverse` undoes it.
 */
export function permuteRopeRows(w: Float32Array, heads: number, cols: number, inverse = false): Float32Array {
  const rows = w.length / cols;
  if (!Number.isInteger(rows) || rows % heads !== 0 || (rows / heads) % 2 !== 0) throw new Error(`rope permutation: ${rows} rows do not split into ${heads} heads of even size`);
  const D = rows / heads;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++)
    for (let s = 0; s < 2; s++)
      for (let p = 0; p < D / 2; p++) {
        const hf = h * D + s * (D / 2) + p;
        const cpp = h * D + 2 * p + s;
        const [from, to] = inverse ? [cpp, hf] : [hf, cpp];
        out.set(w.subarray(from * cols, (from + 1) * cols), to * cols);
      }
  return out;
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
export type LlamaWeightType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';

/**
 * The language model's weights as GGUF tensors: llama.cpp names, ggml dimension order
 * (innermost first), q/k rows permuted for its rope, 2-D weights in `type` (F16 where a row does
 * not fill whole quantisation blocks), 1-D weights F32. Tied embeddings write no `output.weight`
 * (llama.cpp then uses token_embd).
 */
export function llamaTensors(weights: Iterable<readonly [string, Tensor]>, t: TextConfig, type: LlamaWeightType): GgufTensorOut[] {
  const out: GgufTensorOut[] = [];
  for (const [canonical, tensor] of weights) {
    const name = ggufLlamaName(canonical);
    if (!name) continue;
    let data = tensor.toArray() as Float32Array;
    const shape = tensor.shape;
    if (isRopePermuted(canonical)) data = permuteRopeRows(data, canonical.includes('.q_proj.') ? t.numHeads : t.numKvHeads, shape[1]!);
    const dims = [...shape].reverse();
    const wanted: GgmlType = shape.length === 1 ? 'F32' : type;
    const blocks = GGML_TYPES[wanted].blockElems;
    const chosen: GgmlType = dims[0]! % blocks === 0 ? wanted : 'F16';
    out.push({ name, dims, type: chosen, data: encode(chosen, data) });
  }
  return out;
}

function encode(type: GgmlType, x: Float32Array): Uint8Array {
  if (type === 'F32') return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  if (type === 'F16') return new Uint8Array(Uint16Array.from(x, f32ToF16Bits).buffer);
  return quantize(type, x);
}
