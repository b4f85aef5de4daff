// The package description and the CLI's help claim only what exists: no GGUF or llama.cpp yet,
// and no llama.cpp figures the bench did not measure; what does exist (evaluation, serving) is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Words for what llava-ts does not do yet. */
const NOT_YET = /\b(gguf|llama\.cpp|quanti[sz]ed?)\b/i;

function help(...args: string[]): string {
  const r = spawnSync(process.execPath, ['bin/llava.js', ...args, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The description paragraph of a --help page: between the Usage line and Options. */
function description(page: string): string {
  return page.split('\n\n')[1]!.replace(/\s+/g, ' ').trim();
}

test('package.json description and `llava --help` name only what exists', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { description: string };
  assert.doesNotMatch(pkg.description, NOT_YET);
  assert.match(pkg.description, /evaluation/);
  assert.match(pkg.description, /serving/);
  const top = help();
  assert.doesNotMatch(description(top), NOT_YET);
  assert.match(description(top), /llava-hf checkpoints/);
  assert.match(top, /\bserve\b/);
  assert.match(top, /\beval\b/);
});

test('`llava bench model --help` promises no llama.cpp comparison', () => {
  assert.doesNotMatch(help('bench'), /llama\.cpp/);
  assert.doesNotMatch(help('bench', 'model'), /llama\.cpp/);
});
