// The model bench's pieces: a random bf16 checkpoint loads (norm scales 1, biases 0, matrices
// random) and the single-model bench reports only what it measured; the side-by-side run (here on
// world-small as the "large" model) measures llama.cpp and llava-ts on the same GGUF per type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchCheckpoint, runModelBench, writeRandomCheckpoint, type BenchLine } from '../../src/bench/model.js';
import { llamaCpp } from '../gguf/llamaCppHelper.js';
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

const cpp = await llamaCpp();

test('side by side with llama.cpp: every type gets both engines in each of 2 rounds, ratio lines from this run and their medians, equal f16 greedy ids', { skip: cpp.skip ?? false, timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-bench-cpp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines: BenchLine[] = [];
  await runModelBench({ small: 'tiny', config: 'world-small', dir, promptTokens: 16, newTokens: 3, rounds: 2 }, (l) => lines.push(l));
  const bandwidth = lines.find((l) => l.case === 'memory_read_bandwidth');
  assert.ok(bandwidth && (bandwidth.gb_per_s as number) > 0);
  for (const type of ['F16', 'Q8_0', 'Q4_0']) {
    const engines = lines.filter((l) => l.case === 'engine' && l.type === type).map((l) => l.engine);
    assert.deepEqual(engines, ['llama.cpp', 'llava-ts', 'llama.cpp', 'llava-ts'], type);
    const ratios = lines.filter((l) => l.case === 'ratio' && l.type === type);
    assert.deepEqual(ratios.map((r) => r.round), [1, 2], type);
    for (const ratio of ratios) {
      assert.ok((ratio.decode_ours_over_llama_cpp as number) > 0 && (ratio.prefill_ours_over_llama_cpp as number) > 0, type);
      if (type === 'F16') assert.equal(ratio.same_greedy_tokens, true);
    }
    const median = lines.find((l) => l.case === 'ratio_median' && l.type === type)!;
    const mean = (k: string) => Number(((ratios[0]![k] as number) + (ratios[1]![k] as number)) / 2).toFixed(3);
    assert.equal((median.decode_ours_over_llama_cpp as number).toFixed(3), mean('decode_ours_over_llama_cpp'), type);
    assert.equal((median.prefill_ours_over_llama_cpp as number).toFixed(3), mean('prefill_ours_over_llama_cpp'), type);
  }
});
