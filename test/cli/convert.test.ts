// `llava convert` and the GGUF pair in the other commands, as processes: convert the tiny f16
// fixture to GGUF, answer about an image from the pair (`generate --model x.gguf --mmproj y.gguf`)
// with the ids the llava-hf directory gives, describe the pair (`info`), convert back to llava-hf
// and answer the same again; bad flags and a missing mmproj exit 1 with a one-line reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tinyModel } from '../model/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'llava-cli-convert-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function llava(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['bin/llava.js', ...args], { encoding: 'utf8' });
}

function ok(...args: string[]): string {
  const r = llava(...args);
  assert.equal(r.status, 0, `llava ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const IMAGE = 'test/fixtures/llava-tiny/images/shapes.png';
const ask = (...model: string[]) => JSON.parse(ok('generate', ...model, '--image', IMAGE, '--prompt', 'What is this?', '--max-new-tokens', '8', '--json')) as { token_ids: number[]; prompt_ids: number[] };

test('llava convert --to gguf, then generate and info from the pair; --to hf, then generate from the directory: the same answer', { timeout: 120_000 }, () => {
  const src = tinyModel('f16-v5').dir;
  const out = ok('convert', '--to', 'gguf', '--model', src, '--out', join(dir, 'gguf'), '--type', 'f16', '--name', 'tiny');
  const model = join(dir, 'gguf', 'tiny.gguf');
  const mmproj = join(dir, 'gguf', 'mmproj-tiny.gguf');
  assert.match(out, new RegExp(`${model}  [\\d.]+ MB\\n${mmproj}  [\\d.]+ MB\\n`));
  const want = ask('--model', src);
  assert.deepEqual(ask('--model', model, '--mmproj', mmproj), want);
  const info = JSON.parse(ok('info', '--model', model, '--mmproj', mmproj, '--json')) as Record<string, unknown>;
  assert.equal(info.layout, 'GGUF v3 + v3 (llama + clip mmproj)');
  assert.deepEqual(info.storedDtypes, { f16: 38, f32: 40 });
  assert.equal(info.imageTokens, 16);
  ok('convert', '--to', 'hf', '--model', model, '--mmproj', mmproj, '--out', join(dir, 'hf'), '--layout', 'transformers-5');
  assert.equal((JSON.parse(ok('info', '--model', join(dir, 'hf'), '--json')) as { layout: string }).layout, 'transformers-5');
  assert.deepEqual(ask('--model', join(dir, 'hf')), want);
});

test('bad flags and a missing mmproj exit 1 with one line saying why', { timeout: 120_000 }, () => {
  const src = tinyModel('f32-v4').dir;
  const cases: [string[], RegExp][] = [
    [['convert', '--to', 'gguf', '--model', src, '--out', join(dir, 'x'), '--type', 'q3_k'], /^llava: --type must be one of f32, f16, q8_0, q4_0, q4_k, got 'q3_k'\n$/],
    [['convert', '--to', 'onnx', '--model', src, '--out', join(dir, 'x')], /^llava: --to must be gguf or hf, got 'onnx'\n$/],
    [['convert', '--to', 'hf', '--model', join(dir, 'gguf', 'tiny.gguf'), '--out', join(dir, 'y')], /^llava: --to hf needs --mmproj/],
    [['generate', '--model', join(dir, 'gguf', 'tiny.gguf'), '--prompt', 'hi'], /^llava: .*tiny\.gguf: a GGUF language model needs its vision half: pass --mmproj/],
    [['generate', '--model', src, '--mmproj', 'x.gguf', '--prompt', 'hi'], /^llava: --mmproj x\.gguf goes with a \.gguf language model/],
  ];
  for (const [args, message] of cases) {
    const r = llava(...args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});
