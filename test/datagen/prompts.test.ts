// Prompt data: the repository's files load and validate; per-item seeded choices are stable;
// no instruction we train with is one of the world benchmark's held-out phrasings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildMessages, defaultPromptsDir, detailInstruction, loadPrompts, typeOfMessages } from '../../src/datagen/prompts.js';
import { PHRASINGS } from '../../src/world/phrasings.js';
import { RESPONSE_TYPES } from '../../src/datagen/types.js';
import { tempDir } from './fixtures.js';

const prompts = loadPrompts();

test('messages: system, k example pairs as prior turns, then the query', () => {
  for (const type of RESPONSE_TYPES) {
    const msgs = buildMessages(prompts, type, 'QUERY', 1, 'img1');
    const k = prompts.types[type].examplesPerRequest;
    assert.equal(msgs.length, 2 + 2 * k);
    assert.equal(msgs[0]!.role, 'system');
    assert.deepEqual(msgs.slice(1, -1).map((m) => m.role), Array.from({ length: 2 * k }, (_, i) => (i % 2 === 0 ? 'user' : 'assistant')));
    assert.deepEqual(msgs[msgs.length - 1], { role: 'user', content: 'QUERY' });
    assert.equal(typeOfMessages(prompts, msgs), type);
  }
});

test('example and instruction choices depend only on (seed, id, type)', () => {
  const a = buildMessages(prompts, 'complex', 'Q', 7, 'x');
  assert.deepEqual(buildMessages(prompts, 'complex', 'Q', 7, 'x'), a);
  const variants = new Set<string>();
  for (let i = 0; i < 40; i++) variants.add(JSON.stringify(buildMessages(prompts, 'complex', 'Q', 7, `id${i}`).slice(1, -1)));
  assert.ok(variants.size > 1, 'different items draw different examples');
  assert.equal(detailInstruction(prompts, 3, 'x'), detailInstruction(prompts, 3, 'x'));
});

test('no training instruction or example question is a held-out world phrasing', () => {
  const heldOut = Object.values(PHRASINGS).flat().filter((p) => p.heldOut).map((p) => p.template.toLowerCase());
  const ours = [...prompts.detailInstructions, ...prompts.briefInstructions].map((s) => s.toLowerCase());
  for (const h of heldOut) assert.ok(!ours.includes(h), `held-out phrasing "${h}" used`);
});

test('broken prompt files are errors naming the file and field', () => {
  const dir = tempDir();
  const src = defaultPromptsDir();
  mkdirSync(join(dir, 'p'));
  for (const f of readdirSync(src)) writeFileSync(join(dir, 'p', f), readFileSync(join(src, f)));
  const file = join(dir, 'p', 'detail.json');
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ ...raw, examplesPerRequest: 99 }));
  assert.throws(() => loadPrompts(join(dir, 'p')), /detail\.json: field "examplesPerRequest" must be an integer from 0 to 3/);
  writeFileSync(file, JSON.stringify({ ...raw, examples: [{ context: 'x' }] }));
  assert.throws(() => loadPrompts(join(dir, 'p')), /detail\.json: examples\[0\] needs non-empty "context" and "response"/);
});
