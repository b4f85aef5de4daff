// Tests of templates and label masking: rendered strings, both image conventions, labels covering exactly the
// assistant replies and their </s>, and the mismatch guard (on the tiny tokenizer; on real LLaMA where ../shared exists).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { IGNORE_INDEX, IMAGE_TOKEN_INDEX } from '../../src/data/constants.js';
import { buildTrainingSample, LabelMismatchError, PLACEHOLDER, tokenizeForGeneration, tokenizeWithImages } from '../../src/data/labels.js';
import { ConversationError, llavaHfPrompt, placeImageFirst, renderConversation, templateByName, TEMPLATES, turnsFromLlavaJson, type Turn } from '../../src/data/templates.js';
import { LlavaTokenizer } from '../../src/data/tokenizer.js';
import { tinyTokenizerJson } from './tinyTokenizer.js';

const LLAMA_DIR = '../shared/data/tokenizers/llama2';
const llamaMissing = existsSync(`${LLAMA_DIR}/tokenizer.json`) ? undefined : `${LLAMA_DIR} is absent`;

const TWO_ROUNDS: Turn[] = [
  { role: 'user', text: '<image>\nWhat is the man doing?' },
  { role: 'assistant', text: 'He is ironing clothes on a taxi.' },
  { role: 'user', text: 'Is that safe?' },
  { role: 'assistant', text: 'No, it is dangerous.' },
];

/** The label spans that are learned, each decoded. */
function learnedSpans(labels: readonly number[], tok: LlavaTokenizer): string[] {
  const spans: string[] = [];
  let current: number[] = [];
  for (const l of [...labels, IGNORE_INDEX]) {
    if (l !== IGNORE_INDEX) current.push(l);
    else if (current.length > 0) {
      spans.push(tok.decode(current));
      current = [];
    }
  }
  return spans;
}

test('vicuna_v1 renders the LLaVA v1.5 training string', () => {
  const s = renderConversation(TWO_ROUNDS, TEMPLATES.vicuna_v1);
  assert.equal(
    s,
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. " +
      'USER: <image>\nWhat is the man doing? ASSISTANT: He is ironing clothes on a taxi.</s>USER: Is that safe? ASSISTANT: No, it is dangerous.</s>',
  );
  assert.ok(renderConversation(TWO_ROUNDS, TEMPLATES.llava_v1).startsWith('A chat between a curious human and an artificial intelligence assistant.'));
  assert.ok(renderConversation(TWO_ROUNDS.slice(0, 3), TEMPLATES.vicuna_v1, { addGenerationPrompt: true }).endsWith('USER: Is that safe? ASSISTANT:'));
});

test('llava-hf prompt and plain template', () => {
  assert.equal(llavaHfPrompt('What is shown?'), 'USER: <image>\nWhat is shown? ASSISTANT:');
  assert.equal(llavaHfPrompt('Hi', false), 'USER: Hi ASSISTANT:');
  const plain = renderConversation([{ role: 'user', text: 'Describe briefly.\n<image>' }, { role: 'assistant', text: 'a cat on a mat' }], TEMPLATES.plain);
  assert.equal(plain, '<image>a cat on a mat\n');
  assert.equal(templateByName('llava_v1'), TEMPLATES.llava_v1);
  assert.throws(() => templateByName('chatml'), /unknown conversation template "chatml" \(known: plain, vicuna_v1, llava_v1, vicuna_nosys, llava_hf\)/);
});

test('LLaVA JSON conversion and image placement', () => {
  const turns = turnsFromLlavaJson(
    [
      { from: 'gpt', value: 'dropped leading reply' },
      { from: 'human', value: 'What is this?\n<image>' },
      { from: 'gpt', value: 'A dog.' },
    ],
    'sample-7',
  );
  assert.deepEqual(placeImageFirst(turns), [
    { role: 'user', text: '<image>\nWhat is this?' },
    { role: 'assistant', text: 'A dog.' },
  ]);
  assert.throws(() => turnsFromLlavaJson([{ from: 'human', value: 'a' }, { from: 'human', value: 'b' }], 's1'), (e: Error) => e instanceof ConversationError && /sample s1: conversations\[1\] is from human, expected gpt/.test(e.message));
  assert.throws(() => turnsFromLlavaJson([{ from: 'system', value: 'a' }, { from: 'robot', value: 'b' }], 's2'), /sample s2: conversations\[1\]\.from = "robot"/);
});

test('placeholder convention splices one -200 per image, BOS once (tiny tokenizer)', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson());
  const ids = tokenizeWithImages('hi <image>\nthe', tok, PLACEHOLDER);
  const left = tok.encode('hi ', { addSpecialTokens: false });
  const right = tok.encode('\nthe', { addSpecialTokens: false });
  assert.deepEqual(ids, [1, ...left, IMAGE_TOKEN_INDEX, ...right]);
  assert.deepEqual(tokenizeWithImages('<image>', tok, PLACEHOLDER), [1, IMAGE_TOKEN_INDEX]);
  const expanded = tokenizeWithImages('hi <image>\nthe', tok, { kind: 'expanded', tokensPerImage: 3 });
  assert.equal(expanded.filter((id) => id === tok.imageTokenId).length, 3);
  assert.throws(() => tokenizeWithImages('x', tok, { kind: 'expanded', tokensPerImage: 0 }), /tokensPerImage = 0/);
});

