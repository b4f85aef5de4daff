// Tokenizer tests: exact ids on the real LLaMA tokenizer (../shared, skipped where absent), llava-hf's image token,
// and on a tiny LLaMA-style tokenizer built here: added tokens, special ids, streaming detokenisation, errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlavaTokenizer, TokenizerError } from '../../src/data/tokenizer.js';
import { ID, TINY_VOCAB, tinyTokenizerJson } from './tinyTokenizer.js';

const LLAMA_DIR = '../shared/data/tokenizers/llama2';
const llamaMissing = existsSync(join(LLAMA_DIR, 'tokenizer.json')) ? undefined : `${LLAMA_DIR} is absent`;

function loadLlama(): LlavaTokenizer {
  return LlavaTokenizer.fromDir(LLAMA_DIR);
}

test('LLaMA tokenizer reproduces every reference vector exactly', { skip: llamaMissing }, () => {
  const tok = loadLlama();
  const vectors = readFileSync(join(LLAMA_DIR, 'vectors.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as { text: string; ids: number[] });
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    assert.deepEqual(tok.encode(v.text), v.ids, JSON.stringify(v.text));
    assert.equal(tok.decode(v.ids, { skipSpecialTokens: true }), v.text, 'decode inverts encode');
  }
});

test('LLaMA gets <image> = 32000 and <pad> = 32001 as llava-hf adds them', { skip: llamaMissing }, () => {
  const tok = loadLlama();
  assert.equal(tok.imageTokenId, 32000);
  assert.equal(tok.padId, 32001);
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  assert.equal(tok.vocabSize, 32002);
  // The llava-hf prompt: "<image>" is one special token; the text on either side is normalised separately.
  assert.deepEqual(tok.encode('USER: <image>\nWhat is this? ASSISTANT:'), [1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, 338, 445, 29973, 319, 1799, 9047, 13566, 29901]);
  assert.equal(tok.decode([1, 15043, 2, 32000], { skipSpecialTokens: true }), 'Hello');
  const plain = LlavaTokenizer.fromDir(LLAMA_DIR, { addImageToken: false });
  assert.equal(plain.imageTokenId, undefined);
  assert.equal(plain.vocabSize, 32000);
});

test('streaming detokeniser on LLaMA: pieces concatenate to the full decode, never split a character', { skip: llamaMissing }, () => {
  const tok = loadLlama();
  const text = 'Ünïcödé 日本語 😀 emoji.\nTwo  spaces, then 🚕 taxi';
  const ids = tok.encode(text, { addSpecialTokens: false });
  const stream = tok.createStreamDecoder();
  const pieces = ids.map((id) => stream.push(id));
  pieces.push(stream.flush());
  assert.equal(pieces.join(''), text);
  assert.ok(pieces.every((p) => !p.includes('\uFFFD')), 'no half characters emitted');
  assert.ok(pieces.includes(''), 'byte-fallback tokens of an emoji are held back until complete');
});

test('tiny tokenizer: BPE merges, byte fallback for unknown characters, BOS', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson(), {}, 'tiny');
  assert.deepEqual(tok.encode('hi the'), [1, ID('▁hi'), ID('▁the')]);
  const z = 'z'.charCodeAt(0);
  assert.deepEqual(tok.encode('hiz', { addSpecialTokens: false }), [ID('▁hi'), 3 + z]);
  assert.equal(tok.decode(tok.encode('hi the z é'), { skipSpecialTokens: true }), 'hi the z é');
});

