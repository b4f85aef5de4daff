// The demo's text corpora: the dialogues the tokenizer and stage 0b's LLaMA read, rendered in stage 2's template without the image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dialogueTexts } from '../../src/demo/corpus.js';

test('a dialogue text holds every turn in order, the short answers too, and no image placeholder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corpus-'));
  try {
    const file = join(dir, 'stage2.json');
    const conversations = [
      { from: 'human', value: '<image>\nWhich is further up, the red circle or the blue square?' },
      { from: 'gpt', value: 'The red circle.' },
      { from: 'human', value: 'Describe the image in detail.' },
      { from: 'gpt', value: 'There are two objects: a red circle and a blue square.' },
    ];
    writeFileSync(file, JSON.stringify([{ id: '1', image: 'images/000001.png', conversations }]));
    const [text] = dialogueTexts(file, 'vicuna_nosys');
    assert.ok(text !== undefined && !text.includes('<image>'), text);
    let at = -1;
    for (const c of conversations) {
      const next = text.indexOf(c.value.replace('<image>\n', ''), at + 1);
      assert.ok(next > at, `"${c.value}" missing or out of order in: ${text}`);
      at = next;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
