// The BPE tokenizer trained with HF's `tokenizers`: LLaMA's layout (specials 0-2, byte pieces,
// BOS by the post-processor), any text round-trips, training is deterministic, and LLaVA's
// round arithmetic for label masking holds on it (no tokenization mismatch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainBpeTokenizer, writeTrainedTokenizer } from '../../src/data/tokenizerTrain.js';
import { LlavaTokenizer } from '../../src/data/tokenizer.js';
import { buildTrainingSample } from '../../src/data/labels.js';
import { templateByName } from '../../src/data/templates.js';
import { IGNORE_INDEX } from '../../src/data/constants.js';

const CORPUS = [
  'A red circle sits left of a blue square.',
  'There are two green triangles and a pink star.',
  'USER: Is there a red circle in the image? ASSISTANT: Yes, there is a red circle in the image.</s>',
  'USER: What color is the star? ASSISTANT: The star is pink.</s>USER: How many triangles are there? ASSISTANT: There are 2 triangles.</s>',
  'The colors present are red, blue, green and pink.',
];

function trained(): { dir: string; tok: LlavaTokenizer; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'llava-bpe-test-'));
  writeTrainedTokenizer(trainBpeTokenizer(CORPUS), dir);
  return { dir, tok: LlavaTokenizer.fromDir(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('trained BPE: LLaMA special ids, byte fallback, BOS, whole words learned, round trip', () => {
  const { tok, cleanup } = trained();
  try {
    assert.deepEqual([tok.unkId, tok.bosId, tok.eosId], [0, 1, 2]);
    assert.equal(tok.idToToken(3), '<0x00>');
    assert.equal(tok.idToToken(258), '<0xFF>');
    const ids = tok.encode('a red circle');
    assert.equal(ids[0], 1, 'BOS first');
    assert.deepEqual(ids.slice(1).map((i) => tok.idToToken(i)), ['\u2581a', '\u2581red', '\u2581circle'], 'corpus words are single pieces');
    for (const text of ['Is there a red circle?', 'héllo ✓ wörld 42, unseen zebra']) assert.equal(tok.decode(tok.encode(text), { skipSpecialTokens: true }), text);
    assert.equal(tok.imageTokenId, tok.vocabSize - 2, '<image> appended after the learned pieces');
  } finally {
    cleanup();
  }
});

test('training is deterministic: the same corpus gives the same tokenizer.json', () => {
  const a = trainBpeTokenizer(CORPUS);
  const b = trainBpeTokenizer(CORPUS);
  assert.deepEqual(a.tokenizerJson, b.tokenizerJson);
});

test("vicuna rounds on the trained tokenizer: LLaVA's label arithmetic adds up and masks all but the replies", () => {
  const { tok, dir, cleanup } = trained();
  try {
    const turns = [
      { role: 'user' as const, text: '<image>\nIs there a red circle in the image?' },
      { role: 'assistant' as const, text: 'Yes, there is a red circle.' },
      { role: 'user' as const, text: 'How many triangles are there?' },
      { role: 'assistant' as const, text: 'There are 2 triangles.' },
    ];
    const s = buildTrainingSample(turns, templateByName('vicuna_nosys'), tok, { convention: { kind: 'expanded', tokensPerImage: 4 }, sampleId: 't' });
    const learned = tok.decode(s.labels.filter((l) => l !== IGNORE_INDEX));
    assert.equal(learned, 'Yes, there is a red circle.</s> There are 2 triangles.</s>');
    assert.match(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'), /"bos_token": ?"<s>"/);
  } finally {
    cleanup();
  }
});