/** A Metaspace tokenizer whose first merge crosses a word start ("a" + "▁"), as no trained-with-split BPE has. */
function metaspaceJson(split: boolean): Record<string, unknown> {
  const vocab = { '<unk>': 0, '▁': 1, a: 2, '▁a': 3, 'a▁': 4 };
  return {
    version: '1.0',
    added_tokens: [{ id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false, vocab, merges: ['a ▁', '▁ a'] },
  };
}

test('Metaspace with split: true splits before each word as HF tokenizers does; split: false merges across words', () => {
  // Split: "▁a" and "▁a" are separate words, so the cross-word merge "a ▁" can never apply.
  const split = LlavaTokenizer.fromJson(metaspaceJson(true), {}, 'split', { addImageToken: false });
  assert.deepEqual(split.encode('a a', { addSpecialTokens: false }), [3, 3]);
  assert.deepEqual(split.encode('a  a', { addSpecialTokens: false }), [3, 1, 3]);
  assert.equal(split.decode([3, 1, 3]), 'a  a');
  const whole = LlavaTokenizer.fromJson(metaspaceJson(false), {}, 'whole', { addImageToken: false });
  assert.deepEqual(whole.encode('a a', { addSpecialTokens: false }), [1, 4, 2]);
});

test('image and pad tokens are appended after the vocabulary when absent', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson(), {}, 'tiny');
  assert.equal(tok.imageTokenId, TINY_VOCAB);
  assert.equal(tok.padId, TINY_VOCAB + 1);
  assert.equal(tok.vocabSize, TINY_VOCAB + 2);
  assert.deepEqual(tok.encode('hi<image>the'), [1, ID('▁hi'), TINY_VOCAB, ID('▁the')]);
  assert.ok(tok.isSpecial(TINY_VOCAB));
  assert.equal(tok.decode([ID('▁hi'), TINY_VOCAB, 2], { skipSpecialTokens: true }), 'hi');
});

test('image token already in added_tokens keeps its id; a configured pad token suppresses <pad>', () => {
  const json = tinyTokenizerJson([{ id: 500, content: '<image>' }]);
  const tok = LlavaTokenizer.fromJson(json, { pad_token: '</s>', bos_token: { content: '<s>' }, eos_token: '</s>' }, 'tiny');
  assert.equal(tok.imageTokenId, 500);
  assert.equal(tok.padId, 2);
  assert.equal(tok.tokenToId('<pad>'), undefined);
});

test('streaming detokeniser holds back partial UTF-8 and restores spaces between tokens', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson(), {}, 'tiny');
  const text = 'hi the €x the';
  const ids = tok.encode(text, { addSpecialTokens: false });
  const stream = tok.createStreamDecoder();
  const pieces = ids.map((id) => stream.push(id));
  // € is three byte tokens: the first two emit nothing, the third emits the character.
  const euro = ids.indexOf(3 + 0xe2);
  assert.deepEqual(pieces.slice(euro, euro + 3), ['', '', '€']);
  assert.equal(pieces.join('') + stream.flush(), text);
  const withEos = tok.createStreamDecoder();
  assert.equal([ID('▁hi'), 2, ID('▁the')].map((id) => withEos.push(id)).join(''), 'hi the', 'special tokens are skipped');
});

test('flush emits a dangling partial character at the end of generation', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson(), {}, 'tiny');
  const stream = tok.createStreamDecoder();
  assert.equal(stream.push(ID('▁hi')), 'hi');
  assert.equal(stream.push(3 + 0xe2), '');
  assert.equal(stream.flush(), '\uFFFD');
});

test('ids past the tokenizer vocabulary (padded model rows) decode to nothing, in decode and streaming', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson(), {}, 'tiny');
  const past = tok.vocabSize + 5;
  assert.equal(tok.decode([ID('▁hi'), past, tok.vocabSize, ID('▁hi')]), tok.decode([ID('▁hi'), ID('▁hi')]));
  assert.equal(tok.decode([past], { skipSpecialTokens: true }), '');
  const stream = tok.createStreamDecoder();
  const pieces = [ID('▁hi'), past, ID('▁hi')].map((id) => stream.push(id));
  assert.equal(pieces.join('') + stream.flush(), tok.decode([ID('▁hi'), ID('▁hi')]));
});

test('tokenizer errors name the file and the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-tok-'));
  try {
    assert.throws(() => LlavaTokenizer.fromDir(dir), (e: Error) => e instanceof TokenizerError && e.message === `${join(dir, 'tokenizer.json')}: file not found`);
    writeFileSync(join(dir, 'tokenizer.json'), '{ not json');
    assert.throws(() => LlavaTokenizer.fromDir(dir), /tokenizer\.json: invalid JSON/);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: 7 }));
    assert.throws(() => LlavaTokenizer.fromDir(dir), /tokenizer\.json: eos_token = 7 is neither a string nor \{content\}/);
    const tok = LlavaTokenizer.fromJson(tinyTokenizerJson());
    assert.throws(() => tok.decode([-1]), /id -1 is not a token id/);
    assert.equal(tok.decode([]), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
