#!/usr/bin/env node
// The `llava` command. In a checkout (tsx installed) it runs the TypeScript sources
// directly; in an installed package it runs the compiled dist/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'cli', 'main.ts');
let entry = join(root, 'dist', 'cli', 'main.js');
if (existsSync(src) && existsSync(join(root, 'node_modules', 'tsx'))) {
  const { register } = await import(pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs')).href);
  register();
  entry = src;
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv);
