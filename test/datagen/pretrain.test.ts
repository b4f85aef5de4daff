// Stage-1 pairs and the noun-phrase frequency filter: rare phrases ignored, at most N captions
// per phrase visiting the rarest first, input order kept; noun phrases from the NLP package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterByNounPhrases, nounPhrases, pretrainPairs } from '../../src/datagen/pretrain.js';
import { loadPrompts } from '../../src/datagen/prompts.js';
import type { ImageRecord } from '../../src/datagen/types.js';

test('noun phrases are lower-cased, without leading determiners or numbers', () => {
  const phrases = nounPhrases('Two brown dogs chase the red ball across a green park.');
  assert.ok(phrases.includes('brown dogs'), JSON.stringify(phrases));
  assert.ok(phrases.some((p) => p.endsWith('ball') && !p.startsWith('the')), JSON.stringify(phrases));
  for (const p of phrases) assert.equal(p, p.toLowerCase());
});

test('phrases seen fewer than min times are ignored; captions made only of them are dropped', () => {
  const captions = [['dog'], ['dog'], ['dog'], ['unicorn'], ['unicorn', 'dog']];
  const { kept, stats } = filterByNounPhrases(captions, { minPhraseCount: 3, maxCaptionsPerPhrase: 100 });
  assert.deepEqual(kept, [0, 1, 2, 4]);
  assert.equal(stats.phrasesFrequentEnough, 1);
});

test('at most max captions per phrase, rarest phrases served first, result in input order', () => {
  // "cat" (3 captions) is rarer than "dog" (6): its captions are all kept first, and they
  // count toward dog's cap of 4, so only one dog-only caption is added after them.
  const captions = [['dog'], ['dog'], ['dog', 'cat'], ['dog'], ['dog', 'cat'], ['dog', 'cat'], ['bird']];
  const { kept } = filterByNounPhrases(captions, { minPhraseCount: 3, maxCaptionsPerPhrase: 4 });
  assert.deepEqual(kept, [0, 2, 4, 5]);
});

test('pretrain pairs: one seeded caption per captioned image, brief instruction, <image> first', () => {
  const records: ImageRecord[] = [
    { id: 'a', image: 'a.jpg', captions: ['A cat.', 'A small cat.'], instances: [] },
    { id: 'b', image: 'b.jpg', captions: [], instances: [] },
  ];
  const prompts = loadPrompts();
  const r = pretrainPairs(records, prompts, 4);
  assert.equal(r.entries.length, 1);
  assert.equal(r.imagesWithoutCaptions, 1);
  const [human, gpt] = r.entries[0]!.conversations;
  assert.ok(prompts.briefInstructions.includes(human!.value.replace('<image>\n', '')));
  assert.ok(records[0]!.captions.includes(gpt!.value));
  assert.deepEqual(pretrainPairs(records, prompts, 4), r);
});
