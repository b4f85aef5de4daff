// A runnable random world-small model for benchmarks and tests: random bf16 weights of the
// world-small shape plus a tokenizer (the tiny fixture's, from a checkout) and a 64 px processor.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../backend/native/addon.js';
import { clipPreprocessorJson } from '../model/compose.js';
import { namedConfig } from '../model/namedConfigs.js';
import { writeRandomCheckpoint } from './model.js';

/**
 * A tokenizer for a random world-small checkpoint: the tiny fixture's vocabulary with `<image>`
 * and `<pad>` moved to the ids world-small reserves for them.
 */
export function worldSmallTokenizer(dir: string, imageId: number, padId: number): void {
  const fixture = join(packageRoot(), 'test', 'fixtures', 'llava-tiny', 'models', 'f32-v4');
  const tok = JSON.parse(readFileSync(join(fixture, 'tokenizer.json'), 'utf8')) as { added_tokens: { id: number; content: string }[] };
  for (const t of tok.added_tokens) {
    if (t.content === '<image>') t.id = imageId;
    if (t.content === '<pad>') t.id = padId;
  }
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(fixture, f), join(dir, f));
}

/** A random bf16 world-small llava-hf directory with a tokenizer and a 64 px processor config: a model the CLI can run. */
export async function writeRunnableWorldSmall(dir: string, seed = 0): Promise<void> {
  const config = namedConfig('world-small');
  await writeRandomCheckpoint(config, dir, seed);
  worldSmallTokenizer(dir, config.imageTokenId, config.padTokenId!);
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(clipPreprocessorJson(config.vision.imageSize)));
}

