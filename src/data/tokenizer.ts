// The text tokenizer: tokenizer.json through @huggingface/tokenizers, with llava-hf's image token and a streaming detokeniser.
// Wraps the package so the model and templates see plain number ids, named special ids and errors that name the file.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { DEFAULT_IMAGE_TOKEN, DEFAULT_PAD_TOKEN } from './constants.js';
import { escapeRegExp } from '../util/regex.js';

/** Thrown for missing or malformed tokenizer files; the message names the file and field. */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
}

/** One entry of tokenizer.json's `added_tokens`. */
interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

type Json = Record<string, unknown>;

/** Options of the loaders. */
export interface TokenizerOptions {
  /** Ensure `<image>` (and `<pad>` if the tokenizer has no pad token) exist, appended as llava-hf does. Default true. */
  readonly addImageToken?: boolean;
  /** Name of the image token (default `<image>`). */
  readonly imageToken?: string;
}

/** Options of encode. */
export interface EncodeOptions {
  /** Apply the post-processor (BOS for LLaMA). Default true. */
  readonly addSpecialTokens?: boolean;
}

/** Options of decode. */
export interface TokenDecodeOptions {
  /** Drop special tokens (BOS, EOS, pad, image). Default false. */
  readonly skipSpecialTokens?: boolean;
}

/** Reads a special-token name from tokenizer_config.json: a string or an AddedToken-like `{content}`. */
function tokenName(config: Json, field: string, source: string): string | undefined {
  const v = config[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  throw new TokenizerError(`${source}: ${field} = ${JSON.stringify(v)} is neither a string nor {content}`);
}

function modelVocabSize(json: Json, source: string): number {
  const model = json.model as Json | undefined;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) return vocab.length; // Unigram: [[piece, score], ...]
  if (vocab && typeof vocab === 'object') return Math.max(-1, ...Object.values(vocab as Record<string, number>)) + 1;
  throw new TokenizerError(`${source}: model.vocab is missing`);
}

function specialToken(id: number, content: string): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/**
 * Returns tokenizer.json with `<image>` (and `<pad>` when no pad token exists) appended after the
 * largest id, as llava-hf's conversion did for LLaMA (32000 and 32001); unchanged if present.
 */
export function withImageToken(json: Json, source: string, imageToken: string, hasPad: boolean): Json {
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as AddedTokenJson[]) : [];
  const known = (content: string) => added.some((t) => t.content === content);
  if (known(imageToken) && (hasPad || known(DEFAULT_PAD_TOKEN))) return json;
  let next = Math.max(modelVocabSize(json, source), ...added.map((t) => t.id + 1));
  const extra: AddedTokenJson[] = [];
  if (!known(imageToken)) extra.push(specialToken(next++, imageToken));
  if (!hasPad && !known(DEFAULT_PAD_TOKEN)) extra.push(specialToken(next++, DEFAULT_PAD_TOKEN));
  return { ...json, added_tokens: [...added, ...extra] };
}

/**
 * A Metaspace pre-tokenizer with `split: true` (what HF's BPE trainer writes) splits the text into
 * words before each replacement character in HF's Rust tokenizers, but @huggingface/tokenizers
 * ignores the flag and hands BPE the whole text as one word: the same ids (a BPE trained on split
 * words has no merge across a word start), but merges run over the whole string and the per-word
 * cache never hits. Spelled here as Metaspace then a Split that keeps each replacement character with
 * the word after it (HF's MergedWithNext), the split happens in the package too.
 */
function splittingPreTokenizer(pre: unknown): unknown {
  if (pre === null || typeof pre !== 'object') return pre;
  const p = pre as Json;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) return { ...p, pretokenizers: p.pretokenizers.map(splittingPreTokenizer) };
  if (p.type !== 'Metaspace' || p.split !== true) return pre;
  const r = escapeRegExp(typeof p.replacement === 'string' ? p.replacement : '\u2581');
  return { type: 'Sequence', pretokenizers: [{ ...p, split: false }, { type: 'Split', pattern: { Regex: `${r}(?:(?!${r})[\\s\\S])*|(?:(?!${r})[\\s\\S])+` }, behavior: 'MergedWithNext', invert: true }] };
}

/** The tokenizer.json the package is given: the image tokens added and Metaspace's split made explicit. */
function forPackage(json: Json): Json {
  return json.pre_tokenizer === undefined ? json : { ...json, pre_tokenizer: splittingPreTokenizer(json.pre_tokenizer) };
}

