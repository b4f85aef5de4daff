// A llama-style tokenizer.json (BPE with byte fallback and the ▁ word marker, as LLaMA/Vicuna and
// our fixtures have) as GGUF's `tokenizer.ggml.*` metadata, model "llama": every id's text, a score
// (merge priority: a token made by an earlier merge scores higher), and a type (normal 1,
// control 3 for special added tokens, user-defined 4 for other added tokens, unused 5 for padding
// ids, byte 6 for <0xXX>). And back: that metadata as an equivalent tokenizer.json, its merges
// derived from the scores the way transformers derives them from a SentencePiece vocabulary.
import type { GgufTypedValue } from './format.js';
import type { GgufMetadata } from './metadata.js';

/** The parts of a tokenizer.json this conversion reads. */
export interface TokenizerJson {
  readonly model: { readonly type: string; readonly vocab: Record<string, number>; readonly merges?: readonly (string | readonly string[])[]; readonly byte_fallback?: boolean };
  readonly added_tokens?: readonly { readonly id: number; readonly content: string; readonly special?: boolean }[];
}

/** llama.cpp's token types (llama_token_type). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** The ▁ SentencePiece puts for a space. */
const WORD_MARKER = '\u2581';

/** Special tokens and tokenizer_config.json settings that travel in the GGUF. */
export interface TokenizerSpecials {
  readonly bos?: string;
  readonly eos?: string;
  readonly unk?: string;
  readonly pad?: string;
  /** tokenizer_config.json add_bos_token (LLaMA: true). */
  readonly addBos?: boolean;
  readonly addEos?: boolean;
  /** The chat template, stored as `tokenizer.chat_template`. */
  readonly chatTemplate?: string;
}

/** The `tokenizer.ggml.*` entries for a vocabulary of `vocabSize` ids (ids past the tokenizer get padding tokens). */
export function llamaTokenizerMetadata(json: TokenizerJson, vocabSize: number, specials: TokenizerSpecials = {}): Map<string, GgufTypedValue> {
  if (json.model.type !== 'BPE') throw new Error(`tokenizer.json: model type ${json.model.type}; only llama-style BPE converts to a GGUF "llama" tokenizer`);
  const tokens = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types = new Array<number>(vocabSize).fill(TOKEN_TYPE.unused);
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
  meta.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: specials.addBos ?? true });
  meta.set('tokenizer.ggml.add_eos_token', { type: 'bool', value: specials.addEos ?? false });
  if (specials.chatTemplate !== undefined) meta.set('tokenizer.chat_template', { type: 'string', value: specials.chatTemplate });
  return meta;
}

// ---------------------------------------------------------------- reading

/** The tokenizer files a GGUF's vocabulary stands for. */
export interface TokenizerFiles {
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
}

/**
 * BPE merges from a SentencePiece-style vocabulary, as transformers does (SentencePieceExtractor,
 * and its GGUF loader's generate_merges): every split of a token into two tokens, ranked by the
 * token's score (highest first; ties in id order, then by the halves' ids). This matches llama.cpp's
 * SentencePiece tokenizer, which merges the adjacent pair forming the highest-scoring token.
 */
export function mergesFromScores(tokens: readonly string[], scores: readonly number[], mergeable: (id: number) => boolean, inVocab: ReadonlyMap<string, number>): [string, string][] {
  const merges: { l: string; r: string; score: number; order: number }[] = [];
  tokens.forEach((token, id) => {
    if (!mergeable(id)) return;
    const chars = [...token];
    const local: { l: string; r: string; il: number; ir: number }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      const il = inVocab.get(l);
      const ir = inVocab.get(r);
      if (il !== undefined && ir !== undefined) local.push({ l, r, il, ir });
    }
    local.sort((a, b) => a.il - b.il || a.ir - b.ir);
    for (const m of local) merges.push({ l: m.l, r: m.r, score: scores[id]!, order: merges.length });
  });
  merges.sort((a, b) => b.score - a.score || a.order - b.order);
  return merges.map((m) => [m.l, m.r]);
}

