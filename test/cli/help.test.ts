// The package description and the CLI's help name what exists: evaluation, serving, GGUF both ways
// (`llava convert`), and a model bench that measures llama.cpp in the same run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

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
  assert.match(pkg.description, /evaluation/);
  assert.match(pkg.description, /GGUF/);
  assert.match(pkg.description, /serving/);
  const top = help();
  assert.match(description(top), /llava-hf checkpoints/);
  assert.match(top, /\bconvert\b/);
  assert.match(top, /\bserve\b/);
  assert.match(top, /\beval\b/);
});

test('`llava bench model --help` offers the side-by-side llama.cpp comparison and its settings', () => {
  const page = help('bench', 'model');
  assert.match(description(page), /llama\.cpp/);
  for (const flag of ['--types', '--prompt-tokens', '--new-tokens', '--threads', '--text-layers']) assert.match(page, new RegExp(flag));
});
