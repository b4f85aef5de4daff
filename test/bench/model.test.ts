// The model bench's pieces on the tiny shape: a random bf16 checkpoint loads (norm scales 1,
// biases 0, matrices random) and the bench reports every case with only what it measured: no
// fixed llama.cpp figures or ratios to them (llama.cpp is to be measured in the same run, issue 13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchCheckpoint, writeRandomCheckpoint } from '../../src/bench/model.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import { namedConfig } from '../../src/model/namedConfigs.js';

test('a random bf16 checkpoint of a named shape loads and benches', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-bench-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await writeRandomCheckpoint(namedConfig('tiny'), dir, 3);
  const { model, storedDtypes } = loadLlava(dir);
  assert.deepEqual(Object.keys(storedDtypes), ['bf16']);
  const layer = model.text.layers.items[0]!;
  assert.ok([...layer.inputNorm.weightParam.value.toArray()].every((x) => x === 1));
  assert.ok([...model.projector.linears[0]!.biasParam!.value.toArray()].every((x) => x === 0));
  const w = [...layer.mlp.up.weightParam.value.toArray()];
  const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
  assert.ok(std > 0.015 && std < 0.025, `matrix std ${std}`);
  model.dispose();
  const lines = benchCheckpoint('tiny', dir);
  assert.deepEqual(lines.map((l) => l.case), ['load', 'image_encode', 'prefill', 'decode', 'generated']);
  const prefill = lines.find((l) => l.case === 'prefill')!;
  assert.equal(prefill.tokens, 1 + 16 + 24);
  assert.ok((prefill.tokens_per_s as number) > 0);
  for (const line of lines) {
    const quoted = Object.keys(line).filter((k) => /llama|ratio|baseline/i.test(k));
    assert.deepEqual(quoted, [], `${line.case}: fields not measured by this run`);
  }
});
