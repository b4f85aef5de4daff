// Atomic file writes for the world's outputs: write a temporary sibling, then rename, so a
// reader (or a crash) never leaves a half-written image or annotations file behind.

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { threadId } from 'node:worker_threads';

/** Writes a file through a temporary name, so a reader never sees half of it; its folder must exist. A failed write leaves no temporary behind. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${threadId}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** writeFileAtomic, creating the file's folder first (for single user-named outputs, not per image). */
export function writeFileAtomicMkdir(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, data);
}