function addedToken(id: number, content: string, special: boolean): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/** tokenizer.json's post-processor adding BOS / EOS around a sequence, or null when neither is added. */
function templateProcessor(bos: string | undefined, eos: string | undefined, ids: ReadonlyMap<string, number>): Record<string, unknown> | null {
  if (bos === undefined && eos === undefined) return null;
  const seq = (id: 'A' | 'B', typeId: number) => [
    ...(bos ? [{ SpecialToken: { id: bos, type_id: typeId } }] : []),
    { Sequence: { id, type_id: typeId } },
    ...(eos ? [{ SpecialToken: { id: eos, type_id: typeId } }] : []),
  ];
  const special = Object.fromEntries([bos, eos].filter((t): t is string => t !== undefined).map((t) => [t, { id: t, ids: [ids.get(t)!], tokens: [t] }]));
  return { type: 'TemplateProcessing', single: seq('A', 0), pair: [...seq('A', 0), ...seq('B', 1)], special_tokens: special };
}

/**
 * A GGUF's `tokenizer.ggml.*` vocabulary (model "llama") as tokenizer.json and tokenizer_config.json:
 * BPE over every used token with byte fallback, merges from the scores, the ▁ word marker
 * (prepended to each text piece when `add_space_prefix`, as llama.cpp and LLaMA's legacy
 * tokenizer do), control and user-defined tokens as added tokens, unused (padding) ids left out.
 */
export function tokenizerFromGguf(meta: GgufMetadata): TokenizerFiles {
  const model = meta.string('tokenizer.ggml.model');
  if (model !== 'llama') meta.fail('tokenizer.ggml.model', `"${model}": only "llama" (SentencePiece-style) vocabularies are supported`);
  const tokens = meta.strings('tokenizer.ggml.tokens');
  const scores = meta.has('tokenizer.ggml.scores') ? meta.numbers('tokenizer.ggml.scores') : tokens.map(() => 0);
  const types = meta.has('tokenizer.ggml.token_type') ? meta.numbers('tokenizer.ggml.token_type') : tokens.map(() => TOKEN_TYPE.normal);
  if (scores.length !== tokens.length || types.length !== tokens.length) meta.fail('tokenizer.ggml.scores', `${scores.length} scores and ${types.length} types for ${tokens.length} tokens`);
  const vocab = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (types[id] !== TOKEN_TYPE.unused && !vocab.has(t)) vocab.set(t, id);
  });
  const nameOf = (key: string) => (meta.has(key) ? tokens[meta.int(key)] : undefined);
  const unk = nameOf('tokenizer.ggml.unknown_token_id');
  const bos = nameOf('tokenizer.ggml.bos_token_id');
  const eos = nameOf('tokenizer.ggml.eos_token_id');
  const pad = nameOf('tokenizer.ggml.padding_token_id');
  const addBos = meta.bool('tokenizer.ggml.add_bos_token', true);
  const addEos = meta.bool('tokenizer.ggml.add_eos_token', false);
  const spacePrefix = meta.bool('tokenizer.ggml.add_space_prefix', true);
  const merges = mergesFromScores(tokens, scores, (id) => types[id] === TOKEN_TYPE.normal, vocab);
  const added = tokens.flatMap((t, id) => {
    const special = types[id] === TOKEN_TYPE.control || types[id] === TOKEN_TYPE.unknown;
    return special || types[id] === TOKEN_TYPE.userDefined ? [addedToken(id, t, special)] : [];
  });
  const replaceSpace = { type: 'Replace', pattern: { String: ' ' }, content: WORD_MARKER };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: spacePrefix ? [{ type: 'Prepend', prepend: WORD_MARKER }, replaceSpace] : [replaceSpace] },
    pre_tokenizer: null,
    post_processor: templateProcessor(addBos ? bos : undefined, addEos ? eos : undefined, vocab),
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: WORD_MARKER }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, ...(spacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : [])],
    },
    model: { type: 'BPE', dropout: null, unk_token: unk ?? null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab: Object.fromEntries(vocab), merges },
  };
  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: addBos,
    add_eos_token: addEos,
    ...(bos !== undefined ? { bos_token: bos } : {}),
    ...(eos !== undefined ? { eos_token: eos } : {}),
    ...(unk !== undefined ? { unk_token: unk } : {}),
    ...(pad !== undefined ? { pad_token: pad } : {}),
    clean_up_tokenization_spaces: false,
    legacy: true,
    tokenizer_class: 'LlamaTokenizer',
  };
  const template = meta.optionalString('tokenizer.chat_template');
  if (template !== undefined) tokenizerConfig.chat_template = template;
  return { tokenizerJson, tokenizerConfig };
}
