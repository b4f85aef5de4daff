// A llama-style tokenizer.json (BPE with byte fallback and the ▁ word marker, as LLaMA/Vicuna and
// our fixtures have) as GGUF's `tokenizer.ggml.*` metadata, model "llama": every id's text, a score
// (merge priority: a token made by an earlier merge scores higher), and a type (normal 1,
// control 3 for special added tokens, user-defined 4 for other added tokens, byte 6 for <0xXX>).
import type { GgufTypedValue } from './format.js';

interface TokenizerJson {
  readonly model: { readonly type: string; readonly vocab: Record<string, number>; readonly merges?: readonly (string | readonly string[])[]; readonly byte_fallback?: boolean };
  readonly added_tokens?: readonly { readonly id: number; readonly content: string; readonly special?: boolean }[];
}

const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, byte: 6 } as const;

/** The `tokenizer.ggml.*` entries for a vocabulary of `vocabSize` ids (ids past the tokenizer get padding tokens). */
export function llamaTokenizerMetadata(json: TokenizerJson, vocabSize: number, specials: { readonly bos?: string; readonly eos?: string; readonly unk?: string; readonly pad?: string } = {}): Map<string, GgufTypedValue> {
  if (json.model.type !== 'BPE') throw new Error(`tokenizer.json: model type ${json.model.type}; only llama-style BPE converts to a GGUF "llama" tokenizer`);
  const tokens = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types = new Array<number>(vocabSize).fill(TOKEN_TYPE.userDefined);
  const scores = new Array<number>(vocabSize).fill(0);
  for (const [text, id] of Object.entries(json.model.vocab)) {
    if (id >= vocabSize) continue;
    tokens[id] = text;
    types[id] = /^<0x[0-9A-F]{2}>$/.test(text) ? TOKEN_TYPE.byte : TOKEN_TYPE.normal;
  }
  const merges = json.model.merges ?? [];
  merges.forEach((m, rank) => {
    const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : (m as [string, string]);
    const id = json.model.vocab[a + b];
    if (id !== undefined && id < vocabSize && scores[id] === 0) scores[id] = -(rank + 1);
  });
  for (const t of json.added_tokens ?? []) {
    if (t.id >= vocabSize) continue;
    tokens[t.id] = t.content;
    types[t.id] = t.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
  }
  const meta = new Map<string, GgufTypedValue>([
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', values: tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', values: scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', values: types }],
  ]);
  const idOf = (text: string | undefined) => (text === undefined ? -1 : tokens.indexOf(text));
  for (const [key, text] of [['bos', specials.bos ?? '<s>'], ['eos', specials.eos ?? '</s>'], ['unknown', specials.unk ?? '<unk>'], ['padding', specials.pad]] as const) {
    const id = idOf(text);
    if (id >= 0) meta.set(`tokenizer.ggml.${key}_token_id`, { type: 'u32', value: id });
  }
  return meta;
}
