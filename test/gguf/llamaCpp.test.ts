// llama.cpp judges our GGUF writer: the tiny fixture's language model written as GGUF (F16 and
// Q8_0) loads in llama.cpp (node-llama-cpp's prebuilt CPU build, never built or downloaded here)
// and its greedy ids from a prompt of token ids equal ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlava } from '../../src/model/checkpoint.js';
import { generate } from '../../src/infer/generate.js';
import { writeGguf } from '../../src/gguf/writer.js';
import { llamaMetadata, llamaTensors } from '../../src/gguf/llama.js';
import { llamaTokenizerMetadata } from '../../src/gguf/tokenizer.js';
import { tinyModel } from '../model/fixtures.js';
import { llamaCpp } from './llamaCppHelper.js';

const cpp = await llamaCpp();

test('llama.cpp loads our GGUF (F16, Q8_0) and its greedy ids equal ours', { skip: cpp.skip ?? false, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-llamacpp-'));
  const fixture = tinyModel('f32-v4').dir;
  const { model, config } = loadLlava(fixture);
  try {
    const meta = llamaMetadata(config.text, 'tiny');
    for (const [k, v] of llamaTokenizerMetadata(JSON.parse(readFileSync(join(fixture, 'tokenizer.json'), 'utf8')), config.text.vocabSize)) meta.set(k, v);
    const weights = model.namedParameters().map(([n, p]) => [n, p.value] as const);
    for (const prompt of [[1, 40, 41, 42, 43, 44], [1, 300, 7, 99, 250, 12, 13, 14, 200]]) {
      const ours = generate(model, { inputIds: prompt }, { maxNewTokens: 12, eosTokenIds: [] }).tokenIds;
      for (const type of ['F16', 'Q8_0'] as const) {
        const path = join(dir, `tiny-${type}.gguf`);
        writeGguf(path, meta, llamaTensors(weights, config.text, type));
        const m = await cpp.llama!.loadModel({ modelPath: path });
        const context = await m.createContext({ contextSize: 128, threads: 2 });
        try {
          const theirs: number[] = [];
          for await (const t of context.getSequence().evaluate(prompt as never, { temperature: 0 })) {
            theirs.push(t as number);
            if (theirs.length >= ours.length) break;
          }
          assert.deepEqual(theirs, ours, `${type}, prompt ${prompt.join(' ')}`);
        } finally {
          await context.dispose();
          await m.dispose();
        }
      }
    }
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
