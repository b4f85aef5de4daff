// The tokenizer a GGUF carries: the tiny fixture's tokenizer.json -> `tokenizer.ggml.*` metadata ->
// our LlavaTokenizer rebuilt from it gives the same ids and text as tokenizer.json itself, on
// chosen texts (words, spaces, digits, punctuation, byte-fallback characters, `<image>`) and on
// 3000 random ones; merges come from scores the way transformers derives them; padding ids and
// other vocabulary kinds are handled or refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlavaTokenizer } from '../../src/data/tokenizer.js';
import { Rng } from '../../src/tensor/random.js';
import type { GgufTypedValue, GgufValue } from '../../src/gguf/format.js';
import { GgufMetadata } from '../../src/gguf/metadata.js';
import { llamaTokenizerMetadata, mergesFromScores, tokenizerFromGguf } from '../../src/gguf/tokenizer.js';
import { tinyModel } from '../model/fixtures.js';

const FIXTURE = tinyModel('f32-v4').dir;
const tokenizerJson = JSON.parse(readFileSync(join(FIXTURE, 'tokenizer.json'), 'utf8'));
const tokenizerConfig = JSON.parse(readFileSync(join(FIXTURE, 'tokenizer_config.json'), 'utf8'));

/** Typed metadata as the reader hands it back (values without their GGUF types). */
function asRead(meta: ReadonlyMap<string, GgufTypedValue>): GgufMetadata {
  return new GgufMetadata(new Map([...meta].map(([k, v]): [string, GgufValue] => [k, v.type === 'array' ? v.values : v.value])), 'test.gguf');
}

function fromGguf(vocabSize: number): LlavaTokenizer {
  const meta = llamaTokenizerMetadata(tokenizerJson, vocabSize, { pad: '<pad>', chatTemplate: tokenizerConfig.chat_template });
  const files = tokenizerFromGguf(asRead(meta));
  return LlavaTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig, 'test.gguf', { addImageToken: false });
}

const TEXTS = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  '  two  leading spaces and a trailing one ',
  'digits 12345, 3.14159 and 1e-5',
  'punctuation!?;: (a) [b] {c} "quoted" \'single\' - dash',
  'naïve café — 東京 🙂 Ünïcödé needs byte fallback',
  '<image>\nWhat is in the picture?',
  'USER: <image>\nDescribe the scene. ASSISTANT: A red circle.</s>',
  'the the the then there their',
  '',
  ' ',
  '\n\n\t',
  'tHe ThE THE',
  'a<s>b</s>c<unk>d',
];

test('tokenizer.json -> GGUF metadata -> our tokenizer: the same ids, text and special tokens as tokenizer.json', () => {
  const want = LlavaTokenizer.fromDir(FIXTURE);
  const got = fromGguf(381);
  for (const text of TEXTS) {
    for (const addSpecialTokens of [true, false]) assert.deepEqual(got.encode(text, { addSpecialTokens }), want.encode(text, { addSpecialTokens }), JSON.stringify(text));
    const ids = want.encode(text);
    assert.equal(got.decode(ids), want.decode(ids), JSON.stringify(text));
    assert.equal(got.decode(ids, { skipSpecialTokens: true }), want.decode(ids, { skipSpecialTokens: true }));
  }
  for (const key of ['bosId', 'eosId', 'padId', 'unkId', 'imageTokenId', 'bosToken', 'eosToken', 'vocabSize', 'chatTemplate'] as const) assert.equal(got[key], want[key], key);
  assert.ok(want.encode('<image>').includes(379));
});

test('3000 random texts from the vocabulary and awkward characters tokenize the same both ways', () => {
  const want = LlavaTokenizer.fromDir(FIXTURE);
  const got = fromGguf(381);
  const pieces = Object.keys(tokenizerJson.model.vocab as Record<string, number>).filter((p) => !p.startsWith('<')).map((p) => p.replace(/\u2581/g, ' '));
  const extra = ['é', '東', '🙂', '\n', '  ', '<image>', '</s>', '1', '0', '.', ',', '\t'];
  const rng = new Rng(3);
  for (let k = 0; k < 3000; k++) {
    let text = '';
    for (let n = 1 + rng.int(12); n > 0; n--) text += rng.int(10) < 8 ? pieces[rng.int(pieces.length)] : extra[rng.int(extra.length)];
    assert.deepEqual(got.encode(text), want.encode(text), JSON.stringify(text));
  }
});

test('merges come from scores as transformers derives them: every split into two tokens, best score first', () => {
  const tokens = ['a', 'b', 'c', 'ab', 'bc', 'abc', 'x'];
  const scores = [0, 0, 0, -2, -1, -3, 0];
  const vocab = new Map(tokens.map((t, i) => [t, i]));
  const merges = mergesFromScores(tokens, scores, (id) => tokens[id]!.length > 1, vocab);
  assert.deepEqual(merges, [['b', 'c'], ['a', 'b'], ['a', 'bc'], ['ab', 'c']]);
});

test('padding ids past the tokenizer are unused tokens, left out of the rebuilt vocabulary', () => {
  const meta = llamaTokenizerMetadata(tokenizerJson, 400, { pad: '<pad>' });
  const types = meta.get('tokenizer.ggml.token_type')!;
  assert.ok(types.type === 'array' && types.values.slice(381).every((t) => t === 5));
  const tok = fromGguf(400);
  assert.equal(tok.vocabSize, 381);
  assert.equal(tok.decode([40, 390, 41]), LlavaTokenizer.fromDir(FIXTURE).decode([40, 41]));
});

test('other vocabularies and inconsistent arrays are refused by name', () => {
  const meta = llamaTokenizerMetadata(tokenizerJson, 381);
  const gpt2 = new Map(meta).set('tokenizer.ggml.model', { type: 'string', value: 'gpt2' });
  assert.throws(() => tokenizerFromGguf(asRead(gpt2)), /test\.gguf: tokenizer\.ggml\.model: "gpt2": only "llama"/);
  const short = new Map(meta).set('tokenizer.ggml.scores', { type: 'array', itemType: 'f32', values: [0, 1] });
  assert.throws(() => tokenizerFromGguf(asRead(short)), /2 scores and 381 types for 381 tokens/);
});
