// Loads the compiled N-API addon (build/Release/llava_native.node) once, with a clear
// error when it has not been built. The addon's functions take addresses as numbers.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The raw addon: every export is a function of numbers, arrays of numbers and strings. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = Record<string, (...args: any[]) => any>;

let cached: NativeAddon | undefined;

/** Path of the package root (the folder holding package.json), from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('llava-ts: cannot find the package root (binding.gyp) above ' + fileURLToPath(import.meta.url));
}

/** The addon, loaded on first use. Throws with build instructions when missing. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const path = join(packageRoot(), 'build', 'Release', 'llava_native.node');
  if (!existsSync(path)) {
    throw new Error(
      `llava-ts: native addon not built (${path} missing). Run \`npm install\` or \`npx node-gyp rebuild\` in ${packageRoot()}.`,
    );
  }
  cached = createRequire(import.meta.url)(path) as NativeAddon;
  return cached;
}

/** True when the addon exists and loads. */
export function addonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}