function readJson(path: string): Json {
  if (!existsSync(path)) throw new TokenizerError(`${path}: file not found`);
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Json;
  } catch (e) {
    throw new TokenizerError(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

/** A loaded tokenizer with LLaVA's special ids resolved. */
export class LlavaTokenizer {
  /** Beginning-of-sequence id, if the tokenizer has one. */
  readonly bosId: number | undefined;
  /** End-of-sequence id (the `</s>` that closes assistant turns). */
  readonly eosId: number | undefined;
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  /** Id of `<image>` when the tokenizer has it (llava-hf expansion), else undefined. */
  readonly imageTokenId: number | undefined;
  readonly imageToken: string;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  /** Ids the model may see: model vocabulary plus added tokens. */
  readonly vocabSize: number;
  /** tokenizer_config.json's chat_template, if any (string form). */
  readonly chatTemplate: string | undefined;
  /** tokenizer_config.json as read (empty object when absent). */
  readonly config: Readonly<Json>;
  private readonly inner: Tokenizer;
  private readonly specialIds: ReadonlySet<number>;

  private constructor(json: Json, config: Json, source: string, options: TokenizerOptions) {
    this.imageToken = options.imageToken ?? DEFAULT_IMAGE_TOKEN;
    const padName = tokenName(config, 'pad_token', source);
    const finalJson = options.addImageToken === false ? json : withImageToken(json, source, this.imageToken, padName !== undefined);
    try {
      // clean_up_tokenization_spaces defaults off, as in LLaMA's config and transformers 5.
      this.inner = new Tokenizer(forPackage(finalJson), { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces === true });
    } catch (e) {
      throw new TokenizerError(`${source}: cannot build tokenizer (${(e as Error).message})`);
    }
    this.config = config;
    const byName = (name: string | undefined) => (name === undefined ? undefined : this.inner.token_to_id(name));
    this.bosToken = tokenName(config, 'bos_token', source) ?? (byName('<s>') !== undefined ? '<s>' : undefined);
    this.eosToken = tokenName(config, 'eos_token', source) ?? (byName('</s>') !== undefined ? '</s>' : undefined);
    this.bosId = byName(this.bosToken);
    this.eosId = byName(this.eosToken);
    this.padId = byName(padName ?? DEFAULT_PAD_TOKEN);
    this.unkId = byName(tokenName(config, 'unk_token', source) ?? '<unk>');
    this.imageTokenId = byName(this.imageToken);
    this.vocabSize = this.inner.get_vocab(true).size;
    this.specialIds = new Set([...this.inner.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id));
    const template = config.chat_template;
    this.chatTemplate = typeof template === 'string' ? template : undefined;
  }

  /** Builds from parsed tokenizer.json (+ optional tokenizer_config.json); `source` names them in errors. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown = {}, source = 'tokenizer.json', options: TokenizerOptions = {}): LlavaTokenizer {
    if (tokenizerJson === null || typeof tokenizerJson !== 'object' || Array.isArray(tokenizerJson)) throw new TokenizerError(`${source}: not a JSON object`);
    const config = (tokenizerConfig ?? {}) as Json;
    return new LlavaTokenizer(tokenizerJson as Json, config, source, options);
  }

  /** Loads tokenizer.json (required) and tokenizer_config.json (optional) from a model directory. */
  static fromDir(dir: string, options: TokenizerOptions = {}): LlavaTokenizer {
    const jsonPath = join(dir, 'tokenizer.json');
    const configPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(configPath) ? readJson(configPath) : {};
    return LlavaTokenizer.fromJson(readJson(jsonPath), config, jsonPath, options);
  }

  /** Text to ids; BOS is prepended unless addSpecialTokens is false. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /**
   * Ids to text. Ids past the tokenizer's vocabulary are dropped without error, as transformers'
   * tokenizers do: checkpoints pad their embedding rows (llava-1.5-hf: 32064 rows, 32002 tokens)
   * and a sampler can pick a padding row. Negative or fractional ids are errors.
   */
  decode(ids: readonly number[], options: TokenDecodeOptions = {}): string {
    const kept: number[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`decode: id ${id} is not a token id`);
      if (id >= this.vocabSize || (options.skipSpecialTokens && this.specialIds.has(id))) continue;
      kept.push(id);
    }
    if (kept.length === 0) return '';
    return this.inner.decode(kept, { skip_special_tokens: false });
  }

  /** True for ids of special tokens (BOS, EOS, pad, `<image>`, ...). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  /** A detokeniser for generated ids, one at a time. */
  createStreamDecoder(options: TokenDecodeOptions = { skipSpecialTokens: true }): StreamDecoder {
    return new StreamDecoder((ids) => this.decode(ids, options));
  }
}

/** Unicode replacement character: what a decoder yields for an incomplete UTF-8 sequence. */
const REPLACEMENT_CHAR = '\uFFFD';

/**
 * Incremental detokeniser for streaming chat. Decoding token by token is wrong for SentencePiece
 * (a token's leading space depends on its neighbours) and for byte-fallback tokens (one character
 * may span several tokens), so it re-decodes a short window: the text of [prefix, end) minus the
 * text of [prefix, read) is the new text, emitted only once it does not end in an incomplete
 * UTF-8 sequence. The pieces concatenate to decode(all ids).
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly decodeIds: (ids: readonly number[]) => string) {}

  /** Adds one generated id; returns the text it completes (often '', e.g. mid-character). */
  push(id: number): string {
    this.ids.push(id);
    const before = this.decodeIds(this.ids.slice(this.prefixOffset, this.readOffset));
    const after = this.decodeIds(this.ids.slice(this.prefixOffset));
    if (after.length <= before.length || after.endsWith(REPLACEMENT_CHAR)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return after.slice(before.length);
  }

  /** Returns whatever is still held back (an incomplete character at the end of generation). */
  flush(): string {
    const before = this.decodeIds(this.ids.slice(this.prefixOffset, this.readOffset));
    const after = this.decodeIds(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return after.length > before.length ? after.slice(before.length) : '';
  }
}