test('labels on the tiny tokenizer: replies and </s> learned, everything else -100', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson());
  const turns: Turn[] = [
    { role: 'user', text: '<image>\nhi' },
    { role: 'assistant', text: 'the hi' },
    { role: 'user', text: 'the' },
    { role: 'assistant', text: 'hi the' },
  ];
  for (const convention of [PLACEHOLDER, { kind: 'expanded', tokensPerImage: 4 } as const]) {
    const s = buildTrainingSample(turns, TEMPLATES.vicuna_v1, tok, { convention, sampleId: 'tiny' });
    assert.equal(s.inputIds.length, s.labels.length);
    assert.equal(s.inputIds[0], tok.bosId);
    assert.equal(s.labels[0], IGNORE_INDEX);
    assert.deepEqual(learnedSpans(s.labels, tok), ['the hi</s>', 'hi the</s>']);
    s.labels.forEach((l, i) => assert.ok(l === IGNORE_INDEX || l === s.inputIds[i], `label ${i} copies its input`));
  }
});

test('plain template learns only the caption and its newline', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson());
  const s = buildTrainingSample([{ role: 'user', text: '<image>\nDescribe.' }, { role: 'assistant', text: 'the hi' }], TEMPLATES.plain, tok, { convention: PLACEHOLDER, sampleId: 'p' });
  assert.deepEqual(s.inputIds.slice(0, 2), [1, IMAGE_TOKEN_INDEX]);
  assert.deepEqual(s.labels.slice(0, 2), [IGNORE_INDEX, IGNORE_INDEX]);
  assert.deepEqual(learnedSpans(s.labels, tok), ['the hi\n']);
});

test('mismatch guard: a tokenizer whose EOS is not </s> breaks the round arithmetic and names the sample', () => {
  // With EOS "<eos>", the template's "</s>" is plain text of several tokens, so the counts cannot add up.
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson([], '<eos>'), { eos_token: '<eos>' });
  assert.throws(
    () => buildTrainingSample(TWO_ROUNDS, TEMPLATES.vicuna_v1, tok, { convention: PLACEHOLDER, sampleId: 'coco-000123' }),
    (e: Error) => e instanceof LabelMismatchError && e.sampleId === 'coco-000123' && /sample coco-000123: tokenization mismatch/.test(e.message) && e.templateTokens !== e.tokenizerTokens,
  );
});

test('mismatch guard: a reply containing the round separator is reported, not trained on', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson());
  const turns: Turn[] = [
    { role: 'user', text: '<image>\nhi' },
    { role: 'assistant', text: 'the</s>hi' },
  ];
  assert.throws(() => buildTrainingSample(turns, TEMPLATES.vicuna_v1, tok, { convention: PLACEHOLDER, sampleId: 'bad-1' }), /sample bad-1: tokenization mismatch.*round 1 does not split/);
});

test('maxLength truncates ids and labels together', () => {
  const tok = LlavaTokenizer.fromJson(tinyTokenizerJson());
  const s = buildTrainingSample(TWO_ROUNDS, TEMPLATES.vicuna_v1, tok, { convention: PLACEHOLDER, sampleId: 't', maxLength: 10 });
  assert.equal(s.inputIds.length, 10);
  assert.equal(s.labels.length, 10);
});

test('LLaMA: labels of a two-round vicuna_v1 conversation decode to exactly the replies + </s>', { skip: llamaMissing }, () => {
  const tok = LlavaTokenizer.fromDir(LLAMA_DIR);
  const placeholder = buildTrainingSample(TWO_ROUNDS, TEMPLATES.vicuna_v1, tok, { convention: PLACEHOLDER, sampleId: 'llama' });
  assert.deepEqual(learnedSpans(placeholder.labels, tok), ['He is ironing clothes on a taxi.</s>', 'No, it is dangerous.</s>']);
  assert.equal(placeholder.inputIds.filter((id) => id === IMAGE_TOKEN_INDEX).length, 1);
  const expanded = buildTrainingSample(TWO_ROUNDS, TEMPLATES.vicuna_v1, tok, { convention: { kind: 'expanded', tokensPerImage: 576 }, sampleId: 'llama' });
  assert.equal(expanded.inputIds.length, placeholder.inputIds.length + 575);
  assert.equal(expanded.inputIds.filter((id) => id === 32000).length, 576);
  assert.deepEqual(learnedSpans(expanded.labels, tok), learnedSpans(placeholder.labels, tok));
  // The image placeholder chunking reproduces llava-hf's ids around <image> (29871 on both sides).
  const gen = tokenizeForGeneration([{ role: 'user', text: '<image>\nWhat is this?' }], TEMPLATES.llava_hf, tok, { kind: 'expanded', tokensPerImage: 1 });
  assert.deepEqual(gen, [1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, 338, 445, 29973, 319, 1799, 9047, 13566, 29901]);
  const genPlaceholder = tokenizeForGeneration([{ role: 'user', text: '<image>\nWhat is this?' }], TEMPLATES.llava_hf, tok, PLACEHOLDER);
  assert.deepEqual(genPlaceholder, gen.map((id) => (id === 32000 ? IMAGE_TOKEN_INDEX : id)));
});
