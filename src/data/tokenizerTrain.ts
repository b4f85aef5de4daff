// Trains a LLaMA-style BPE tokenizer on a text corpus (the demo's world text) with HF's
// `tokenizers` package and writes it as tokenizer.json + tokenizer_config.json that our loader reads.
//
// The package does the learning (merges by pair frequency); this file only lays its result out
// the way LLaMA's tokenizer.json is: `<unk>`, `<s>`, `</s>` at ids 0-2, the 256 byte-fallback
// pieces `<0x00>`..`<0xFF>` next (so any text encodes), then the learned pieces; words split on
// "▁" (SentencePiece's space), with "▁" also put before the text after a special token, as
// LLaMA's legacy tokenizer does and LLaVA's label arithmetic assumes; BOS by the post-processor.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BPE, Tokenizer, metaspacePreTokenizer } from 'tokenizers';

/** LLaMA's special tokens, in id order. */
export const BASE_SPECIAL_TOKENS = ['<unk>', '<s>', '</s>'] as const;
const [UNK, BOS, EOS] = BASE_SPECIAL_TOKENS;
/** SentencePiece's visible space. */
const SPACE = '\u2581';
const BYTE_PIECES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);

/** What trainBpeTokenizer produced. */
export interface TrainedTokenizer {
  /** Ids in the model vocabulary (specials and byte pieces included). */
  readonly vocabSize: number;
  /** Merges learned. */
  readonly merges: number;
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
}

type Merges = (string | [string, string])[];

/** Learns vocabulary and merges from the texts with the `tokenizers` trainer (its default BPE trainer). */
function learnBpe(texts: readonly string[]): { vocab: Record<string, number>; merges: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'llava-bpe-'));
  try {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, texts.map((t) => t.replace(/\s*\n\s*/g, ' ')).join('\n') + '\n');
    const tok = new Tokenizer(BPE.init({}, [], { unkToken: UNK }));
    tok.setPreTokenizer(metaspacePreTokenizer(SPACE, 'always', true));
    tok.train([corpus]);
    const out = join(dir, 'trained.json');
    tok.save(out);
    const model = (JSON.parse(readFileSync(out, 'utf8')) as { model: { vocab: Record<string, number>; merges: Merges } }).model;
    return { vocab: model.vocab, merges: model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function special(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** LLaMA's tokenizer.json layout around a learned vocabulary and merges. */
function llamaTokenizerJson(learned: { vocab: Record<string, number>; merges: string[] }): Record<string, unknown> {
  const pieces = [...BASE_SPECIAL_TOKENS, ...BYTE_PIECES];
  const byId = Object.entries(learned.vocab).sort((a, b) => a[1] - b[1]);
  for (const [piece] of byId) if (!pieces.includes(piece)) pieces.push(piece);
  const vocab = Object.fromEntries(pieces.map((p, i) => [p, i]));
  const metaspace = { type: 'Metaspace', replacement: SPACE, prepend_scheme: 'always', split: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: BASE_SPECIAL_TOKENS.map((t, i) => special(i, t)),
    normalizer: null,
    pre_tokenizer: metaspace,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: BOS, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [BOS]: { id: BOS, ids: [1], tokens: [BOS] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: SPACE }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: UNK,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: learned.merges,
    },
  };
}

/** tokenizer_config.json for it: LLaMA's special-token names, BOS added, no EOS. */
function llamaTokenizerConfig(maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: 'LlamaTokenizerFast',
    bos_token: BOS,
    eos_token: EOS,
    unk_token: UNK,
    add_bos_token: true,
    add_eos_token: false,
    model_max_length: maxLength,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(BASE_SPECIAL_TOKENS.map((t, i) => [String(i), { content: t, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
  };
}

/** Trains a BPE tokenizer on `texts` (one document each) and returns its two JSON files. */
export function trainBpeTokenizer(texts: readonly string[], maxLength = 512): TrainedTokenizer {
  if (texts.length === 0) throw new Error('tokenizer training: the corpus is empty');
  const learned = learnBpe(texts);
  const tokenizerJson = llamaTokenizerJson(learned);
  const vocab = (tokenizerJson.model as { vocab: Record<string, number> }).vocab;
  return { vocabSize: Object.keys(vocab).length, merges: learned.merges.length, tokenizerJson, tokenizerConfig: llamaTokenizerConfig(maxLength) };
}

/** Writes a trained tokenizer's tokenizer.json and tokenizer_config.json into `dir` (created if missing; each file via a temp file). */
export function writeTrainedTokenizer(t: TrainedTokenizer, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of [['tokenizer.json', t.tokenizerJson], ['tokenizer_config.json', t.tokenizerConfig]] as const) {
    const path = join(dir, name);
    writeFileSync(`${path}.tmp`, JSON.stringify(value) + '\n');
    renameSync(`${path}.tmp`, path);
  }
}
