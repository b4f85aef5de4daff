// Durable JSONL: group-committed appends, a torn last line (what kill -9 leaves) dropped and
// cut off on repair, corruption elsewhere reported with file and line; atomic whole files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonlAppender, readJsonl, repairJsonl, writeFileAtomic } from '../../src/datagen/store.js';
import { tempDir } from './fixtures.js';

test('concurrent appends all land, one JSON object per line', async () => {
  const file = join(tempDir(), 'a.jsonl');
  const out = await JsonlAppender.open(file);
  await Promise.all(Array.from({ length: 200 }, (_, i) => out.append({ i })));
  await out.close();
  const { records, tornBytes } = readJsonl<{ i: number }>(file);
  assert.equal(tornBytes, 0);
  assert.deepEqual(records.map((r) => r.i).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
});

test('a torn last line is dropped, reported, and cut off by repair', () => {
  const file = join(tempDir(), 't.jsonl');
  writeFileSync(file, '{"a":1}\n{"a":2}\n{"a":');
  const before = readJsonl<{ a: number }>(file);
  assert.deepEqual(before.records, [{ a: 1 }, { a: 2 }]);
  assert.equal(before.tornBytes, 5);
  assert.equal(repairJsonl(file), 5);
  assert.equal(readFileSync(file, 'utf8'), '{"a":1}\n{"a":2}\n');
  appendFileSync(file, '{"a":3}\n');
  assert.deepEqual(readJsonl(file).records, [{ a: 1 }, { a: 2 }, { a: 3 }]);
});

test('a complete but unparsable last line counts as torn; one in the middle is corruption', () => {
  const dir = tempDir();
  const last = join(dir, 'l.jsonl');
  writeFileSync(last, '{"a":1}\n{"a"\u0000\u0000\n');
  assert.deepEqual(readJsonl(last).records, [{ a: 1 }]);
  const mid = join(dir, 'm.jsonl');
  writeFileSync(mid, '{"a":1}\nnope\n{"a":3}\n');
  assert.throws(() => readJsonl(mid), /m\.jsonl:2: corrupt record in the middle of the file/);
});

test('writeFileAtomic leaves only the final file', () => {
  const dir = tempDir();
  writeFileAtomic(join(dir, 'x.json'), '{"ok":true}');
  assert.deepEqual(readdirSync(dir), ['x.json']);
  assert.equal(readFileSync(join(dir, 'x.json'), 'utf8'), '{"ok":true}');
});
